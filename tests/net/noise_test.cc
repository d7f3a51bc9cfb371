#include "engine/net/noise.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "kindred/ids.h"

namespace kindred::net::noise {
namespace {

using nlohmann::json;

// Hands out exactly the bytes it was given: fixes ephemeral keys in tests.
class FixedRandom final : public Random {
 public:
  explicit FixedRandom(std::string bytes) : bytes_(std::move(bytes)) {}
  void Fill(uint8_t* out, size_t n) override {
    ASSERT_LE(n, bytes_.size()) << "FixedRandom ran out of bytes";
    std::memcpy(out, bytes_.data(), n);
    bytes_.erase(0, n);
  }

 private:
  std::string bytes_;
};

std::string Unhex(const json& hex) {
  Result<std::string> bytes = FromHex(hex.get<std::string>());
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

crypto::DhKeyPair KeyFromHex(const json& hex) {
  Result<crypto::DhKeyPair> key = crypto::DhKeyPair::FromSecret(Unhex(hex));
  EXPECT_TRUE(key.ok());
  return key.ok() ? *key : crypto::DhKeyPair();
}

crypto::DhKeyPair RandomKey() { return crypto::DhKeyPair::Generate(Env::System().random()); }

// The copied vectors: $KINDRED_SOURCE_DIR (set by ctest) or the working directory.
json LoadVectors() {
  std::filesystem::path path = "tests/net/noise_xx_vectors.json";
  if (const char* source_dir = std::getenv("KINDRED_SOURCE_DIR"); source_dir && *source_dir) {
    path = std::filesystem::path(source_dir) / path;
  }
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path
                  << "; run from the source tree or set KINDRED_SOURCE_DIR";
  return in ? json::parse(in) : json::object();
}

// Runs the whole handshake between two fresh parties with random keys.
struct Pair {
  Pair()
      : initiator_key(RandomKey()),
        responder_key(RandomKey()),
        initiator(Role::kInitiator, "prologue", initiator_key, Env::System().random()),
        responder(Role::kResponder, "prologue", responder_key, Env::System().random()) {}

  // Writes the next message from whichever side's turn it is; the other side reads it.
  Status Exchange(std::string_view payload = "") {
    HandshakeState& writer = initiator.IsMyTurnToWrite() ? initiator : responder;
    HandshakeState& reader = &writer == &initiator ? responder : initiator;
    std::string message;
    KINDRED_RETURN_IF_ERROR(writer.WriteMessage(payload, &message));
    std::string received;
    return reader.ReadMessage(message, &received);
  }

  crypto::DhKeyPair initiator_key;
  crypto::DhKeyPair responder_key;
  HandshakeState initiator;
  HandshakeState responder;
};

class NoiseTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto::Init().ok()); }
};

TEST_F(NoiseTest, EveryCacophonyXxVectorMatchesByteForByte) {
  json document = LoadVectors();
  ASSERT_TRUE(document.contains("vectors"));
  ASSERT_FALSE(document["vectors"].empty());
  for (const json& vector : document["vectors"]) {
    ASSERT_EQ(vector["protocol_name"].get<std::string>(), kProtocolName);
    FixedRandom initiator_random(Unhex(vector["init_ephemeral"]));
    FixedRandom responder_random(Unhex(vector["resp_ephemeral"]));
    const crypto::DhKeyPair initiator_static = KeyFromHex(vector["init_static"]);
    const crypto::DhKeyPair responder_static = KeyFromHex(vector["resp_static"]);
    HandshakeState initiator(Role::kInitiator, Unhex(vector["init_prologue"]), initiator_static,
                             initiator_random);
    HandshakeState responder(Role::kResponder, Unhex(vector["resp_prologue"]), responder_static,
                             responder_random);

    const json& messages = vector["messages"];
    ASSERT_GE(messages.size(), 3u);
    // Handshake messages alternate, starting with the initiator.
    for (size_t i = 0; i < 3; ++i) {
      SCOPED_TRACE("handshake message " + std::to_string(i + 1));
      HandshakeState& writer = i % 2 == 0 ? initiator : responder;
      HandshakeState& reader = i % 2 == 0 ? responder : initiator;
      ASSERT_TRUE(writer.IsMyTurnToWrite());
      std::string message;
      ASSERT_TRUE(writer.WriteMessage(Unhex(messages[i]["payload"]), &message).ok());
      EXPECT_EQ(ToHex(message), messages[i]["ciphertext"].get<std::string>());
      std::string payload;
      ASSERT_TRUE(reader.ReadMessage(message, &payload).ok());
      EXPECT_EQ(ToHex(payload), messages[i]["payload"].get<std::string>());
    }
    ASSERT_TRUE(initiator.IsComplete());
    ASSERT_TRUE(responder.IsComplete());
    EXPECT_EQ(ToHex(initiator.handshake_hash()), vector["handshake_hash"].get<std::string>());
    EXPECT_EQ(ToHex(responder.handshake_hash()), vector["handshake_hash"].get<std::string>());
    EXPECT_EQ(initiator.remote_static_key(), responder_static.public_key);
    EXPECT_EQ(responder.remote_static_key(), initiator_static.public_key);

    // Transport messages keep alternating.
    Result<TransportCiphers> initiator_ciphers = initiator.Split();
    Result<TransportCiphers> responder_ciphers = responder.Split();
    ASSERT_TRUE(initiator_ciphers.ok() && responder_ciphers.ok());
    for (size_t i = 3; i < messages.size(); ++i) {
      SCOPED_TRACE("transport message " + std::to_string(i - 3));
      const bool from_initiator = i % 2 == 0;
      CipherState& sender = from_initiator ? initiator_ciphers->send : responder_ciphers->send;
      CipherState& receiver =
          from_initiator ? responder_ciphers->receive : initiator_ciphers->receive;
      std::string ciphertext;
      ASSERT_TRUE(sender.EncryptWithAd("", Unhex(messages[i]["payload"]), &ciphertext).ok());
      EXPECT_EQ(ToHex(ciphertext), messages[i]["ciphertext"].get<std::string>());
      std::string plaintext;
      ASSERT_TRUE(receiver.DecryptWithAd("", ciphertext, &plaintext).ok());
      EXPECT_EQ(ToHex(plaintext), messages[i]["payload"].get<std::string>());
    }
  }
}

