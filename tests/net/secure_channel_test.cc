// SecureChannel between two well-behaved peers over loopback TCP: the
// handshake, message exchange and splitting, rejection, closing, timeouts
// that must not fire, and IPv6.
#include "engine/net/secure_channel.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/net/channel_test_util.h"

namespace kindred::net {
namespace {

using namespace std::chrono_literals;
using testing::AcceptAnyone;
using testing::AcceptChannel;
using testing::AcceptOnly;
using testing::ChannelPtr;
using testing::ConnectChannel;
using testing::EventLoop;
using testing::FastOptions;
using testing::NewKey;
using testing::tcp;
namespace asio = boost::asio;

// A message whose every byte depends on its position, so a misplaced chunk shows.
std::string PatternedMessage(size_t size, char seed) {
  std::string message(size, '\0');
  for (size_t i = 0; i < size; ++i) message[i] = static_cast<char>(seed + i * 31 + (i >> 16));
  return message;
}

class SecureChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init().ok());
    std::optional<tcp::acceptor> acceptor = testing::Listen(loop_.io(), "127.0.0.1");
    ASSERT_TRUE(acceptor.has_value());
    acceptor_.emplace(std::move(*acceptor));
  }

  tcp::endpoint endpoint() const { return acceptor_->local_endpoint(); }

  EventLoop loop_;
  std::optional<tcp::acceptor> acceptor_;
  crypto::DhKeyPair server_key_ = NewKey();
  crypto::DhKeyPair client_key_ = NewKey();
};

TEST_F(SecureChannelTest, TwoPeersHandshakeLearnEachOthersKeyAndPayloadAndExchangeMessages) {
  std::optional<Result<ChannelPtr>> server, client;
  std::string server_received, client_received;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    server = co_await AcceptChannel(*acceptor_, server_key_, AcceptOnly(client_key_.public_key),
                                    FastOptions("server v1"));
    if (!server->ok()) co_return;
    Result<std::string> message = co_await (**server)->Receive();
    EXPECT_TRUE(message.ok()) << message.status().ToString();
    if (message.ok()) server_received = *message;
    EXPECT_TRUE((co_await (**server)->Send("hello, client")).ok());
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    client = co_await ConnectChannel(endpoint(), client_key_, AcceptOnly(server_key_.public_key),
                                     FastOptions("client v1"));
    if (!client->ok()) co_return;
    EXPECT_TRUE((co_await (**client)->Send("hello, server")).ok());
    Result<std::string> message = co_await (**client)->Receive();
    EXPECT_TRUE(message.ok()) << message.status().ToString();
    if (message.ok()) client_received = *message;
  });
  loop_.Run();

  ASSERT_TRUE(server.has_value() && client.has_value());
  ASSERT_TRUE(server->ok()) << server->status().ToString();
  ASSERT_TRUE(client->ok()) << client->status().ToString();
  const SecureChannel& s = ***server;
  const SecureChannel& c = ***client;
  EXPECT_EQ(server_received, "hello, server");
  EXPECT_EQ(client_received, "hello, client");
  EXPECT_EQ(s.remote_static_key(), client_key_.public_key);
  EXPECT_EQ(c.remote_static_key(), server_key_.public_key);
  EXPECT_EQ(s.remote_payload(), "client v1");
  EXPECT_EQ(c.remote_payload(), "server v1");
  EXPECT_EQ(s.handshake_hash().size(), 32u);
  EXPECT_EQ(s.handshake_hash(), c.handshake_hash());
  EXPECT_EQ(s.role(), Role::kResponder);
  EXPECT_EQ(c.role(), Role::kInitiator);
}

