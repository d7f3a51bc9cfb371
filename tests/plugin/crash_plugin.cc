// org.test.crash: a third-party plugin (a shared library, run out of
// process by kindred-plugin-runner) that does the things no host can catch
// in process. Each of its `crash ...` commands first commits a record, then:
//
//   segv     writes through a null pointer        abort    calls abort()
//   loop     never returns                        exit     calls _exit(7)
//   garbage  writes a frame of an unknown kind    huge     claims a 1 GiB frame
//
// and `crash fine` commits and returns; `crash count` counts the records;
// `crash whoami` says what the process it runs in looks like; `crash pair`
// creates a record and updates it in one call. Its view crashes on a record
// whose text is "segv-in-view".
//
// Built twice more: with KINDRED_TEST_CRASH_WHILE_LOADING, a library whose
// constructor crashes as it is loaded; with KINDRED_TEST_HANG_WHILE_LOADING,
// one whose describe never returns.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "kindred/plugin.h"

namespace {

namespace kp = ::kindred::plugin;

#ifdef KINDRED_TEST_CRASH_WHILE_LOADING
__attribute__((constructor)) void CrashAsTheLibraryLoads() {
  volatile int* volatile nowhere = nullptr;
  *nowhere = 1;
}
#endif

void Segfault() {
  volatile int* volatile nowhere = nullptr;
  *nowhere = 1;
}

[[noreturn]] void Spin() {
  volatile uint64_t n = 0;
  for (;;) n = n + 1;
}

// A frame header straight onto the runner's socket (fd 3), behind the
// runner's back: length 5, kind 99, code 0.
void WriteRawToHost(const std::string& bytes) {
  ssize_t ignored = write(3, bytes.data(), bytes.size());
  (void)ignored;
}

std::string Quote(const std::string& s) { return kp::JsonQuote(s); }

int OpenFds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
    --n;  // the directory's own descriptor
  }
  return n;
}

class CrashPlugin final : public kp::Plugin {
 public:
  kp::Manifest Describe() const override {
#ifdef KINDRED_TEST_HANG_WHILE_LOADING
    Spin();
#endif
    kp::Manifest m{"org.test.crash", "1.0.0", "Crashes on request"};
    m.Collection("things").Field("text", kp::MergeRule::kLastWriterWins);
    m.View("texts", 1).From("things");
    m.Command({"crash", "fine"}, "Commit a record and return");
    m.Command({"crash", "segv"}, "Commit, then dereference a null pointer");
    m.Command({"crash", "abort"}, "Commit, then abort");
    m.Command({"crash", "loop"}, "Commit, then loop forever");
    m.Command({"crash", "exit"}, "Commit, then exit in the middle of the call");
    m.Command({"crash", "garbage"}, "Commit, then write a malformed frame");
    m.Command({"crash", "huge"}, "Commit, then announce a 1 GiB frame");
    m.Command({"crash", "count"}, "How many records there are");
    m.Command({"crash", "whoami"}, "The process the plugin runs in, as JSON");
    m.Command({"crash", "pair"}, "Create a record and update it in one call");
    m.Command({"crash", "write"}, "Commit a record with this text").Rest("text", "The text");
    return m;
  }

  kp::CommandResult Run(const kp::Command& c, kp::Host& host) override {
    const std::string name = c.Name();
    if (name == "crash count") {
      auto all = host.All("things");
      if (!all.ok()) return kp::CommandResult::Usage(all.error().message);
      return kp::CommandResult::Ok(std::to_string(all->size()));
    }
    if (name == "crash whoami") {
      char cwd[4096];
      const bool has_cwd = getcwd(cwd, sizeof(cwd)) != nullptr;
      rlimit core{};
      getrlimit(RLIMIT_CORE, &core);
      return kp::CommandResult::Ok(
          "{\"pid\": " + std::to_string(getpid()) + ", \"cwd\": " +
          (has_cwd ? Quote(cwd) : std::string("null")) + ", \"passphrase\": " +
          (getenv("KINDRED_PASSPHRASE") ? "true" : "false") + ", \"home\": " +
          (getenv("HOME") ? "true" : "false") + ", \"open_fds\": " + std::to_string(OpenFds()) +
          ", \"core_limit\": " + std::to_string(core.rlim_cur) + "}");
    }
    if (name == "crash pair") {
      auto id = host.Commit(kp::Change::Create("things").Set("text", std::string("first")));
      if (!id.ok()) return kp::CommandResult::Usage(id.error().message);
      auto again = host.Commit(kp::Change::Update("things", *id).Set("text", std::string("second")));
      if (!again.ok()) return kp::CommandResult::Usage(again.error().message);
      return kp::CommandResult::Ok(*id);
    }
    const std::string text = name == "crash write" ? c.Get("text") : name;
    auto id = host.Commit(kp::Change::Create("things").Set("text", text));
    if (!id.ok()) return kp::CommandResult::Usage(id.error().message);
    if (name == "crash segv") Segfault();
    if (name == "crash abort") abort();
    if (name == "crash loop") Spin();
    if (name == "crash exit") _exit(7);
    if (name == "crash garbage") {
      WriteRawToHost(std::string("\x05\x00\x00\x00\x63\x00\x00\x00\x00", 9));
      pause();  // the host stops the process
    }
    if (name == "crash huge") {
      WriteRawToHost(std::string("\x05\x00\x00\x40\x04\x00\x00\x00\x00", 9));
      pause();
    }
    return kp::CommandResult::Ok(*id);
  }

  kp::ViewUpdate UpdateView(const kp::ViewChanges& changes, kp::Host&) override {
    kp::ViewUpdate u;
    for (const auto& r : changes.records) {
      if (r.Text("text") == "segv-in-view") Segfault();
      if (r.deleted)
        u.Remove(r.id);
      else
        u.Put(r.id, r.Text("text"));
    }
    return u;
  }
};

}  // namespace

KINDRED_PLUGIN(CrashPlugin)
