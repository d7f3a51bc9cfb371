#include "cli/control.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <iostream>
#include <streambuf>

#include "cli/context.h"

namespace kindred::cli {
namespace {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using boost::system::error_code;

constexpr uint32_t kControlVersion = 1;
// A request carries a command line and what it read from stdin. An answer
// without streaming carries all the command printed (an export of a large
// journal, say); a streamed piece at most kMaxPieceBytes of it.
constexpr size_t kMaxRequestBytes = size_t{64} << 20;
constexpr size_t kMaxResponseBytes = size_t{1} << 30;
constexpr size_t kMaxPieceBytes = size_t{64} << 10;
// Output written by a command but not yet taken by its client: past this,
// the command waits for the client to read.
constexpr size_t kMaxQueuedBytes = size_t{4} << 20;
// How long a client may take to send its request.
constexpr auto kRequestTimeout = std::chrono::seconds(30);
// A command still waiting for another to finish after this is told so.
constexpr auto kWaitNoteDelay = std::chrono::seconds(2);

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

// A stream buffer that hands what is written to `output`, a piece at a time:
// when its buffer fills and whenever the stream is flushed (std::endl,
// std::flush, and every write to std::cerr, which is unit-buffered).
class PieceBuf final : public std::streambuf {
 public:
  PieceBuf(bool to_stderr, const ForwardedOutputFn& output)
      : to_stderr_(to_stderr), output_(output) {
    setp(buffer_, buffer_ + sizeof buffer_);
  }
  ~PieceBuf() override { Emit(); }
  PieceBuf(const PieceBuf&) = delete;
  PieceBuf& operator=(const PieceBuf&) = delete;

 protected:
  int_type overflow(int_type ch) override {
    Emit();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  int sync() override {
    Emit();
    return 0;
  }

 private:
  void Emit() {
    if (pptr() == pbase()) return;
    output_(to_stderr_, std::string(pbase(), pptr()));
    setp(buffer_, buffer_ + sizeof buffer_);
  }

  bool to_stderr_;
  const ForwardedOutputFn& output_;
  char buffer_[16 << 10];
};

// The command of a forwarded command line, for serve's log: its first word
// that is not an option (skipping the values of --home and --plugin), if it
// looks like a command name; never anything the person typed as text.
std::string CommandName(const v1::ControlRequest& request) {
  for (int i = 0; i < request.argv_size(); ++i) {
    const std::string& word = request.argv(i);
    if (word == "--home" || word == "--plugin") {
      ++i;
      continue;
    }
    if (word.empty() || word[0] == '-') continue;
    if (word.size() > 20) return "";
    for (char c : word) {
      if (!((c >= 'a' && c <= 'z') || c == '-')) return "";
    }
    return word;
  }
  return "";
}

}  // namespace

// One forwarded command, from its request to its last answer.
struct ControlServer::Call {
  explicit Call(asio::io_context& io) : wake(io), note(io) {}

  // The client went away (or cannot be written to): drop the output and
  // cancel the command. Any thread.
  void Gone(const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(mu);
      gone = true;
    }
    room.notify_all();
    cancel.Cancel(reason);
  }
  bool IsGone() {
    std::lock_guard<std::mutex> lock(mu);
    return gone;
  }

  Cancellation cancel;

  // Output handed over by the command thread.
  std::mutex mu;
  std::condition_variable room;  // queued_bytes went down, or the client went away
  size_t queued_bytes = 0;       // GUARDED_BY(mu)
  bool gone = false;             // GUARDED_BY(mu)

  // On the io thread only.
  struct Piece {
    bool to_stderr;
    std::string data;
    bool queued;  // counted in queued_bytes
  };
  std::deque<Piece> pieces;
  asio::steady_timer wake;  // cancelled when there is something new
  asio::steady_timer note;  // for the note to a command that waits
  bool started = false;
  bool done = false;
  int exit_code = kExitStore;
};

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
  request.set_stream(true);
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
  if (!WriteAll(fd, Frame(body))) {
    ::close(fd);
    return gone();
  }
  // Pieces of output as the command writes them, then the exit code.
  for (;;) {
    unsigned char prefix[4];
    if (!ReadAll(fd, reinterpret_cast<char*>(prefix), sizeof prefix)) break;
    const uint32_t length = FrameLength(prefix);
    if (length > kMaxResponseBytes) break;
    std::string frame(length, '\0');
    v1::ControlResponse response;
    if (!ReadAll(fd, frame.data(), frame.size()) || !response.ParseFromString(frame) ||
        response.version() != kControlVersion) {
      break;
    }
    const std::string& out = response.stdout_data();
    const std::string& err = response.stderr_data();
    if (!out.empty()) std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
    std::cout.flush();
    if (!err.empty()) std::cerr.write(err.data(), static_cast<std::streamsize>(err.size()));
    std::cerr.flush();
    if (!response.more()) {
      ::close(fd);
      return response.exit_code();
    }
  }
  ::close(fd);
  return gone();
}

