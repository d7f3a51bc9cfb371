// Runs a program as a user would, for the CLI tests: argv, exactly the
// environment given (nothing inherited), stdin from /dev/null so it never
// sees a terminal, stdout and stderr captured, killed after a timeout.
#ifndef KINDRED_TESTS_RITUALS_PROCESS_RUNNER_H_
#define KINDRED_TESTS_RITUALS_PROCESS_RUNNER_H_

#include <chrono>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace kindred::rituals_testing {

struct ProcessResult {
  int exit_code = -1;  // -1 if it did not exit normally (a signal, or killed on timeout)
  std::string out;
  std::string err;
  bool timed_out = false;
};

// For failure messages: the exit code, stdout and stderr.
std::ostream& operator<<(std::ostream& os, const ProcessResult& r);

// Runs `program` with `args` and environment `env`; `scratch_dir` (which
// must exist) holds the captured output while it runs.
ProcessResult RunProcess(const std::string& program, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env,
                         const std::string& scratch_dir,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace kindred::rituals_testing

#endif  // KINDRED_TESTS_RITUALS_PROCESS_RUNNER_H_
