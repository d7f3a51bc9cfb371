// The local control socket, HOME/serve.sock: while `kindred serve` holds a
// home's store (RocksDB allows one process), every other `kindred` command
// on that home is forwarded to it and run there, against its open engine,
// with the same output and exit code. See docs/cli.md.
//
// Framing: each side sends one message, a 4-byte big-endian length and a
// ControlRequest or ControlResponse (proto/kindred/v1/sync.proto). The
// socket has mode 0600 inside the home (0700), and serve also checks that
// the connecting process runs as the same user.
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
#include <functional>
#include <optional>
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
// read from standard input, if anything); writes what it printed to stdout
// and stderr and returns its exit code. If serve cannot be reached or
// goes away before answering, says so and returns 2.
int ForwardCommand(const std::string& home, const std::vector<std::string>& args,
                   const std::optional<std::string>& stdin_data);

// Runs one forwarded command and says what it printed. Called on the
// control server's command thread, one command at a time.
using RunForwardedFn = std::function<v1::ControlResponse(const v1::ControlRequest&)>;

// serve's end of the socket. Create, Listen, Start and Stop on the
// io_context's thread (or before it runs). Commands run one at a time on a
// thread of their own, so a long import does not stall syncing.
class ControlServer {
 public:
  ControlServer(boost::asio::io_context& io, std::string path, RunForwardedFn run);
  ~ControlServer();  // waits for a command in progress
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Removes a stale socket file and listens, with mode 0600.
  [[nodiscard]] Status Listen();
  void Start();
  // Stops accepting and removes the socket file. A command in progress
  // finishes and gets its answer. Idempotent.
  void Stop();

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::local::stream_protocol::socket socket);

  boost::asio::io_context& io_;
  std::string path_;
  RunForwardedFn run_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::thread_pool commands_{1};
  bool listening_ = false;
  bool stopped_ = false;
};

// Runs `request` in this process against `engine` (serve's open engine,
// whose home is `home`), in the caller's working directory and time zone,
// with std::cout and std::cerr captured: what `kindred serve` does with each
// forwarded command. Call from one thread at a time. The process's working
// directory, $TZ and standard streams change while it runs, so nothing else
// in the process may use relative paths, local time or std::cout/std::cerr
// meanwhile (serve names its files by absolute paths, and its own log lines
// go straight to file descriptor 2).
// `serve_ctx`, when given, is serve's own context: forwarded commands use
// its plugins and plugin host.
struct Context;
v1::ControlResponse RunForwarded(const v1::ControlRequest& request, Engine& engine,
                                 const std::string& home, const Context* serve_ctx = nullptr);

}  // namespace kindred::cli

#endif  // KINDRED_CLI_CONTROL_H_
