// The pairing session: CPace plus key confirmation, driven as the CLI and the
// network layer will drive it, and attacked as a peer could attack it.
#include "engine/pairing/pake_session.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "engine/pairing/cpace.h"
#include "engine/pairing/key_schedule.h"
#include "engine/pairing/messages.h"
#include "engine/pairing/safety_words.h"
#include "tests/pairing/test_util.h"

namespace kindred::pairing {
namespace {

using testing::SeededRandom;
using testing::Unhex;

InviteCode Code(const char* text) {
  auto code = InviteCode::Parse(text);
  EXPECT_TRUE(code.ok()) << code.status().ToString();
  return *code;
}

PakeContext Context(std::string ad) {
  PakeContext c;
  c.initiator_id = "kindred join partner";
  c.responder_id = "kindred invite partner";
  c.associated_data = std::move(ad);
  return c;
}

// Both sides of one run, each with its own seeded randomness.
struct Pair {
  PakeStart initiator;
  PakeStart responder;
};

Pair StartPair(const InviteCode& initiator_code, const InviteCode& responder_code, uint64_t seed,
               const PakeContext& initiator_context = Context("joiner keys"),
               const PakeContext& responder_context = Context("inviter keys")) {
  SeededRandom ra(seed * 2 + 1), rb(seed * 2 + 2);
  auto a = PakeSession::Start(PakeRole::kInitiator, initiator_code, initiator_context, ra);
  auto b = PakeSession::Start(PakeRole::kResponder, responder_code, responder_context, rb);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return Pair{std::move(a).value(), std::move(b).value()};
}

// The three messages of a successful run.
struct Messages {
  std::string m1, m2, m3;
};

Messages RunToCompletion(Pair& p) {
  Messages m;
  m.m1 = p.initiator.first_message;
  auto m2 = p.responder.session->Receive(m.m1);
  EXPECT_TRUE(m2.ok()) << m2.status().ToString();
  m.m2 = m2.ok() ? *m2 : "";
  auto m3 = p.initiator.session->Receive(m.m2);
  EXPECT_TRUE(m3.ok()) << m3.status().ToString();
  m.m3 = m3.ok() ? *m3 : "";
  auto end = p.responder.session->Receive(m.m3);
  EXPECT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_TRUE(end.ok() && end->empty());
  return m;
}

const InviteCode& RightCode() {
  static const InviteCode code = Code("47-orbit-maple-lantern");
  return code;
}
const InviteCode& WrongCode() {
  static const InviteCode code = Code("47-orbit-maple-lentil");
  return code;
}

class PakeSessionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto::Init().ok()); }
};

// --- Success -------------------------------------------------------------------

TEST_F(PakeSessionTest, BothSidesDeriveTheSameKeyWithTheSameCode) {
  Pair p = StartPair(RightCode(), Code("47 ORBIT maple lant"), 1);
  EXPECT_FALSE(p.initiator.first_message.empty());
  EXPECT_TRUE(p.responder.first_message.empty());
  RunToCompletion(p);

  ASSERT_TRUE(p.initiator.session->IsComplete());
  ASSERT_TRUE(p.responder.session->IsComplete());
  auto a = p.initiator.session->Outcome();
  auto b = p.responder.session->Outcome();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->session_key.Equals(b->session_key));
  EXPECT_EQ(a->transcript, b->transcript);
  EXPECT_EQ(a->transcript_hash, b->transcript_hash);
  EXPECT_EQ(a->transcript_hash.size(), kTranscriptHashBytes);
  EXPECT_EQ(a->safety_words, b->safety_words);
  EXPECT_EQ(a->safety_words, SafetyWords(a->transcript_hash));
}

TEST_F(PakeSessionTest, EachSideLearnsThePeersAuthenticatedAssociatedData) {
  Pair p = StartPair(RightCode(), RightCode(), 2);
  RunToCompletion(p);
  EXPECT_EQ(p.initiator.session->Outcome()->peer_associated_data, "inviter keys");
  EXPECT_EQ(p.responder.session->Outcome()->peer_associated_data, "joiner keys");
}

