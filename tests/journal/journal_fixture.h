// What the journal tests share: a fresh temporary home per test with an
// engine and a Journal over it, and small builders for entries.
#ifndef KINDRED_TESTS_JOURNAL_JOURNAL_FIXTURE_H_
#define KINDRED_TESTS_JOURNAL_JOURNAL_FIXTURE_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kindred/engine.h"
#include "kindred/journal.h"

// Skips a test that reproduces a known, reported bug, unless
// KINDRED_RUN_KNOWN_BUGS is set (run with it set to see whether it is fixed).
#define KINDRED_SKIP_KNOWN_BUG(why)                                            \
  do {                                                                         \
    if (std::getenv("KINDRED_RUN_KNOWN_BUGS") == nullptr) GTEST_SKIP() << why; \
  } while (0)

namespace kindred::testing {

// A unique directory under the test temp dir, removed with everything in it
// when the object dies. home() is a not-yet-existing directory inside it.
class TempDir {
 public:
  TempDir() {
    std::string base = ::testing::TempDir();
    if (base.empty() || base.back() != '/') base += '/';
    std::string pattern = base + "kindred-journal-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) root_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    if (!root_.empty()) std::filesystem::remove_all(root_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !root_.empty(); }
  const std::string& root() const { return root_; }
  std::string Path(const std::string& name) const { return root_ + "/" + name; }

 private:
  std::string root_;
};

// A device in a fresh home, with a journal. Each test gets its own.
class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok()) << "could not make a temporary directory";
    home_ = dir_.Path("home");
    InitOptions init;
    init.engine.home = home_;
    init.member_name = "Alex";
    init.device_name = "laptop";
    auto engine = Engine::Init(init);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    journal_ = std::make_unique<Journal>(*engine_);
  }

  // Closes the engine and opens the home again (as a new process would).
  void Reopen() {
    journal_.reset();
    engine_.reset();
    auto engine = Engine::Open({.home = home_});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    journal_ = std::make_unique<Journal>(*engine_);
  }

  static NewEntry Entry(std::string text, std::optional<int> mood = std::nullopt,
                        std::vector<std::string> tags = {},
                        Visibility visibility = Visibility::kPrivate) {
    NewEntry e;
    e.text = std::move(text);
    e.mood = mood;
    e.tags = std::move(tags);
    e.visibility = visibility;
    return e;
  }

  // Waits until the wall clock reaches a later millisecond, so the next entry
  // gets a later created time than the one before (the engine keeps
  // millisecond times, and orders entries of one millisecond by id: see
  // EntriesWrittenInTheSameMillisecond... in journal_test.cc).
  static void NextMillisecond() { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }

  // Adds `entry`, failing the test (and returning "") if it is refused.
  std::string MustAdd(const NewEntry& entry) {
    auto id = journal_->Add(entry);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : std::string();
  }

  // The texts of List(filter), in order.
  std::vector<std::string> Texts(const JournalFilter& filter = {}) {
    auto entries = journal_->List(filter);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    std::vector<std::string> out;
    if (entries.ok()) {
      for (const auto& e : *entries) out.push_back(e.text);
    }
    return out;
  }

  TempDir dir_;
  std::string home_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Journal> journal_;
};

}  // namespace kindred::testing

#endif  // KINDRED_TESTS_JOURNAL_JOURNAL_FIXTURE_H_
