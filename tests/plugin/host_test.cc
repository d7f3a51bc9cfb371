// The plugin host over real engines: plugins' records sync and merge by
// their manifest's rules, the manifest is enforced, views follow records,
// and a plugin that misbehaves is refused, named and disabled while
// everything else keeps working.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/plugin/plugin_fixture.h"
#include "tests/plugin/test_plugins.h"

namespace kindred::plugin_testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kNotes[] = "org.test.notes";

void NotesOnly(plugin::Registry& r) { ASSERT_TRUE(r.AddBuiltin(&test_notes_plugin_entry).ok()); }
void NotesAndOthers(plugin::Registry& r) {
  ASSERT_TRUE(r.AddBuiltin(&test_notes_plugin_entry).ok());
  ASSERT_TRUE(r.AddBuiltin(&test_garbage_plugin_entry).ok());
  ASSERT_TRUE(r.AddBuiltin(&test_spy_plugin_entry).ok());
}

std::string Create(Device& d, const Args& args) {
  auto r = d.Run(kNotes, {"notes", "create"}, args);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.ok() ? r->exit_code() : -1, 0) << (r.ok() ? r->err() : "");
  return r.ok() ? r->out() : "";
}

void Update(Device& d, const std::string& id, Args args) {
  args["id"] = {id};
  auto r = d.Run(kNotes, {"notes", "update"}, args);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->exit_code(), 0) << r->err();
}

std::string AddJournal(Device& d, const std::string& text, bool shared) {
  auto ids = d.engine->Commit(d.SpaceFor(shared),
                              {Mutation::Create("journal", {{"text", text}, {"shared", shared}})});
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? ids->front() : "";
}

class CoupleTest : public ::testing::Test {
 protected:
  CoupleTest() : alex_("Alex", 1, NotesOnly), sam_("Sam", 2, NotesOnly) { PairPartners(alex_, sam_); }
  Device alex_;
  Device sam_;
};

TEST_F(CoupleTest, ARecordAPluginWritesSyncsToThePartnerAndReadsTheSameThere) {
  const std::string id =
      Create(alex_, {{"title", {"Picnic"}}, {"body", {"Bring the blue blanket"}}, {"shared", {}}});
  ASSERT_FALSE(id.empty());
  EXPECT_GT(Push(alex_, sam_), 0u);
  auto there = sam_.Json(kNotes, {"notes", "get"}, {{"id", {id}}});
  EXPECT_EQ(there["title"], "Picnic");
  EXPECT_EQ(there["body"], "Bring the blue blanket");
  EXPECT_EQ(there["shared"], true);
  EXPECT_EQ(there["author"], "Alex");
  EXPECT_EQ(there, alex_.Json(kNotes, {"notes", "get"}, {{"id", {id}}}));
}

