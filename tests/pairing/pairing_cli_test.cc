// `kindred invite` and `kindred join` as people use them: two child
// processes on temporary homes over 127.0.0.1, the inviter's first lines
// giving the code and the port. Then what pairing promises: shared entries
// reach the partner and private ones never do, a linked device gets its
// member's private entries, revocation and unpairing take effect, and
// every bad input ends cleanly with a message and nothing half-written.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "tests/testing/fake_env.h"
#include "tests/testing/kindred_child.h"

namespace kindred {
namespace {

using nlohmann::json;
using testing::TempDir;

using Child = testing::KindredChild;
using testing::Ran;

class PairingCliTest : public ::testing::Test {
 protected:
  void SetUp() override { signal(SIGPIPE, SIG_IGN); }

  std::string Home(const std::string& name) { return scratch_.path() + "/" + name; }
  Ran Run(const std::vector<std::string>& args) { return testing::RunKindred(args, scratch_.path()); }
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

TEST_F(PairingCliTest, WhatAnotherOfTheMembersDevicesSharedBeforePairingReachesThePartner) {
  Init("alex", "Alex", "laptop");
  Init("desk", "Alex", "desktop");
  Init("sam", "Sam", "phone");
  Pair("alex", "desk", "device");
  SyncWith("alex", "desk");
  // The desktop, not yet synced again, writes a shared and a private entry;
  // meanwhile the laptop pairs with Sam.
  Add("desk", "Shared from the desktop before it heard", true);
  Add("desk", "Private on the desktop", false);
  Pair("alex", "sam", "partner");
  // The desktop syncs, hears of the couple's space, and moves its shared
  // entry there; the laptop passes it on to Sam.
  SyncWith("alex", "desk");
  SyncWith("alex", "sam");
  const std::set<std::string> sams = Texts("sam");
  EXPECT_EQ(sams.count("Shared from the desktop before it heard"), 1u);
  EXPECT_EQ(sams.count("Private on the desktop"), 0u);
  const std::set<std::string> laptops = Texts("alex");
  EXPECT_EQ(laptops.count("Shared from the desktop before it heard"), 1u);
  EXPECT_EQ(laptops.count("Private on the desktop"), 1u);
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

// While `kindred serve` holds the laptop's store, `kindred invite` runs in
// it: the code and port still show at once, and serve, which keeps
// running, accepts the new device and syncs with it.
TEST_F(PairingCliTest, InviteWorksWhileServeRunsAndServeSyncsWithTheNewDevice) {
  Init("alex", "Alex", "laptop");
  Init("phone", "Alex", "phone");
  Add("alex", "a private thought", false);
  Child serve({"--home", Home("alex"), "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  const std::string where = serve.WaitForLine("listening on ");
  auto invite = Invite("alex", "device");
  EXPECT_EQ(invite->Wait(std::chrono::milliseconds(0)), -1) << "the code shows while it waits";
  EXPECT_NE(peer_.rfind("127.0.0.1:", 0), std::string::npos);
  EXPECT_NE(peer_, where);
  Ran joined = Join("phone", code_);
  ASSERT_EQ(joined.code, 0) << joined;
  ASSERT_EQ(invite->Wait(std::chrono::seconds(30)), 0) << invite->err();
  json j = json::parse(joined.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << joined.out;
  EXPECT_EQ(invite->WaitForLine("safety: "), j["safety"]);
  EXPECT_NE(invite->out().find("paired with Alex's phone (" + DeviceId("phone") + ")"),
            std::string::npos)
      << invite->out();
  EXPECT_NE(invite->err().find("`kindred serve` keeps running here"), std::string::npos)
      << invite->err();

  Ran synced = Kindred("phone", {"sync", "--peer", where});
  ASSERT_EQ(synced.code, 0) << synced;
  EXPECT_EQ(Texts("phone"), (std::set<std::string>{"a private thought"}));
  Add("alex", "written after linking", false);  // through serve
  ASSERT_EQ(Kindred("phone", {"sync", "--peer", where}).code, 0);
  EXPECT_TRUE(Texts("phone").count("written after linking"));
  EXPECT_EQ(Devices("alex").size(), 2u);
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(std::chrono::seconds(20)), 0) << serve.err();
  EXPECT_NE(serve.err().find("connected from 127.0.0.1: Alex's phone"), std::string::npos)
      << serve.err();
}

// Both partners keep `kindred serve` running: the invite runs in Alex's,
// the join in Sam's, and Sam's shared entries reach Alex's serve.
TEST_F(PairingCliTest, PartnersPairWhileBothServesRun) {
  Init("alex", "Alex", "laptop");
  Init("sam", "Sam", "phone");
  Add("sam", "from Sam, shared", true);
  Add("sam", "from Sam, private", false);
  Child alex_serve({"--home", Home("alex"), "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  const std::string alex_at = alex_serve.WaitForLine("listening on ");
  Child sam_serve({"--home", Home("sam"), "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  ASSERT_FALSE(sam_serve.WaitForLine("listening on ").empty());
  auto [a, s] = Pair("alex", "sam", "partner");
  EXPECT_EQ(a, s);
  EXPECT_FALSE(a.empty());
  Ran synced = Kindred("sam", {"sync", "--peer", alex_at});
  ASSERT_EQ(synced.code, 0) << synced;
  EXPECT_EQ(Texts("alex"), (std::set<std::string>{"from Sam, shared"}));
  EXPECT_EQ(Devices("sam").size(), 2u);
  sam_serve.Signal(SIGTERM);
  alex_serve.Signal(SIGTERM);
  EXPECT_EQ(sam_serve.Wait(std::chrono::seconds(20)), 0) << sam_serve.err();
  EXPECT_EQ(alex_serve.Wait(std::chrono::seconds(20)), 0) << alex_serve.err();
}

// Ctrl-C on the terminal of an invite that serve runs closes the invite and
// leaves serve free for other commands; so does stopping serve.
TEST_F(PairingCliTest, AnInviteRunByServeClosesOnCtrlCOrWhenServeStops) {
  Init("alex", "Alex", "laptop");
  Init("sam", "Sam", "phone");
  Child serve({"--home", Home("alex"), "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  ASSERT_FALSE(serve.WaitForLine("listening on ").empty());
  auto invite = Invite("alex", "partner");
  invite->Signal(SIGINT);
  EXPECT_EQ(invite->Wait(std::chrono::seconds(10)), 128 + SIGINT);
  const auto start = std::chrono::steady_clock::now();
  Ran list = Kindred("alex", {"journal", "list"});
  EXPECT_EQ(list.code, 0) << list;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  Ran late = Join("sam", code_);
  EXPECT_EQ(late.code, 3) << late;
  EXPECT_NE(late.err.find("cannot reach an invite"), std::string::npos) << late;
  EXPECT_NE(serve.err().find("the terminal that ran `kindred invite` went away; cancelled it"),
            std::string::npos)
      << serve.err();

  auto again = Invite("alex", "partner");
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(std::chrono::seconds(20)), 0) << serve.err();
  EXPECT_EQ(again->Wait(std::chrono::seconds(20)), 3) << again->err();
  EXPECT_NE(again->err().find("the invite was closed (kindred serve is stopping)"),
            std::string::npos)
      << again->err();
  EXPECT_EQ(Devices("alex").size(), 1u);
  EXPECT_EQ(Devices("sam").size(), 1u);
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
