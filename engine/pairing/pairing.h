// Pairing over the network: `kindred invite` (Invite) waits for one device
// to join with the invite code, `kindred join` (Join) connects to it. Both
// run this exchange (docs/security.md, "Pairing"), over TCP:
//
//   1. Noise_XX (the transport of docs/protocol.md, Part I). Any static key
//      is accepted: pairing is how the two devices come to know each other.
//   2. inviter -> joiner  Hello {version, kind}
//   3. CPace over the invite code, with the Noise handshake hash as its
//      channel binding and the kind in its party ids (pake_session.h):
//      joiner -> message 1, inviter -> message 2, joiner -> message 3.
//      A wrong code, or a man in the middle running two Noise sessions,
//      fails here on both sides.
//   4. Under keys derived from the PAKE session key (SealedExchange):
//      joiner -> its device certificate; inviter -> its certificate and the
//      grants (the spaces it shares, sealed to the joiner, signed);
//      joiner -> ready (grants checked); inviter writes its rosters and
//      says done; the joiner joins the spaces.
//
// Nothing is written on either side until step 4's last two messages, so a
// failed pairing leaves no partial roster. The inviter closes the invite
// after a successful pairing, after `max_failed_attempts` attempts that
// reached the PAKE and failed, or when the invite expires.
//
// Engine calls are made on the calling coroutine's executor (they are few
// and short). Internal to the engine; the CLI uses it.
#ifndef KINDRED_ENGINE_PAIRING_PAIRING_H_
#define KINDRED_ENGINE_PAIRING_PAIRING_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/crypto/crypto.h"
#include "engine/net/secure_channel.h"
#include "engine/pairing/invite_code.h"
#include "engine/pairing/pake_session.h"
#include "kindred/engine.h"
#include "kindred/env.h"
#include "kindred/result.h"
#include "kindred/v1/pairing.pb.h"

namespace kindred::pairing {

namespace asio = boost::asio;
using Duration = std::chrono::steady_clock::duration;

// The version in PairingHello.
inline constexpr uint32_t kExchangeVersion = 1;
// The largest pairing message (grants list whole rosters).
inline constexpr size_t kMaxExchangeMessageBytes = size_t{4} << 20;
// Abort reasons are cut to this many bytes.
inline constexpr size_t kMaxAbortReasonBytes = 200;

struct InviteOptions {
  PairingKind kind = PairingKind::kPartner;
  // How long the invite stays open for a device to join.
  Duration timeout = std::chrono::seconds(300);
  // Once a device has connected: how long it may keep the inviter waiting
  // for each of its messages.
  Duration step_timeout = std::chrono::seconds(30);
  // Failed attempts (that reached the PAKE) after which the invite closes.
  int max_failed_attempts = 3;
  // Randomness for the handshake and the PAKE; null = the real OS.
  Env* env = nullptr;
  // One line for a person per failed attempt. May be empty.
  std::function<void(const std::string&)> log;
};

struct JoinOptions {
  Duration connect_timeout = std::chrono::seconds(10);
  // How long the inviter may keep the joiner waiting for each message.
  Duration step_timeout = std::chrono::seconds(30);
  Env* env = nullptr;
};

// A pairing that succeeded.
struct Paired {
  PairingKind kind = PairingKind::kPartner;
  DeviceCard peer;           // the other device, as this device's rosters list it
  std::string safety_words;  // the same on both devices (docs/pairing-crypto.md, section 5)
  std::vector<SpaceId> spaces;  // joiner: the spaces it joined
};

// Waits on `acceptor` (bound and listening) for one device to join with
// `code`, and pairs with it. `engine` and `acceptor` must outlive the
// awaitable; the acceptor is closed when it returns. Errors:
//   Unavailable       the invite expired with no successful pairing
//   PermissionDenied  max_failed_attempts attempts failed; the invite is closed
//   anything else     this device could not complete a pairing (its store)
asio::awaitable<Result<Paired>> Invite(Engine& engine, asio::ip::tcp::acceptor& acceptor,
                                       const InviteCode& code, InviteOptions options);

// Connects to the inviter at `inviter` and pairs with `code`. Errors:
//   Unavailable       unreachable, or the inviter went away or stalled
//   Unauthenticated   the codes did not match (or a man in the middle)
//   PermissionDenied  the inviter refused (its reason is in the message)
//   FailedPrecondition  this device cannot pair so (already paired, not new)
//   Corruption        the inviter broke the protocol
asio::awaitable<Result<Paired>> Join(Engine& engine, asio::ip::tcp::endpoint inviter,
                                     const InviteCode& code, JoinOptions options);

// ---- Building blocks (exposed for tests that play a hostile peer) ----

// "partner" or "device".
std::string_view KindName(PairingKind kind);

// The PAKE context of a run: party ids "kindred join KIND" / "kindred
// invite KIND", and the Noise handshake hash as channel binding.
PakeContext ContextFor(PairingKind kind, std::string_view channel_hash);

// The layer under the PAKE session key: XChaCha20-Poly1305 with one key per
// direction (keyed BLAKE2b of the session key under "kindred-pairing-v1
// exchange joiner" / "... inviter"), a counter nonce per direction, and
// "kindred-pairing-v1 exchange" | channel hash | PAKE transcript hash as
// associated data. Not thread-safe.
class SealedExchange {
 public:
  // `role` is this side's PAKE role (the joiner is the initiator).
  SealedExchange(const crypto::SymmetricKey& session_key, PakeRole role,
                 std::string_view channel_hash, std::string_view transcript_hash);
  std::string Seal(const v1::PairingSecret& secret);
  // Unauthenticated if the bytes were not sealed by the peer, in order;
  // Corruption if they do not parse.
  Result<v1::PairingSecret> Open(std::string_view sealed);

 private:
  crypto::SymmetricKey send_key_;
  crypto::SymmetricKey receive_key_;
  std::string ad_;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
};

// This device's certificate for the run, signed for `role` ('J' joiner, 'I'
// inviter).
Result<v1::DeviceCertificate> MakeCertificate(const Engine& engine, char role,
                                              std::string_view channel_hash,
                                              std::string_view transcript_hash);
// Checks a peer's certificate: well-formed, its id derived from its keys,
// its X25519 key the channel's authenticated static key, and signed for
// `role` in this run. Returns the device's card; Corruption names the flaw.
Result<DeviceCard> CheckCertificate(const v1::DeviceCertificate& certificate, char role,
                                    std::string_view remote_static_key,
                                    std::string_view channel_hash,
                                    std::string_view transcript_hash);

std::string EncodeMessage(const v1::PairingMessage& message);
// Corruption if the bytes are not one PairingMessage with a body.
Result<v1::PairingMessage> DecodeMessage(std::string_view bytes);

}  // namespace kindred::pairing

#endif  // KINDRED_ENGINE_PAIRING_PAIRING_H_