TEST_F(PakeSessionTest, MessagesAreVersionedAndOfTheDocumentedSizes) {
  Pair p = StartPair(RightCode(), RightCode(), 3);
  Messages m = RunToCompletion(p);
  for (const std::string* msg : {&m.m1, &m.m2, &m.m3}) {
    ASSERT_GE(msg->size(), 2u);
    EXPECT_EQ(static_cast<uint8_t>((*msg)[0]), kPairingProtocolVersion);
  }
  EXPECT_EQ(m.m1[1], 1);
  EXPECT_EQ(m.m2[1], 2);
  EXPECT_EQ(m.m3[1], 3);
  EXPECT_EQ(m.m1.size(), 2 + 1 + kSidBytes + 1 + 32 + 1 + std::string("joiner keys").size());
  EXPECT_EQ(m.m2.size(), 2 + 1 + 32 + 1 + std::string("inviter keys").size() + 1 + 32);
  EXPECT_EQ(m.m3.size(), 2 + 1 + 32u);
}

TEST_F(PakeSessionTest, TheTranscriptIsTheSidThenTheCpaceInitiatorResponderTranscript) {
  Pair p = StartPair(RightCode(), RightCode(), 4);
  Messages m = RunToCompletion(p);
  auto m1 = DecodeInitiatorShare(m.m1);
  auto m2 = DecodeResponderShare(m.m2);
  ASSERT_TRUE(m1.ok() && m2.ok());
  std::string ir = cpace::TranscriptIr(m1->ya, m1->ada, m2->yb, m2->adb);
  auto outcome = p.initiator.session->Outcome();
  EXPECT_EQ(outcome->transcript, cpace::PrependLen(m1->sid) + ir);
  EXPECT_EQ(outcome->transcript_hash, TranscriptHash(m1->sid, ir));
}

TEST_F(PakeSessionTest, SafetyWordsAndKeysDifferAcrossSessions) {
  std::set<std::string> words;
  std::vector<crypto::SymmetricKey> keys;
  for (uint64_t seed = 10; seed < 20; ++seed) {
    Pair p = StartPair(RightCode(), RightCode(), seed);
    RunToCompletion(p);
    auto outcome = p.initiator.session->Outcome();
    ASSERT_TRUE(outcome.ok());
    words.insert(outcome->safety_words);
    for (const auto& k : keys) EXPECT_FALSE(k.Equals(outcome->session_key));
    keys.push_back(outcome->session_key);
  }
  EXPECT_EQ(words.size(), 10u);
}

TEST_F(PakeSessionTest, TheSameSeedsReproduceTheSameRun) {
  Pair p = StartPair(RightCode(), RightCode(), 5);
  Pair q = StartPair(RightCode(), RightCode(), 5);
  Messages mp = RunToCompletion(p);
  Messages mq = RunToCompletion(q);
  EXPECT_EQ(mp.m1, mq.m1);
  EXPECT_EQ(mp.m2, mq.m2);
  EXPECT_EQ(mp.m3, mq.m3);
  EXPECT_TRUE(p.initiator.session->Outcome()->session_key.Equals(
      q.initiator.session->Outcome()->session_key));
}

TEST_F(PakeSessionTest, NoOutcomeBeforeCompletion) {
  Pair p = StartPair(RightCode(), RightCode(), 6);
  EXPECT_FALSE(p.initiator.session->IsComplete());
  EXPECT_EQ(p.initiator.session->Outcome().status().code(), StatusCode::kFailedPrecondition);
  auto m2 = p.responder.session->Receive(p.initiator.first_message);
  ASSERT_TRUE(m2.ok());
  // The responder has answered but not yet seen the initiator's confirmation.
  EXPECT_FALSE(p.responder.session->IsComplete());
  EXPECT_EQ(p.responder.session->Outcome().status().code(), StatusCode::kFailedPrecondition);
}

// --- Wrong code ------------------------------------------------------------------

