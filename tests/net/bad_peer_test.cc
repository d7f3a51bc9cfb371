// SecureChannel facing a misbehaving peer over loopback TCP. Every case must
// end in a clean close with a specific error, never a crash, hang or
// exception. The bad peer is a RawPeer: it runs a correct handshake with the
// Noise layer directly and then writes whatever the test wants.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "engine/net/secure_channel.h"
#include "tests/net/channel_test_util.h"

namespace kindred::net {
namespace {

using namespace std::chrono_literals;
using testing::AcceptAnyone;
using testing::AcceptChannel;
using testing::EventLoop;
using testing::FastOptions;
using testing::LengthPrefix;
using testing::MessageRecord;
using testing::NewKey;
using testing::RawPeer;
using testing::tcp;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// A server that accepts one connection, handshakes as responder and then
// receives messages until something fails. Records what happened.
class BadPeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init().ok());
    std::optional<tcp::acceptor> acceptor = testing::Listen(loop_.io(), "127.0.0.1");
    ASSERT_TRUE(acceptor.has_value());
    acceptor_.emplace(std::move(*acceptor));
  }

  void StartServer(ChannelOptions options = FastOptions()) {
    loop_.Spawn([this, options]() -> asio::awaitable<void> {
      tcp::socket socket = co_await testing::Accept(*acceptor_);
      const Clock::time_point start = Clock::now();
      auto channel =
          co_await SecureChannel::Handshake(std::move(socket), Role::kResponder, server_key_,
                                            Env::System().random(), AcceptAnyone(), options);
      handshake_ = channel.status();
      if (channel.ok()) {
        for (;;) {
          Result<std::string> message = co_await (*channel)->Receive();
          if (!message.ok()) {
            error_ = message.status();
            break;
          }
          received_.push_back(std::move(*message));
        }
      } else {
        error_ = channel.status();
      }
      failed_after_ = Clock::now() - start;
    });
  }

  // Connects a RawPeer and runs `script` with it.
  template <typename Script>
  void StartRawClient(Script script) {
    loop_.Spawn([this, script]() -> asio::awaitable<void> {
      RawPeer peer(co_await testing::Connect(acceptor_->local_endpoint()));
      co_await script(peer);
    });
  }

  // Starts a RawPeer that completes the handshake and then runs `script`.
  template <typename Script>
  void StartHandshakenRawClient(Script script) {
    StartRawClient([this, script](RawPeer& peer) -> asio::awaitable<void> {
      Status status = co_await peer.HandshakeAsInitiator(client_key_);
      EXPECT_TRUE(status.ok()) << status.ToString();
      if (status.ok()) co_await script(peer);
    });
  }

  // Expects the server to have ended with `code` and a message containing `text`.
  void ExpectServerError(StatusCode code, std::string_view text) {
    EXPECT_EQ(error_.code(), code) << error_.ToString();
    EXPECT_NE(error_.message().find(text), std::string::npos) << error_.ToString();
  }

  EventLoop loop_;
  std::optional<tcp::acceptor> acceptor_;
  crypto::DhKeyPair server_key_ = NewKey();
  crypto::DhKeyPair client_key_ = NewKey();

  Status handshake_ = Status::Internal("the server never finished its handshake");
  std::vector<std::string> received_;
  Status error_ = Status::Internal("the server never failed");
  Clock::duration failed_after_{};
};

// The peer reads the server's close record and checks its code.
asio::awaitable<void> ExpectCloseRecord(RawPeer& peer, wire::CloseCode code, std::string text) {
  Result<std::string> record = co_await peer.ReadRecord();
  EXPECT_TRUE(record.ok()) << record.status().ToString();
  if (!record.ok()) co_return;
  Result<wire::Record> parsed = wire::ParseRecord(*record);
  EXPECT_TRUE(parsed.ok() && parsed->type == wire::RecordType::kClose);
  if (!parsed.ok() || parsed->type != wire::RecordType::kClose) co_return;
  Result<wire::CloseNotice> notice = wire::ParseClose(parsed->body);
  EXPECT_TRUE(notice.ok() && notice->code == code);
  if (notice.ok()) {
    EXPECT_NE(notice->reason.find(text), std::string::npos) << notice->reason;
  }
  Result<std::string> after = co_await peer.ReadFrame();
  EXPECT_FALSE(after.ok()) << "the server kept the connection open";
}

// ---------------------------------------------------------------------------
// After the handshake

TEST_F(BadPeerTest, GarbageAfterTheHandshakeFailsAuthenticationAndThePeerIsTold) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(LengthPrefix(40) + std::string(40, '\x5a'));
    co_await ExpectCloseRecord(peer, wire::CloseCode::kProtocolError, "failed authentication");
  });
  loop_.Run();

  EXPECT_TRUE(handshake_.ok()) << handshake_.ToString();
  ExpectServerError(StatusCode::kUnauthenticated,
                    "transport message 0 from the peer failed authentication");
}

