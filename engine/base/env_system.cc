// The real operating system behind kindred::Env.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kindred/env.h"

namespace kindred {
namespace {

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class SystemRandom final : public Random {
 public:
  SystemRandom() {
    if (sodium_init() < 0) std::abort();  // no safe randomness: cannot continue
  }
  void Fill(uint8_t* out, size_t n) override { randombytes_buf(out, n); }
};

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

class SystemFileSystem final : public FileSystem {
 public:
  bool Exists(const std::string& path) override {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
  }

  Status CreateDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::IOError("cannot create directory " + path + ": " + ec.message());
    ::chmod(path.c_str(), 0700);
    return Status::Ok();
  }

  Result<std::string> ReadFile(const std::string& path) override {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Errno("cannot open", path);
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return Errno("cannot read", path);
    return ss.str();
  }

  Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) override {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return Errno("cannot create", tmp);
    ::fchmod(fd, mode);
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        Status s = Errno("cannot write", tmp);
        ::close(fd);
        return s;
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
      Status s = Errno("cannot sync", tmp);
      ::close(fd);
      return s;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot rename onto", path);
    std::string dir = std::filesystem::path(path).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return Status::Ok();
  }
};

class SystemEnv final : public Env {
 public:
  Clock& clock() override { return clock_; }
  Random& random() override { return random_; }
  FileSystem& fs() override { return fs_; }

 private:
  SystemClock clock_;
  SystemRandom random_;
  SystemFileSystem fs_;
};

}  // namespace

Env& Env::System() {
  // Immutable and stateless: safe to share for the life of the process.
  static SystemEnv env;
  return env;
}

}  // namespace kindred