// Plays the initiator by hand with CPace primitives, the way an attacker who
// ignores its own failed check would, and returns the message 3 it would send.
std::string AttackerConfirmation(PakeSession& responder, const InviteCode& guess,
                                 const PakeContext& context, uint64_t seed) {
  SeededRandom random(seed);
  std::string sid(kSidBytes, '\0');
  random.Fill(reinterpret_cast<uint8_t*>(sid.data()), sid.size());
  std::string ci = cpace::LvCat(
      {label::kProtocol, context.initiator_id, context.responder_id, context.channel_binding});
  cpace::Generator g = cpace::CalculateGenerator(guess.Password().str(), ci, sid);
  cpace::Scalar ya = cpace::SampleScalar(random);
  auto big_ya = cpace::ScalarMult(ya, g);
  EXPECT_TRUE(big_ya.ok());
  auto m2 = responder.Receive(
      EncodeMessage(InitiatorShare{.sid = sid, .ya = *big_ya, .ada = context.associated_data}));
  EXPECT_TRUE(m2.ok()) << m2.status().ToString();
  auto share = DecodeResponderShare(*m2);
  EXPECT_TRUE(share.ok());
  auto k = cpace::ScalarMultVfy(ya, share->yb);
  EXPECT_TRUE(k.ok());
  std::string ir = cpace::TranscriptIr(*big_ya, context.associated_data, share->yb, share->adb);
  SessionSecrets secrets = DeriveSessionSecrets(cpace::DeriveIsk(sid, *k, ir));
  return EncodeMessage(InitiatorConfirm{
      .tag = ConfirmationTag(secrets.initiator_confirm_key, TranscriptHash(sid, ir))});
}

TEST_F(PakeSessionTest, AHandBuiltInitiatorWithTheRightCodeIsAccepted) {
  // Checks the attacker model below: built by hand with the right code, the
  // same steps complete the run.
  SeededRandom rb(99);
  auto b = PakeSession::Start(PakeRole::kResponder, RightCode(), Context("inviter keys"), rb);
  ASSERT_TRUE(b.ok());
  std::string m3 = AttackerConfirmation(*b->session, RightCode(), Context("joiner keys"), 7);
  auto end = b->session->Receive(m3);
  EXPECT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_TRUE(b->session->IsComplete());
}

TEST_F(PakeSessionTest, AWrongCodeFailsOnBothSidesAtConfirmation) {
  // Initiator with a wrong code: it rejects the responder's confirmation.
  {
    Pair p = StartPair(WrongCode(), RightCode(), 8);
    auto m2 = p.responder.session->Receive(p.initiator.first_message);
    ASSERT_TRUE(m2.ok());  // the responder cannot tell yet
    auto m3 = p.initiator.session->Receive(*m2);
    ASSERT_FALSE(m3.ok());
    EXPECT_EQ(m3.status().code(), StatusCode::kUnauthenticated);
    EXPECT_NE(m3.status().message().find("invite code"), std::string::npos);
    EXPECT_FALSE(p.initiator.session->IsComplete());
    EXPECT_EQ(p.initiator.session->Outcome().status().code(), StatusCode::kFailedPrecondition);
    // The initiator sends nothing more, so the responder never completes.
    EXPECT_FALSE(p.responder.session->IsComplete());
    EXPECT_EQ(p.responder.session->Outcome().status().code(), StatusCode::kFailedPrecondition);
  }
  // Responder with a wrong code: the initiator rejects it the same way.
  {
    Pair p = StartPair(RightCode(), WrongCode(), 9);
    auto m2 = p.responder.session->Receive(p.initiator.first_message);
    ASSERT_TRUE(m2.ok());
    auto m3 = p.initiator.session->Receive(*m2);
    EXPECT_EQ(m3.status().code(), StatusCode::kUnauthenticated);
    EXPECT_FALSE(p.responder.session->IsComplete());
  }
  // An initiator that ignores its failed check and confirms anyway is
  // rejected by the responder.
  {
    SeededRandom rb(100);
    auto b = PakeSession::Start(PakeRole::kResponder, RightCode(), Context("inviter keys"), rb);
    ASSERT_TRUE(b.ok());
    std::string m3 = AttackerConfirmation(*b->session, WrongCode(), Context("joiner keys"), 11);
    auto end = b->session->Receive(m3);
    ASSERT_FALSE(end.ok());
    EXPECT_EQ(end.status().code(), StatusCode::kUnauthenticated);
    EXPECT_FALSE(b->session->IsComplete());
    EXPECT_EQ(b->session->Outcome().status().code(), StatusCode::kFailedPrecondition);
  }
}

