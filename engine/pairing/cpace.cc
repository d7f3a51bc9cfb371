#include "engine/pairing/cpace.h"

#include <cstdint>

namespace kindred::pairing::cpace {
namespace {

const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// LEB128 of `length` into `buf`; returns the number of bytes written (<= 10).
size_t EncodeLeb128(uint64_t length, uint8_t buf[10]) {
  size_t n = 0;
  do {
    uint8_t byte = length & 0x7f;
    length >>= 7;
    if (length != 0) byte |= 0x80;
    buf[n++] = byte;
  } while (length != 0);
  return n;
}

// Feeds prepend_len(data) to a SHA-512 state without building the string, so
// secret inputs (K) are not copied around.
void HashLengthPrefixed(crypto_hash_sha512_state* state, const uint8_t* data, size_t size) {
  uint8_t prefix[10];
  size_t n = EncodeLeb128(size, prefix);
  crypto_hash_sha512_update(state, prefix, n);
  crypto_hash_sha512_update(state, data, size);
}

}  // namespace

void AppendLengthPrefixed(std::string* out, std::string_view data) {
  uint8_t prefix[10];
  size_t n = EncodeLeb128(data.size(), prefix);
  out->append(reinterpret_cast<const char*>(prefix), n);
  out->append(data);
}

std::string PrependLen(std::string_view data) {
  std::string out;
  AppendLengthPrefixed(&out, data);
  return out;
}

std::string LvCat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) AppendLengthPrefixed(&out, part);
  return out;
}

std::string OCat(std::string_view a, std::string_view b) {
  // std::string_view ordering is the draft's lexicographical ordering: byte
  // by byte (as unsigned char), and a proper prefix sorts first.
  std::string out = "oc";
  if (a > b) {
    out.append(a);
    out.append(b);
  } else {
    out.append(b);
    out.append(a);
  }
  return out;
}

crypto::SecretString GeneratorString(std::string_view dsi, std::string_view prs,
                                     std::string_view ci, std::string_view sid, size_t s_in_bytes) {
  // len(prepend_len(DSI)) + len(prepend_len(PRS)), computed without copying
  // PRS into a string that would not be wiped.
  uint8_t prefix[10];
  size_t used =
      EncodeLeb128(dsi.size(), prefix) + dsi.size() + EncodeLeb128(prs.size(), prefix) + prs.size();
  size_t zpad = s_in_bytes > used + 1 ? s_in_bytes - used - 1 : 0;

  crypto::SecretString out;
  std::string& s = out.str();
  // Reserve everything up front: a reallocation would leave a copy of PRS
  // behind in freed memory.
  s.reserve(used + zpad + ci.size() + sid.size() + 3 * sizeof(prefix));
  AppendLengthPrefixed(&s, dsi);
  AppendLengthPrefixed(&s, prs);
  AppendLengthPrefixed(&s, std::string(zpad, '\0'));
  AppendLengthPrefixed(&s, ci);
  AppendLengthPrefixed(&s, sid);
  return out;
}

GeneratorHash HashGeneratorString(std::string_view generator_string) {
  GeneratorHash hash;
  crypto_hash_sha512(hash.data(), U8(generator_string), generator_string.size());
  return hash;
}

Generator GeneratorFromHash(const GeneratorHash& hash) {
  Generator g;
  crypto_core_ristretto255_from_hash(g.data(), hash.data());
  return g;
}

Generator CalculateGenerator(std::string_view prs, std::string_view ci, std::string_view sid) {
  crypto::SecretString gen_str = GeneratorString(kDsi, prs, ci, sid, kHashBlockBytes);
  return GeneratorFromHash(HashGeneratorString(gen_str.str()));
}

Scalar SampleScalar(Random& random) {
  crypto::Secret<crypto_core_ristretto255_NONREDUCEDSCALARBYTES> wide;
  Scalar y;
  do {
    random.Fill(wide.data(), wide.size());
    crypto_core_ristretto255_scalar_reduce(y.data(), wide.data());
  } while (sodium_is_zero(y.data(), y.size()));
  return y;
}

Result<std::string> ScalarMult(const Scalar& y, const Generator& g) {
  std::string out(kPointBytes, '\0');
  if (crypto_scalarmult_ristretto255(reinterpret_cast<uint8_t*>(out.data()), y.data(), g.data()) !=
      0) {
    return Status::Internal("CPace generator or scalar is invalid");
  }
  return out;
}

Result<SharedPoint> ScalarMultVfy(const Scalar& y, std::string_view x) {
  if (x.size() != kPointBytes) {
    return Status::Corruption("peer's CPace element has " + std::to_string(x.size()) +
                              " bytes, expected " + std::to_string(kPointBytes));
  }
  // RFC 9496 decoding rejects a set top bit, but libsodium 1.0.18 ignores it
  // (it decodes base|0x80 as the base point), so check it here; otherwise a
  // relay could flip it without changing K.
  if ((static_cast<uint8_t>(x[kPointBytes - 1]) & 0x80) != 0) {
    return Status::Corruption("peer's CPace element is not a canonical ristretto255 encoding");
  }
  // libsodium 1.0.18 also decodes the identity without complaint (the product
  // is then refused below); reject it up front with the clearer message.
  if (sodium_is_zero(U8(x), x.size())) {
    return Status::Corruption("peer's CPace element is the identity element");
  }
  // crypto_scalarmult_ristretto255 fails when X does not decode (a field
  // element >= p, a negative one, or no point) and when the product is the
  // identity. The zero check after the call is belt and braces.
  SharedPoint k;
  if (crypto_scalarmult_ristretto255(k.data(), y.data(), U8(x)) != 0 ||
      sodium_is_zero(k.data(), k.size())) {
    return Status::Corruption("peer's CPace element is not a valid ristretto255 element");
  }
  return k;
}

std::string TranscriptIr(std::string_view ya, std::string_view ada, std::string_view yb,
                         std::string_view adb) {
  std::string out = LvCat({ya, ada});
  out.append(LvCat({yb, adb}));
  return out;
}

std::string TranscriptOc(std::string_view ya, std::string_view ada, std::string_view yb,
                         std::string_view adb) {
  return OCat(LvCat({ya, ada}), LvCat({yb, adb}));
}

Isk DeriveIsk(std::string_view sid, const SharedPoint& k, std::string_view transcript) {
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  HashLengthPrefixed(&state, U8(kDsiIsk), kDsiIsk.size());
  HashLengthPrefixed(&state, U8(sid), sid.size());
  HashLengthPrefixed(&state, k.data(), k.size());
  crypto_hash_sha512_update(&state, U8(transcript), transcript.size());
  Isk isk;
  crypto_hash_sha512_final(&state, isk.data());
  sodium_memzero(&state, sizeof(state));
  return isk;
}

std::string SidOutput(std::string_view transcript) {
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  crypto_hash_sha512_update(&state, U8(kSidOutputLabel), kSidOutputLabel.size());
  crypto_hash_sha512_update(&state, U8(transcript), transcript.size());
  std::string out(kHashBytes, '\0');
  crypto_hash_sha512_final(&state, reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

}  // namespace kindred::pairing::cpace