TEST_F(NoiseTest, VectorFileNamesItsSource) {
  json document = LoadVectors();
  ASSERT_TRUE(document.contains("source"));
  EXPECT_NE(document["source"].get<std::string>().find("cacophony"), std::string::npos);
}

TEST_F(NoiseTest, HandshakeWithRandomKeysGivesBothSidesTheSameHashAndEachOthersKeys) {
  Pair pair;
  ASSERT_TRUE(pair.Exchange().ok());
  ASSERT_TRUE(pair.Exchange("responder info").ok());
  EXPECT_EQ(pair.initiator.remote_static_key(), pair.responder_key.public_key);
  EXPECT_TRUE(pair.responder.remote_static_key().empty());
  ASSERT_TRUE(pair.Exchange("initiator info").ok());
  EXPECT_EQ(pair.responder.remote_static_key(), pair.initiator_key.public_key);
  EXPECT_EQ(pair.initiator.handshake_hash(), pair.responder.handshake_hash());

  auto a = pair.initiator.Split();
  auto b = pair.responder.Split();
  ASSERT_TRUE(a.ok() && b.ok());
  std::string ciphertext, plaintext;
  ASSERT_TRUE(a->send.EncryptWithAd("", "to responder", &ciphertext).ok());
  ASSERT_TRUE(b->receive.DecryptWithAd("", ciphertext, &plaintext).ok());
  EXPECT_EQ(plaintext, "to responder");
}

