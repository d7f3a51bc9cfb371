// The receiver ingests a backlog of runs of one log together (one
// Engine::Ingest, one durable write, under the last run's signature). What
// a peer sees must not change: good runs before a bad one are kept, the bad
// one is refused as a verification failure, and nothing of it is stored.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>

#include "engine/core/transport_key.h"
#include "tests/sync/sync_test_util.h"

namespace kindred::sync {
namespace {

using asio::ip::tcp;
using testing::Device;
using testing::FastSession;
using testing::Link;
using testing::Loop;
using testing::Snapshot;
using testing::TestServer;

// A peer that completes a real handshake as `device`, sends `messages`
// back to back (so that they queue up at the receiver), acknowledges what
// it receives, and reports the SyncError and acknowledgements it heard.
struct Heard {
  std::optional<v1::SyncError> error;
  uint64_t acked = 0;
};

asio::awaitable<Heard> SendBackToBack(Device& device, HostPort where,
                                      std::vector<std::string> messages) {
  Heard heard;
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  boost::system::error_code error;
  co_await socket.async_connect(tcp::endpoint(asio::ip::make_address(where.host), where.port),
                                asio::redirect_error(asio::use_awaitable, error));
  EXPECT_FALSE(error) << error.message();
  auto key = core::TransportKeyPair(*device.engine);
  EXPECT_TRUE(key.ok());
  net::ChannelOptions options;
  options.idle_timeout = std::chrono::seconds(2);
  auto channel = co_await net::SecureChannel::Handshake(
      std::move(socket), net::Role::kInitiator, *key, device.env->random(),
      [](std::string_view, std::string_view) { return Status::Ok(); }, options);
  EXPECT_TRUE(channel.ok()) << channel.status().ToString();
  if (!channel.ok()) co_return heard;
  for (const std::string& m : messages) {
    if (!(co_await (*channel)->Send(m)).ok()) break;
  }
  uint64_t batches = 0;
  for (;;) {
    Result<std::string> bytes = co_await (*channel)->Receive();
    if (!bytes.ok()) break;
    auto message = ParseMessage(*bytes);
    if (!message.ok()) break;
    if (message->has_error()) heard.error = message->error();
    if (message->has_ack()) heard.acked = message->ack().batches();
    if (message->has_batch()) {
      v1::SyncMessage reply;
      reply.mutable_ack()->set_batches(++batches);
      (co_await (*channel)->Send(EncodeMessage(reply))).IgnoreError();
    }
  }
  co_await (*channel)->Close();
  co_return heard;
}

v1::SyncMessage HelloFrom(Device& device) {
  v1::SyncMessage message;
  v1::Hello* hello = message.mutable_hello();
  hello->set_protocol_version(kProtocolVersion);
  hello->set_device_id(std::string(device.id().bytes()));
  hello->set_window(8);
  v1::SpaceHeads* space = hello->add_spaces();
  space->set_space_id(std::string(device.space().bytes()));
  auto heads = device.engine->Heads(device.space());
  auto devices = device.engine->SpaceDevices(device.space());
  EXPECT_TRUE(heads.ok() && devices.ok());
  for (const DeviceCard& d : *devices) {
    v1::DeviceHead* head = space->add_heads();
    head->set_device_id(std::string(d.id.bytes()));
    auto it = heads->find(d.id);
    if (it != heads->end() && it->second.seq > 0) {
      head->set_seq(it->second.seq);
      head->set_head_hash(it->second.hash);
    }
  }
  return message;
}

// One SyncBatch message per segment of `device`'s own log (each a run).
std::vector<v1::SyncMessage> RunsOf(Device& device, size_t ops_per_run) {
  std::vector<v1::SyncMessage> out;
  Status s = device.engine->ReadMissing(device.space(), {}, ops_per_run, [&](OpBatch&& batch) {
    std::vector<EncodedPart> parts;
    KnownHeads receiver;
    EXPECT_TRUE(EncodeBatch(batch, 100000, size_t{1} << 20, &receiver, &parts).ok());
    EXPECT_EQ(parts.size(), 1u);
    for (auto& p : parts) {
      auto message = ParseMessage(p.bytes);
      EXPECT_TRUE(message.ok());
      out.push_back(std::move(*message));
    }
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string Done(uint64_t batches) {
  v1::SyncMessage m;
  m.mutable_done()->set_batches(batches);
  return EncodeMessage(m);
}

class IngestRunsTest : public ::testing::Test {
 protected:
  IngestRunsTest() : a_("Alex", 1, "laptop"), b_("Alex", 2, "phone") {
    Link(a_, b_);
    a_.Add("for the phone");
    b_.AddMany(400, 100);  // four runs of 100 ops
  }
  static ServerOptions Options() {
    ServerOptions options;
    options.dial_known_peers = false;
    options.session = FastSession();
    return options;
  }
  Heard Send(const std::vector<v1::SyncMessage>& runs) {
    std::vector<std::string> messages{EncodeMessage(HelloFrom(b_))};
    for (const auto& run : runs) messages.push_back(EncodeMessage(run));
    messages.push_back(Done(runs.size()));
    auto heard = loop_.Await(SendBackToBack(b_, server_.address(), std::move(messages)));
    return heard ? *heard : Heard{};
  }

  Device a_, b_;
  Loop loop_;
  TestServer server_{loop_, a_, Options()};
};

TEST_F(IngestRunsTest, ABacklogOfRunsIsStoredWhole) {
  auto runs = RunsOf(b_, 100);
  ASSERT_EQ(runs.size(), 4u);
  Heard heard = Send(runs);
  EXPECT_FALSE(heard.error.has_value()) << heard.error->reason();
  EXPECT_EQ(heard.acked, 4u);
  EXPECT_EQ(a_.Versions()[b_.id()], 400u);
  std::string theirs = Snapshot(*b_.engine, b_.space());
  EXPECT_NE(Snapshot(*a_.engine, a_.space()).find(theirs.substr(0, theirs.size() / 2)),
            std::string::npos);
  VerifyReport report;
  ASSERT_TRUE(a_.engine->Verify(&report).ok());
  EXPECT_EQ(report.decrypted, report.ops);  // every op stored, readable and merged
}

TEST_F(IngestRunsTest, GoodRunsBeforeABadOneAreKeptAndTheBadOneIsRefusedWhole) {
  for (int which : {0, 1}) {
    SCOPED_TRACE(which == 0 ? "a flipped ciphertext byte" : "a forged signature");
    auto runs = RunsOf(b_, 100);
    ASSERT_EQ(runs.size(), 4u);
    if (which == 0) {
      (*runs[2].mutable_batch()->mutable_ops(50)->mutable_ciphertext())[7] ^= 1;
    } else {
      (*runs[2].mutable_batch()->mutable_signature())[3] ^= 1;
    }
    Heard heard = Send(runs);
    ASSERT_TRUE(heard.error.has_value());
    EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_VERIFICATION) << heard.error->reason();
    // Runs 1 and 2 are stored (or were, the first time round); nothing of run 3.
    EXPECT_EQ(a_.Versions()[b_.id()], 200u);
    VerifyReport report;
    ASSERT_TRUE(a_.engine->Verify(&report).ok());
  }
}

}  // namespace
}  // namespace kindred::sync