TEST_F(BadPeerTest, AReplayedTransportMessageFailsBecauseTheNonceHasMovedOn) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    const std::string sealed = peer.Seal(MessageRecord(5, "hello"));
    co_await peer.Write(sealed);
    co_await peer.Write(sealed);
  });
  loop_.Run();

  EXPECT_EQ(received_, std::vector<std::string>{"hello"});
  ExpectServerError(StatusCode::kUnauthenticated, "replayed or reordered");
  EXPECT_NE(error_.message().find("transport message 1"), std::string::npos) << error_.ToString();
}

TEST_F(BadPeerTest, ReorderedTransportMessagesFailBecauseTheNonceDoesNotMatch) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    const std::string first = peer.Seal(MessageRecord(5, "first"));
    const std::string second = peer.Seal(MessageRecord(6, "second"));
    co_await peer.Write(second + first);
  });
  loop_.Run();

  EXPECT_TRUE(received_.empty());
  ExpectServerError(StatusCode::kUnauthenticated, "transport message 0 from the peer failed");
}

TEST_F(BadPeerTest, AFrameCutShortByEndOfStreamIsReportedAsTruncated) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(LengthPrefix(100) + std::string(10, 'x'));
    peer.ShutdownSend();
    co_return;
  });
  loop_.Run();

  ExpectServerError(StatusCode::kUnavailable,
                    "connection ended in the middle of a frame (the next message): received 10 "
                    "of the 100 bytes of its body");
}

TEST_F(BadPeerTest, EndOfStreamBetweenTheFramesOfASplitMessageIsReported) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(peer.Seal(MessageRecord(100000, std::string(1000, 'x'))));
    peer.ShutdownSend();
  });
  loop_.Run();

  ExpectServerError(StatusCode::kUnavailable,
                    "peer closed the connection while we waited for the rest of a message");
}

TEST_F(BadPeerTest, ALengthPrefixTooShortForATransportMessageIsRejected) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(LengthPrefix(5) + "short");
    co_await ExpectCloseRecord(peer, wire::CloseCode::kProtocolError, "must be between 17");
  });
  loop_.Run();

  ExpectServerError(StatusCode::kCorruption, "of 5 bytes; it must be between 17 and 65535");
}

TEST_F(BadPeerTest, AMessageAnnouncedOverTheCapIsRejectedBeforeItIsBuffered) {
  ChannelOptions options = FastOptions();
  options.max_message_bytes = 4096;
  StartServer(options);
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    // Only the header arrives: the cap must be checked before waiting for the rest.
    co_await peer.Write(peer.Seal(MessageRecord(4097, "x")));
    co_await ExpectCloseRecord(peer, wire::CloseCode::kProtocolError, "over the limit of 4096");
  });
  loop_.Run();

  ExpectServerError(StatusCode::kCorruption,
                    "peer announced a message of 4097 bytes, over the limit of 4096");
  EXPECT_LT(failed_after_, 150ms) << "the server waited for data it should have refused";
}

TEST_F(BadPeerTest, AnUnknownRecordTypeIsSkippedSoTheProtocolCanGrow) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(peer.Seal(std::string("\x7f") + "from the future"));
    co_await peer.Write(peer.Seal(MessageRecord(2, "ok")));
    peer.ShutdownSend();
  });
  loop_.Run();

  EXPECT_EQ(received_, std::vector<std::string>{"ok"});
  ExpectServerError(StatusCode::kUnavailable, "peer closed the connection");
}

// ---------------------------------------------------------------------------
// During the handshake

TEST_F(BadPeerTest, AnOversizedHandshakeLengthPrefixIsRejectedWithoutWaitingForTheBody) {
  ChannelOptions patient = FastOptions();
  patient.idle_timeout = 5s;
  StartServer(patient);
  StartRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(LengthPrefix(65535));
    Result<std::string> reply = co_await peer.ReadFrame();
    EXPECT_FALSE(reply.ok()) << "the server answered an invalid handshake";
  });
  loop_.Run();

  ExpectServerError(StatusCode::kCorruption,
                    "length prefix announces handshake message 1 of 65535 bytes; it must be 32");
  EXPECT_LT(failed_after_, 1s);
}

TEST_F(BadPeerTest, AFirstHandshakeMessageWithAPayloadIsRejected) {
  StartServer();
  StartRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(LengthPrefix(40) + std::string(40, 'e'));
    co_return;
  });
  loop_.Run();

  ExpectServerError(StatusCode::kCorruption, "handshake message 1 of 40 bytes; it must be 32");
}

TEST_F(BadPeerTest, AHandshakeMessageCutShortByEndOfStreamIsReportedAsTruncated) {
  StartServer();
  StartRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(LengthPrefix(32) + std::string(5, 'e'));
    peer.ShutdownSend();
  });
  loop_.Run();

  ExpectServerError(StatusCode::kUnavailable,
                    "middle of a frame (handshake message 1): received 5 of the 32 bytes");
}