TEST_F(NoiseTest, SplitBeforeTheHandshakeIsCompleteIsRefused) {
  Pair pair;
  ASSERT_TRUE(pair.Exchange().ok());
  EXPECT_EQ(pair.initiator.Split().status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(NoiseTest, WritingOrReadingOutOfTurnIsRefused) {
  Pair pair;
  std::string message, payload;
  EXPECT_EQ(pair.responder.WriteMessage("", &message).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(pair.initiator.ReadMessage(std::string(32, 'x'), &payload).code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(NoiseTest, ATamperedHandshakeMessageFailsAuthenticationAndTheHandshakeStaysFailed) {
  Pair pair;
  ASSERT_TRUE(pair.Exchange().ok());
  std::string message;
  ASSERT_TRUE(pair.responder.WriteMessage("", &message).ok());
  message[40] ^= 0x01;  // inside the encrypted static key
  std::string payload;
  Status status = pair.initiator.ReadMessage(message, &payload);
  EXPECT_EQ(status.code(), StatusCode::kUnauthenticated) << status.ToString();
  EXPECT_NE(status.message().find("handshake message 2"), std::string::npos);
  std::string next;
  EXPECT_EQ(pair.initiator.WriteMessage("", &next).code(), StatusCode::kFailedPrecondition);
}

TEST_F(NoiseTest, ATruncatedHandshakeMessageIsReportedAsTooShort) {
  Pair pair;
  ASSERT_TRUE(pair.Exchange().ok());
  std::string message;
  ASSERT_TRUE(pair.responder.WriteMessage("", &message).ok());
  std::string payload;
  Status status = pair.initiator.ReadMessage(message.substr(0, 50), &payload);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("too short"), std::string::npos) << status.ToString();
}

TEST_F(NoiseTest, AnEphemeralKeyThatIsALowOrderPointIsRejected) {
  // u = 0 and u = 1 are points of small order: X25519 with them is all zeros.
  for (std::string low_order :
       {std::string(32, '\0'), std::string("\x01") + std::string(31, '\0')}) {
    Pair pair;
    std::string payload;
    ASSERT_TRUE(pair.responder.ReadMessage(low_order, &payload).ok());  // `-> e` has no DH
    std::string reply;
    Status status = pair.responder.WriteMessage("", &reply);  // ee fails
    EXPECT_EQ(status.code(), StatusCode::kUnauthenticated) << status.ToString();
    EXPECT_NE(status.message().find("low-order"), std::string::npos);
  }
}

TEST_F(NoiseTest, AHandshakePayloadTooLargeForOneMessageIsRefused) {
  Pair pair;
  std::string message;
  EXPECT_EQ(pair.initiator.WriteMessage(std::string(kMaxMessageBytes, 'p'), &message).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(message.empty());
}

TEST_F(NoiseTest, CipherNonceIsFourZeroBytesThenTheLittleEndianCounter) {
  CipherKey key = CipherKey::Generate(Env::System().random());
  CipherState cipher;
  cipher.InitializeKey(key);
  cipher.SetNonceForTest(0x0102030405060708);
  std::string ours;
  ASSERT_TRUE(cipher.EncryptWithAd("ad", "plaintext", &ours).ok());
  EXPECT_EQ(cipher.nonce(), 0x0102030405060709u);

  const uint8_t nonce[12] = {0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
  std::string expected(9 + kTagBytes, '\0');
  unsigned long long length = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(expected.data()), &length,
                                            reinterpret_cast<const uint8_t*>("plaintext"), 9,
                                            reinterpret_cast<const uint8_t*>("ad"), 2, nullptr,
                                            nonce, key.data());
  EXPECT_EQ(ours, expected);
}

TEST_F(NoiseTest, CipherRefusesToEncryptOrDecryptOnceItsNoncesAreUsedUp) {
  CipherKey key = CipherKey::Generate(Env::System().random());
  CipherState sender, receiver;
  sender.InitializeKey(key);
  receiver.InitializeKey(key);
  const uint64_t last_usable = std::numeric_limits<uint64_t>::max() - 1;
  sender.SetNonceForTest(last_usable);
  receiver.SetNonceForTest(last_usable);
  std::string ciphertext, plaintext;
  ASSERT_TRUE(sender.EncryptWithAd("", "last", &ciphertext).ok());
  ASSERT_TRUE(receiver.DecryptWithAd("", ciphertext, &plaintext).ok());
  EXPECT_EQ(plaintext, "last");

  std::string more;
  EXPECT_EQ(sender.EncryptWithAd("", "one more", &more).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(more.empty());
  EXPECT_EQ(receiver.DecryptWithAd("", ciphertext, &more).code(), StatusCode::kFailedPrecondition);
}

TEST_F(NoiseTest, ReplayedOrReorderedCiphertextFailsBecauseTheNonceHasMovedOn) {
  CipherKey key = CipherKey::Generate(Env::System().random());
  CipherState sender, receiver;
  sender.InitializeKey(key);
  receiver.InitializeKey(key);
  std::string first, second, plaintext;
  ASSERT_TRUE(sender.EncryptWithAd("", "first", &first).ok());
  ASSERT_TRUE(sender.EncryptWithAd("", "second", &second).ok());

  EXPECT_EQ(receiver.DecryptWithAd("", second, &plaintext).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(receiver.nonce(), 0u) << "a failed decryption must not use up a nonce";
  ASSERT_TRUE(receiver.DecryptWithAd("", first, &plaintext).ok());
  EXPECT_EQ(receiver.DecryptWithAd("", first, &plaintext).code(), StatusCode::kUnauthenticated);
  plaintext.clear();
  ASSERT_TRUE(receiver.DecryptWithAd("", second, &plaintext).ok());
  EXPECT_EQ(plaintext, "second");
}

TEST_F(NoiseTest, CipherWithoutAKeyPassesDataThrough) {
  CipherState cipher;
  std::string out;
  ASSERT_TRUE(cipher.EncryptWithAd("ad", "clear", &out).ok());
  EXPECT_EQ(out, "clear");
  out.clear();
  ASSERT_TRUE(cipher.DecryptWithAd("ad", "clear", &out).ok());
  EXPECT_EQ(out, "clear");
}

TEST_F(NoiseTest, MovingACipherStateLeavesTheSourceWithoutAKey) {
  CipherState source;
  source.InitializeKey(CipherKey::Generate(Env::System().random()));
  CipherState target = std::move(source);
  EXPECT_TRUE(target.HasKey());
  EXPECT_FALSE(source.HasKey());  // NOLINT(bugprone-use-after-move): checking the moved-from state
}

}  // namespace
}  // namespace kindred::net::noise