TEST_F(SecureChannelTest, MessagesLargerThanOneTransportMessageAreSplitAndReassembled) {
  const std::vector<size_t> sizes = {0,
                                     1,
                                     wire::kMaxFirstChunkBytes,
                                     wire::kMaxFirstChunkBytes + 1,
                                     wire::kMaxFirstChunkBytes + wire::kMaxContinuationChunkBytes,
                                     (size_t{3} << 20) + 7};
  std::vector<std::string> to_server, to_client;
  for (size_t size : sizes) {
    to_server.push_back(PatternedMessage(size, 'a'));
    to_client.push_back(PatternedMessage(size, 'z'));
  }
  std::vector<std::string> server_got, client_got;
  // Each side sends and receives at the same time: the channel is full duplex.
  auto pump = [&](SecureChannel& channel, const std::vector<std::string>& out,
                  std::vector<std::string>& in) {
    loop_.Spawn([&channel, &out]() -> asio::awaitable<void> {
      for (const std::string& message : out) {
        Status status = co_await channel.Send(message);
        EXPECT_TRUE(status.ok()) << status.ToString();
      }
    });
    loop_.Spawn([&channel, &out, &in]() -> asio::awaitable<void> {
      while (in.size() < out.size()) {
        Result<std::string> message = co_await channel.Receive();
        EXPECT_TRUE(message.ok()) << message.status().ToString();
        if (!message.ok()) co_return;
        in.push_back(std::move(*message));
      }
    });
  };
  ChannelPtr server, client;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto result = co_await AcceptChannel(*acceptor_, server_key_, AcceptAnyone(), FastOptions());
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (!result.ok()) co_return;
    server = std::move(*result);
    pump(*server, to_client, server_got);
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto result = co_await ConnectChannel(endpoint(), client_key_, AcceptAnyone(), FastOptions());
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (!result.ok()) co_return;
    client = std::move(*result);
    pump(*client, to_server, client_got);
  });
  loop_.Run();

  ASSERT_EQ(server_got.size(), to_server.size());
  ASSERT_EQ(client_got.size(), to_client.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_TRUE(server_got[i] == to_server[i]) << "message " << i << " of " << sizes[i] << " bytes";
    EXPECT_TRUE(client_got[i] == to_client[i]) << "message " << i << " of " << sizes[i] << " bytes";
  }
}

TEST_F(SecureChannelTest, SendingAMessageOverTheCapFailsWithoutClosingTheChannel) {
  ChannelOptions options = FastOptions();
  options.max_message_bytes = 1000;
  Status too_big;
  std::optional<Result<std::string>> received;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto server = co_await AcceptChannel(*acceptor_, server_key_, AcceptAnyone(), options);
    if (!server.ok()) co_return;
    received = co_await (*server)->Receive();
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto client = co_await ConnectChannel(endpoint(), client_key_, AcceptAnyone(), options);
    if (!client.ok()) co_return;
    too_big = co_await (*client)->Send(std::string(1001, 'x'));
    EXPECT_TRUE((*client)->is_open());
    EXPECT_TRUE((co_await (*client)->Send(std::string(1000, 'y'))).ok());
  });
  loop_.Run();

  EXPECT_EQ(too_big.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.message().find("over the limit of 1000"), std::string::npos);
  ASSERT_TRUE(received.has_value());
  ASSERT_TRUE(received->ok()) << received->status().ToString();
  EXPECT_EQ(**received, std::string(1000, 'y'));
}

