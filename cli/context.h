// What every command shares: the global options, opening the engine, and
// turning a Status into a message and an exit code.
#ifndef KINDRED_CLI_CONTEXT_H_
#define KINDRED_CLI_CONTEXT_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "kindred/engine.h"

namespace kindred::cli {

// Exit codes (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;  // bad input or usage
inline constexpr int kExitStore = 2;  // the store cannot be opened or is corrupt

struct Context {
  std::string home_flag;
  bool json = false;
  // Set by the chosen command; run after parsing.
  std::function<int()> action;

  // --home, else $KINDRED_HOME, else $XDG_DATA_HOME/kindred, else ~/.local/share/kindred.
  std::string Home() const;
  // The passphrase from $KINDRED_PASSPHRASE, else asked on the terminal if
  // the key file is sealed.
  Result<std::unique_ptr<Engine>> OpenEngine() const;
};

// Prints "kindred: MESSAGE" to stderr and returns the exit code for `status`.
int Fail(const Status& status);
// The exit code for `status`.
int ExitCode(const Status& status);

// Registers each group of commands on `app`.
void AddDeviceCommands(CLI::App& app, Context& ctx);
void AddJournalCommands(CLI::App& app, Context& ctx);

}  // namespace kindred::cli

#endif  // KINDRED_CLI_CONTEXT_H_
