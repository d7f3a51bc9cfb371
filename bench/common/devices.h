// What every benchmark needs: a temporary home, journal-like entry text, and
// a fresh engine. Benchmarks abort on setup failures.
#ifndef KINDRED_BENCH_COMMON_DEVICES_H_
#define KINDRED_BENCH_COMMON_DEVICES_H_

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "kindred/engine.h"

namespace kindred::bench {

// A new empty directory under the system's temporary directory.
inline std::string TempHome() {
  std::string pattern = (std::filesystem::temp_directory_path() / "kindred-bench-XXXXXX").string();
  return mkdtemp(pattern.data());
}

// About 300 bytes of journal-like text, different for every entry.
inline std::string EntryText(std::mt19937_64& rng) {
  static const char* kWords[] = {"today", "we",       "walked", "by",       "the",
                                 "river", "and",      "talked", "about",    "plans",
                                 "I",     "felt",     "close",  "grateful", "tired",
                                 "happy", "listened", "dinner", "laughed",  "quiet"};
  std::string text;
  while (text.size() < 300) {
    text += kWords[rng() % 20];
    text += ' ';
  }
  text.resize(300);
  return text;
}

// A device of member "Bench" named `name`, initialised in `home`.
inline std::unique_ptr<Engine> NewEngine(const std::string& home, const std::string& name,
                                         bool sync_writes = true) {
  InitOptions init;
  init.engine.home = home;
  init.engine.sync_writes = sync_writes;
  init.member_name = "Bench";
  init.device_name = name;
  auto engine = Engine::Init(init);
  if (!engine.ok()) std::abort();
  return std::move(*engine);
}

}  // namespace kindred::bench

#endif  // KINDRED_BENCH_COMMON_DEVICES_H_
