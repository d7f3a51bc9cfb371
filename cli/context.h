// What every command shares: the global options, opening the engine, and
// turning a Status into a message and an exit code.
#ifndef KINDRED_CLI_CONTEXT_H_
#define KINDRED_CLI_CONTEXT_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kindred/engine.h"

namespace kindred::plugin {
class Host;
class Registry;
}  // namespace kindred::plugin

namespace kindred::cli {

class Cancellation;

// Exit codes (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;  // bad input or usage
inline constexpr int kExitStore = 2;  // the store cannot be opened or is corrupt
inline constexpr int kExitPeer = 3;   // sync: the peer is unreachable, unknown, forked or failed
inline constexpr int kExitPlugin = 4; // a plugin failed, broke a rule, or is disabled

// An open engine: owned by this command, or borrowed from the `kindred
// serve` that runs a command forwarded to it. Use it like a pointer.
class EngineHandle {
 public:
  explicit EngineHandle(std::unique_ptr<Engine> owned)
      : owned_(std::move(owned)), engine_(owned_.get()) {}
  // `borrowed` must outlive the handle.
  explicit EngineHandle(Engine* borrowed) : engine_(borrowed) {}
  Engine* operator->() const { return engine_; }
  Engine& operator*() const { return *engine_; }

 private:
  std::unique_ptr<Engine> owned_;
  Engine* engine_;
};

// Thrown by Context::OpenEngine, and caught by main(), when a live `kindred
// serve` holds this home's store: main() forwards the whole command to it
// over HOME/serve.sock. Never crosses the CLI's boundary. A command must
// open the engine before it writes any output.
struct ForwardToServe {};

struct Context {
  std::string home_flag;
  bool json = false;
  // Set by the chosen command; run after parsing.
  std::function<int()> action;

  // --home, else $KINDRED_HOME, else $XDG_DATA_HOME/kindred, else ~/.local/share/kindred.
  std::string Home() const;
  // The device's engine. When `kindred serve` runs this command for
  // another process, its open engine. Otherwise: if a live `kindred serve`
  // holds the home (and `allow_forward`), throws ForwardToServe; else opens
  // the home with the passphrase from $KINDRED_PASSPHRASE, or asked on the
  // terminal if the key file is sealed.
  Result<EngineHandle> OpenEngine(bool allow_forward = true) const;

  // Standard input, read to its end (for `-` arguments); remembered, so a
  // forwarded command gets the same bytes.
  Result<std::string> ReadStdin() const;
  // `path` made absolute against the directory the command was typed in.
  std::string ResolvePath(const std::string& path) const;
  // True when a person at this process's terminal sees what it draws
  // (false for a command `kindred serve` runs for another process).
  bool Interactive() const { return serving == nullptr; }

  // Set by `kindred serve` for a command forwarded to it.
  struct Serving {
    Engine* engine = nullptr;                // serve's open engine, not owned
    std::string home;                        // serve's home
    std::string cwd;                         // the client's working directory
    std::optional<std::string> stdin_data;   // what the client read from stdin, if anything
    // Cancelled when the client goes away (Ctrl-C) or serve stops; a
    // command that waits (an invite) stops then. Not owned.
    Cancellation* cancel = nullptr;
  };
  const Serving* serving = nullptr;

  // What ReadStdin() read in this process, to forward.
  mutable std::optional<std::string> stdin_read;

  // Plugins (docs/plugins.md): main()'s registry, and under `kindred serve`
  // its plugin host, bound to its engine. Neither is owned.
  plugin::Registry* plugins = nullptr;
  plugin::Host* plugin_host = nullptr;
};

// Prints "kindred: MESSAGE" to stderr and returns the exit code for `status`.
int Fail(const Status& status);
// The exit code for `status`.
int ExitCode(const Status& status);

// Parses `args` (the command line after the program name) and runs the
// command; returns its exit code. Output goes to std::cout and std::cerr.
// May throw ForwardToServe (see Context::OpenEngine).
int RunCommandLine(const std::vector<std::string>& args, Context& ctx);

// Registers each group of commands on `app`.
void AddDeviceCommands(CLI::App& app, Context& ctx);
void AddJournalCommands(CLI::App& app, Context& ctx);
void AddRitualCommands(CLI::App& app, Context& ctx);  // ritual ...
void AddTodayCommand(CLI::App& app, Context& ctx);    // today
void AddSyncCommands(CLI::App& app, Context& ctx);
void AddPairingCommands(CLI::App& app, Context& ctx);  // invite, join, devices, revoke, unpair
// Once the couple has a shared space: moves this member's shared journal
// entries and rituals still in the personal space (written before pairing,
// or on a device that had not heard of it yet) into it. With
// `only_this_device`, only those this device wrote (each device moves its
// own). Failures are told on stderr and retried at the next chance.
void MoveSharedItems(Engine& engine, bool only_this_device);
// kindred plugins ..., and every plugin's commands; loads HOME/plugins/*.so
// and each --plugin PATH in `args` into ctx.plugins first.
void AddPluginCommands(CLI::App& app, Context& ctx, const std::vector<std::string>& args);
// For `kindred serve`: a plugin host for its engine that keeps views current
// as ops arrive, used by forwarded commands. Keep the result while serve
// runs; release it before `engine` goes.
std::shared_ptr<void> StartServePlugins(Context& ctx, Engine& engine,
                                        std::function<void(const std::string&)> log);

}  // namespace kindred::cli

#endif  // KINDRED_CLI_CONTEXT_H_
