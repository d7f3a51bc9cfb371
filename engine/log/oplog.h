// The op log's byte-level rules: keys, hashes, nonces, associated data and
// signed messages. Pure functions, shared by the local commit path, the
// verifier and the sync receiver, so all agree to the byte.
//
// The previous op's hash (`prev_hash`) is an explicit argument everywhere:
// a stored op does not carry it (see OpSegment in store.proto), a sent op
// does, and the receiver checks it against the chain it rebuilt.
#ifndef KINDRED_ENGINE_LOG_OPLOG_H_
#define KINDRED_ENGINE_LOG_OPLOG_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "kindred/ids.h"
#include "kindred/v1/store.pb.h"

namespace kindred::log {

inline constexpr uint32_t kOpFormat = 1;
inline constexpr size_t kSaltBytes = 16;

// Prefix of the segments of one device's log in one space: space | device | 'g'.
std::string SegmentPrefix(const SpaceId& space, const DeviceId& device);
// oplog key of the segment whose last op is `last_seq`: SegmentPrefix | last_seq
// (big-endian). A forward seek to SegmentKey(.., S) lands on the segment
// holding op S.
std::string SegmentKey(const SpaceId& space, const DeviceId& device, uint64_t last_seq);
// versions key: space | device.
std::string VersionKey(const SpaceId& space, const DeviceId& device);

// Hash of op `seq` following `prev_hash`; see store.proto. `op.prev_hash`
// is ignored.
std::string OpHash(const SpaceId& space, const DeviceId& device, uint64_t seq,
                   std::string_view prev_hash, const v1::OpEnvelope& op);
// Same, with the op's own prev_hash field (an op as sent).
std::string OpHash(const SpaceId& space, const DeviceId& device, uint64_t seq,
                   const v1::OpEnvelope& op);
// The AEAD nonce of op `seq`.
std::string OpNonce(const SpaceId& space, const DeviceId& device, uint64_t seq, uint32_t epoch,
                    std::string_view salt);
using Nonce = std::array<uint8_t, crypto::kXNonceBytes>;
// The same nonce as bytes, for SealOpWithNonce.
Nonce OpNonceBytes(const SpaceId& space, const DeviceId& device, uint64_t seq, uint32_t epoch,
                   std::string_view salt);
// The AEAD associated data of op `seq`.
std::string OpAssociatedData(const SpaceId& space, const DeviceId& device, uint64_t seq,
                             uint32_t epoch, std::string_view prev_hash);
// The message a device signs for the head of its chain.
std::string HeadMessage(const SpaceId& space, const DeviceId& device, uint64_t seq,
                        std::string_view head_hash);

// Seals `payload` as op `seq` following `prev_hash` into `op` (which must
// have hlc, epoch and salt set) and fills format, aead, payload_hash and
// ciphertext. Leaves op->prev_hash alone. Reuses op's buffers.
void SealOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
            uint64_t seq, std::string_view prev_hash, std::string_view payload,
            v1::OpEnvelope* op);
// Same, with the nonce worked out beforehand (it does not depend on the
// chain, so another thread can). REQUIRES: `nonce` is OpNonceBytes(space,
// device, seq, op->epoch(), op->salt()).
void SealOpWithNonce(const crypto::SymmetricKey& epoch_key, const SpaceId& space,
                     const DeviceId& device, uint64_t seq, std::string_view prev_hash,
                     const Nonce& nonce, std::string_view payload, v1::OpEnvelope* op);
// Same, following op->prev_hash (which must be set).
void SealOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
            uint64_t seq, std::string_view payload, v1::OpEnvelope* op);
// Authenticates and decrypts op `seq` following `prev_hash`. Corruption
// naming the op on an unknown format or cipher, a bad payload hash or a
// failed AEAD; FailedPrecondition if purged. `payload_hash_derived`: the
// caller computed op.payload_hash() from op.ciphertext() itself, so it is
// not computed again (the AEAD tag is checked either way).
[[nodiscard]] Status OpenOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space,
                            const DeviceId& device, uint64_t seq, std::string_view prev_hash,
                            const v1::OpEnvelope& op, std::string* payload,
                            bool payload_hash_derived = false);
// Same, following op.prev_hash (an op as sent).
[[nodiscard]] Status OpenOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space,
                            const DeviceId& device, uint64_t seq, const v1::OpEnvelope& op,
                            std::string* payload);

// "op SEQ of device ID in space SPACE", for error messages.
std::string DescribeOp(const SpaceId& space, const DeviceId& device, uint64_t seq);

}  // namespace kindred::log

#endif  // KINDRED_ENGINE_LOG_OPLOG_H_
