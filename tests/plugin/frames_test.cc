// The frames between the plugin host and a runner (engine/plugin/frames.h):
// what is written is read back whole, a header is checked before anything
// is allocated for its payload, and a peer that is silent, gone or speaking
// nonsense ends a read or write without blocking or raising SIGPIPE.
#include "engine/plugin/frames.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace kindred::plugin::frames {
namespace {

class FramesTest : public ::testing::Test {
 protected:
  FramesTest() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0); }
  ~FramesTest() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  static Deadline Soon() { return std::chrono::steady_clock::now() + std::chrono::milliseconds(50); }
  void Send(const std::string& raw) {
    ASSERT_EQ(write(fds_[1], raw.data(), raw.size()), static_cast<ssize_t>(raw.size()));
  }
  int fds_[2] = {-1, -1};
};

TEST_F(FramesTest, AFrameIsReadBackWithItsKindCodeAndPayload) {
  const std::string payload(100000, 'x');  // larger than one socket buffer fill
  std::thread writer([&] {
    EXPECT_EQ(WriteFrame(fds_[1], Frame{FrameKind::kResult, 4, payload}, std::nullopt),
              IoResult::kOk);
  });
  Frame f;
  EXPECT_EQ(ReadFrame(fds_[0], kDefaultMaxPayloadBytes, std::nullopt, &f), IoResult::kOk);
  writer.join();
  EXPECT_EQ(f.kind, FrameKind::kResult);
  EXPECT_EQ(f.code, 4u);
  EXPECT_EQ(f.payload, payload);
}

TEST_F(FramesTest, TheEncodingIsLengthKindCodeThenPayloadLittleEndian) {
  EXPECT_EQ(Encode(Frame{FrameKind::kCall, 0x01020304, "ab"}),
            std::string("\x07\x00\x00\x00\x03\x04\x03\x02\x01"
                        "ab",
                        11));
}

TEST_F(FramesTest, AFrameLongerThanTheLimitIsRefusedFromItsHeaderAlone) {
  Send(std::string("\x05\x00\x00\x40\x04\x00\x00\x00\x00", 9));  // claims 1 GiB
  Frame f;
  uint64_t claimed = 0;
  EXPECT_EQ(ReadFrame(fds_[0], 1024, Soon(), &f, &claimed), IoResult::kTooLarge);
  EXPECT_EQ(claimed, (uint64_t{1} << 30));
  EXPECT_TRUE(f.payload.empty());
}

TEST_F(FramesTest, AFrameOfAnUnknownKindOrShorterThanItsHeaderIsMalformed) {
  Frame f;
  Send(std::string("\x05\x00\x00\x00\x63\x00\x00\x00\x00", 9));
  EXPECT_EQ(ReadFrame(fds_[0], 1024, Soon(), &f), IoResult::kMalformed);
  Send(std::string("\x02\x00\x00\x00\x04\x00\x00\x00\x00", 9));
  EXPECT_EQ(ReadFrame(fds_[0], 1024, Soon(), &f), IoResult::kMalformed);
}

TEST_F(FramesTest, ASilentPeerEndsAReadAtTheDeadline) {
  Frame f;
  Send(std::string("\x09\x00\x00", 3));  // half a header, then nothing
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadFrame(fds_[0], 1024, Soon(), &f), IoResult::kTimedOut);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(FramesTest, APeerThatIsGoneIsClosedForReadsAndWritesWithoutSigpipe) {
  close(fds_[1]);
  fds_[1] = -1;
  Frame f;
  EXPECT_EQ(ReadFrame(fds_[0], 1024, Soon(), &f), IoResult::kClosed);
  EXPECT_EQ(WriteFrame(fds_[0], Frame{FrameKind::kCall, 4, "x"}, Soon()), IoResult::kClosed);
}

TEST_F(FramesTest, AWriteToAPeerThatNeverReadsEndsAtTheDeadline) {
  const std::string big(8 << 20, 'x');  // more than the socket can buffer
  EXPECT_EQ(WriteFrame(fds_[0], Frame{FrameKind::kCall, 4, big}, Soon()), IoResult::kTimedOut);
}

}  // namespace
}  // namespace kindred::plugin::frames