TEST_F(PakeSessionTest, DifferentPartyIdsOrChannelBindingsFailLikeAWrongCode) {
  PakeContext device_invite = Context("inviter keys");
  device_invite.responder_id = "kindred invite device";
  Pair p = StartPair(RightCode(), RightCode(), 12, Context("joiner keys"), device_invite);
  auto m2 = p.responder.session->Receive(p.initiator.first_message);
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(p.initiator.session->Receive(*m2).status().code(), StatusCode::kUnauthenticated);

  PakeContext bound = Context("inviter keys");
  bound.channel_binding = "connection 2";
  Pair q = StartPair(RightCode(), RightCode(), 13, Context("joiner keys"), bound);
  auto q2 = q.responder.session->Receive(q.initiator.first_message);
  ASSERT_TRUE(q2.ok());
  EXPECT_EQ(q.initiator.session->Receive(*q2).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(PakeSessionTest, EveryErrorIsFinal) {
  Pair p = StartPair(WrongCode(), RightCode(), 14);
  auto m2 = p.responder.session->Receive(p.initiator.first_message);
  ASSERT_TRUE(m2.ok());
  ASSERT_FALSE(p.initiator.session->Receive(*m2).ok());
  // Even the right message cannot revive it.
  auto again = p.initiator.session->Receive(*m2);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("new invite code"), std::string::npos);

  SeededRandom rb(15);
  auto b = PakeSession::Start(PakeRole::kResponder, RightCode(), Context(""), rb);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->session->Receive("garbage").ok());
  EXPECT_EQ(b->session->Receive(p.initiator.first_message).status().code(),
            StatusCode::kFailedPrecondition);
}

// --- Tampering, truncation, replay -------------------------------------------------

TEST_F(PakeSessionTest, AnyFlippedBitInAnyMessageFailsTheRun) {
  Pair ref = StartPair(RightCode(), RightCode(), 20);
  Messages good = RunToCompletion(ref);

  for (int which = 0; which < 3; ++which) {
    const std::string& original = which == 0 ? good.m1 : which == 1 ? good.m2 : good.m3;
    for (size_t i = 0; i < original.size(); ++i) {
      for (uint8_t bit : {0x01, 0x80}) {
        Pair p = StartPair(RightCode(), RightCode(), 20);  // same seeds: same messages
        std::string tampered = original;
        tampered[i] = static_cast<char>(tampered[i] ^ bit);
        bool failed = false;
        if (which == 0) {
          auto m2 = p.responder.session->Receive(tampered);
          failed = !m2.ok() || !p.initiator.session->Receive(*m2).ok();
        } else {
          auto m2 = p.responder.session->Receive(good.m1);
          ASSERT_TRUE(m2.ok());
          if (which == 1) {
            failed = !p.initiator.session->Receive(tampered).ok();
          } else {
            ASSERT_TRUE(p.initiator.session->Receive(*m2).ok());
            failed = !p.responder.session->Receive(tampered).ok();
          }
        }
        EXPECT_TRUE(failed) << "message " << which + 1 << " byte " << i << " bit " << int{bit};
      }
    }
  }
}