void Cancellation::Cancel(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return;
  cancelled_ = true;
  reason_ = reason;
  for (auto& [handle, callback] : callbacks_) callback();
  callbacks_.clear();
}

bool Cancellation::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

std::string Cancellation::reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

uint64_t Cancellation::Add(std::function<void()> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t handle = next_handle_++;
  if (cancelled_) {
    callback();
  } else {
    callbacks_.emplace(handle, std::move(callback));
  }
  return handle;
}

void Cancellation::Remove(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mu_);
  callbacks_.erase(handle);
}

OnCancel::OnCancel(Cancellation* cancellation, std::function<void()> callback)
    : cancellation_(cancellation) {
  if (cancellation_) handle_ = cancellation_->Add(std::move(callback));
}

OnCancel::~OnCancel() {
  if (cancellation_) cancellation_->Remove(handle_);
}

int RunForwarded(const v1::ControlRequest& request, const ForwardedOutputFn& output,
                 Cancellation& cancel, Engine& engine, const std::string& home,
                 const Context* serve_ctx) {
  if (request.version() != kControlVersion) {
    output(true, "kindred: this `kindred serve` speaks another control version\n");
    return kExitUsage;
  }
  Context::Serving serving;
  serving.engine = &engine;
  serving.home = home;
  serving.cwd = request.cwd();
  if (request.has_stdin()) serving.stdin_data = request.stdin_data();
  serving.cancel = &cancel;
  Context ctx;
  ctx.serving = &serving;
  if (serve_ctx) {
    ctx.plugins = serve_ctx->plugins;
    ctx.plugin_host = serve_ctx->plugin_host;
  }
  const std::vector<std::string> args(request.argv().begin(), request.argv().end());

  PieceBuf out(false, output), err(true, output);
  ScopedTimeZone zone(request);
  ScopedWorkingDirectory where(request.cwd());
  std::streambuf* old_out = std::cout.rdbuf(&out);
  std::streambuf* old_err = std::cerr.rdbuf(&err);
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
  return code;
}

ControlServer::ControlServer(asio::io_context& io, std::string path, RunForwardedFn run,
                             std::function<void(const std::string&)> log)
    : io_(io), path_(std::move(path)), run_(std::move(run)), log_(std::move(log)), acceptor_(io) {}

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
  for (const std::shared_ptr<Call>& call : calls_) call->cancel.Cancel("kindred serve is stopping");
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

