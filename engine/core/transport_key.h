// The device's transport key for engine components that open encrypted
// channels (sync). Internal: the public API never hands out secret keys.
#ifndef KINDRED_ENGINE_CORE_TRANSPORT_KEY_H_
#define KINDRED_ENGINE_CORE_TRANSPORT_KEY_H_

#include "engine/crypto/crypto.h"
#include "kindred/engine.h"
#include "kindred/result.h"

namespace kindred::core {

// A copy of the X25519 key pair of the device `engine` opened (the static
// key of the Noise handshake); it wipes itself. InvalidArgument if `engine`
// is not this library's engine. Never log or store it.
[[nodiscard]] Result<crypto::DhKeyPair> TransportKeyPair(const Engine& engine);

// The context every pairing certificate signature starts with.
inline constexpr std::string_view kPairingCertificateContext = "kindred/pair-cert/1";

// Signs kPairingCertificateContext | `body` with the Ed25519 key of the
// device `engine` opened (pairing's device certificates). The fixed prefix
// keeps the signature from standing for anything else the key signs (log
// heads, grants). InvalidArgument if `engine` is not this library's engine.
[[nodiscard]] Result<std::string> SignPairingCertificate(const Engine& engine,
                                                         std::string_view body);

}  // namespace kindred::core

#endif  // KINDRED_ENGINE_CORE_TRANSPORT_KEY_H_