TEST_F(PakeSessionTest, AlteredAssociatedDataIsCaughtByConfirmation) {
  Pair p = StartPair(RightCode(), RightCode(), 21);
  auto m2 = p.responder.session->Receive(p.initiator.first_message);
  ASSERT_TRUE(m2.ok());
  auto share = DecodeResponderShare(*m2);
  ASSERT_TRUE(share.ok());
  share->adb = "attacker keys";
  auto m3 = p.initiator.session->Receive(EncodeMessage(*share));
  EXPECT_EQ(m3.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(PakeSessionTest, TruncatedOrExtendedMessagesAreRejectedAsCorrupt) {
  Pair ref = StartPair(RightCode(), RightCode(), 22);
  Messages good = RunToCompletion(ref);
  for (int which = 0; which < 3; ++which) {
    const std::string& original = which == 0 ? good.m1 : which == 1 ? good.m2 : good.m3;
    std::vector<std::string> bad;
    for (size_t n = 0; n < original.size(); ++n) bad.push_back(original.substr(0, n));
    bad.push_back(original + '\0');
    bad.push_back(original + original);
    for (const std::string& msg : bad) {
      Pair p = StartPair(RightCode(), RightCode(), 22);
      Result<std::string> r = Status::Internal("unset");
      if (which == 0) {
        r = p.responder.session->Receive(msg);
      } else {
        auto m2 = p.responder.session->Receive(good.m1);
        ASSERT_TRUE(m2.ok());
        if (which == 1) {
          r = p.initiator.session->Receive(msg);
        } else {
          ASSERT_TRUE(p.initiator.session->Receive(*m2).ok());
          r = p.responder.session->Receive(msg);
        }
      }
      ASSERT_FALSE(r.ok()) << "message " << which + 1 << " of " << msg.size() << " bytes";
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
    }
  }
}

TEST_F(PakeSessionTest, MalformedLengthEncodingsAreRejected) {
  // The draft's examples of invalid length fields, after a valid header, plus
  // a non-minimal LEB128 length and an oversized one.
  const char* bodies[] = {"ffffff", "ffff03", "00ffff03", "00ffffff", "8000", "ff7f"};
  for (const char* hex : bodies) {
    for (uint8_t type : {1, 2, 3}) {
      std::string msg =
          std::string{static_cast<char>(kPairingProtocolVersion), static_cast<char>(type)} +
          Unhex(hex);
      EXPECT_EQ(PeekMessageType(msg).status().code(), StatusCode::kOk);
      EXPECT_EQ(DecodeInitiatorShare(msg).status().code(), StatusCode::kCorruption) << hex;
      EXPECT_EQ(DecodeResponderShare(msg).status().code(), StatusCode::kCorruption) << hex;
      EXPECT_EQ(DecodeInitiatorConfirm(msg).status().code(), StatusCode::kCorruption) << hex;
    }
  }
}

TEST_F(PakeSessionTest, AnotherProtocolVersionOrUnknownTypeIsNamedInTheError) {
  Pair p = StartPair(RightCode(), RightCode(), 23);
  std::string msg = p.initiator.first_message;
  msg[0] = 2;
  auto r = p.responder.session->Receive(msg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("version 2"), std::string::npos) << r.status().message();

  Pair q = StartPair(RightCode(), RightCode(), 23);
  msg = q.initiator.first_message;
  msg[1] = 9;
  r = q.responder.session->Receive(msg);
  EXPECT_NE(r.status().message().find("unknown pairing message type 9"), std::string::npos)
      << r.status().message();
}

TEST_F(PakeSessionTest, OversizedMessagesAreRefusedUnread) {
  Pair p = StartPair(RightCode(), RightCode(), 24);
  std::string huge = p.initiator.first_message + std::string(kMaxMessageBytes, 'x');
  auto r = p.responder.session->Receive(huge);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("longer than"), std::string::npos);
}

TEST_F(PakeSessionTest, ReplayedMessagesFail) {
  Pair old_run = StartPair(RightCode(), RightCode(), 30);
  Messages old_msgs = RunToCompletion(old_run);

  // Message 2 from an earlier run, to a new initiator: wrong sid and Ya.
  {
    Pair p = StartPair(RightCode(), RightCode(), 31);
    auto r = p.initiator.session->Receive(old_msgs.m2);
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  }
  // Message 3 from an earlier run, to a new responder that answered a fresh
  // (here: replayed) message 1: its Yb is new, so the old tag does not fit.
  {
    SeededRandom rb(32);
    auto b = PakeSession::Start(PakeRole::kResponder, RightCode(), Context("inviter keys"), rb);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(b->session->Receive(old_msgs.m1).ok());
    auto r = b->session->Receive(old_msgs.m3);
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  }
  // A message repeated within a run, or sent to the wrong side.
  {
    Pair p = StartPair(RightCode(), RightCode(), 33);
    auto m2 = p.responder.session->Receive(p.initiator.first_message);
    ASSERT_TRUE(m2.ok());
    auto again = p.responder.session->Receive(p.initiator.first_message);
    EXPECT_EQ(again.status().code(), StatusCode::kCorruption);
    EXPECT_NE(again.status().message().find("unexpected pairing message"), std::string::npos);
  }
  {
    Pair p = StartPair(RightCode(), RightCode(), 34);
    auto r = p.initiator.session->Receive(p.initiator.first_message);  // reflected
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  }
  // After completion nothing more is accepted.
  {
    Pair p = StartPair(RightCode(), RightCode(), 35);
    Messages m = RunToCompletion(p);
    EXPECT_EQ(p.responder.session->Receive(m.m3).status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(p.initiator.session->Receive(m.m2).status().code(), StatusCode::kFailedPrecondition);
    EXPECT_TRUE(p.initiator.session->IsComplete());  // the completed outcome stays
  }
}

// --- Invalid group elements -----------------------------------------------------------

// A valid element's encoding with bit 255 set: non-canonical, though
// libsodium 1.0.18 would decode it.
std::string WithTopBit(std::string point) {
  point[31] = static_cast<char>(point[31] | 0x80);
  return point;
}

TEST_F(PakeSessionTest, IdentityAndInvalidElementsAreRejectedBeforeAnyKeyIsDerived) {
  const std::string bad_points[] = {
      std::string(32, '\0'),                                                      // the identity
      Unhex("2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c"),  // draft Y_i1
      Unhex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  // non-canonical
      "",  // replaced below by the peer's own valid element with its top bit set
  };
  for (const std::string& bad : bad_points) {
    // In message 1, to the responder.
    {
      Pair p = StartPair(RightCode(), RightCode(), 40);
      auto m1 = DecodeInitiatorShare(p.initiator.first_message);
      ASSERT_TRUE(m1.ok());
      m1->ya = bad.empty() ? WithTopBit(m1->ya) : bad;
      auto r = p.responder.session->Receive(EncodeMessage(*m1));
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
      EXPECT_NE(r.status().message().find("pairing message 1"), std::string::npos);
      EXPECT_EQ(p.responder.session->Outcome().status().code(), StatusCode::kFailedPrecondition);
    }
    // In message 2, to the initiator.
    {
      Pair p = StartPair(RightCode(), RightCode(), 41);
      auto m2 = p.responder.session->Receive(p.initiator.first_message);
      ASSERT_TRUE(m2.ok());
      auto share = DecodeResponderShare(*m2);
      ASSERT_TRUE(share.ok());
      share->yb = bad.empty() ? WithTopBit(share->yb) : bad;
      auto r = p.initiator.session->Receive(EncodeMessage(*share));
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
      EXPECT_NE(r.status().message().find("pairing message 2"), std::string::npos);
    }
  }
}

// --- Garbage -------------------------------------------------------------------------

TEST_F(PakeSessionTest, RandomBytesNeverCrashAndAlwaysFail) {
  SeededRandom noise(50);
  for (int i = 0; i < 300; ++i) {
    uint8_t len_byte;
    noise.Fill(&len_byte, 1);
    std::string msg(len_byte % 120, '\0');
    noise.Fill(reinterpret_cast<uint8_t*>(msg.data()), msg.size());
    if (i % 2 == 0 && msg.size() >= 2) {  // half of them with a valid header
      msg[0] = static_cast<char>(kPairingProtocolVersion);
      msg[1] = static_cast<char>(1 + i % 3);
    }
    Pair p = StartPair(RightCode(), RightCode(), 51);
    EXPECT_FALSE(p.responder.session->Receive(msg).ok());
    EXPECT_FALSE(p.initiator.session->Receive(msg).ok());
  }
}

// --- Context limits -------------------------------------------------------------------

TEST_F(PakeSessionTest, OverlongContextFieldsAreInvalidArguments) {
  SeededRandom random(60);
  PakeContext c = Context(std::string(kMaxAssociatedDataBytes + 1, 'a'));
  EXPECT_EQ(PakeSession::Start(PakeRole::kInitiator, RightCode(), c, random).status().code(),
            StatusCode::kInvalidArgument);
  c = Context("");
  c.initiator_id = std::string(256, 'i');
  EXPECT_EQ(PakeSession::Start(PakeRole::kResponder, RightCode(), c, random).status().code(),
            StatusCode::kInvalidArgument);

  // The largest allowed associated data still pairs.
  Pair p =
      StartPair(RightCode(), RightCode(), 61, Context(std::string(kMaxAssociatedDataBytes, 'a')),
                Context(std::string(kMaxAssociatedDataBytes, 'b')));
  RunToCompletion(p);
  EXPECT_EQ(p.initiator.session->Outcome()->peer_associated_data,
            std::string(kMaxAssociatedDataBytes, 'b'));
}

}  // namespace
}  // namespace kindred::pairing
