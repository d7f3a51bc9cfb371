#include "cli_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace kindred::cli_testing {
namespace {

namespace fs = std::filesystem;

// Moves `fd` above the standard descriptors (so a dup2 onto 0, 1 or 2 in the
// child always really happens and clears close-on-exec), close-on-exec.
int AboveStdio(int fd) {
  if (fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

struct Pipe {
  int read = -1;
  int write = -1;
  bool Open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read = AboveStdio(fds[0]);
    write = AboveStdio(fds[1]);
    return read >= 0 && write >= 0;
  }
};

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

std::ostream& operator<<(std::ostream& os, const CliResult& r) {
  os << "exit " << r.exit_code << (r.timed_out ? " (timed out)" : "") << "\n--- stdout ---\n"
     << r.out.substr(0, 4000) << "\n--- stderr ---\n"
     << r.err.substr(0, 4000) << "\n";
  return os;
}

CliResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env,
                     const std::optional<std::string>& input, std::chrono::milliseconds timeout) {
  static const bool sigpipe_ignored = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;

  CliResult result;
  std::vector<std::string> argv_strings{program};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  Pipe out, err, in;
  int child_stdin = -1;
  if (!out.Open() || !err.Open()) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return result;
  }
  if (input) {
    if (!in.Open()) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return result;
    }
    child_stdin = in.read;
  } else {
    child_stdin = AboveStdio(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_stdin, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  CloseFd(&out.write);
  CloseFd(&err.write);
  if (input) {
    CloseFd(&in.read);
  } else {
    CloseFd(&child_stdin);
  }
  if (rc != 0) {
    ADD_FAILURE() << "cannot run " << program << ": " << std::strerror(rc);
    CloseFd(&out.read);
    CloseFd(&err.read);
    CloseFd(&in.write);
    return result;
  }

  SetNonBlocking(out.read);
  SetNonBlocking(err.read);
  size_t written = 0;
  if (input) {
    SetNonBlocking(in.write);
    if (input->empty()) CloseFd(&in.write);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (out.read >= 0 || err.read >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out.read >= 0) {
      out_i = n;
      fds[n++] = {out.read, POLLIN, 0};
    }
    if (err.read >= 0) {
      err_i = n;
      fds[n++] = {err.read, POLLIN, 0};
    }
    if (in.write >= 0) {
      in_i = n;
      fds[n++] = {in.write, POLLOUT, 0};
    }
    int ready = ::poll(fds, n, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    auto drain = [&](int index, int* fd, std::string* sink) {
      if (index < 0 || fds[index].revents == 0) return;
      ssize_t got = ::read(*fd, buf, sizeof(buf));
      if (got > 0) {
        sink->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        CloseFd(fd);
      }
    };
    drain(out_i, &out.read, &result.out);
    drain(err_i, &err.read, &result.err);
    if (in_i >= 0 && fds[in_i].revents != 0) {
      ssize_t put = ::write(in.write, input->data() + written, input->size() - written);
      if (put > 0) written += static_cast<size_t>(put);
      if ((put < 0 && errno != EAGAIN && errno != EINTR) || written == input->size()) {
        CloseFd(&in.write);
      }
    }
  }
  CloseFd(&out.read);
  CloseFd(&err.read);
  CloseFd(&in.write);

  // Reap it; on a timeout, kill its whole process group first.
  if (result.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (!result.timed_out && std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (WIFEXITED(status) && !result.timed_out) result.exit_code = WEXITSTATUS(status);
  return result;
}

std::string KindredBinary() {
  if (const char* dir = std::getenv("KINDRED_BINARY_DIR"); dir && *dir) {
    std::string path = std::string(dir) + "/bin/kindred";
    if (fs::exists(path)) return path;
  }
#ifdef KINDRED_CLI_FALLBACK_PATH
  return KINDRED_CLI_FALLBACK_PATH;
#else
  return "kindred";
#endif
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrFail(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string name = fs::relative(it->path(), dir).string();
    // Never open RocksDB's LOCK file: closing any descriptor of it would drop
    // this process's fcntl lock on it, should this process hold the store.
    if (it->path().filename() == "LOCK") {
      files[name] = "<lock file, " + std::to_string(it->file_size(ec)) + " bytes>";
      continue;
    }
    files[name] = ReadFileOrEmpty(it->path().string());
  }
  return files;
}

std::map<std::string, std::string> SnapshotWithoutInfoLogs(const std::string& dir) {
  auto files = Snapshot(dir);
  std::erase_if(files, [](const auto& kv) {
    std::string name = fs::path(kv.first).filename().string();
    return name == "LOG" || name.rfind("LOG.old.", 0) == 0;
  });
  return files;
}

std::vector<std::string> Changes(const std::map<std::string, std::string>& before,
                                 const std::map<std::string, std::string>& after) {
  std::vector<std::string> out;
  for (const auto& [name, bytes] : before) {
    auto it = after.find(name);
    if (it == after.end())
      out.push_back("-" + name);
    else if (it->second != bytes)
      out.push_back("~" + name);
  }
  for (const auto& [name, bytes] : after) {
    if (!before.count(name)) out.push_back("+" + name);
  }
  return out;
}

std::vector<std::string> FilesContaining(const std::map<std::string, std::string>& snapshot,
                                         const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& [name, bytes] : snapshot) {
    if (bytes.find(needle) != std::string::npos) out.push_back(name);
  }
  return out;
}

bool FullMatch(const std::string& text, const char* pattern) {
  return std::regex_search(text, std::regex(pattern));
}

void CliTest::SetUp() {
  std::string base = ::testing::TempDir();
  if (base.empty() || base.back() != '/') base += '/';
  std::string pattern = base + "kindred-cli-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  ASSERT_NE(::mkdtemp(buf.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
  root_ = buf.data();
  home_ = root_ + "/home";
  user_home_ = root_ + "/user";
  ASSERT_TRUE(fs::create_directories(user_home_));
  env_ = {{"HOME", user_home_}, {"TZ", "KST-9"}};
  ASSERT_TRUE(fs::exists(KindredBinary())) << "no kindred binary at " << KindredBinary();
}

void CliTest::TearDown() {
  std::error_code ec;
  if (!root_.empty()) fs::remove_all(root_, ec);
}

CliResult CliTest::Run(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& extra_env,
                       const std::optional<std::string>& input) {
  auto env = env_;
  for (const auto& [k, v] : extra_env) env[k] = v;
  CliResult r = RunProgram(KindredBinary(), args, env, input);
  EXPECT_FALSE(r.timed_out) << "kindred hung";
  return r;
}

CliResult CliTest::RunHome(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& extra_env,
                           const std::optional<std::string>& input) {
  std::vector<std::string> full{"--home", home_};
  full.insert(full.end(), args.begin(), args.end());
  return Run(full, extra_env, input);
}

void CliTest::InitHome(const std::string& name,
                       const std::map<std::string, std::string>& extra_env) {
  CliResult r = RunHome({"init", "--name", name}, extra_env);
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_TRUE(fs::exists(KeyFile()));
}

std::string CliTest::Add(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> full{"--json", "journal", "add"};
  full.insert(full.end(), args.begin(), args.end());
  CliResult r = RunHome(full, extra_env);
  EXPECT_EQ(r.exit_code, 0) << r;
  if (r.exit_code != 0) return "";
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("id") && j["id"].is_string()) << r;
  return j.is_object() && j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : "";
}

nlohmann::json CliTest::ListJson(const std::vector<std::string>& args,
                                 const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> full{"--json", "journal", "list"};
  full.insert(full.end(), args.begin(), args.end());
  CliResult r = RunHome(full, extra_env);
  EXPECT_EQ(r.exit_code, 0) << r;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_array()) << r;
  return j.is_array() ? j : nlohmann::json::array();
}

}  // namespace kindred::cli_testing