TEST_F(BadPeerTest, GarbageInPlaceOfTheThirdHandshakeMessageFailsAuthentication) {
  StartServer();
  StartRawClient([this](RawPeer& peer) -> asio::awaitable<void> {
    noise::HandshakeState handshake(Role::kInitiator, wire::kPrologue, client_key_,
                                    Env::System().random());
    std::string message;
    EXPECT_TRUE(handshake.WriteMessage("", &message).ok());
    co_await peer.Write(LengthPrefix(message.size()) + message);
    Result<std::string> reply = co_await peer.ReadFrame();
    EXPECT_TRUE(reply.ok());
    co_await peer.Write(LengthPrefix(64) + std::string(64, 'g'));
  });
  loop_.Run();

  ExpectServerError(StatusCode::kUnauthenticated, "handshake message 3: peer's static key");
}

TEST_F(BadPeerTest, APeerWithADifferentPrologueCannotCompleteTheHandshake) {
  StartServer();
  StartRawClient([this](RawPeer& peer) -> asio::awaitable<void> {
    noise::HandshakeState handshake(Role::kInitiator, "kindred/2", client_key_,
                                    Env::System().random());
    std::string message;
    EXPECT_TRUE(handshake.WriteMessage("", &message).ok());
    co_await peer.Write(LengthPrefix(message.size()) + message);
    Result<std::string> reply = co_await peer.ReadFrame();
    EXPECT_TRUE(reply.ok());
    std::string payload;
    EXPECT_EQ(handshake.ReadMessage(*reply, &payload).code(), StatusCode::kUnauthenticated);
  });
  loop_.Run();

  // The initiator gives up after message 2; the server sees it hang up.
  ExpectServerError(StatusCode::kUnavailable, "while we waited for handshake message 3");
}

// ---------------------------------------------------------------------------
// Stalling

TEST_F(BadPeerTest, APeerThatStallsMidHandshakeIsDisconnectedAfterTheIdleTimeout) {
  StartServer();
  StartRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(LengthPrefix(32) + std::string(10, 'e'));  // and then nothing
    Result<std::string> reply = co_await peer.ReadFrame();
    EXPECT_FALSE(reply.ok());  // the server hung up
  });
  loop_.Run();

  ExpectServerError(StatusCode::kUnavailable,
                    "peer stalled: no progress on handshake message 1 within the idle timeout of "
                    "200 ms");
  EXPECT_GE(failed_after_, 190ms);
  EXPECT_LT(failed_after_, 2s);
}

TEST_F(BadPeerTest, AResponderThatNeverAnswersIsDisconnectedAfterTheIdleTimeout) {
  std::optional<Result<testing::ChannelPtr>> client;
  loop_.Spawn([this]() -> asio::awaitable<void> {
    RawPeer silent(co_await testing::Accept(*acceptor_));
    Result<std::string> first = co_await silent.ReadFrame();
    EXPECT_TRUE(first.ok());
    Result<std::string> end = co_await silent.ReadFrame();  // waits for the client to give up
    EXPECT_FALSE(end.ok());
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    client = co_await testing::ConnectChannel(acceptor_->local_endpoint(), client_key_,
                                              AcceptAnyone(), FastOptions());
  });
  loop_.Run();

  ASSERT_TRUE(client.has_value());
  EXPECT_EQ(client->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(client->status().message().find("stalled: no progress on handshake message 2"),
            std::string::npos)
      << client->status().ToString();
}

TEST_F(BadPeerTest, APeerThatStallsMidFrameIsDisconnectedAfterTheIdleTimeout) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    const std::string sealed = peer.Seal(MessageRecord(5, "hello"));
    co_await peer.Write(sealed.substr(0, 10));  // and then nothing
    Result<std::string> end = co_await peer.ReadFrame();
    EXPECT_FALSE(end.ok());
  });
  loop_.Run();

  ExpectServerError(StatusCode::kUnavailable, "peer stalled: no progress on the next message");
}

TEST_F(BadPeerTest, APeerThatStallsBetweenTheFramesOfAMessageIsDisconnected) {
  StartServer();
  StartHandshakenRawClient([](RawPeer& peer) -> asio::awaitable<void> {
    co_await peer.Write(peer.Seal(MessageRecord(100000, std::string(1000, 'x'))));
    Result<std::string> end = co_await peer.ReadFrame();  // and then nothing
    EXPECT_FALSE(end.ok());
  });
  loop_.Run();

  ExpectServerError(StatusCode::kUnavailable, "peer stalled: no progress on the rest of a message");
  EXPECT_LT(failed_after_, 2s);
}

}  // namespace
}  // namespace kindred::net
