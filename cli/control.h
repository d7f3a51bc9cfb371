// The local control socket, HOME/serve.sock: while `kindred serve` holds a
// home's store (RocksDB allows one process), every other `kindred` command
// on that home is forwarded to it and run there, against its open engine,
// with the same output and exit code. See docs/cli.md.
//
// Framing: a 4-byte big-endian length and a message, each way. The client
// sends one ControlRequest (proto/kindred/v1/sync.proto) asking for the
// output as a stream; serve answers with ControlResponse messages: pieces
// of standard output and standard error as the command writes them (so
// `kindred invite` shows its code at once), then the exit code. Every frame
// is length-checked against a limit before it is read. The client keeps the
// connection open while the command runs; if it goes away (Ctrl-C), serve
// cancels the command. The socket has mode 0600 inside the home (0700), and
// serve also checks that the connecting process runs as the same user.
#ifndef KINDRED_CLI_CONTROL_H_
#define KINDRED_CLI_CONTROL_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kindred/engine.h"
#include "kindred/status.h"
#include "kindred/v1/sync.pb.h"

namespace kindred::cli {

// HOME/serve.sock.
std::string ControlSocketPath(const std::string& home);

// True when a `kindred serve` answers on the home's control socket. A stale
// socket file (no listener) is false.
bool ServeIsListening(const std::string& home);

// Sends the command line `args` (after the program name) to the serve of
// `home`, with the current directory and `stdin_data` (what the command had
// read from standard input, if anything); writes what it prints to stdout
// and stderr as it arrives, and returns its exit code. If serve cannot be
// reached or goes away before the end, says so and returns 2.
int ForwardCommand(const std::string& home, const std::vector<std::string>& args,
                   const std::optional<std::string>& stdin_data);

// Tells a command that `kindred serve` runs for another process that it
// should stop: its client went away (Ctrl-C), or serve is stopping.
// Thread-safe.
class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  // Marks it cancelled for `reason` (the first reason is kept) and runs
  // every registered callback, on the calling thread. Idempotent.
  void Cancel(const std::string& reason);
  bool cancelled() const;
  // Why, for a message to a person ("" while not cancelled).
  std::string reason() const;

  // Runs `callback` once when cancelled (at once, on this thread, if it
  // already is) until Remove(handle). The callback runs under this object's
  // lock: it must be short (e.g. post to an event loop) and must not call
  // back into this object.
  [[nodiscard]] uint64_t Add(std::function<void()> callback);
  // Once this returns, the callback is not running and will not run.
  void Remove(uint64_t handle);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;                                // GUARDED_BY(mu_)
  std::string reason_;                                    // GUARDED_BY(mu_)
  uint64_t next_handle_ = 1;                              // GUARDED_BY(mu_)
  std::map<uint64_t, std::function<void()>> callbacks_;  // GUARDED_BY(mu_)
};

// Registers a callback on a Cancellation for the life of this object.
// `cancellation` may be null (nothing happens); if not, it must outlive this.
class OnCancel {
 public:
  OnCancel(Cancellation* cancellation, std::function<void()> callback);
  ~OnCancel();
  OnCancel(const OnCancel&) = delete;
  OnCancel& operator=(const OnCancel&) = delete;

 private:
  Cancellation* cancellation_;
  uint64_t handle_ = 0;
};

// Where a forwarded command's output goes, a piece at a time, as it is
// written: `to_stderr` says which stream. Called on the command's thread; it
// may block while the client is slow to read.
using ForwardedOutputFn = std::function<void(bool to_stderr, std::string piece)>;

// Runs one forwarded command: writes its output to `output` and returns its
// exit code; should stop early once `cancel` is cancelled. Called on the
// control server's command thread, one command at a time.
using RunForwardedFn = std::function<int(const v1::ControlRequest& request,
                                         const ForwardedOutputFn& output, Cancellation& cancel)>;

// serve's end of the socket. Create, Listen, Start and Stop on the
// io_context's thread (or before it runs); the io_context must run on one
// thread. Commands run one at a time on a thread of their own, so a long
// import or an open invite does not stall syncing; a command that has to
// wait more than a moment behind another is told so on its stderr.
class ControlServer {
 public:
  // `log` (may be empty) gets one line for a person when a forwarded
  // command is cancelled.
  ControlServer(boost::asio::io_context& io, std::string path, RunForwardedFn run,
                std::function<void(const std::string&)> log = nullptr);
  ~ControlServer();  // waits for a command in progress
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Removes a stale socket file and listens, with mode 0600.
  [[nodiscard]] Status Listen();
  void Start();
  // Stops accepting and removes the socket file. A command in progress is
  // cancelled (an open invite closes), finishes and gets its answer.
  // Idempotent.
  void Stop();

 private:
  struct Call;
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::local::stream_protocol::socket socket);

  boost::asio::io_context& io_;
  std::string path_;
  RunForwardedFn run_;
  std::function<void(const std::string&)> log_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::thread_pool commands_{1};
  std::set<std::shared_ptr<Call>> calls_;  // in progress or waiting; io thread only
  bool listening_ = false;
  bool stopped_ = false;
};

// Runs `request` in this process against `engine` (serve's open engine,
// whose home is `home`), in the caller's working directory and time zone,
// with std::cout and std::cerr going to `output` as the command writes
// them: what `kindred serve` does with each forwarded command. Returns the
// exit code. `cancel` is handed to the command (Context::Serving). Call
// from one thread at a time. The process's working directory, $TZ and
// standard streams change while it runs, so nothing else in the process may
// use relative paths, local time or std::cout/std::cerr meanwhile (serve
// names its files by absolute paths, and its own log lines go straight to
// file descriptor 2).
// `serve_ctx`, when given, is serve's own context: forwarded commands use
// its plugins and plugin host.
struct Context;
int RunForwarded(const v1::ControlRequest& request, const ForwardedOutputFn& output,
                 Cancellation& cancel, Engine& engine, const std::string& home,
                 const Context* serve_ctx = nullptr);

}  // namespace kindred::cli

#endif  // KINDRED_CLI_CONTROL_H_
