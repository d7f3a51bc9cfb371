// The built `kindred` binary in child processes, for tests that drive the
// CLI as people do: each child has stdout and stderr in files under a
// scratch directory, stdin from a string or /dev/null, its own process
// group, and only a minimal environment (PATH, TZ=UTC, light KDF limits).
// The test target defines KINDRED_CLI_PATH (the binary built with this
// tree); $KINDRED_BINARY_DIR/bin/kindred takes precedence when set.
#ifndef KINDRED_TESTS_TESTING_KINDRED_CHILD_H_
#define KINDRED_TESTS_TESTING_KINDRED_CHILD_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kindred::testing {

inline std::string KindredBinary() {
  if (const char* dir = std::getenv("KINDRED_BINARY_DIR"); dir && *dir) {
    return std::string(dir) + "/bin/kindred";
  }
  return KINDRED_CLI_PATH;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A running `kindred`. Killed (SIGKILL) if still running when destroyed.
class KindredChild {
 public:
  // Runs kindred with `args`, its files in a new directory under `scratch`;
  // stdin is `input` (else /dev/null); the working directory is `cwd` (else
  // this process's).
  KindredChild(const std::vector<std::string>& args, const std::string& scratch,
               const std::optional<std::string>& input = std::nullopt,
               const std::string& cwd = "") {
    std::string dir = scratch + "/childXXXXXX";
    if (mkdtemp(dir.data()) == nullptr) {
      ADD_FAILURE() << "cannot make a directory under " << scratch;
      exited_ = true;
      return;
    }
    out_path_ = dir + "/out";
    err_path_ = dir + "/err";
    const std::string in_path = dir + "/in";
    if (input) std::ofstream(in_path, std::ios::binary) << *input;
    std::vector<std::string> argv{KindredBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
      int in = open(input ? in_path.c_str() : "/dev/null", O_RDONLY);
      int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> raw;
      for (auto& a : argv) raw.push_back(a.data());
      raw.push_back(nullptr);
      std::string path = "PATH=/usr/bin:/bin";
      std::string kdf = "KINDRED_KDF=interactive";
      std::string tz = "TZ=UTC";
      char* env[] = {path.data(), kdf.data(), tz.data(), nullptr};
      execve(raw[0], raw.data(), env);
      _exit(127);
    }
  }
  ~KindredChild() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(5));
    }
  }
  KindredChild(const KindredChild&) = delete;
  KindredChild& operator=(const KindredChild&) = delete;

  void Signal(int sig) { kill(pid_, sig); }
  // The exit code, 128 + signal when killed, or -1 if still running after `limit`.
  int Wait(std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exited_) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return code_;
  }
  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }

  // The text after `prefix` on the first whole stdout line that starts with
  // it, waiting for it to appear (as a person reads the terminal). Reports
  // a failure and returns "" if it does not within `limit` or the child ends.
  std::string WaitForLine(const std::string& prefix,
                          std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::istringstream lines(out());
      std::string line;
      while (std::getline(lines, line)) {
        if (line.rfind(prefix, 0) == 0 && !lines.eof()) return line.substr(prefix.size());
      }
      if (exited_ || waitpid(pid_, nullptr, WNOHANG) == pid_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << "no line starting with '" << prefix << "'; stdout: " << out()
                  << "; stderr: " << err();
    return "";
  }
  // `kindred serve --listen 127.0.0.1:0`'s port, from its first line (0 if
  // it does not say).
  uint16_t ListeningPort() {
    const std::string port = WaitForLine("listening on 127.0.0.1:");
    return port.empty() ? 0 : static_cast<uint16_t>(std::stoi(port));
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::string out_path_, err_path_;
};

// What a finished `kindred` did.
struct Ran {
  int code;
  std::string out, err;
};

inline std::ostream& operator<<(std::ostream& os, const Ran& r) {
  return os << "exit " << r.code << "\nstdout: " << r.out << "\nstderr: " << r.err;
}

// Runs kindred to its end (see KindredChild).
inline Ran RunKindred(const std::vector<std::string>& args, const std::string& scratch,
                      const std::optional<std::string>& input = std::nullopt,
                      const std::string& cwd = "") {
  KindredChild child(args, scratch, input, cwd);
  const int code = child.Wait();
  return {code, child.out(), child.err()};
}

}  // namespace kindred::testing

#endif  // KINDRED_TESTS_TESTING_KINDRED_CHILD_H_
