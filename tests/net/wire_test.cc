#include "engine/net/wire.h"

#include <gtest/gtest.h>

#include <vector>

namespace kindred::net::wire {
namespace {

std::vector<std::string> Split(std::string_view message) {
  std::vector<std::string> records;
  for (MessageSplitter splitter(message); !splitter.done();) records.push_back(splitter.Next());
  return records;
}

std::string MessageRecord(uint32_t announced, std::string_view chunk) {
  std::string record(1, static_cast<char>(RecordType::kMessage));
  for (int shift = 24; shift >= 0; shift -= 8)
    record.push_back(static_cast<char>(announced >> shift));
  record.append(chunk);
  return record;
}

std::string ContinuationRecord(std::string_view chunk) {
  return static_cast<char>(RecordType::kContinuation) + std::string(chunk);
}

Result<bool> Add(MessageAssembler& assembler, const std::string& record) {
  Result<Record> parsed = ParseRecord(record);
  if (!parsed.ok()) return parsed.status();
  return assembler.Add(*parsed);
}

TEST(FrameTest, LengthPrefixIsTwoBytesBigEndian) {
  std::string frame;
  AppendFrame(std::string(0x0102, 'x'), &frame);
  ASSERT_EQ(frame.size(), 2u + 0x0102);
  EXPECT_EQ(frame[0], '\x01');
  EXPECT_EQ(frame[1], '\x02');
  for (size_t length : {size_t{0}, size_t{1}, size_t{255}, size_t{256}, noise::kMaxMessageBytes}) {
    std::string framed;
    AppendFrame(std::string(length, 'y'), &framed);
    EXPECT_EQ(DecodeLengthPrefix(std::string_view(framed).substr(0, 2)), length);
  }
}

TEST(FrameTest, HandshakeSizeLimitsFollowFromTheXxPattern) {
  EXPECT_EQ(kHandshakeMessage1Bytes, 32u);
  EXPECT_EQ(kMinHandshakeMessage2Bytes, 32u + 48u + 16u);
  EXPECT_EQ(kMinHandshakeMessage3Bytes, 48u + 16u);
  EXPECT_LE(kMaxHandshakeMessage2Bytes, noise::kMaxMessageBytes);
}

TEST(SplitterTest, AnEmptyMessageIsOneRecordAnnouncingZeroBytes) {
  std::vector<std::string> records = Split("");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], MessageRecord(0, ""));
}

TEST(SplitterTest, EveryRecordFitsOneTransportMessageAndTheyFillItExactly) {
  const std::string fits(kMaxFirstChunkBytes, 'a');
  ASSERT_EQ(Split(fits).size(), 1u);
  EXPECT_EQ(Split(fits)[0].size(), noise::kMaxPlaintextBytes);

  const std::string message(kMaxFirstChunkBytes + 2 * kMaxContinuationChunkBytes + 1, 'b');
  std::vector<std::string> records = Split(message);
  ASSERT_EQ(records.size(), 4u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(records[i].size(), noise::kMaxPlaintextBytes);
  EXPECT_EQ(records[3], ContinuationRecord("b"));
}

TEST(AssemblerTest, ReassemblesWhatTheSplitterCut) {
  std::string message;
  for (size_t i = 0; i < 3 * noise::kMaxPlaintextBytes; ++i)
    message.push_back(static_cast<char>(i * 7));
  MessageAssembler assembler(kDefaultMaxMessageBytes);
  std::vector<std::string> records = Split(message);
  for (size_t i = 0; i < records.size(); ++i) {
    Result<bool> complete = Add(assembler, records[i]);
    ASSERT_TRUE(complete.ok()) << complete.status().ToString();
    EXPECT_EQ(*complete, i + 1 == records.size());
  }
  EXPECT_EQ(assembler.TakeMessage(), message);
  EXPECT_FALSE(assembler.in_progress());
}

TEST(AssemblerTest, AnnouncedLengthOverTheCapIsRejectedBeforeAnythingIsBuffered) {
  MessageAssembler assembler(1000);
  Result<bool> complete = Add(assembler, MessageRecord(1001, "x"));
  ASSERT_FALSE(complete.ok());
  EXPECT_EQ(complete.status().code(), StatusCode::kCorruption);
  EXPECT_NE(complete.status().message().find("over the limit of 1000"), std::string::npos);
  EXPECT_FALSE(assembler.in_progress());
  EXPECT_TRUE(Add(assembler, MessageRecord(1000, std::string(1000, 'x'))).ok());
}

TEST(AssemblerTest, OutOfOrderOrOverlongRecordsAreProtocolErrors) {
  struct Case {
    const char* what;
    std::vector<std::string> records;
  };
  const std::vector<Case> cases = {
      {"continuation without a message", {ContinuationRecord("x")}},
      {"a message inside a message", {MessageRecord(10, "ab"), MessageRecord(1, "c")}},
      {"a chunk past the announced length", {MessageRecord(3, "ab"), ContinuationRecord("cd")}},
      {"a first chunk past the announced length", {MessageRecord(1, "ab")}},
      {"an empty continuation", {MessageRecord(3, "ab"), ContinuationRecord("")}},
      {"an empty first chunk of a non-empty message", {MessageRecord(3, "")}},
      {"a message header cut short", {std::string("\x02\x00\x00", 3)}},
      {"an empty record", {std::string()}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    MessageAssembler assembler(kDefaultMaxMessageBytes);
    Status last;
    for (const std::string& record : c.records) {
      Result<bool> complete = Add(assembler, record);
      last = complete.status();
      if (!last.ok()) break;
    }
    EXPECT_EQ(last.code(), StatusCode::kCorruption) << last.ToString();
  }
}

TEST(CloseRecordTest, CarriesACodeAndASanitisedReasonOfBoundedLength) {
  std::string record = EncodeClose(CloseCode::kRejected, std::string(500, 'r'));
  Result<Record> parsed = ParseRecord(record);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->type, RecordType::kClose);
  Result<CloseNotice> notice = ParseClose(parsed->body);
  ASSERT_TRUE(notice.ok());
  EXPECT_EQ(notice->code, CloseCode::kRejected);
  EXPECT_EQ(notice->reason, std::string(kMaxCloseReasonBytes, 'r'));

  Result<CloseNotice> odd =
      ParseClose(std::string("\x02"
                             "bad\n\x01\xff",
                             7));
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->reason, "bad???");
  EXPECT_FALSE(ParseClose("").ok());
}

TEST(PrologueTest, NamesTheProtocolAndItsVersion) { EXPECT_EQ(kPrologue, "kindred/1"); }

}  // namespace
}  // namespace kindred::net::wire
