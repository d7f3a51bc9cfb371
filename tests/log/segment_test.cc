#include "engine/log/segment.h"

#include <gtest/gtest.h>

#include "engine/log/oplog.h"

namespace kindred::log {
namespace {

struct Chain {
  crypto::SymmetricKey key = crypto::SymmetricKey::Generate(Env::System().random());
  crypto::SignKeyPair signer = crypto::SignKeyPair::Generate(Env::System().random());
  SpaceId space{std::array<uint8_t, 16>{1, 2, 3}};
  DeviceId device{std::array<uint8_t, 15>{9, 8, 7}};

  // Ops first..first+n-1 after `prev`, as a stored segment.
  std::string Build(uint64_t first, size_t n, std::string prev, std::string* head = nullptr) {
    SegmentBuilder builder(first, prev);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t seq = first + i;
      v1::OpEnvelope op;
      op.set_hlc(1000 + seq);
      op.set_epoch(1);
      op.set_salt(std::string(kSaltBytes, 's'));
      SealOp(key, space, device, seq, prev, "payload " + std::to_string(seq), &op);
      prev = OpHash(space, device, seq, prev, op);
      builder.Append(op);
    }
    v1::BatchSignature sig;
    sig.set_format(1);
    sig.set_seq(first + n - 1);
    sig.set_head_hash(prev);
    sig.set_signature(crypto::Sign(signer, HeadMessage(space, device, first + n - 1, prev)));
    if (head) *head = prev;
    return builder.Finish(sig);
  }
};

TEST(SegmentTest, TheBuilderWritesAnOpSegmentThatProtobufReads) {
  Chain c;
  std::string bytes = c.Build(5, 3, std::string(32, 'p'));
  v1::OpSegment parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.format(), kSegmentFormat);
  EXPECT_EQ(parsed.first_seq(), 5u);
  EXPECT_EQ(parsed.prev_hash(), std::string(32, 'p'));
  EXPECT_EQ(parsed.ops_size(), 3);
  EXPECT_EQ(parsed.signature().seq(), 7u);
  // Canonical: protobuf writes the same bytes back.
  EXPECT_EQ(parsed.SerializeAsString(), bytes);
}

TEST(SegmentTest, DecodingRebuildsTheChainAndTheSignatureVerifies) {
  Chain c;
  std::string head;
  std::string bytes = c.Build(1, 4, std::string(32, '\0'), &head);
  Segment segment;
  ASSERT_TRUE(DecodeSegment(c.space, c.device, 4, bytes, &segment).ok());
  ASSERT_EQ(segment.ops.size(), 4u);
  EXPECT_EQ(segment.hashes.back(), head);
  EXPECT_TRUE(CheckSegmentSignature(c.signer.public_key, c.space, c.device, segment).ok());
  std::string payload;
  ASSERT_TRUE(OpenOp(c.key, c.space, c.device, 3, segment.PrevHashOf(2), segment.ops[2], &payload).ok());
  EXPECT_EQ(payload, "payload 3");
  // Sent ops carry prev_hash, and open on their own.
  v1::OpEnvelope wire;
  ASSERT_TRUE(wire.ParseFromString(WireOp(segment, 2)));
  EXPECT_EQ(wire.prev_hash(), segment.hashes[1]);
  ASSERT_TRUE(OpenOp(c.key, c.space, c.device, 3, wire, &payload).ok());
  // Encoding again gives the same bytes.
  EXPECT_EQ(EncodeSegment(segment), bytes);
}

TEST(SegmentTest, ASegmentUnderTheWrongKeyOrTruncatedIsRefused) {
  Chain c;
  std::string bytes = c.Build(1, 4, std::string(32, '\0'));
  Segment segment;
  EXPECT_EQ(DecodeSegment(c.space, c.device, 5, bytes, &segment).code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeSegment(c.space, c.device, 3, bytes, &segment).code(), StatusCode::kCorruption);
  v1::OpSegment parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  parsed.mutable_ops()->RemoveLast();
  Status s = DecodeSegment(c.space, c.device, 4, parsed.SerializeAsString(), &segment);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  // Shortened under a matching key, the signature no longer covers its end.
  ASSERT_TRUE(DecodeSegment(c.space, c.device, 3, parsed.SerializeAsString(), &segment).ok());
  EXPECT_EQ(CheckSegmentSignature(c.signer.public_key, c.space, c.device, segment).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(DecodeSegment(c.space, c.device, 4, bytes.substr(0, bytes.size() - 5), &segment).code(),
            StatusCode::kCorruption);
}

TEST(SegmentTest, AStoredOpThatCarriesAPrevHashIsRefused) {
  Chain c;
  v1::OpSegment parsed;
  ASSERT_TRUE(parsed.ParseFromString(c.Build(1, 2, std::string(32, '\0'))));
  v1::OpEnvelope op;
  ASSERT_TRUE(op.ParseFromString(parsed.ops(1)));
  op.set_prev_hash(std::string(32, 'x'));
  *parsed.mutable_ops(1) = op.SerializeAsString();
  Segment segment;
  Status s = DecodeSegment(c.space, c.device, 2, parsed.SerializeAsString(), &segment);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("op 2"), std::string::npos) << s.message();
}

TEST(SegmentTest, ErasingACiphertextKeepsTheChainAndTheSignature) {
  Chain c;
  Segment segment;
  ASSERT_TRUE(DecodeSegment(c.space, c.device, 3, c.Build(1, 3, std::string(32, '\0')), &segment).ok());
  segment.ops[1].clear_ciphertext();
  segment.ops[1].set_purged(true);
  Segment again;
  ASSERT_TRUE(DecodeSegment(c.space, c.device, 3, EncodeSegment(segment), &again).ok());
  EXPECT_EQ(again.hashes, segment.hashes);
  EXPECT_TRUE(CheckSegmentSignature(c.signer.public_key, c.space, c.device, again).ok());
}

TEST(SegmentKeyTest, KeysSortBySeqAndParseBack) {
  Chain c;
  EXPECT_LT(SegmentKey(c.space, c.device, 255), SegmentKey(c.space, c.device, 256));
  std::string key = SegmentKey(c.space, c.device, 1234);
  uint64_t last = 0;
  ASSERT_TRUE(ParseSegmentKey(key, SegmentPrefix(c.space, c.device).size(), &last).ok());
  EXPECT_EQ(last, 1234u);
  EXPECT_EQ(ParseSegmentKey(key + "x", SegmentPrefix(c.space, c.device).size(), &last).code(),
            StatusCode::kCorruption);
}

}  // namespace
}  // namespace kindred::log
