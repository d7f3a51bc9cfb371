// Pairing two devices that share an invite code: one run of CPace with
// explicit key confirmation, behind an API that knows nothing of CPace.
//
// Three messages. The joiner (`kindred join CODE`) is the initiator, since it
// connects; the inviter (`kindred invite`) is the responder:
//
//   auto a = PakeSession::Start(PakeRole::kInitiator, code, context, random);
//   auto b = PakeSession::Start(PakeRole::kResponder, code, context, random);
//   // a->first_message is message 1; b->first_message is empty.
//   send(a->first_message);
//   msg2 = b->session->Receive(msg1);   // responder answers
//   msg3 = a->session->Receive(msg2);   // initiator checks B, now complete
//   b->session->Receive(msg3);          // responder checks A, now complete
//   a->session->Outcome()->session_key == b->session->Outcome()->session_key
//
// A different code on either side makes the initiator's Receive(message 2)
// fail with Unauthenticated; the initiator then sends nothing more, and the
// responder never completes (nor accepts any message 3 an attacker could
// make). Every error is final: the session refuses all further input, and a
// new run needs a new invite code. Message bytes are opaque to callers;
// docs/pairing-crypto.md specifies them.
#ifndef KINDRED_ENGINE_PAIRING_PAKE_SESSION_H_
#define KINDRED_ENGINE_PAIRING_PAKE_SESSION_H_

#include <memory>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "engine/pairing/invite_code.h"
#include "kindred/env.h"
#include "kindred/result.h"

namespace kindred::pairing {

enum class PakeRole {
  kInitiator,  // speaks first; the joiner
  kResponder,  // answers; the inviter
};

// What both sides bind into the run besides the code. The three ids must be
// equal on both sides or the run fails at confirmation, so they can only hold
// what both know beforehand: e.g. "kindred join partner" / "kindred invite
// partner", so that a device invite cannot be used as a partner invite. They
// are hashed into CPace's channel identifier CI and never sent.
struct PakeContext {
  std::string initiator_id;  // <= 255 bytes
  std::string responder_id;  // <= 255 bytes
  // Optional: a value tying the run to its connection (e.g. a transport
  // handshake hash). <= 255 bytes.
  std::string channel_binding;
  // This side's associated data (CPace ADa or ADb), e.g. its device public
  // keys: sent in the clear, and authenticated by the run, so the peer's
  // arrives in PakeOutcome::peer_associated_data only if the codes matched
  // and nobody altered it. <= 1024 bytes.
  std::string associated_data;
};

// What a completed run yields.
struct PakeOutcome {
  // The shared 32-byte key. Equal on both sides; unknown to anyone else.
  crypto::SymmetricKey session_key;
  // The peer's PakeContext::associated_data, authenticated.
  std::string peer_associated_data;
  // The public transcript: lv(sid) || transcript_ir(Ya, ADa, Yb, ADb).
  std::string transcript;
  // SHA-512 transcript hash (64 bytes) the confirmation tags and safety words
  // are computed from; see key_schedule.h.
  std::string transcript_hash;
  // Words for both people to compare, e.g. "pencil saga youth lunch juggle".
  std::string safety_words;
};

struct PakeStart;

// One side of one pairing run. Not thread-safe: drive it from one thread or
// strand. Holds its secrets (scalar, keys) in memory that is wiped when the
// session is destroyed or fails.
class PakeSession {
 public:
  virtual ~PakeSession() = default;

  // Starts a run as `role` with `code`. `random` supplies the session id and
  // the secret scalar and is used only during this call. Returns the session
  // (owned by the caller) and the first message to send: message 1 for the
  // initiator, empty for the responder. InvalidArgument if a context field is
  // too long; Internal if libsodium cannot initialise.
  [[nodiscard]] static Result<PakeStart> Start(PakeRole role, const InviteCode& code,
                                               const PakeContext& context, Random& random);

  // Processes the peer's next message and returns the reply to send, which is
  // empty when there is none (the responder after message 3). Errors, all
  // final:
  //   Corruption       the bytes are malformed, of another protocol version,
  //                    the wrong message for this point of the run (e.g. a
  //                    replay), or carry an invalid group element;
  //   Unauthenticated  the peer's confirmation tag is wrong: a different
  //                    invite code or context, or tampering;
  //   FailedPrecondition  the run is already complete or failed.
  [[nodiscard]] virtual Result<std::string> Receive(std::string_view message) = 0;

  // True once this side has verified the peer's confirmation: the initiator
  // after message 2, the responder after message 3.
  virtual bool IsComplete() const = 0;

  // The outcome. FailedPrecondition unless IsComplete().
  [[nodiscard]] virtual Result<PakeOutcome> Outcome() const = 0;

  virtual PakeRole role() const = 0;
};

// Returned by PakeSession::Start.
struct PakeStart {
  std::unique_ptr<PakeSession> session;
  std::string first_message;  // empty for the responder
};

}  // namespace kindred::pairing

#endif  // KINDRED_ENGINE_PAIRING_PAKE_SESSION_H_
