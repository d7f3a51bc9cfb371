// Runs the built `kindred` binary as a user would, and a fixture that gives
// each test a fresh temporary home and a hermetic environment.
#ifndef KINDRED_TESTS_CLI_CLI_RUNNER_H_
#define KINDRED_TESTS_CLI_CLI_RUNNER_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

// Skips a test that reproduces a known, reported bug, unless
// KINDRED_RUN_KNOWN_BUGS is set (run with it set to see whether it is fixed).
#define KINDRED_SKIP_KNOWN_BUG(why)                                            \
  do {                                                                         \
    if (std::getenv("KINDRED_RUN_KNOWN_BUGS") == nullptr) GTEST_SKIP() << why; \
  } while (0)

namespace kindred::cli_testing {

// What one run of a program did.
struct CliResult {
  int exit_code = -1;      // -1 when it did not exit normally (signal, timeout)
  std::string out;         // everything it wrote to stdout
  std::string err;         // everything it wrote to stderr
  bool timed_out = false;  // it ran past its time and was killed
};

// Prints a result for failure messages.
std::ostream& operator<<(std::ostream& os, const CliResult& r);

// Runs `program` with `args` (argv[1...]) and exactly the environment `env`
// (nothing is inherited). `input`, when given, is written to its stdin, which
// is then closed; otherwise stdin is /dev/null, so the program never sees a
// terminal. Kills it (and its process group) after `timeout`. Ignores
// SIGPIPE in this process, so a child that exits early cannot kill the test.
CliResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env,
                     const std::optional<std::string>& input = std::nullopt,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The kindred binary under test: $KINDRED_BINARY_DIR/bin/kindred (ctest sets
// it), else the path this test was built against.
std::string KindredBinary();

// Every regular file under `dir` (recursively) by path relative to `dir`,
// with its bytes. Empty when `dir` does not exist. RocksDB's LOCK files are
// listed but never opened (that would release a lock this process holds).
std::map<std::string, std::string> Snapshot(const std::string& dir);

// The same, without RocksDB's informational logs (db/LOG, db/LOG.old.*),
// which RocksDB rotates even on an open that then fails.
std::map<std::string, std::string> SnapshotWithoutInfoLogs(const std::string& dir);

// The files added, removed or changed between two snapshots, each as
// "+name", "-name" or "~name" (empty when they are the same). Readable in a
// failure message, unlike the snapshots themselves.
std::vector<std::string> Changes(const std::map<std::string, std::string>& before,
                                 const std::map<std::string, std::string>& after);

// The names (relative to `dir`) of files in `snapshot` holding `needle`.
std::vector<std::string> FilesContaining(const std::map<std::string, std::string>& snapshot,
                                         const std::string& needle);

std::string ReadFileOrEmpty(const std::string& path);
void WriteFileOrFail(const std::string& path, const std::string& bytes);

// A fresh temporary directory per test holding a home ("home", not created
// until `kindred init`) and a fake user home directory ("user") that $HOME
// points at, so the real home is never touched.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs kindred with exactly these args, in env_ plus `extra_env` (which
  // adds or overrides variables; erase from env_ to unset one).
  CliResult Run(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& extra_env = {},
                const std::optional<std::string>& input = std::nullopt);
  // The same with `--home home()` in front.
  CliResult RunHome(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& extra_env = {},
                    const std::optional<std::string>& input = std::nullopt);

  // `kindred --home home() init --name name`, which must succeed.
  void InitHome(const std::string& name = "Alex",
                const std::map<std::string, std::string>& extra_env = {});
  // `journal add ARGS` with --json; returns the new id ("" and a failure if refused).
  std::string Add(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& extra_env = {});
  // `journal list ARGS` with --json, parsed (a failure and an empty array if it fails).
  nlohmann::json ListJson(const std::vector<std::string>& args = {},
                          const std::map<std::string, std::string>& extra_env = {});

  // A path inside the test's temporary directory.
  std::string TempPath(const std::string& name) const { return root_ + "/" + name; }
  const std::string& home() const { return home_; }
  const std::string& user_home() const { return user_home_; }
  std::string KeyFile() const { return home_ + "/device.key"; }
  std::string Db() const { return home_ + "/db"; }

  // The environment every run starts from: HOME=user_home(), a fixed time
  // zone (UTC+9, so offsets are visibly not "Z"), and nothing else.
  std::map<std::string, std::string> env_;

 private:
  std::string root_;
  std::string home_;
  std::string user_home_;
};

// Matches a time as the CLI prints it: ISO 8601 with a numeric offset.
inline constexpr char kIsoTimePattern[] =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?[+-][0-9]{2}:[0-9]{2}$";
// The grouped device id: four groups of seven base32 characters.
inline constexpr char kDeviceIdPattern[] = "^[A-Z2-7]{7}-[A-Z2-7]{7}-[A-Z2-7]{7}-[A-Z2-7]{7}$";
// A 32-byte public key as lowercase hex.
inline constexpr char kKeyHexPattern[] = "^[0-9a-f]{64}$";

bool FullMatch(const std::string& text, const char* pattern);

}  // namespace kindred::cli_testing

#endif  // KINDRED_TESTS_CLI_CLI_RUNNER_H_
