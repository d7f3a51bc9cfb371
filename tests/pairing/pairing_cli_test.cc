// `kindred invite` and `kindred join` as people use them: two child
// processes on temporary homes over 127.0.0.1, the inviter's first lines
// giving the code and the port. Then what pairing promises: shared entries
// reach the partner and private ones never do, a linked device gets its
// member's private entries, revocation and unpairing take effect, and
// every bad input ends cleanly with a message and nothing half-written.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "tests/testing/fake_env.h"

namespace kindred {
namespace {

using nlohmann::json;
using testing::TempDir;

std::string KindredBinary() {
  if (const char* dir = std::getenv("KINDRED_BINARY_DIR"); dir && *dir) {
    return std::string(dir) + "/bin/kindred";
  }
  return KINDRED_CLI_PATH;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// kindred in a child process, stdout and stderr in files, stdin /dev/null,
// and only the environment given here.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& scratch) {
    static int counter = 0;
    const std::string base = scratch + "/child" + std::to_string(++counter);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    std::vector<std::string> argv{KindredBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      int in = open("/dev/null", O_RDONLY);
      int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> raw;
      for (auto& a : argv) raw.push_back(a.data());
      raw.push_back(nullptr);
      std::string path = "PATH=/usr/bin:/bin";
      std::string tz = "TZ=UTC";
      char* env[] = {path.data(), tz.data(), nullptr};
      execve(raw[0], raw.data(), env);
      _exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(5));
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void Signal(int sig) { kill(pid_, sig); }
  // The exit code, 128 + signal, or -1 if still running after `limit`.
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
  // The text after `prefix` on the first stdout line that starts with it,
  // waiting for it to appear (as a person reads the terminal).
  std::string WaitForLine(const std::string& prefix) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
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

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::string out_path_, err_path_;
};

struct Ran {
  int code;
  std::string out, err;
};

std::ostream& operator<<(std::ostream& os, const Ran& r) {
  return os << "exit " << r.code << "\nstdout: " << r.out << "\nstderr: " << r.err;
}

class PairingCliTest : public ::testing::Test {
 protected:
  void SetUp() override { signal(SIGPIPE, SIG_IGN); }