TEST_F(SecureChannelTest, AnUnknownStaticKeyIsRejectedAndTheServerKeepsServingOthers) {
  const crypto::DhKeyPair stranger_key = NewKey();
  std::vector<Status> server_results;
  std::optional<Result<ChannelPtr>> stranger, friend_;
  std::string friend_said;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto channel = co_await AcceptChannel(*acceptor_, server_key_,
                                            AcceptOnly(client_key_.public_key), FastOptions());
      server_results.push_back(channel.status());
      if (channel.ok()) {
        Result<std::string> message = co_await (*channel)->Receive();
        if (message.ok()) friend_said = *message;
      }
    }
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    stranger = co_await ConnectChannel(endpoint(), stranger_key, AcceptAnyone(), FastOptions());
    friend_ = co_await ConnectChannel(endpoint(), client_key_, AcceptAnyone(), FastOptions());
    if (friend_->ok()) {
      EXPECT_TRUE((co_await (**friend_)->Send("it's me")).ok());
    }
  });
  loop_.Run();

  ASSERT_EQ(server_results.size(), 2u);
  EXPECT_EQ(server_results[0].code(), StatusCode::kPermissionDenied);
  EXPECT_NE(
      server_results[0].message().find("we rejected the initiator's static key: unknown device"),
      std::string::npos)
      << server_results[0].ToString();
  ASSERT_TRUE(stranger.has_value());
  EXPECT_EQ(stranger->status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(stranger->status().message().find("does not accept our static key"), std::string::npos)
      << stranger->status().ToString();

  EXPECT_TRUE(server_results[1].ok()) << server_results[1].ToString();
  ASSERT_TRUE(friend_.has_value() && friend_->ok());
  EXPECT_EQ(friend_said, "it's me");
}

TEST_F(SecureChannelTest, AnInitiatorThatRejectsTheResponderHangsUpBeforeRevealingItsKey) {
  std::optional<Result<ChannelPtr>> server, client;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    server = co_await AcceptChannel(*acceptor_, server_key_, AcceptAnyone(), FastOptions());
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    client =
        co_await ConnectChannel(endpoint(), client_key_, AcceptOnly("someone else"), FastOptions());
  });
  loop_.Run();

  ASSERT_TRUE(client.has_value() && server.has_value());
  EXPECT_EQ(client->status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(client->status().message().find("we rejected the responder's static key"),
            std::string::npos)
      << client->status().ToString();
  EXPECT_EQ(server->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(server->status().message().find("closed the connection while we waited for handshake "
                                            "message 3"),
            std::string::npos)
      << server->status().ToString();
}

TEST_F(SecureChannelTest, ClosingSaysGoodbyeAndLaterOperationsFailWithTheSameError) {
  std::optional<Result<std::string>> server_received;
  Status server_send_after, client_send_after;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto server = co_await AcceptChannel(*acceptor_, server_key_, AcceptAnyone(), FastOptions());
    if (!server.ok()) co_return;
    server_received = co_await (*server)->Receive();
    EXPECT_FALSE((*server)->is_open());
    server_send_after = co_await (*server)->Send("too late");
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto client = co_await ConnectChannel(endpoint(), client_key_, AcceptAnyone(), FastOptions());
    if (!client.ok()) co_return;
    co_await (*client)->Close();
    co_await (*client)->Close();  // idempotent
    client_send_after = co_await (*client)->Send("too late");
  });
  loop_.Run();

  ASSERT_TRUE(server_received.has_value());
  EXPECT_EQ(server_received->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(server_received->status().message().find("peer closed the channel"), std::string::npos)
      << server_received->status().ToString();
  EXPECT_EQ(server_send_after.ToString(), server_received->status().ToString());
  EXPECT_EQ(client_send_after.code(), StatusCode::kFailedPrecondition);
}

TEST_F(SecureChannelTest, ClosingLocallyEndsAPendingReceive) {
  std::optional<Result<std::string>> pending;
  ChannelPtr client;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto server = co_await AcceptChannel(*acceptor_, server_key_, AcceptAnyone(), FastOptions());
    if (!server.ok()) co_return;
    Result<std::string> goodbye = co_await (*server)->Receive();
    EXPECT_FALSE(goodbye.ok());
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto result = co_await ConnectChannel(endpoint(), client_key_, AcceptAnyone(), FastOptions());
    if (!result.ok()) co_return;
    client = std::move(*result);
    loop_.Spawn([&]() -> asio::awaitable<void> { pending = co_await client->Receive(); });
    co_await testing::Sleep(20ms);
    co_await client->Close();
  });
  loop_.Run();

  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(pending->status().message().find("closed"), std::string::npos);
}

