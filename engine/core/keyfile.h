// The device key file (HOME/device.key): the device's secret keys, sealed
// with a passphrase through Argon2id when the user sets one, otherwise
// stored plain in a file of mode 0600.
#ifndef KINDRED_ENGINE_CORE_KEYFILE_H_
#define KINDRED_ENGINE_CORE_KEYFILE_H_

#include <optional>
#include <string>

#include "engine/crypto/crypto.h"
#include "kindred/env.h"
#include "kindred/ids.h"

namespace kindred::core {

// The secrets of one device. Wiped on destruction.
struct DeviceSecrets {
  crypto::SignKeyPair sign;
  crypto::DhKeyPair dh;
  crypto::SymmetricKey local_key;  // master of every at-rest key
};

// Writes the key file atomically. Sealed when `passphrase` is non-empty.
[[nodiscard]] Status WriteKeyFile(FileSystem& fs, Random& random, const std::string& path,
                                  const DeviceSecrets& secrets, const DeviceId& device,
                                  const std::optional<std::string>& passphrase,
                                  const crypto::PwhashParams& params);

// Reads and, if sealed, unseals the key file. Unauthenticated on a missing
// or wrong passphrase, Corruption on a damaged file.
[[nodiscard]] Result<DeviceSecrets> ReadKeyFile(FileSystem& fs, const std::string& path,
                                                const std::optional<std::string>& passphrase,
                                                bool* sealed);

// Whether the key file at `path` is sealed. Corruption if unreadable.
[[nodiscard]] Result<bool> KeyFileSealed(FileSystem& fs, const std::string& path);

}  // namespace kindred::core

#endif  // KINDRED_ENGINE_CORE_KEYFILE_H_
