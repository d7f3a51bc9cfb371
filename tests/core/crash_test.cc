// What survives a crash, and what is reported when the disk lies afterwards.
// A child process commits and dies without closing anything (_exit), as a
// kill -9 or power loss would leave it; the parent then reopens the home.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kindred/engine.h"
#include "tests/testing/fake_env.h"

namespace kindred {
namespace {

// Runs `body` in a child that exits abruptly; returns its exit code.
int InCrashingChild(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void InitHome(const std::string& home) {
  InitOptions init;
  init.engine.home = home;
  init.member_name = "Alex";
  ASSERT_TRUE(Engine::Init(init).ok());
}

int CommitAndCrash(const std::string& home, const std::string& text) {
  auto engine = Engine::Open({.home = home});
  if (!engine.ok()) return 10;
  auto r = (*engine)->Commit((*engine)->device().personal_space,
                             {Mutation::Create("journal", {{"text", text}})});
  if (!r.ok()) return 11;
  _exit(0);  // no destructors: the commit lives only in the write-ahead log
}

TEST(CrashTest, ACommittedEntrySurvivesAProcessThatDiesWithoutClosing) {
  testing::TempDir dir;
  InitHome(dir.path());
  ASSERT_EQ(InCrashingChild([&] { return CommitAndCrash(dir.path(), "kept through a crash"); }), 0);
  auto engine = Engine::Open({.home = dir.path()});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  int found = 0;
  ASSERT_TRUE((*engine)->Scan((*engine)->device().personal_space, "journal", [&](const Record& r) {
    found += r.Text("text") == "kept through a crash";
    return true;
  }).ok());
  EXPECT_EQ(found, 1);
  VerifyReport report;
  EXPECT_TRUE((*engine)->Verify(&report).ok());
}

TEST(CrashTest, AGarbledWriteAheadLogAfterACrashIsReportedNotSilentlyDropped) {
  testing::TempDir dir;
  InitHome(dir.path());
  ASSERT_EQ(InCrashingChild([&] { return CommitAndCrash(dir.path(), "only in the log"); }), 0);
  int garbled = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path() + "/db")) {
    if (f.path().extension() != ".log" || std::filesystem::file_size(f.path()) < 64) continue;
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(std::filesystem::file_size(f.path()) / 2));
    io.put('\x5a').put('\xa5').put('\x5a');
    ++garbled;
  }
  ASSERT_GT(garbled, 0) << "the crash left no write-ahead log to damage";
  auto engine = Engine::Open({.home = dir.path()});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kCorruption) << engine.status().ToString();
}

// A process killed in the middle of a large write (a sync batch of
// thousands of ops spans several write calls) leaves the write-ahead log
// ending in a record cut short. That write never returned, so nothing in
// it was acknowledged: the store opens, with everything committed before.
TEST(CrashTest, ARecordCutShortAtTheEndOfTheLogIsAWriteThatNeverReturned) {
  testing::TempDir dir;
  InitHome(dir.path());
  ASSERT_EQ(InCrashingChild([&] { return CommitAndCrash(dir.path(), "kept before the cut"); }), 0);
  std::filesystem::path newest;
  for (const auto& f : std::filesystem::directory_iterator(dir.path() + "/db")) {
    if (f.path().extension() == ".log" && f.path().filename() > newest.filename()) newest = f;
  }
  ASSERT_FALSE(newest.empty()) << "the crash left no write-ahead log";
  const uint64_t size = std::filesystem::file_size(newest);
  constexpr uint64_t kBlock = 32768, kHeader = 7;
  if (kBlock - size % kBlock < kHeader + 200) GTEST_SKIP() << "the log ends at a block boundary";
  {
    // The start of a whole-record fragment announcing 1000 bytes, of which
    // only 100 made it: checksum, length (little-endian), type 1 (full).
    std::ofstream out(newest, std::ios::binary | std::ios::app);
    const char header[kHeader] = {'\x12', '\x34', '\x56', '\x78', '\xe8', '\x03', '\x01'};
    out.write(header, kHeader);
    out << std::string(100, '\x42');
  }
  auto engine = Engine::Open({.home = dir.path()});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  int found = 0;
  ASSERT_TRUE((*engine)->Scan((*engine)->device().personal_space, "journal", [&](const Record& r) {
    found += r.Text("text") == "kept before the cut";
    return true;
  }).ok());
  EXPECT_EQ(found, 1);
  VerifyReport report;
  EXPECT_TRUE((*engine)->Verify(&report).ok());
}

}  // namespace
}  // namespace kindred
