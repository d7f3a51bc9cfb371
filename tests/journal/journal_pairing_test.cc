// The journal once two partners pair: shared entries written before pairing
// move into the couple's shared space (keeping their ids and times) and reach
// the partner; private ones stay in the personal space, which the partner's
// device never holds.
#include <gtest/gtest.h>

#include <set>

#include "journal_fixture.h"
#include "kindred/journal.h"

namespace kindred::testing {
namespace {

// Moves what `to` lacks of `space` from `from`, as sync does.
void Push(Engine& from, Engine& to, const SpaceId& space) {
  auto theirs = to.Versions(space);
  ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
  Status s = from.ReadMissing(space, *theirs, 100, [&](OpBatch&& batch) {
    auto n = to.Ingest(batch);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
}

std::set<std::string> AllTexts(Journal& journal) {
  std::set<std::string> out;
  auto all = journal.List(JournalFilter{});
  EXPECT_TRUE(all.ok()) << all.status().ToString();
  if (all.ok()) {
    for (const auto& e : *all) out.insert(e.text);
  }
  return out;
}

class JournalPairingTest : public JournalTest {
 protected:
  void SetUp() override {
    JournalTest::SetUp();
    InitOptions init;
    init.engine.home = dir_.Path("sam");
    init.member_name = "Sam";
    init.device_name = "phone";
    auto sam = Engine::Init(init);
    ASSERT_TRUE(sam.ok()) << sam.status().ToString();
    sam_ = std::move(*sam);
  }
  void Pair() {
    auto pending = engine_->PrepareAdmission(sam_->card(), PairingKind::kPartner);
    ASSERT_TRUE(pending.ok()) << pending.status().ToString();
    ASSERT_TRUE(engine_->CompleteAdmission(**pending).ok());
    ASSERT_TRUE(sam_->AcceptAdmission((*pending)->grants(), engine_->card(), PairingKind::kPartner)
                    .ok());
  }
  std::unique_ptr<Engine> sam_;
};

TEST_F(JournalPairingTest, SharedEntriesFromBeforePairingMoveAndReachThePartnerPrivateOnesStay) {
  const std::string shared = MustAdd(Entry("Thank you for the soup.", 5, {}, Visibility::kShared));
  const std::string secret = MustAdd(Entry("I am afraid of the move.", 2));
  auto before = journal_->Show(shared);
  ASSERT_TRUE(before.ok());

  Pair();
  auto moved = journal_->MoveSharedEntries();
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(*moved, 1u);
  const SpaceId couple = *engine_->SharedSpace();
  EXPECT_TRUE(engine_->Get(couple, "journal", shared).ok());
  EXPECT_FALSE(engine_->Get(engine_->device().personal_space, "journal", shared).ok());
  EXPECT_TRUE(engine_->Get(engine_->device().personal_space, "journal", secret).ok());

  // Alex still sees both, once each, as they were.
  EXPECT_EQ(AllTexts(*journal_),
            (std::set<std::string>{"Thank you for the soup.", "I am afraid of the move."}));
  auto after = journal_->Show(shared);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->created_micros, before->created_micros);
  EXPECT_EQ(after->mood, 5);
  EXPECT_EQ(after->visibility, Visibility::kShared);

  // Moving again finds nothing to move.
  auto again = journal_->MoveSharedEntries();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);

  Push(*engine_, *sam_, couple);
  Journal sams(*sam_);
  EXPECT_EQ(AllTexts(sams), (std::set<std::string>{"Thank you for the soup."}));
  auto there = sams.Show(shared);
  ASSERT_TRUE(there.ok()) << there.status().ToString();
  EXPECT_EQ(there->author, "Alex");
  EXPECT_EQ(there->created_micros, before->created_micros);
  EXPECT_FALSE(sams.Show(secret).ok());
}

TEST_F(JournalPairingTest, AnEntryTheCoupleDeletedIsNotBroughtBackByALateMove) {
  const std::string shared = MustAdd(Entry("An old thank-you.", 4, {}, Visibility::kShared));
  Pair();
  ASSERT_TRUE(journal_->MoveSharedEntries().ok());
  const SpaceId couple = *engine_->SharedSpace();
  ASSERT_TRUE(journal_->Remove(shared, /*purge=*/false).ok());
  // A copy left behind in the personal space (a crash between the two
  // commits, or another of Alex's devices that had not synced) moves later:
  // the deleted entry must stay deleted.
  Mutation copy = Mutation::Create("journal", {{"text", std::string("An old thank-you.")},
                                               {"shared", true}});
  copy.id = shared;
  ASSERT_TRUE(engine_->Commit(engine_->device().personal_space, {copy}).ok());
  auto moved = journal_->MoveSharedEntries();
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(*moved, 1u);
  EXPECT_FALSE(engine_->Get(couple, "journal", shared).ok());
  EXPECT_FALSE(journal_->Show(shared).ok());
}

}  // namespace
}  // namespace kindred::testing