asio::awaitable<void> ControlServer::Serve(local::socket accepted) {
  auto socket = std::make_shared<local::socket>(std::move(accepted));
  // Only this user's processes (the socket's mode says so too).
  ucred peer{};
  socklen_t size = sizeof(peer);
  if (::getsockopt(socket->native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 ||
      peer.uid != ::geteuid()) {
    co_return;
  }
  // The request, within a time limit.
  asio::steady_timer deadline(io_);
  deadline.expires_after(kRequestTimeout);
  deadline.async_wait([socket](const error_code& e) {
    if (e) return;
    error_code ignored;
    socket->close(ignored);
  });
  error_code error;
  unsigned char prefix[4];
  co_await asio::async_read(*socket, asio::buffer(prefix),
                            asio::redirect_error(asio::use_awaitable, error));
  if (error) co_return;  // e.g. a client that only checked we listen
  const uint32_t length = FrameLength(prefix);
  if (length > kMaxRequestBytes) co_return;
  std::string body(length, '\0');
  co_await asio::async_read(*socket, asio::buffer(body),
                            asio::redirect_error(asio::use_awaitable, error));
  deadline.cancel();
  auto request = std::make_shared<v1::ControlRequest>();
  if (error || !request->ParseFromString(body)) co_return;
  const bool stream = request->stream();
  const std::string command = CommandName(*request);

  auto call = std::make_shared<Call>(io_);
  calls_.insert(call);
  if (stopped_) call->cancel.Cancel("kindred serve is stopping");

  // The client keeps the connection open while the command runs: when it
  // closes it (Ctrl-C), the command is cancelled.
  asio::co_spawn(
      io_,
      [this, socket, call, command]() -> asio::awaitable<void> {
        char byte;
        for (;;) {
          error_code e;
          co_await socket->async_read_some(asio::buffer(&byte, 1),
                                           asio::redirect_error(asio::use_awaitable, e));
          if (!e) continue;  // a client has nothing more to say; ignore it
          if (call->done || e == asio::error::operation_aborted) co_return;
          if (call->started && log_) {
            log_("the terminal that ran " +
                 (command.empty() ? std::string("a command") : "`kindred " + command + "`") +
                 " went away; cancelled it");
          }
          call->Gone("its terminal went away");
          co_return;
        }
      },
      asio::detached);

  // A command that waits behind another (an open invite, say) says so.
  if (stream && calls_.size() > 1) {
    call->note.expires_after(kWaitNoteDelay);
    call->note.async_wait([call](const error_code& e) {
      if (e || call->started || call->done) return;
      call->pieces.push_back(
          {true,
           "kindred: waiting for another command that `kindred serve` runs for this home (an "
           "open invite?) to finish...\n",
           false});
      call->wake.cancel();
    });
  }

  // The command, on the command thread; its output comes back here.
  ForwardedOutputFn output = [this, call](bool to_stderr, std::string piece) {
    if (piece.empty()) return;
    {
      std::unique_lock<std::mutex> lock(call->mu);
      call->room.wait(lock, [&] { return call->gone || call->queued_bytes < kMaxQueuedBytes; });
      if (call->gone) return;
      call->queued_bytes += piece.size();
    }
    asio::post(io_, [call, to_stderr, piece = std::move(piece)]() mutable {
      call->pieces.push_back({to_stderr, std::move(piece), true});
      call->wake.cancel();
    });
  };
  asio::post(commands_, [this, call, request, output] {
    asio::post(io_, [call] { call->started = true; });
    // A client that left while the command waited does not want it run.
    const int code = call->IsGone() ? kExitUsage : run_(*request, output, call->cancel);
    asio::post(io_, [call, code] {
      call->done = true;
      call->exit_code = code;
      call->wake.cancel();
    });
  });

  // Hand the output on as it comes (or keep it for one answer, for a
  // client that did not ask for a stream).
  std::string all_out, all_err;
  auto send = [&](const v1::ControlResponse& response) -> asio::awaitable<bool> {
    std::string bytes;
    response.SerializeToString(&bytes);
    error_code e;
    co_await asio::async_write(*socket, asio::buffer(Frame(bytes)),
                               asio::redirect_error(asio::use_awaitable, e));
    co_return !e;
  };
  for (;;) {
    while (!call->pieces.empty()) {
      Call::Piece piece = std::move(call->pieces.front());
      call->pieces.pop_front();
      if (piece.queued) {
        {
          std::lock_guard<std::mutex> lock(call->mu);
          call->queued_bytes -= piece.data.size();
        }
        call->room.notify_all();
      }
      if (call->IsGone()) continue;
      if (!stream) {
        (piece.to_stderr ? all_err : all_out) += piece.data;
        continue;
      }
      for (size_t at = 0; at < piece.data.size(); at += kMaxPieceBytes) {
        v1::ControlResponse chunk;
        chunk.set_version(kControlVersion);
        chunk.set_more(true);
        const std::string part = piece.data.substr(at, kMaxPieceBytes);
        if (piece.to_stderr) {
          chunk.set_stderr_data(part);
        } else {
          chunk.set_stdout_data(part);
        }
        if (!co_await send(chunk)) {
          call->Gone("its terminal went away");
          break;
        }
      }
    }
    if (call->done) break;
    call->wake.expires_at(asio::steady_timer::time_point::max());
    error_code ignored;
    co_await call->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  call->note.cancel();
  if (!call->IsGone()) {
    v1::ControlResponse last;
    last.set_version(kControlVersion);
    last.set_exit_code(call->exit_code);
    if (!stream) {
      if (all_out.size() + all_err.size() > kMaxResponseBytes - 1024) {
        last.set_stderr_data("kindred: the output is too large to hand over; write it to a file\n");
        last.set_exit_code(kExitUsage);
      } else {
        last.set_stdout_data(std::move(all_out));
        last.set_stderr_data(std::move(all_err));
      }
    }
    const bool sent = co_await send(last);
    static_cast<void>(sent);  // nobody left to tell
  }
  calls_.erase(call);
  error_code ignored;
  socket->close(ignored);  // ends the watch on the client
}

}  // namespace kindred::cli
