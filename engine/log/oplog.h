// The op log's byte-level rules: keys, hashes, nonces, associated data and
// signed messages. Pure functions, shared by the local commit path, the
// verifier and (later) the sync receiver, so all agree to the byte.
#ifndef KINDRED_ENGINE_LOG_OPLOG_H_
#define KINDRED_ENGINE_LOG_OPLOG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "kindred/ids.h"
#include "kindred/v1/store.pb.h"

namespace kindred::log {

inline constexpr uint32_t kOpFormat = 1;
inline constexpr size_t kSaltBytes = 16;

// oplog key of op `seq`: space | device | 'o' | seq (big-endian).
std::string OpKey(const SpaceId& space, const DeviceId& device, uint64_t seq);
// oplog key of the batch signature ending at `seq`.
std::string SignatureKey(const SpaceId& space, const DeviceId& device, uint64_t seq);
// Prefix of all ops of one device in one space.
std::string OpPrefix(const SpaceId& space, const DeviceId& device);
// Prefix of all signatures of one device in one space.
std::string SignaturePrefix(const SpaceId& space, const DeviceId& device);
// versions key: space | device.
std::string VersionKey(const SpaceId& space, const DeviceId& device);

// Hash of an op envelope; see store.proto.
std::string OpHash(const SpaceId& space, const DeviceId& device, uint64_t seq,
                   const v1::OpEnvelope& op);
// The AEAD nonce of op `seq`.
std::string OpNonce(const SpaceId& space, const DeviceId& device, uint64_t seq, uint32_t epoch,
                    std::string_view salt);
// The AEAD associated data of op `seq`.
std::string OpAssociatedData(const SpaceId& space, const DeviceId& device, uint64_t seq,
                             uint32_t epoch, std::string_view prev_hash);
// The message a device signs for the head of its chain.
std::string HeadMessage(const SpaceId& space, const DeviceId& device, uint64_t seq,
                        std::string_view head_hash);

// Seals `payload` into `op` (which must have hlc, epoch, prev_hash and salt
// set) and fills aead, payload_hash and ciphertext.
void SealOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
            uint64_t seq, std::string_view payload, v1::OpEnvelope* op);
// Authenticates and decrypts `op`. Corruption names the op on a bad
// payload hash; Unauthenticated on a failed AEAD; FailedPrecondition if purged.
[[nodiscard]] Status OpenOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space,
                            const DeviceId& device, uint64_t seq, const v1::OpEnvelope& op,
                            std::string* payload);

// "op SEQ of device ID in space SPACE", for error messages.
std::string DescribeOp(const SpaceId& space, const DeviceId& device, uint64_t seq);

}  // namespace kindred::log

#endif  // KINDRED_ENGINE_LOG_OPLOG_H_
