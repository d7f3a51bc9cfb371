#include "cli/control.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/context.h"
#include "engine/sync/async.h"

namespace kindred::cli {
namespace {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using boost::system::error_code;

constexpr uint32_t kControlVersion = 1;
// A request carries a command line and what it read from stdin; an answer
// what the command printed (an export of a large journal, say).
constexpr size_t kMaxRequestBytes = size_t{64} << 20;
constexpr size_t kMaxResponseBytes = size_t{1} << 30;
// How long a client may take to send its request.
constexpr auto kRequestTimeout = std::chrono::seconds(30);

std::string Frame(const std::string& body) {
  std::string out(4, '\0');
  const auto n = static_cast<uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(n >> (24 - 8 * i));
  return out + body;
}

uint32_t FrameLength(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// A connected socket to `path`, or -1.
int ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return -1;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, char* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, out + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Runs a forwarded command in its caller's working directory, so that
// relative paths mean what the caller meant. (serve's own files are all
// named by absolute paths.)
class ScopedWorkingDirectory {
 public:
  explicit ScopedWorkingDirectory(const std::string& dir) {
    std::error_code ec;
    old_ = std::filesystem::current_path(ec);
    if (ec || dir.empty()) return;
    std::filesystem::current_path(dir, ec);
    changed_ = !ec;
  }
  ~ScopedWorkingDirectory() {
    std::error_code ec;
    if (changed_) std::filesystem::current_path(old_, ec);
  }

 private:
  std::filesystem::path old_;
  bool changed_ = false;
};

// Sets $TZ for the duration of a forwarded command, so times are shown in
// the client's zone.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const v1::ControlRequest& request) {
    const char* old = std::getenv("TZ");
    if (old) old_ = old;
    if (request.has_tz()) {
      ::setenv("TZ", request.tz().c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

}  // namespace

std::string ControlSocketPath(const std::string& home) { return home + "/serve.sock"; }

bool ServeIsListening(const std::string& home) {
  const int fd = ConnectUnix(ControlSocketPath(home));
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

int ForwardCommand(const std::string& home, const std::vector<std::string>& args,
                   const std::optional<std::string>& stdin_data) {
  v1::ControlRequest request;
  request.set_version(kControlVersion);
  for (const std::string& a : args) request.add_argv(a);
  std::error_code ec;
  request.set_cwd(std::filesystem::current_path(ec).string());
  if (stdin_data) {
    request.set_has_stdin(true);
    request.set_stdin_data(*stdin_data);
  }
  if (const char* tz = std::getenv("TZ")) request.set_tz(tz);
  const int fd = ConnectUnix(ControlSocketPath(home));
  auto gone = [] {
    std::cerr << "kindred: the `kindred serve` that holds this home stopped before it answered; "
                 "run the command again\n";
    return kExitStore;
  };
  if (fd < 0) return gone();
  std::string body;
  request.SerializeToString(&body);
  if (body.size() > kMaxRequestBytes) {
    ::close(fd);
    std::cerr
        << "kindred: the command's input is too large to hand to the running `kindred serve`\n";
    return kExitUsage;
  }
  unsigned char prefix[4];
  const bool sent = WriteAll(fd, Frame(body));
  const bool got = sent && ReadAll(fd, reinterpret_cast<char*>(prefix), sizeof prefix);
  const uint32_t length = got ? FrameLength(prefix) : 0;
  std::string reply(got && length <= kMaxResponseBytes ? length : 0, '\0');
  const bool whole = got && length <= kMaxResponseBytes && ReadAll(fd, reply.data(), reply.size());
  ::close(fd);
  v1::ControlResponse response;
  if (!whole || !response.ParseFromString(reply) || response.version() != kControlVersion) {
    return gone();
  }
  std::cout << response.stdout_data() << std::flush;
  std::cerr << response.stderr_data() << std::flush;
  return response.exit_code();
}

v1::ControlResponse RunForwarded(const v1::ControlRequest& request, Engine& engine,
                                 const std::string& home, const Context* serve_ctx) {
  v1::ControlResponse response;
  response.set_version(kControlVersion);
  if (request.version() != kControlVersion) {
    response.set_stderr_data("kindred: this `kindred serve` speaks another control version\n");
    response.set_exit_code(kExitUsage);
    return response;
  }
  Context::Serving serving;
  serving.engine = &engine;
  serving.home = home;
  serving.cwd = request.cwd();
  if (request.has_stdin()) serving.stdin_data = request.stdin_data();
  Context ctx;
  ctx.serving = &serving;
  if (serve_ctx) {
    ctx.plugins = serve_ctx->plugins;
    ctx.plugin_host = serve_ctx->plugin_host;
  }
  const std::vector<std::string> args(request.argv().begin(), request.argv().end());

  std::ostringstream out, err;
  ScopedTimeZone zone(request);
  ScopedWorkingDirectory where(request.cwd());
  std::streambuf* old_out = std::cout.rdbuf(out.rdbuf());
  std::streambuf* old_err = std::cerr.rdbuf(err.rdbuf());
  int code = kExitStore;
  try {
    code = RunCommandLine(args, ctx);
  } catch (const std::exception& e) {
    std::cerr << "kindred: unexpected error in `kindred serve`: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "kindred: unexpected error in `kindred serve`\n";
  }
  std::cout.flush();
  std::cerr.flush();
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  response.set_stdout_data(out.str());
  response.set_stderr_data(err.str());
  response.set_exit_code(code);
  return response;
}

ControlServer::ControlServer(asio::io_context& io, std::string path, RunForwardedFn run)
    : io_(io), path_(std::move(path)), run_(std::move(run)), acceptor_(io) {}

ControlServer::~ControlServer() {
  Stop();
  commands_.join();
}

Status ControlServer::Listen() {
  sockaddr_un probe{};
  if (path_.size() >= sizeof(probe.sun_path)) {
    return Status::InvalidArgument("the control socket path " + path_ + " is too long");
  }
  // We hold the store, so no other serve listens here: a socket left by a
  // serve that was killed is stale.
  ::unlink(path_.c_str());
  error_code error;
  const local::endpoint endpoint(path_);
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error && ::chmod(path_.c_str(), 0600) != 0) {
    error = error_code(errno, boost::system::system_category());
  }
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    error_code ignored;
    acceptor_.close(ignored);
    ::unlink(path_.c_str());
    return Status::IOError("cannot listen on " + path_ + ": " + error.message());
  }
  listening_ = true;
  return Status::Ok();
}

void ControlServer::Start() {
  if (!listening_) return;
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
}

void ControlServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  if (listening_) ::unlink(path_.c_str());
}

asio::awaitable<void> ControlServer::AcceptLoop() {
  while (!stopped_) {
    error_code error;
    local::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, error));
    if (error || stopped_) break;
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> ControlServer::Serve(local::socket socket) {
  // Only this user's processes (the socket's mode says so too).
  ucred peer{};
  socklen_t size = sizeof(peer);
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 ||
      peer.uid != ::geteuid()) {
    co_return;
  }
  // The request, within a time limit.
  asio::steady_timer deadline(io_);
  deadline.expires_after(kRequestTimeout);
  deadline.async_wait([&socket](const error_code& e) {
    if (e) return;
    error_code ignored;
    socket.close(ignored);
  });
  error_code error;
  unsigned char prefix[4];
  co_await asio::async_read(socket, asio::buffer(prefix),
                            asio::redirect_error(asio::use_awaitable, error));
  if (error) co_return;  // e.g. a client that only checked we listen
  const uint32_t length = FrameLength(prefix);
  if (length > kMaxRequestBytes) co_return;
  std::string body(length, '\0');
  co_await asio::async_read(socket, asio::buffer(body),
                            asio::redirect_error(asio::use_awaitable, error));
  deadline.cancel();
  v1::ControlRequest request;
  if (error || !request.ParseFromString(body)) co_return;

  v1::ControlResponse response =
      co_await sync::Offload(commands_.get_executor(), [this, &request] { return run_(request); });
  std::string reply;
  response.SerializeToString(&reply);
  if (reply.size() > kMaxResponseBytes) {
    v1::ControlResponse too_big;
    too_big.set_version(kControlVersion);
    too_big.set_stderr_data("kindred: the output is too large to hand over; write it to a file\n");
    too_big.set_exit_code(kExitUsage);
    too_big.SerializeToString(&reply);
  }
  co_await asio::async_write(socket, asio::buffer(Frame(reply)),
                             asio::redirect_error(asio::use_awaitable, error));
}

}  // namespace kindred::cli
