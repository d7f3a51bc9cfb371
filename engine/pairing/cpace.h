// CPace, the balanced password-authenticated key exchange of
// draft-irtf-cfrg-cpace, in the suite CPACE-RISTR255-SHA512, on libsodium.
//
// Internal to kindred::pairing: PakeSession (pake_session.h) drives these
// functions and is what the rest of Kindred uses. Names follow the draft
// (PRS, CI, sid, ADa, Ya, K, ISK, ...) so the code can be checked against it
// line by line; docs/pairing-crypto.md describes how Kindred uses them.
//
// Everything that depends on the password (the generator string, its hash,
// the generator, the scalars, K and ISK) is held in a wiping Secret type.
// Points on the wire (Ya, Yb) are public and plain std::string.
//
// All functions are thread-safe (they touch no shared state). Callers must
// have called crypto::Init() once, which PakeSession::Start does.
#ifndef KINDRED_ENGINE_PAIRING_CPACE_H_
#define KINDRED_ENGINE_PAIRING_CPACE_H_

#include <sodium.h>

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "kindred/env.h"
#include "kindred/result.h"

namespace kindred::pairing::cpace {

// G.DSI for ristretto255, and the DSI used for the ISK (G.DSI || "_ISK").
inline constexpr std::string_view kDsi = "CPaceRistretto255";
inline constexpr std::string_view kDsiIsk = "CPaceRistretto255_ISK";
// Prefix of the optional public session id output (draft "sid_output").
inline constexpr std::string_view kSidOutputLabel = "CPaceSidOutput";

// H = SHA-512: input block size (H.s_in_bytes) and output size.
inline constexpr size_t kHashBlockBytes = 128;
inline constexpr size_t kHashBytes = crypto_hash_sha512_BYTES;  // 64
// Encoded ristretto255 element and scalar sizes.
inline constexpr size_t kPointBytes = crypto_core_ristretto255_BYTES;         // 32
inline constexpr size_t kScalarBytes = crypto_core_ristretto255_SCALARBYTES;  // 32
static_assert(crypto_core_ristretto255_HASHBYTES == kHashBytes);

// A secret scalar (ya or yb), little-endian, fully reduced mod the group order.
using Scalar = crypto::Secret<kScalarBytes>;
// SHA-512 of the generator string; secret because it is a function of PRS.
using GeneratorHash = crypto::Secret<kHashBytes>;
// The encoded generator g; secret because it is a function of PRS.
using Generator = crypto::Secret<kPointBytes>;
// The encoded Diffie-Hellman result K. Never leaves this component.
using SharedPoint = crypto::Secret<kPointBytes>;
// The intermediate session key ISK.
using Isk = crypto::Secret<kHashBytes>;

// prepend_len(data): the LEB128 encoding of data.size() followed by data,
// appended to `*out`.
void AppendLengthPrefixed(std::string* out, std::string_view data);
// prepend_len(data) as a new string.
std::string PrependLen(std::string_view data);
// lv_cat(a0, a1, ...): prepend_len of each part, concatenated.
std::string LvCat(std::initializer_list<std::string_view> parts);
// o_cat(a, b): "oc" followed by the lexicographically larger of a and b, then
// the other. Used only by the symmetric transcript (kept for the vectors).
std::string OCat(std::string_view a, std::string_view b);

// generator_string(DSI, PRS, CI, sid, s_in_bytes) =
//   lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid), with
//   len_zpad = max(0, s_in_bytes - 1 - len(prepend_len(PRS)) - len(prepend_len(DSI))).
// Holds PRS, so it is returned in a wiping string.
crypto::SecretString GeneratorString(std::string_view dsi, std::string_view prs,
                                     std::string_view ci, std::string_view sid, size_t s_in_bytes);
// H.hash(gen_str, 64): SHA-512 of a generator string.
GeneratorHash HashGeneratorString(std::string_view generator_string);
// The ristretto255 element-derivation (one-way) map applied to a 64-byte hash.
Generator GeneratorFromHash(const GeneratorHash& hash);
// G.calculate_generator(H, PRS, CI, sid) for this suite: the three steps above
// with DSI = kDsi and s_in_bytes = kHashBlockBytes.
Generator CalculateGenerator(std::string_view prs, std::string_view ci, std::string_view sid);

// G.sample_scalar(): 64 bytes from `random`, reduced mod the group order
// (uniform; the draft's "uniform sampling between 1 and order - 1"). A zero
// result is rejected and resampled. `random` is only used during the call.
Scalar SampleScalar(Random& random);

// G.scalar_mult(y, g): the encoding of y*g. Internal error only if `g` is not
// a valid element or the product is the identity, which cannot happen for a
// generator from CalculateGenerator and a scalar from SampleScalar.
[[nodiscard]] Result<std::string> ScalarMult(const Scalar& y, const Generator& g);

// G.scalar_mult_vfy(y, X) with the draft's abort folded in: the encoding of
// y*decode(X), or Corruption when X is not 32 bytes, does not decode to a
// ristretto255 element (non-canonical, negative, off-curve), is the identity,
// or the product is the identity. A party receiving such an X MUST abort.
[[nodiscard]] Result<SharedPoint> ScalarMultVfy(const Scalar& y, std::string_view x);

// transcript_ir(Ya, ADa, Yb, ADb) = lv_cat(Ya, ADa) || lv_cat(Yb, ADb).
std::string TranscriptIr(std::string_view ya, std::string_view ada, std::string_view yb,
                         std::string_view adb);
// transcript_oc(Ya, ADa, Yb, ADb) = o_cat(lv_cat(Ya, ADa), lv_cat(Yb, ADb)).
// Kindred does not use the symmetric setting; this exists for the vectors.
std::string TranscriptOc(std::string_view ya, std::string_view ada, std::string_view yb,
                         std::string_view adb);

// ISK = H.hash(lv_cat(DSI_ISK, sid, K) || transcript). K is hashed in place,
// never copied into a temporary buffer.
Isk DeriveIsk(std::string_view sid, const SharedPoint& k, std::string_view transcript);

// sid_output = H.hash("CPaceSidOutput" || transcript): a public session id.
std::string SidOutput(std::string_view transcript);

}  // namespace kindred::pairing::cpace

#endif  // KINDRED_ENGINE_PAIRING_CPACE_H_
