#include "engine/pairing/pake_session.h"

#include <optional>

#include "engine/pairing/cpace.h"
#include "engine/pairing/key_schedule.h"
#include "engine/pairing/messages.h"
#include "engine/pairing/safety_words.h"

namespace kindred::pairing {
namespace {

constexpr size_t kMaxContextIdBytes = 255;

// The run's state. Only forward moves; kFailed and kComplete are final.
enum class State {
  kAwaitingShare,    // responder: waits for message 1
  kAwaitingReply,    // initiator: waits for message 2
  kAwaitingConfirm,  // responder: sent message 2, waits for message 3
  kComplete,
  kFailed,
};

Status CheckContext(const PakeContext& c) {
  auto too_long = [](std::string_view what, size_t size, size_t max) {
    return Status::InvalidArgument("pairing " + std::string(what) + " is " + std::to_string(size) +
                                   " bytes; at most " + std::to_string(max) + " are allowed");
  };
  if (c.initiator_id.size() > kMaxContextIdBytes) {
    return too_long("initiator id", c.initiator_id.size(), kMaxContextIdBytes);
  }
  if (c.responder_id.size() > kMaxContextIdBytes) {
    return too_long("responder id", c.responder_id.size(), kMaxContextIdBytes);
  }
  if (c.channel_binding.size() > kMaxContextIdBytes) {
    return too_long("channel binding", c.channel_binding.size(), kMaxContextIdBytes);
  }
  if (c.associated_data.size() > kMaxAssociatedDataBytes) {
    return too_long("associated data", c.associated_data.size(), kMaxAssociatedDataBytes);
  }
  return Status::Ok();
}

class PakeSessionImpl final : public PakeSession {
 public:
  PakeSessionImpl(PakeRole role, const InviteCode& code, const PakeContext& context, Random& random)
      : role_(role),
        password_(code.Password()),
        ci_(cpace::LvCat({label::kProtocol, context.initiator_id, context.responder_id,
                          context.channel_binding})),
        local_ad_(context.associated_data),
        scalar_(cpace::SampleScalar(random)),
        state_(role == PakeRole::kInitiator ? State::kAwaitingReply : State::kAwaitingShare) {
    if (role_ == PakeRole::kInitiator) {
      sid_.resize(kSidBytes);
      random.Fill(reinterpret_cast<uint8_t*>(sid_.data()), sid_.size());
    }
  }

  // Builds message 1 (initiator only).
  Result<std::string> FirstMessage() {
    cpace::Generator g = cpace::CalculateGenerator(password_.str(), ci_, sid_);
    password_.Wipe();  // needed only for the generator
    auto ya = cpace::ScalarMult(scalar_, g);
    if (!ya.ok()) return Fail(ya.status());
    own_share_ = *ya;
    return EncodeMessage(InitiatorShare{.sid = sid_, .ya = own_share_, .ada = local_ad_});
  }

  Result<std::string> Receive(std::string_view message) override {
    switch (state_) {
      case State::kAwaitingShare:
        return OnInitiatorShare(message);
      case State::kAwaitingReply:
        return OnResponderShare(message);
      case State::kAwaitingConfirm:
        return OnInitiatorConfirm(message);
      case State::kComplete:
        return Status::FailedPrecondition(
            "pairing run is already complete; it accepts no more messages");
      case State::kFailed:
        return Status::FailedPrecondition(
            "pairing run has failed; start again with a new invite code");
    }
    return Status::Internal("unknown pairing state");
  }

  bool IsComplete() const override { return state_ == State::kComplete; }

  Result<PakeOutcome> Outcome() const override {
    if (!outcome_) {
      return Status::FailedPrecondition(state_ == State::kFailed
                                            ? "pairing run failed; there is no session key"
                                            : "pairing run is not complete yet");
    }
    return *outcome_;
  }

  PakeRole role() const override { return role_; }

 private:
  // Responder: message 1 in, message 2 out.
  Result<std::string> OnInitiatorShare(std::string_view message) {
    auto m = DecodeInitiatorShare(message);
    if (!m.ok()) return Fail(m.status());
    sid_ = m->sid;

    // The peer's element first: an invalid one ends the run before the
    // password is used at all.
    auto k = cpace::ScalarMultVfy(scalar_, m->ya);
    if (!k.ok()) return Fail(k.status().WithContext("pairing message 1"));

    cpace::Generator g = cpace::CalculateGenerator(password_.str(), ci_, sid_);
    password_.Wipe();  // needed only for the generator
    auto yb = cpace::ScalarMult(scalar_, g);
    if (!yb.ok()) return Fail(yb.status());
    own_share_ = *yb;

    DeriveKeys(*k, m->ya, m->ada, own_share_, local_ad_);
    peer_ad_ = m->ada;

    expected_peer_tag_ = ConfirmationTag(secrets_.initiator_confirm_key, transcript_hash_);
    std::string tb = ConfirmationTag(secrets_.responder_confirm_key, transcript_hash_);
    state_ = State::kAwaitingConfirm;
    return EncodeMessage(ResponderShare{.yb = own_share_, .adb = local_ad_, .tag = tb});
  }

