// The terminal: passphrase prompts and progress bars, only when a person is
// there to see them.
#ifndef KINDRED_CLI_TERMINAL_H_
#define KINDRED_CLI_TERMINAL_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace kindred::cli {

bool StdinIsTerminal();
bool StderrIsTerminal();

// Asks for a passphrase on the terminal without echo. nullopt if there is
// no terminal or input ended.
std::optional<std::string> PromptSecret(const std::string& prompt);

// A one-line progress bar on stderr, redrawn at most ten times a second.
// Draws nothing unless stderr is a terminal.
class ProgressBar {
 public:
  // Draws only when `allowed` (e.g. not for a command run on another
  // process's behalf) and stderr is a terminal.
  explicit ProgressBar(std::string label, bool allowed = true);
  ~ProgressBar();
  void Update(uint64_t done, uint64_t total);

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace kindred::cli

#endif  // KINDRED_CLI_TERMINAL_H_