TEST_F(SecureChannelTest, APeerIdleBetweenMessagesIsNotTimedOut) {
  std::optional<Result<std::string>> received;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto server = co_await AcceptChannel(*acceptor_, server_key_, AcceptAnyone(), FastOptions());
    if (!server.ok()) co_return;
    received = co_await (*server)->Receive();
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto client = co_await ConnectChannel(endpoint(), client_key_, AcceptAnyone(), FastOptions());
    if (!client.ok()) co_return;
    co_await testing::Sleep(600ms);  // three idle timeouts
    EXPECT_TRUE((co_await (*client)->Send("still here")).ok());
  });
  loop_.Run();

  ASSERT_TRUE(received.has_value());
  ASSERT_TRUE(received->ok()) << received->status().ToString();
  EXPECT_EQ(**received, "still here");
}

TEST_F(SecureChannelTest, ASecondConcurrentReceiveIsRefused) {
  ChannelPtr server;
  std::optional<Result<std::string>> first, second;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto result = co_await AcceptChannel(*acceptor_, server_key_, AcceptAnyone(), FastOptions());
    if (!result.ok()) co_return;
    server = std::move(*result);
    loop_.Spawn([&]() -> asio::awaitable<void> { first = co_await server->Receive(); });
    co_await testing::Sleep(10ms);
    second = co_await server->Receive();
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    auto client = co_await ConnectChannel(endpoint(), client_key_, AcceptAnyone(), FastOptions());
    if (!client.ok()) co_return;
    co_await testing::Sleep(50ms);
    EXPECT_TRUE((co_await (*client)->Send("one")).ok());
  });
  loop_.Run();

  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->ok()) << first->status().ToString();
  EXPECT_EQ(**first, "one");
}

TEST_F(SecureChannelTest, BadOptionsAreRefusedBeforeAnythingIsSent) {
  ChannelOptions big_payload = FastOptions(std::string(wire::kMaxHandshakePayloadBytes + 1, 'p'));
  std::optional<Result<ChannelPtr>> client;
  std::optional<Result<std::string>> raw_read;
  loop_.Spawn([&]() -> asio::awaitable<void> {
    testing::RawPeer server(co_await testing::Accept(*acceptor_));
    raw_read = co_await server.ReadFrame();
  });
  loop_.Spawn([&]() -> asio::awaitable<void> {
    client = co_await ConnectChannel(endpoint(), client_key_, AcceptAnyone(), big_payload);
  });
  loop_.Run();

  ASSERT_TRUE(client.has_value());
  EXPECT_EQ(client->status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(raw_read.has_value());
  EXPECT_FALSE(raw_read->ok()) << "the client sent something";
}

TEST(SecureChannelIpv6Test, TwoPeersTalkOverIpv6Loopback) {
  ASSERT_TRUE(crypto::Init().ok());
  EventLoop loop;
  std::optional<tcp::acceptor> acceptor = testing::Listen(loop.io(), "::1");
  if (!acceptor) GTEST_SKIP() << "IPv6 loopback is not available here";
  const crypto::DhKeyPair server_key = NewKey(), client_key = NewKey();
  std::optional<Result<std::string>> received;
  loop.Spawn([&]() -> asio::awaitable<void> {
    auto server = co_await AcceptChannel(*acceptor, server_key, AcceptAnyone(), FastOptions());
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (!server.ok()) co_return;
    received = co_await (*server)->Receive();
  });
  loop.Spawn([&]() -> asio::awaitable<void> {
    auto client = co_await ConnectChannel(acceptor->local_endpoint(), client_key, AcceptAnyone(),
                                          FastOptions());
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    if (!client.ok()) co_return;
    EXPECT_TRUE((co_await (*client)->Send("over v6")).ok());
  });
  loop.Run();

  EXPECT_TRUE(acceptor->local_endpoint().address().is_v6());
  ASSERT_TRUE(received.has_value());
  ASSERT_TRUE(received->ok()) << received->status().ToString();
  EXPECT_EQ(**received, "over v6");
}

}  // namespace
}  // namespace kindred::net