  std::string Home(const std::string& name) { return scratch_.path() + "/" + name; }
  Ran Run(const std::vector<std::string>& args) {
    Child child(args, scratch_.path());
    const int code = child.Wait();
    return {code, child.out(), child.err()};
  }
  Ran Kindred(const std::string& home, std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", Home(home)});
    return Run(args);
  }
  void Init(const std::string& home, const std::string& name, const std::string& device) {
    Ran r = Kindred(home, {"init", "--name", name, "--device-name", device});
    ASSERT_EQ(r.code, 0) << r;
  }
  std::string Add(const std::string& home, const std::string& text, bool shared) {
    std::vector<std::string> args{"journal", "add"};
    if (shared) args.push_back("--shared");
    args.push_back(text);
    Ran r = Kindred(home, args);
    EXPECT_EQ(r.code, 0) << r;
    return r.out;
  }
  // An invite from `home`, running; its code and port are read as a person would.
  std::unique_ptr<Child> Invite(const std::string& home, const std::string& kind,
                                std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--home",   Home(home), "invite", kind, "--listen",
                                  "127.0.0.1:0", "--discovery", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto child = std::make_unique<Child>(args, scratch_.path());
    code_ = child->WaitForLine("code: ");
    peer_ = child->WaitForLine("listening on ");
    return child;
  }
  Ran Join(const std::string& home, const std::string& code, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--home", Home(home), "--json", "join", code};
    if (extra.empty()) extra = {"--peer", peer_};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  }
  // Pairs `joiner` with `inviter` and returns both safety strings.
  std::pair<std::string, std::string> Pair(const std::string& inviter, const std::string& joiner,
                                            const std::string& kind) {
    auto invite = Invite(inviter, kind);
    Ran joined = Join(joiner, code_);
    EXPECT_EQ(joined.code, 0) << joined;
    EXPECT_EQ(invite->Wait(std::chrono::seconds(30)), 0) << invite->err();
    const std::string inviter_safety = invite->WaitForLine("safety: ");
    json j = json::parse(joined.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << joined.out;
    return {inviter_safety, j.is_object() ? j.value("safety", "") : ""};
  }
  // Runs `kindred serve` for `home` and syncs `other` with it once.
  void SyncWith(const std::string& server, const std::string& other) {
    Child serve({"--home", Home(server), "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
    const std::string where = serve.WaitForLine("listening on ");
    Ran synced = Kindred(other, {"sync", "--peer", where});
    EXPECT_EQ(synced.code, 0) << synced;
    serve.Signal(SIGTERM);
    EXPECT_EQ(serve.Wait(std::chrono::seconds(20)), 0) << serve.err();
  }
  std::set<std::string> Texts(const std::string& home) {
    Ran r = Kindred(home, {"--json", "journal", "list"});
    EXPECT_EQ(r.code, 0) << r;
    std::set<std::string> out;
    json j = json::parse(r.out, nullptr, false);
    if (j.is_array()) {
      for (const auto& e : j) out.insert(e.value("text", ""));
    }
    return out;
  }
  json Devices(const std::string& home) {
    Ran r = Kindred(home, {"--json", "devices"});
    EXPECT_EQ(r.code, 0) << r;
    return json::parse(r.out, nullptr, false);
  }
  std::string DeviceId(const std::string& home) {
    Ran r = Kindred(home, {"--json", "id"});
    json j = json::parse(r.out, nullptr, false);
    return j.is_object() ? j.value("device_id", "") : "";
  }
  std::set<std::string> SpaceIds(const std::string& home) {
    Ran r = Kindred(home, {"--json", "status"});
    std::set<std::string> out;
    json j = json::parse(r.out, nullptr, false);
    if (j.is_object()) {
      for (const auto& s : j["spaces"]) out.insert(s.value("id", ""));
    }
    return out;
  }

  TempDir scratch_;
  std::string code_, peer_;
};

// Another valid code than `code` (same shape, another number).
std::string OtherCode(const std::string& code) {
  const int number = std::stoi(code.substr(0, 2));
  return std::to_string(number == 99 ? 10 : number + 1) + code.substr(2);
}

TEST_F(PairingCliTest, InviteAndJoinPairPartnersWhoSeeTheSameSafetyWords) {
  Init("alex", "Alex", "laptop");
  Init("sam", "Sam", "phone");
  auto invite = Invite("alex", "partner");
  // The first two lines: the code (a number and three words) and where it listens.
  EXPECT_EQ(invite->out().rfind("code: ", 0), 0u);
  EXPECT_NE(invite->out().find("\nlistening on 127.0.0.1:"), std::string::npos);
  EXPECT_NE(peer_.rfind("127.0.0.1:", 0), std::string::npos);
  EXPECT_NE(peer_, "127.0.0.1:0");
  EXPECT_EQ(std::count(code_.begin(), code_.end(), '-'), 3);
  Ran joined = Join("sam", code_);
  ASSERT_EQ(joined.code, 0) << joined;
  ASSERT_EQ(invite->Wait(std::chrono::seconds(30)), 0) << invite->err();
  json j = json::parse(joined.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << joined.out;
  EXPECT_EQ(j["peer_name"], "Alex");
  EXPECT_EQ(j["peer_device"], DeviceId("alex"));
  const std::string safety = j["safety"];
  EXPECT_EQ(std::count(safety.begin(), safety.end(), ' '), 4);  // five words
  EXPECT_EQ(invite->WaitForLine("safety: "), safety);
  EXPECT_NE(invite->out().find("paired with Sam's phone (" + DeviceId("sam") + ")"),
            std::string::npos);
  // Both list both members' devices.
  json devices = Devices("sam");
  ASSERT_TRUE(devices.is_array());
  ASSERT_EQ(devices.size(), 2u);
  std::set<std::string> members;
  for (const auto& d : devices) {
    members.insert(d["member"].get<std::string>());
    EXPECT_TRUE(d.contains("device_id") && d.contains("name") && d.contains("status"));
  }
  EXPECT_EQ(members, (std::set<std::string>{"Alex", "Sam"}));
}

TEST_F(PairingCliTest, SharedEntriesReachThePartnerAndPrivateOnesNeverLeave) {
  Init("alex", "Alex", "laptop");
  Init("sam", "Sam", "phone");
  Add("alex", "shared before pairing", true);
  Add("alex", "private before pairing", false);
  const auto alex_personal = SpaceIds("alex");
  auto [a, s] = Pair("alex", "sam", "partner");
  EXPECT_EQ(a, s);
  Add("alex", "shared after pairing", true);
  Add("alex", "private after pairing", false);
  Add("sam", "from Sam, shared", true);
  Add("sam", "from Sam, private", false);
  SyncWith("alex", "sam");
  EXPECT_EQ(Texts("sam"), (std::set<std::string>{"shared before pairing", "shared after pairing",
                                                 "from Sam, shared", "from Sam, private"}));
  EXPECT_EQ(Texts("alex"),
            (std::set<std::string>{"shared before pairing", "private before pairing",
                                   "shared after pairing", "private after pairing",
                                   "from Sam, shared"}));
  // Not even as ciphertext: Sam holds nothing of Alex's personal space.
  for (const std::string& space : alex_personal) EXPECT_FALSE(SpaceIds("sam").count(space));
}

TEST_F(PairingCliTest, ALinkedDeviceReceivesItsMembersPrivateEntries) {
  Init("alex", "Alex", "laptop");
  Init("desk", "Alex", "desktop");
  Add("alex", "a private thought", false);
  auto [a, s] = Pair("alex", "desk", "device");
  EXPECT_EQ(a, s);
  SyncWith("alex", "desk");
  EXPECT_EQ(Texts("desk"), (std::set<std::string>{"a private thought"}));
  json devices = Devices("desk");
  ASSERT_EQ(devices.size(), 2u);
  for (const auto& d : devices) EXPECT_EQ(d["member"], "Alex");
}

TEST_F(PairingCliTest, AWrongCodeFailsOnBothSidesAndThreeFailuresCloseTheInvite) {
  Init("alex", "Alex", "laptop");
  Init("eve", "Eve", "phone");
  auto invite = Invite("alex", "partner");
  const std::string wrong = OtherCode(code_);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    Ran joined = Join("eve", wrong);
    EXPECT_EQ(joined.code, 3) << joined;
    EXPECT_NE(joined.err.find("does not match"), std::string::npos) << joined;
  }
  EXPECT_EQ(invite->Wait(std::chrono::seconds(30)), 3);
  EXPECT_NE(invite->err().find("3 attempts to pair failed, so the invite is closed"),
            std::string::npos)
      << invite->err();
  EXPECT_NE(invite->err().find("(1 of 3 failed attempts)"), std::string::npos) << invite->err();
  EXPECT_EQ(Devices("alex").size(), 1u);
  EXPECT_EQ(Devices("eve").size(), 1u);
  // The right code no longer gets in.
  Ran late = Join("eve", code_);
  EXPECT_EQ(late.code, 3) << late;
}

TEST_F(PairingCliTest, AMistypedCodeIsRefusedBeforeAnythingIsSent) {
  Init("sam", "Sam", "phone");
  Ran r = Kindred("sam", {"join", "47-orbit-mapel-lantern", "--peer", "127.0.0.1:9"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_NE(r.err.find("'mapel' is not a word"), std::string::npos) << r;
}

TEST_F(PairingCliTest, AnExpiredInviteEndsCleanlyAndTheJoinerIsToldItIsGone) {
  Init("alex", "Alex", "laptop");
  Init("sam", "Sam", "phone");
  auto invite = Invite("alex", "partner", {"--timeout", "1"});
  EXPECT_EQ(invite->Wait(std::chrono::seconds(20)), 3);
  EXPECT_NE(invite->err().find("the invite expired after 1 s"), std::string::npos)
      << invite->err();
  Ran joined = Join("sam", code_);
  EXPECT_EQ(joined.code, 3) << joined;
  EXPECT_NE(joined.err.find("cannot reach an invite"), std::string::npos) << joined;
  EXPECT_EQ(Devices("alex").size(), 1u);
  EXPECT_EQ(Devices("sam").size(), 1u);
}

TEST_F(PairingCliTest, AThirdDeviceCannotUseAnInviteThatWasUsed) {
  Init("alex", "Alex", "laptop");
  Init("sam", "Sam", "phone");
  Init("eve", "Eve", "tablet");
  auto invite = Invite("alex", "partner");
  ASSERT_EQ(Join("sam", code_).code, 0);
  ASSERT_EQ(invite->Wait(std::chrono::seconds(30)), 0);
  Ran third = Join("eve", code_);
  EXPECT_EQ(third.code, 3) << third;
  EXPECT_EQ(Devices("alex").size(), 2u);
  EXPECT_EQ(Devices("eve").size(), 1u);
}

TEST_F(PairingCliTest, JoinFindsTheInviteOnTheLocalNetworkWithoutPeer) {
  Init("alex", "Alex", "laptop");
  Init("sam", "Sam", "phone");
  auto invite = Invite("alex", "partner");
  const std::string discovery = invite->WaitForLine("discoverable on ");
  ASSERT_EQ(discovery.rfind("127.0.0.1:", 0), 0u) << discovery;
  Ran joined = Join("sam", code_, {"--discovery", discovery});
  ASSERT_EQ(joined.code, 0) << joined;
  ASSERT_EQ(invite->Wait(std::chrono::seconds(30)), 0) << invite->err();
  EXPECT_EQ(json::parse(joined.out)["safety"], invite->WaitForLine("safety: "));
}

TEST_F(PairingCliTest, ARevokedDeviceCanNoLongerSyncAndIsShownRevoked) {
  Init("alex", "Alex", "laptop");
  Init("phone", "Alex", "phone");
  Init("sam", "Sam", "phone");
  Pair("alex", "phone", "device");
  Pair("alex", "sam", "partner");
  SyncWith("alex", "phone");
  const std::string phone_id = DeviceId("phone");
  // A partner's device is not Alex's to revoke.
  Ran refused = Kindred("alex", {"revoke", DeviceId("sam")});
  EXPECT_EQ(refused.code, 1) << refused;
  Ran revoked = Kindred("alex", {"revoke", phone_id});
  ASSERT_EQ(revoked.code, 0) << revoked;
  for (const auto& d : Devices("alex")) {
    if (d["device_id"] == phone_id) {
      EXPECT_EQ(d["status"], "revoked");
    }
  }
  // The phone keeps trying: it is refused, each time.
  Child serve({"--home", Home("alex"), "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  const std::string where = serve.WaitForLine("listening on ");
  for (int i = 0; i < 2; ++i) {
    Ran again = Kindred("phone", {"sync", "--peer", where});
    EXPECT_EQ(again.code, 3) << again;
  }
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(std::chrono::seconds(20)), 0);
  EXPECT_NE(serve.err().find("was revoked"), std::string::npos) << serve.err();
  // Alex's partner learns of it at the next sync, and refuses the phone too.
  SyncWith("alex", "sam");
  for (const auto& d : Devices("sam")) {
    if (d["device_id"] == phone_id) {
      EXPECT_EQ(d["status"], "revoked");
    }
  }
}

TEST_F(PairingCliTest, UnpairKeepsWhatWasSharedReadOnlyOnBothSides) {
  Init("alex", "Alex", "laptop");
  Init("sam", "Sam", "phone");
  Pair("alex", "sam", "partner");
  Add("alex", "shared while together", true);
  SyncWith("alex", "sam");
  Ran ended = Kindred("alex", {"unpair"});
  ASSERT_EQ(ended.code, 0) << ended;
  EXPECT_NE(ended.out.find("with Sam has ended"), std::string::npos) << ended;
  Ran write = Kindred("alex", {"journal", "add", "--shared", "after the end"});
  EXPECT_EQ(write.code, 1) << write;
  EXPECT_NE(write.err.find("read-only"), std::string::npos) << write;
  // Sam learns at the next connection; both keep what was shared.
  SyncWith("alex", "sam");
  Ran sam_write = Kindred("sam", {"journal", "add", "--shared", "after the end"});
  EXPECT_EQ(sam_write.code, 1) << sam_write;
  EXPECT_TRUE(Texts("sam").count("shared while together"));
  EXPECT_TRUE(Texts("alex").count("shared while together"));
  EXPECT_EQ(Kindred("alex", {"unpair"}).code, 1);  // not paired any more
}

}  // namespace
}  // namespace kindred