// What Sam's device holds of a plugin's collection, in every space it has.
std::set<std::string> HeldIds(Device& d, const std::string& collection) {
  std::set<std::string> out;
  std::vector<SpaceId> spaces = d.engine->SharedSpaces();
  spaces.push_back(d.space());
  for (const SpaceId& space : spaces) {
    Status s = d.engine->Scan(space, plugin::EngineCollection(kNotes, collection),
                              [&](const Record& r) {
                                out.insert(r.id);
                                return true;
                              });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return out;
}

TEST_F(CoupleTest, APrivateRecordNeverLeavesItsAuthorsDevicesNotEvenEncrypted) {
  const std::string shared = Create(alex_, {{"title", {"For us"}}, {"shared", {}}});
  const std::string secret = Create(alex_, {{"title", {"Only mine"}}});
  // The private one is in Alex's personal space, which Sam's device does not hold.
  auto mine = alex_.engine->Get(alex_.space(), plugin::EngineCollection(kNotes, "items"), secret);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  EXPECT_FALSE(sam_.engine->SpaceDevices(alex_.space()).ok());
  Push(alex_, sam_);
  EXPECT_EQ(HeldIds(sam_, "items"), (std::set<std::string>{shared}));
  auto there = sam_.Run(kNotes, {"notes", "get"}, {{"id", {secret}}});
  ASSERT_TRUE(there.ok());
  EXPECT_NE(there->exit_code(), 0);
}

TEST_F(CoupleTest, SharingARecordLaterMovesItToThePartnerAndUnsharingTakesItBack) {
  const std::string id = Create(alex_, {{"title", {"A wish"}}});
  Update(alex_, id, {{"like", {"2"}}, {"tag", {"someday"}}});
  Push(alex_, sam_);
  EXPECT_TRUE(HeldIds(sam_, "items").empty());

  Update(alex_, id, {{"share", {}}});
  Push(alex_, sam_);
  auto there = sam_.Json(kNotes, {"notes", "get"}, {{"id", {id}}});
  EXPECT_EQ(there["title"], "A wish");
  EXPECT_EQ(there["likes"], 2);
  EXPECT_EQ(there["tags"], nlohmann::json::array({"someday"}));
  EXPECT_EQ(there["shared"], true);
  EXPECT_EQ(there, alex_.Json(kNotes, {"notes", "get"}, {{"id", {id}}}));

  // Made private again: it leaves the shared space, so Sam no longer has it,
  // and Alex still does, whole.
  Update(alex_, id, {{"unshare", {}}});
  Push(alex_, sam_);
  auto gone = sam_.Run(kNotes, {"notes", "get"}, {{"id", {id}}});
  ASSERT_TRUE(gone.ok());
  EXPECT_NE(gone->exit_code(), 0);
  auto kept = alex_.Json(kNotes, {"notes", "get"}, {{"id", {id}}});
  EXPECT_EQ(kept["title"], "A wish");
  EXPECT_EQ(kept["likes"], 2);
  EXPECT_EQ(kept["shared"], false);
}

TEST(HostPairingTest, SharedRecordsWrittenBeforePairingMoveIntoTheCouplesSpace) {
  Device alex("Alex", 1, NotesOnly), sam("Sam", 2, NotesOnly);
  const std::string early = Create(alex, {{"title", {"Before we paired"}}, {"shared", {}}});
  const std::string secret = Create(alex, {{"title", {"Still mine"}}});
  PairPartners(alex, sam);
  alex.StartHost();  // the next command, as the CLI starts one
  auto moved = alex.engine->Get(*alex.engine->SharedSpace(),
                                plugin::EngineCollection(kNotes, "items"), early);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_FALSE(alex.engine->Get(alex.space(), plugin::EngineCollection(kNotes, "items"), early).ok());
  Push(alex, sam);
  EXPECT_EQ(HeldIds(sam, "items"), (std::set<std::string>{early}));
  auto there = sam.Json(kNotes, {"notes", "get"}, {{"id", {early}}});
  EXPECT_EQ(there["title"], "Before we paired");
  EXPECT_EQ(there["author"], "Alex");
  EXPECT_EQ(alex.Json(kNotes, {"notes", "get"}, {{"id", {secret}}})["title"], "Still mine");
}

TEST_F(CoupleTest, EachFieldMergesByItsOwnRuleWhenBothPartnersWriteAtOnce) {
  const std::string id = Create(alex_, {{"title", {"Plan"}}, {"body", {"draft"}}, {"shared", {}}});
  Update(alex_, id, {{"tag", {"summer"}}, {"log", {"made"}}});
  SyncBoth(alex_, sam_);

  // Apart: both change every field.
  alex_.clock().Advance(1'000'000);
  Update(alex_, id,
         {{"title", {"Alex's title"}},
          {"body", {"Alex's plan"}},
          {"like", {"2"}},
          {"untag", {"summer"}},
          {"log", {"alex was here"}}});
  sam_.clock().Advance(2'000'000);
  Update(sam_, id,
         {{"title", {"Sam's title"}},
          {"body", {"Sam's plan"}},
          {"like", {"3"}},
          {"tag", {"summer"}},
          {"log", {"sam was here"}}});
  SyncBoth(alex_, sam_);

  auto a = alex_.Json(kNotes, {"notes", "get"}, {{"id", {id}}});
  EXPECT_EQ(a, sam_.Json(kNotes, {"notes", "get"}, {{"id", {id}}}));
  EXPECT_EQ(a["title"], "Sam's title");                     // last writer wins
  EXPECT_EQ(a["likes"], 5);                                 // counter: both count
  EXPECT_EQ(a["tags"], nlohmann::json::array({"summer"}));  // the concurrent add wins
  EXPECT_EQ(a["log"], nlohmann::json::array(
                          {"made", "alex was here", "sam was here"}));  // append-only, by time
  EXPECT_EQ(a["body_versions"].size(), 2u);                             // keep both
  EXPECT_THAT(a["body_versions"].get<std::vector<std::string>>(),
              UnorderedElementsAre("Alex's plan", "Sam's plan"));

  // A later write that has seen both settles the conflict; a remove that has
  // seen the add removes it.
  Update(alex_, id, {{"body", {"Our plan"}}, {"untag", {"summer"}}});
  SyncBoth(alex_, sam_);
  auto settled = sam_.Json(kNotes, {"notes", "get"}, {{"id", {id}}});
  EXPECT_EQ(settled["body"], "Our plan");
  EXPECT_TRUE(settled["body_versions"].empty());
  EXPECT_TRUE(settled["tags"].empty());
}

TEST_F(CoupleTest, AViewFollowsRecordsAsTheyArriveFromSync) {
  const std::string first = Create(alex_, {{"title", {"One"}}, {"shared", {}}});
  Push(alex_, sam_);
  EXPECT_EQ(sam_.Json(kNotes, {"notes", "view"}, {{"view", {"titles"}}}),
            nlohmann::json({{first, "One"}}));

  const std::string second = Create(alex_, {{"title", {"Two"}}, {"shared", {}}});
  Update(alex_, first, {{"title", {"One, renamed"}}});
  Push(alex_, sam_);
  ASSERT_TRUE(sam_.host->CatchUp().ok());
  auto rows = sam_.host->ViewRows(kNotes, "titles");
  ASSERT_TRUE(rows.ok());
  EXPECT_THAT(*rows,
              UnorderedElementsAre(std::pair<std::string, std::string>{first, "One, renamed"},
                                   std::pair<std::string, std::string>{second, "Two"}));

  ASSERT_TRUE(
      alex_.engine
          ->Commit(alex_.SpaceFor(true),
                   {Mutation::Delete(plugin::EngineCollection("org.test.notes", "items"), second)})
          .ok());
  Push(alex_, sam_);
  EXPECT_EQ(sam_.Json(kNotes, {"notes", "view"}, {{"view", {"titles"}}}),
            nlohmann::json({{first, "One, renamed"}}));
}

TEST(HostTest, ALiveHostBringsViewsCurrentInTheBackgroundOnceChangesSettle) {
  Device alex("Alex", 1, NotesOnly, /*live=*/true);
  const std::string id = Create(alex, {{"title", {"Tea"}}});
  for (int i = 0; i < 200; ++i) {
    auto rows = alex.host->ViewRows(kNotes, "titles");
    if (rows.ok() && rows->size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto rows = alex.host->ViewRows(kNotes, "titles");
  ASSERT_TRUE(rows.ok());
  EXPECT_THAT(*rows, ElementsAre(std::pair<std::string, std::string>{id, "Tea"}));
}

TEST(HostTest, AViewIsRebuiltFromScratchWhenItsVersionChanges) {
  Device alex("Alex", 1, NotesOnly);
  const std::string id = Create(alex, {{"title", {"Walk"}}});
  ASSERT_TRUE(alex.host->CatchUp().ok());
  auto keys = alex.views->Keys();
  EXPECT_THAT(keys, ::testing::Contains(plugin::ViewKey{kNotes, "titles", 1}));

  // The same home, the same view store, the plugin's next release.
  alex.host.reset();
  plugin::Registry next;
  ASSERT_TRUE(next.AddBuiltin(&test_notes_v2_plugin_entry).ok());
  plugin::HostOptions options;
  options.views = alex.views.get();
  auto host = plugin::Host::Create(*alex.engine, next, std::move(options));
  ASSERT_TRUE(host.ok());
  ASSERT_TRUE((*host)->CatchUp().ok());
  auto rows = (*host)->ViewRows(kNotes, "titles");
  ASSERT_TRUE(rows.ok());
  EXPECT_THAT(*rows, ElementsAre(std::pair<std::string, std::string>{id, "v2:Walk"}));
  keys = alex.views->Keys();
  EXPECT_THAT(keys, ::testing::Contains(plugin::ViewKey{kNotes, "titles", 2}));
  EXPECT_THAT(keys, ::testing::Not(::testing::Contains(plugin::ViewKey{kNotes, "titles", 1})));
}

TEST(HostTest, AGrantOfSharedRecordsOnlyShowsThePluginNoPrivateOne) {
  Device alex("Alex", 1, NotesOnly);
  AddJournal(alex, "shared with Sam", true);
  const std::string secret = AddJournal(alex, "only for me", false);
  auto seen = alex.Json(kNotes, {"notes", "read"}, {{"collection", {"journal"}}});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]["text"], "shared with Sam");
  auto view = alex.Json(kNotes, {"notes", "view"}, {{"view", {"shared_journal"}}});
  EXPECT_EQ(view.size(), 1u);
  EXPECT_FALSE(view.contains(secret));

  // Made private later, it leaves the view.
  const std::string id = seen[0]["id"];
  ASSERT_TRUE(
      alex.engine->Commit(alex.space(), {Mutation::Update("journal", id, {{"shared", false}})})
          .ok());
  EXPECT_TRUE(alex.Json(kNotes, {"notes", "view"}, {{"view", {"shared_journal"}}}).empty());
}

TEST(HostTest, APluginReceivesRecordsButNeverAByteOfTheDevicesKeys) {
  Device alex("Alex", 1, NotesAndOthers);
  AddJournal(alex, "a private entry", false);
  AddJournal(alex, "a shared entry", true);
  auto r = alex.Run("org.test.spy", {"spy"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto bytes = FromHex(r->out());
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(*bytes, HasSubstr("a private entry"));  // it did get what it may read

  std::ifstream in(alex.Home() + "/device.key", std::ios::binary);
  std::stringstream key;
  key << in.rdbuf();
  const std::string key_file = key.str();
  ASSERT_GT(key_file.size(), 64u);
  for (size_t i = 0; i + 16 <= key_file.size(); ++i) {
    ASSERT_EQ(bytes->find(key_file.substr(i, 16)), std::string::npos)
        << "16 bytes of device.key at offset " << i << " reached the plugin";
  }
}

TEST(HostTest, TwoPluginsCannotClaimTheSameIdOrCommand) {
  plugin::Registry registry;
  ASSERT_TRUE(registry.AddBuiltin(&test_notes_plugin_entry).ok());
  Status again = registry.AddBuiltin(&test_notes_v2_plugin_entry);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr("org.test.notes"));
  ASSERT_EQ(registry.modules().size(), 2u);
  EXPECT_FALSE(registry.modules()[1]->loaded());
}

TEST(HostTest, APluginBuiltForAnotherAbiVersionIsRefusedNamingBothVersions) {
  plugin::Registry registry;
  Status s = registry.AddBuiltin(&test_future_plugin_entry);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("plugin ABI version 2"));
  EXPECT_THAT(s.message(), HasSubstr("plugin ABI version 1"));
  auto listed = registry.Describe({});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, "failed");
}

}  // namespace
}  // namespace kindred::plugin_testing