  // Initiator: message 2 in, message 3 out; complete.
  Result<std::string> OnResponderShare(std::string_view message) {
    auto m = DecodeResponderShare(message);
    if (!m.ok()) return Fail(m.status());

    auto k = cpace::ScalarMultVfy(scalar_, m->yb);
    if (!k.ok()) return Fail(k.status().WithContext("pairing message 2"));
    DeriveKeys(*k, own_share_, local_ad_, m->yb, m->adb);

    std::string expected = ConfirmationTag(secrets_.responder_confirm_key, transcript_hash_);
    if (!TagMatches(expected, m->tag)) return Fail(ConfirmationFailed());
    peer_ad_ = m->adb;

    std::string ta = ConfirmationTag(secrets_.initiator_confirm_key, transcript_hash_);
    Complete();
    return EncodeMessage(InitiatorConfirm{.tag = ta});
  }

  // Responder: message 3 in; complete.
  Result<std::string> OnInitiatorConfirm(std::string_view message) {
    auto m = DecodeInitiatorConfirm(message);
    if (!m.ok()) return Fail(m.status());
    if (!TagMatches(expected_peer_tag_, m->tag)) return Fail(ConfirmationFailed());
    Complete();
    return std::string();
  }

  // ISK, the keys from it and the transcript hash. The scalar is not needed
  // afterwards.
  void DeriveKeys(const cpace::SharedPoint& k, std::string_view ya, std::string_view ada,
                  std::string_view yb, std::string_view adb) {
    std::string transcript_ir = cpace::TranscriptIr(ya, ada, yb, adb);
    cpace::Isk isk = cpace::DeriveIsk(sid_, k, transcript_ir);
    secrets_ = DeriveSessionSecrets(isk);
    transcript_ = cpace::PrependLen(sid_) + transcript_ir;
    transcript_hash_ = TranscriptHash(sid_, transcript_ir);
    scalar_ = cpace::Scalar();
  }

  static Status ConfirmationFailed() {
    return Status::Unauthenticated(
        "pairing failed: the other device did not prove it has the same invite code "
        "(a mistyped code, or someone interfering); start again with a new code");
  }

  void Complete() {
    outcome_ = PakeOutcome{
        .session_key = secrets_.session_key,
        .peer_associated_data = peer_ad_,
        .transcript = transcript_,
        .transcript_hash = transcript_hash_,
        .safety_words = SafetyWords(transcript_hash_),
    };
    WipeSecrets();
    state_ = State::kComplete;
  }

  Status Fail(const Status& status) {
    WipeSecrets();
    state_ = State::kFailed;
    return status;
  }

  void WipeSecrets() {
    scalar_ = cpace::Scalar();
    secrets_ = SessionSecrets();
    password_.Wipe();
    sodium_memzero(expected_peer_tag_.data(), expected_peer_tag_.size());
    expected_peer_tag_.clear();
  }

  const PakeRole role_;
  crypto::SecretString password_;  // PRS; wiped once no longer needed
  const std::string ci_;
  const std::string local_ad_;
  cpace::Scalar scalar_;  // ya or yb
  State state_;

  std::string sid_;
  std::string own_share_;  // Ya or Yb
  std::string peer_ad_;
  std::string transcript_;
  std::string transcript_hash_;
  SessionSecrets secrets_;
  std::string expected_peer_tag_;  // responder: Ta it will accept
  std::optional<PakeOutcome> outcome_;
};

}  // namespace

Result<PakeStart> PakeSession::Start(PakeRole role, const InviteCode& code,
                                     const PakeContext& context, Random& random) {
  KINDRED_RETURN_IF_ERROR(crypto::Init());
  KINDRED_RETURN_IF_ERROR(CheckContext(context));
  auto session = std::make_unique<PakeSessionImpl>(role, code, context, random);
  PakeStart start;
  if (role == PakeRole::kInitiator) {
    KINDRED_ASSIGN_OR_RETURN(start.first_message, session->FirstMessage());
  }
  start.session = std::move(session);
  return start;
}

}  // namespace kindred::pairing
