#include "engine/sync/session.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <memory>

#include "engine/crypto/crypto.h"
#include "engine/log/oplog.h"
#include "kindred/v1/store.pb.h"

namespace kindred::sync {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A log the peer does not accept: ReadMissing skips it.
constexpr uint64_t kSkipLog = std::numeric_limits<uint64_t>::max() - 1;
// Bounds what the peer can make us queue by not reading (acks, pongs).
constexpr size_t kMaxOutbound = 4 * kMaxWindow + 64;
// The receiver hands consecutive runs of one log to Engine::Ingest together,
// up to this many ops: one verified, durable write instead of one per run.
// Two such ingests run at once (see Ingester); 6000 ops each overlapped best
// in the initial-sync benchmark (about 4% faster than 10,000, the engine's
// group-commit cap, and than 4000 or 8000; docs/performance.md).
constexpr size_t kMaxIngestOps = 6000;
// Batches the sender reads before its first send (one of them is held back
// until the next read: see Pusher).
constexpr size_t kFirstReadBatches = 2;

std::string Millis(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

// Printable ASCII only, cut to kMaxReasonBytes: a reason from the peer is
// shown to people as it is.
std::string CleanReason(std::string_view reason) {
  std::string out;
  for (char c : reason.substr(0, kMaxReasonBytes)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

// What a transport failure means for the session.
EndReason ReasonOfTransportError(const Status& status) {
  switch (status.code()) {
    case StatusCode::kCorruption:
    case StatusCode::kUnauthenticated:
      return EndReason::kProtocol;
    case StatusCode::kUnavailable:
      return status.message().find("stalled") != std::string::npos ? EndReason::kStalled
                                                                   : EndReason::kPeerClosed;
    default:
      return EndReason::kPeerClosed;
  }
}

}  // namespace

std::string_view EndReasonName(EndReason reason) {
  switch (reason) {
    case EndReason::kCompleted:
      return "completed";
    case EndReason::kStopped:
      return "stopped";
    case EndReason::kPeerClosed:
      return "peer closed";
    case EndReason::kVersion:
      return "protocol version";
    case EndReason::kProtocol:
      return "protocol error";
    case EndReason::kVerification:
      return "verification failed";
    case EndReason::kFork:
      return "fork";
    case EndReason::kStalled:
      return "stalled";
    case EndReason::kLocal:
      return "local error";
  }
  return "unknown";
}

net::AcceptPeerFn AcceptRosterDevices(Engine& engine, PeerInfo* peer,
                                      std::optional<DeviceId> expected) {
  return [&engine, peer, expected](std::string_view key, std::string_view) -> Status {
    Result<PeerInfo> found = engine.PeerByTransportKey(key);
    if (!found.ok()) {
      if (found.status().code() == StatusCode::kNotFound ||
          found.status().code() == StatusCode::kInvalidArgument) {
        return Status::PermissionDenied("its key belongs to no device in a space here");
      }
      return found.status();
    }
    if (expected && found->card.id != *expected) {
      return Status::PermissionDenied("it is device " + found->card.id.ToString() +
                                      ", not the expected " + expected->ToString());
    }
    *peer = std::move(*found);
    return Status::Ok();
  };
}

Session::Session(asio::any_io_executor executor, std::unique_ptr<net::SecureChannel> channel,
                 PeerInfo peer, Engine& engine, asio::any_io_executor blocking,
                 SessionOptions options)
    : channel_(std::move(channel)),
      peer_(std::move(peer)),
      engine_(engine),
      blocking_(std::move(blocking)),
      options_(std::move(options)),
      executor_(std::move(executor)),
      wake_(executor_),
      watchdog_timer_(executor_) {
  options_.window = std::clamp<uint32_t>(options_.window, 1, kMaxWindow);
  if (options_.max_batch_ops == 0) options_.max_batch_ops = 1;
  if (options_.stall_timeout <= Duration::zero()) options_.stall_timeout = std::chrono::seconds(30);
  if (options_.keepalive <= Duration::zero()) options_.keepalive = std::chrono::seconds(15);
}

Session::~Session() = default;

template <typename F>
void Session::SpawnChild(F coroutine) {
  ++children_;
  asio::co_spawn(executor_, std::move(coroutine), [this](std::exception_ptr error) {
    if (error) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      Fail(EndReason::kLocal, Status::Internal("unexpected exception in a sync session: " + what),
           v1::SyncError::CODE_INTERNAL);
    }
    --children_;
    wake_.Notify();
  });
}

asio::awaitable<SessionOutcome> Session::Run() {
  last_heard_ = last_ping_ = SteadyClock::now();
  Result<v1::SyncMessage> hello = co_await Offload(blocking_, [this] { return BuildHello(); });
  if (hello.ok()) {
    Enqueue(*hello);
  } else {
    Fail(EndReason::kLocal, hello.status().WithContext("reading this device's logs"),
         v1::SyncError::CODE_INTERNAL);
  }
  SpawnChild([this] { return Writer(); });
  SpawnChild([this] { return Reader(); });
  SpawnChild([this] { return Ingester(); });
  SpawnChild([this] { return Pusher(); });
  SpawnChild([this] { return Watchdog(); });
  while (children_ > 0) co_await wake_.Wait();
  outcome_.stats.bytes_out = channel_->bytes_sent();
  outcome_.stats.bytes_in = channel_->bytes_received();
  outcome_.caught_up = caught_up_;
  co_return outcome_;
}

void Session::Stop() { Fail(EndReason::kStopped, Status::Ok(), v1::SyncError::CODE_SHUTTING_DOWN); }

void Session::NotifyChanged(const SpaceId& space) {
  if (closing_ || !spaces_.count(space)) return;
  push_pending_ = true;
  wake_.Notify();
}

// ---------------------------------------------------------------------------
// Hello

Result<v1::SyncMessage> Session::BuildHello() {
  // Runs before any child starts, so it may fill spaces_.
  v1::SyncMessage message;
  v1::Hello* hello = message.mutable_hello();
  hello->set_protocol_version(kProtocolVersion);
  hello->set_device_id(std::string(engine_.device().id.bytes()));
  hello->set_live(options_.live);
  hello->set_window(options_.window);
  hello->set_listen_port(options_.listen_port);
  for (const SpaceId& space : peer_.spaces) {
    if (engine_.SpaceEnded(space)) {
      // Listed, so the peer learns the partnership ended; nothing of it moves.
      v1::SpaceHeads* entry = hello->add_spaces();
      entry->set_space_id(std::string(space.bytes()));
      entry->set_ended(true);
      ended_.insert(space);
      continue;
    }
    KINDRED_ASSIGN_OR_RETURN(std::vector<DeviceCard> devices, engine_.SpaceDevices(space));
    KINDRED_ASSIGN_OR_RETURN(auto heads, engine_.Heads(space));
    SpaceState state;
    v1::SpaceHeads* entry = hello->add_spaces();
    entry->set_space_id(std::string(space.bytes()));
    for (const DeviceCard& device : devices) {
      state.our_roster.insert(device.id);
      v1::DeviceHead* head = entry->add_heads();
      head->set_device_id(std::string(device.id.bytes()));
      auto it = heads.find(device.id);
      if (it != heads.end() && it->second.seq > 0) {
        head->set_seq(it->second.seq);
        head->set_head_hash(it->second.hash);
      }
    }
    state.ours = std::move(heads);
    spaces_[space] = std::move(state);
  }
  return message;
}

void Session::HandleHello(const v1::Hello& hello) {
  if (have_peer_hello_) return ProtocolError("it sent a second Hello");
  if (hello.protocol_version() != kProtocolVersion) {
    return Fail(EndReason::kVersion,
                Status::FailedPrecondition("the peer speaks sync protocol version " +
                                           std::to_string(hello.protocol_version()) +
                                           "; this device speaks version " +
                                           std::to_string(kProtocolVersion)),
                v1::SyncError::CODE_VERSION);
  }
  if (hello.device_id() != peer_.card.id.bytes()) {
    return ProtocolError("its Hello names another device than the one its key belongs to");
  }
  if (hello.window() < 1 || hello.window() > kMaxWindow) {
    return ProtocolError("it announced a window of " + std::to_string(hello.window()) +
                         " batches (1 to " + std::to_string(kMaxWindow) + " are allowed)");
  }
  if (hello.listen_port() > 65535) return ProtocolError("it announced an impossible port");
  if (static_cast<size_t>(hello.spaces_size()) > kMaxHelloSpaces) {
    return ProtocolError("its Hello lists too many spaces");
  }
  std::map<SpaceId, SpaceState> shared;
  std::set<SpaceId> seen;
  for (const v1::SpaceHeads& entry : hello.spaces()) {
    auto space = SpaceId::FromBytes(entry.space_id());
    if (!space.ok()) return ProtocolError("its Hello holds a malformed space id");
    if (static_cast<size_t>(entry.heads_size()) > kMaxHeadsPerSpace) {
      return ProtocolError("its Hello lists too many devices in a space");
    }
    if (shared.count(*space) || seen.count(*space)) {
      return ProtocolError("its Hello lists a space twice");
    }
    seen.insert(*space);
    if (ended_.count(*space)) continue;  // ended here: nothing of it moves
    auto ours = spaces_.find(*space);
    if (ours == spaces_.end()) continue;  // a space this device does not share with it
    if (entry.ended()) {
      // The peer, a device of this space, says the partnership ended.
      Status ended = engine_.EndSpace(*space, peer_.card.id);
      if (!ended.ok()) {
        return Fail(EndReason::kLocal, ended.WithContext("ending the shared space"),
                    v1::SyncError::CODE_INTERNAL);
      }
      ended_.insert(*space);
      continue;
    }
    SpaceState state = ours->second;
    for (const v1::DeviceHead& head : entry.heads()) {
      auto device = DeviceId::FromBytes(head.device_id());
      if (!device.ok()) return ProtocolError("its Hello holds a malformed device id");
      const bool hash_ok = head.seq() == 0 ? head.head_hash().empty()
                                           : head.head_hash().size() == crypto::kHashBytes;
      if (!hash_ok) return ProtocolError("its Hello holds a malformed head hash");
      LogHead theirs{head.seq(),
                     head.seq() == 0 ? std::string(crypto::kHashBytes, '\0') : head.head_hash()};
      if (!state.theirs.emplace(*device, std::move(theirs)).second) {
        return ProtocolError("its Hello lists a device twice in one space");
      }
      auto held = state.ours.find(*device);
      if (head.seq() > 0 && held != state.ours.end() && held->second.seq == head.seq() &&
          held->second.hash != head.head_hash()) {
        return Fail(
            EndReason::kFork,
            Status::Corruption("fork: the peer holds a different op " + std::to_string(head.seq()) +
                               " of device " + device->ToString() +
                               "'s log than this device; refusing to sync with it"),
            v1::SyncError::CODE_FORK);
      }
    }
    shared.emplace(*space, std::move(state));
  }
  spaces_ = std::move(shared);
  peer_live_ = hello.live();
  peer_window_ = hello.window();
  peer_listen_port_ = static_cast<uint16_t>(hello.listen_port());
  // Who owes whom what, by the two Hellos alone, as the peer works it out
  // too. A log's seq is what a Hello lists for it (0 when it is not listed).
  bool peer_owes = false;
  for (auto& [space, state] : spaces_) {
    auto our_seq = [&state = state](const DeviceId& device) -> const LogHead* {
      if (!state.our_roster.count(device)) return nullptr;
      auto held = state.ours.find(device);
      return held == state.ours.end() ? nullptr : &held->second;
    };
    for (const auto& [device, theirs] : state.theirs) {
      const LogHead* ours = our_seq(device);
      if (ours && ours->seq > theirs.seq) {
        we_owe_ = true;
        expected_ops_ += ours->seq - theirs.seq;
      }
    }
    for (const DeviceId& device : state.our_roster) {
      const LogHead* ours = our_seq(device);
      const uint64_t held = ours ? ours->seq : 0;
      auto listed = state.theirs.find(device);
      const uint64_t theirs = listed == state.theirs.end() ? 0 : listed->second.seq;
      if (theirs > held) {
        peer_owes = true;
        expected_ops_ += theirs - held;
      }
      if (ours && ours->seq > 0) received_views_[{space, device}].listed = *ours;
    }
    for (const auto& [device, theirs] : state.theirs) {
      if (theirs.seq > 0) state.sent_views[device].listed = theirs;
    }
  }
  if (!peer_owes) {
    peer_done_ = true;  // it has nothing for us: it sends neither batches nor SyncDone
    peer_done_batches_ = 0;
  }
  have_peer_hello_ = true;
  ReportProgress();
}

// ---------------------------------------------------------------------------
// Receiving

asio::awaitable<void> Session::Reader() {
  // Each message is parsed onto this arena and handled before the next is
  // read (Handle keeps nothing of it); the arena is then reset, its first
  // block kept for the next one.
  google::protobuf::Arena arena;
  for (;;) {
    Result<std::string> bytes = co_await channel_->Receive();
    if (!bytes.ok()) {
      if (!closing_ && CaughtUp() && !live()) {
        MarkCompleted();  // the peer finished first and closed
      } else if (!closing_) {
        Fail(ReasonOfTransportError(bytes.status()),
             bytes.status().WithContext("the connection to the peer"));
      }
      break;
    }
    if (closing_) continue;  // read until the channel closes
    last_heard_ = SteadyClock::now();
    Result<v1::SyncMessage*> message = ParseMessage(*bytes, &arena);
    if (!message.ok()) {
      arena.Reset();
      ProtocolError(message.status().message());
      continue;
    }
    Handle(**message);
    arena.Reset();
    CheckCaughtUp();
    wake_.Notify();
  }
  reader_done_ = true;
  wake_.Notify();
}

void Session::Handle(v1::SyncMessage& message) {
  switch (message.body_case()) {
    case v1::SyncMessage::kHello:
      return HandleHello(message.hello());
    case v1::SyncMessage::kBatch: {
      if (!have_peer_hello_) return ProtocolError("it sent a SyncBatch before its Hello");
      if (peer_done_ && !live()) return ProtocolError("it sent a SyncBatch after its SyncDone");
      if (batches_received_ - batches_processed_ >= options_.window) {
        return ProtocolError("it sent more than " + std::to_string(options_.window) +
                             " unacknowledged SyncBatch messages");
      }
      const v1::SyncBatch& batch = message.batch();
      auto space = SpaceId::FromBytes(batch.space_id());
      if (!space.ok()) return ProtocolError("a SyncBatch holds a malformed space id");
      auto state = spaces_.find(*space);
      if (state == spaces_.end())
        return ProtocolError("it sent ops of a space the two do not share");
      auto device = DeviceId::FromBytes(batch.device_id());
      if (!device.ok()) return ProtocolError("a SyncBatch holds a malformed device id");
      if (!state->second.our_roster.count(*device)) {
        return ProtocolError("it sent the log of a device this device does not list in the space");
      }
      ++batches_received_;
      ++outcome_.stats.batches_received;
      const bool done = batch.done();
      // Rebuilt now, on the event loop, while the runs before it are being
      // ingested (hashing every op is most of it); a malformed part is
      // reported once the runs before it are in.
      Inbound in;
      in.ops = static_cast<size_t>(batch.ops_size());
      if (rebuild_failed_) {
        in.status = Status::Corruption("the peer broke the sync protocol earlier");
      } else {
        KnownHeads& known = received_views_[{*space, *device}];
        // The part is read no more: its ops' ciphertexts move into the run.
        Result<bool> complete = runs_.Add(std::move(*message.mutable_batch()), known);
        if (!complete.ok()) {
          rebuild_failed_ = true;
          in.status = Status::Corruption("the peer broke the sync protocol: " +
                                         complete.status().message());
        } else if (*complete) {
          SignedRun run = runs_.Take();
          known.last_run = LogHead{run.batch.first_seq + run.batch.size() - 1, run.head_hash};
          in.run = std::move(run);
        }
      }
      inbound_.push_back(std::move(in));
      if (done) {
        if (peer_done_) return ProtocolError("it marked a SyncBatch done after it was done");
        peer_done_ = true;
        peer_done_batches_ = batches_received_;
      }
      return;
    }
    case v1::SyncMessage::kAck: {
      const uint64_t acked = message.ack().batches();
      if (acked < batches_acked_ || acked > batches_sent_) {
        return ProtocolError("it acknowledged " + std::to_string(acked) + " SyncBatch messages; " +
                             std::to_string(batches_sent_) + " were sent and " +
                             std::to_string(batches_acked_) + " acknowledged before");
      }
      for (; batches_acked_ < acked; ++batches_acked_) {
        outcome_.stats.ops_sent += in_flight_.front().ops;
        in_flight_.pop_front();
      }
      ReportProgress();
      return;
    }
    case v1::SyncMessage::kDone: {
      if (!have_peer_hello_) return ProtocolError("it sent SyncDone before its Hello");
      if (peer_done_) return ProtocolError("it sent SyncDone twice");
      if (message.done().batches() != batches_received_) {
        return ProtocolError("its SyncDone counts " + std::to_string(message.done().batches()) +
                             " SyncBatch messages but " + std::to_string(batches_received_) +
                             " arrived");
      }
      peer_done_ = true;
      peer_done_batches_ = message.done().batches();
      return;
    }
    case v1::SyncMessage::kError:
      return HandleError(message.error());
    case v1::SyncMessage::kPing: {
      v1::SyncMessage pong;
      pong.mutable_pong()->set_nonce(message.ping().nonce());
      return Enqueue(pong);
    }
    case v1::SyncMessage::kPong:
      if (ping_outstanding_ && message.pong().nonce() == ping_nonce_) ping_outstanding_ = false;
      return;
    case v1::SyncMessage::BODY_NOT_SET:
      return;  // a message type of a later version: skipped
  }
}

void Session::HandleError(const v1::SyncError& error) {
  const std::string reason = CleanReason(error.reason());
  const std::string said = reason.empty() ? "" : ": " + reason;
  switch (error.code()) {
    case v1::SyncError::CODE_VERSION:
      return Fail(EndReason::kVersion,
                  Status::FailedPrecondition("the peer does not speak this device's sync protocol "
                                             "version" +
                                             said));
    case v1::SyncError::CODE_FORK:
      return Fail(EndReason::kFork, Status::Corruption("fork: the peer found that a log differs "
                                                       "between the two devices" +
                                                       said));
    case v1::SyncError::CODE_VERIFICATION:
      return Fail(EndReason::kVerification,
                  Status::Corruption("the peer refused a batch from this device" + said));
    case v1::SyncError::CODE_PROTOCOL:
      return Fail(EndReason::kProtocol,
                  Status::Corruption("the peer says this device broke the sync protocol" + said));
    case v1::SyncError::CODE_STALLED:
      return Fail(EndReason::kStalled,
                  Status::Unavailable("the peer gave up waiting for this device" + said));
    case v1::SyncError::CODE_SHUTTING_DOWN:
      return Fail(EndReason::kPeerClosed, Status::Unavailable("the peer is shutting down"));
    default:
      return Fail(EndReason::kPeerClosed, Status::Unavailable("the peer ended the session" + said));
  }
}

void Session::ProtocolError(const std::string& what) {
  Fail(EndReason::kProtocol, Status::Corruption("the peer broke the sync protocol: " + what),
       v1::SyncError::CODE_PROTOCOL);
}

asio::awaitable<void> Session::Ingester() {
  // Up to two ingests run at once, in order: the second starts once the
  // engine has built the first's last batch, and is checked while the first
  // is written (see Engine::Ingest). Results are handled in order. Jobs are
  // owned by ingests_ and handed around by pointer: a std::shared_ptr
  // captured into a co_spawn'ed coroutine was released once too often with
  // GCC 12 (found with AddressSanitizer).
  bool failed = false;
  for (;;) {
    if (closing_ || failed) {
      // Ingests under way finish before the session ends; their results
      // no longer count.
      if (!IngestUnderWay()) break;
    } else if (!inbound_.empty() && ingests_.size() < 2 &&
               (ingests_.empty() || ingests_.back()->built)) {
      StartIngest();
      continue;
    } else if (!ingests_.empty() && ingests_.front()->finished) {
      failed = !FinishIngest();
      continue;
    }
    co_await wake_.Wait();
  }
  wake_.Notify();
}

bool Session::IngestUnderWay() const {
  return std::any_of(ingests_.begin(), ingests_.end(),
                     [](const std::unique_ptr<IngestJob>& job) { return !job->finished; });
}

void Session::StartIngest() {
  // Everything that has arrived (rebuilt as it came), up to about
  // kMaxIngestOps ops, is ingested in one go: consecutive runs of one log
  // then share one durable write (see IngestParts).
  auto owned = std::make_unique<IngestJob>();
  IngestJob* job = owned.get();
  size_t ops = 0;
  while (!inbound_.empty() && (job->parts.empty() || ops + inbound_.front().ops <= kMaxIngestOps)) {
    ops += inbound_.front().ops;
    job->parts.push_back(std::move(inbound_.front()));
    inbound_.pop_front();
  }
  ingests_.push_back(std::move(owned));
  SpawnChild([this, job] { return RunIngest(job); });
}

asio::awaitable<void> Session::RunIngest(IngestJob* job) {
  // `job` stays in ingests_ until finished: the session ends only after.
  job->results = co_await Offload(blocking_, [this, job] {
    return IngestParts(job->parts, [this, job] {
      // On an engine thread, before the write: tell the event loop (this
      // is posted before the end of the Offload is, so it runs first).
      asio::post(executor_, [this, job] {
        job->built = true;
        wake_.Notify();
      });
    });
  });
  job->built = true;
  job->finished = true;
  wake_.Notify();
}

bool Session::FinishIngest() {
  std::unique_ptr<IngestJob> job = std::move(ingests_.front());
  ingests_.pop_front();
  for (IngestResult& result : job->results) {
    if (!result.status.ok()) {
      std::optional<v1::SyncError::Code> notify;
      switch (result.reason) {
        case EndReason::kFork:
          notify = v1::SyncError::CODE_FORK;
          break;
        case EndReason::kProtocol:
          notify = v1::SyncError::CODE_PROTOCOL;
          break;
        case EndReason::kVerification:
          notify = v1::SyncError::CODE_VERIFICATION;
          break;
        default:
          notify = v1::SyncError::CODE_INTERNAL;
          break;
      }
      Fail(result.reason, result.status, notify);
      return false;
    }
    ++batches_processed_;
    if (result.run_complete) {
      outcome_.stats.ops_received += result.added;
      LogHead& theirs = spaces_[result.space].theirs[result.device];
      if (result.last_seq > theirs.seq) {
        theirs = LogHead{result.last_seq, result.head_hash};  // the peer holds what it sent
      }
    }
    // One acknowledgement per message processed (docs/protocol.md, 15).
    v1::SyncMessage ack;
    ack.mutable_ack()->set_batches(batches_processed_);
    Enqueue(ack);
  }
  ReportProgress();
  CheckCaughtUp();
  return true;
}

std::vector<Session::IngestResult> Session::IngestParts(std::vector<Inbound>& parts,
                                                        const std::function<void()>& on_built) {
  std::vector<IngestResult> results(parts.size());
  // on_built, once: as the engine has built the last batch, or at the end.
  bool built = false;
  const std::function<void()> no_hook;
  const std::function<void()> built_once = [&built, &on_built] {
    if (built) return;
    built = true;
    if (on_built) on_built();
  };
  // The runs the parts complete, up to the first part that failed to
  // rebuild; those runs are ingested below, before that failure is reported.
  struct Completed {
    size_t part = 0;  // the part that completed the run
    SignedRun run;
  };
  std::vector<Completed> runs;
  size_t rebuilt = 0;
  for (; rebuilt < parts.size(); ++rebuilt) {
    Inbound& part = parts[rebuilt];
    IngestResult& result = results[rebuilt];
    if (!part.status.ok()) {
      result.status = std::move(part.status);
      result.reason = EndReason::kProtocol;
      break;
    }
    if (!part.run) continue;
    SignedRun& run = *part.run;
    result.run_complete = true;
    result.space = run.batch.space;
    result.device = run.batch.device;
    result.last_seq = run.batch.first_seq + run.batch.size() - 1;
    runs.push_back(Completed{rebuilt, std::move(run)});
  }
  // Ingest the runs, consecutive runs of one log merged into one batch: the
  // signature over the last run's head covers the chain through all of
  // them, and Ingest checks that chain op by op. If a merged batch is
  // refused, its runs are ingested one by one, so that what was good is
  // kept and the refusal names the run it concerns.
  auto ingest_one = [this, &results](Completed& c, const std::function<void()>& on_built) {
    IngestResult& result = results[c.part];
    Result<uint64_t> added = engine_.Ingest(c.run.batch, on_built);
    if (!added.ok()) {
      ClassifyRefusal(c.run, added.status(), &result);
      return false;
    }
    result.added = *added;
    result.head_hash = c.run.head_hash;
    return true;
  };
  size_t failed_at = rebuilt;  // the first part whose result is a failure
  for (size_t begin = 0; begin < runs.size();) {
    size_t end = begin + 1;
    size_t ops = runs[begin].run.batch.size();
    for (; end < runs.size(); ++end) {
      const OpBatch& before = runs[end - 1].run.batch;
      const OpBatch& next = runs[end].run.batch;
      if (next.space != before.space || next.device != before.device ||
          next.first_seq != before.first_seq + before.size() || ops + next.size() > kMaxIngestOps) {
        break;
      }
      ops += next.size();
    }
    // Ingest checks only the last run's signature of a merged batch (it
    // covers the chain through all of them). The earlier runs' signatures
    // are checked here: the merge stops at the first that fails (or when
    // its author is not an active member here), and Ingest then checks that
    // run's signature itself and refuses it.
    if (end - begin > 1) {
      const OpBatch& first = runs[begin].run.batch;
      std::string sign_pk;
      if (auto devices = engine_.SpaceDevices(first.space); devices.ok()) {
        for (const DeviceCard& d : *devices) {
          if (d.id == first.device) sign_pk = d.sign_pk;
        }
      }
      for (size_t i = begin; i + 1 < end; ++i) {
        const SignedRun& run = runs[i].run;
        const uint64_t last = run.batch.first_seq + run.batch.size() - 1;
        v1::BatchSignature signature;
        if (sign_pk.empty() || !signature.ParseFromString(run.batch.signature) ||
            signature.format() != 1 ||
            !crypto::Verify(sign_pk,
                            log::HeadMessage(run.batch.space, run.batch.device, last,
                                             run.head_hash),
                            run.signature)) {
          end = i + 1;  // Ingest then checks this run's signature itself
          break;
        }
      }
      ops = 0;
      for (size_t i = begin; i < end; ++i) ops += runs[i].run.batch.size();
    }
    bool ok = true;
    const std::function<void()>& last = end == runs.size() ? built_once : no_hook;
    if (end - begin == 1) {
      ok = ingest_one(runs[begin], last);
      if (!ok) failed_at = runs[begin].part;
    } else {
      OpBatch merged;
      merged.space = runs[begin].run.batch.space;
      merged.device = runs[begin].run.batch.device;
      merged.first_seq = runs[begin].run.batch.first_seq;
      merged.signature = runs[end - 1].run.batch.signature;
      merged.ops.reserve(ops);
      merged.derived_hashes.reserve(ops);
      for (size_t i = begin; i < end; ++i) {
        auto& from = runs[i].run.batch.ops;
        merged.ops.insert(merged.ops.end(), std::make_move_iterator(from.begin()),
                          std::make_move_iterator(from.end()));
        // Decoded ops are shared, not moved: Ingest never changes them, so
        // each run still has its own should it be ingested alone.
        const OpBatch& run = runs[i].run.batch;
        merged.decoded.insert(merged.decoded.end(), run.decoded.begin(), run.decoded.end());
        merged.decoded_owners.insert(merged.decoded_owners.end(), run.decoded_owners.begin(),
                                     run.decoded_owners.end());
        auto& hashes = runs[i].run.batch.derived_hashes;
        merged.derived_hashes.insert(merged.derived_hashes.end(),
                                     std::make_move_iterator(hashes.begin()),
                                     std::make_move_iterator(hashes.end()));
      }
      Result<uint64_t> added = engine_.Ingest(merged, last);
      if (added.ok()) {
        // Stats only need the total.
        results[runs[end - 1].part].added = *added;
        for (size_t i = begin; i < end; ++i) {
          results[runs[i].part].head_hash = runs[i].run.head_hash;
        }
      } else {
        // Give each run its ops and their hashes back, then one by one.
        size_t at = 0, hash_at = 0;
        for (size_t i = begin; i < end; ++i) {
          OpBatch& to = runs[i].run.batch;
          auto give_back = [](auto& from, size_t* offset, auto& into) {
            const auto first = from.begin() + static_cast<std::ptrdiff_t>(*offset);
            std::move(first, first + static_cast<std::ptrdiff_t>(into.size()), into.begin());
            *offset += into.size();
          };
          give_back(merged.ops, &at, to.ops);
          give_back(merged.derived_hashes, &hash_at, to.derived_hashes);
        }
        for (size_t i = begin; i < end && ok; ++i) {
          ok = ingest_one(runs[i], nullptr);
          if (!ok) failed_at = runs[i].part;
        }
      }
    }
    if (!ok) break;
    begin = end;
  }
  results.resize(std::min(parts.size(), failed_at + 1));
  built_once();
  return results;
}

void Session::ClassifyRefusal(const SignedRun& run, const Status& refused, IngestResult* result) {
  const OpBatch& batch = run.batch;
  const std::string log = "device " + batch.device.ToString() + "'s log";
  switch (refused.code()) {
    case StatusCode::kCorruption:
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
    case StatusCode::kNotFound:
      break;
    case StatusCode::kFailedPrecondition:  // a gap: the peer skipped ops we lack
      result->reason = EndReason::kProtocol;
      result->status = Status::Corruption("the peer broke the sync protocol: " + refused.message());
      return;
    default:
      result->reason = EndReason::kLocal;
      result->status = refused.WithContext("storing ops from the peer");
      return;
  }
  if (refused.message().rfind("fork", 0) == 0) {
    result->reason = EndReason::kFork;
    result->status = refused;
    return;
  }
  // A run that follows another op than the one held here, signed by its
  // author, proves that the author's log forked.
  Result<std::map<DeviceId, LogHead>> heads = engine_.Heads(batch.space);
  Result<std::vector<DeviceCard>> devices = engine_.SpaceDevices(batch.space);
  if (heads.ok() && devices.ok()) {
    auto held = heads->find(batch.device);
    const uint64_t held_seq = held == heads->end() ? 0 : held->second.seq;
    const bool follows_other = held != heads->end() && held_seq == batch.first_seq - 1 &&
                               held->second.hash != run.prev_hash;
    auto author = std::find_if(devices->begin(), devices->end(),
                               [&](const DeviceCard& d) { return d.id == batch.device; });
    const uint64_t last = batch.first_seq + batch.size() - 1;
    if (follows_other && author != devices->end() &&
        crypto::Verify(author->sign_pk,
                       log::HeadMessage(batch.space, batch.device, last, run.head_hash),
                       run.signature)) {
      result->reason = EndReason::kFork;
      result->status =
          Status::Corruption("fork: " + log +
                             " as the peer has it, signed by its author, continues from a "
                             "different op " +
                             std::to_string(held_seq) + " than the one held here; refusing it");
      return;
    }
  }
  result->reason = EndReason::kVerification;
  result->status = Status::Corruption("a batch of " + log +
                                      " from the peer failed verification, and nothing of it "
                                      "was stored: " +
                                      refused.message());
}

// ---------------------------------------------------------------------------
// Sending

asio::awaitable<void> Session::Pusher() {
  while (!have_peer_hello_ && !closing_) co_await wake_.Wait();
  if (closing_) co_return;
  if (!we_owe_) {
    sent_done_ = true;  // by the Hellos, the peer lacks nothing: nothing to say
    CheckCaughtUp();
    if (!live()) co_return;
    push_pending_ = true;  // but send what was written since our Hello
  }
  // During the catch-up, the last part is held back so that it can be
  // marked `done`.
  std::optional<EncodedPart> held;
  // The first read is small, so that the peer has something to work on
  // within a millisecond or two instead of after a whole window was read.
  bool first_read = true;
  while (!closing_) {
    push_pending_ = false;
    for (auto& [space, state] : spaces_) {
      for (;;) {
        if (closing_) co_return;
        std::map<DeviceId, LogHead> theirs = state.theirs;
        const SpaceId which = space;
        const size_t budget =
            first_read ? std::min<size_t>(kFirstReadBatches, peer_window_) : peer_window_;
        first_read = false;
        // Only this coroutine touches sent_views, and it waits here.
        std::map<DeviceId, KnownHeads>* views = &state.sent_views;
        Result<std::vector<EncodedPart>> parts =
            co_await Offload(blocking_, [this, &which, &theirs, views, budget] {
              return Fetch(which, std::move(theirs), views, budget);
            });
        if (closing_) co_return;
        if (!parts.ok()) {
          if (parts.status().message().rfind("fork", 0) == 0) {
            Fail(EndReason::kFork, parts.status(), v1::SyncError::CODE_FORK);
          } else {
            Fail(EndReason::kLocal, parts.status().WithContext("reading ops to send"),
                 v1::SyncError::CODE_INTERNAL);
          }
          co_return;
        }
        if (parts->empty()) break;
        for (EncodedPart& part : *parts) {
          if (part.completes_run) {
            LogHead& known = state.theirs[part.device];
            if (part.last_seq > known.seq) known = LogHead{part.last_seq, part.head_hash};
          }
          if (sent_done_) {
            if (!co_await SendPart(std::move(part))) co_return;
            continue;
          }
          if (held && !co_await SendPart(std::move(*held))) co_return;
          held = std::move(part);
        }
      }
    }
    if (!sent_done_) {
      if (held) {
        MarkDone(&*held);
        const bool sent = co_await SendPart(std::move(*held));
        held.reset();
        if (!sent) co_return;
      } else {
        v1::SyncMessage done;
        done.mutable_done()->set_batches(batches_sent_);
        Enqueue(done);
      }
      sent_done_ = true;
      CheckCaughtUp();
    }
    if (!live()) co_return;
    while (!push_pending_ && !closing_) co_await wake_.Wait();
  }
}

asio::awaitable<bool> Session::SendPart(EncodedPart part) {
  while (!closing_ && batches_sent_ - batches_acked_ >= peer_window_) co_await wake_.Wait();
  if (closing_) co_return false;
  in_flight_.push_back({part.ops});
  ++batches_sent_;
  ++outcome_.stats.batches_sent;
  Enqueue(std::move(part.bytes));
  co_return true;
}

Result<std::vector<EncodedPart>> Session::Fetch(const SpaceId& space,
                                                std::map<DeviceId, LogHead> theirs,
                                                std::map<DeviceId, KnownHeads>* views,
                                                size_t max_batches) {
  KINDRED_ASSIGN_OR_RETURN(VersionVector ours, engine_.Versions(space));
  VersionVector known;
  for (const auto& [device, seq] : ours) {
    auto it = theirs.find(device);
    known[device] = it == theirs.end() ? kSkipLog : it->second.seq;
  }
  std::vector<EncodedPart> parts;
  size_t batches = 0;
  Status encoded;
  Status read =
      engine_.ReadMissingToSend(space, known, options_.max_batch_ops, [&](OpBatch&& batch) {
        encoded = EncodeBatch(batch, options_.max_batch_ops, options_.max_batch_bytes,
                              &(*views)[batch.device], &parts);
        return encoded.ok() && ++batches < max_batches;
      });
  KINDRED_RETURN_IF_ERROR(read);
  KINDRED_RETURN_IF_ERROR(encoded);
  return parts;
}

void Session::Enqueue(const v1::SyncMessage& message) { Enqueue(EncodeMessage(message)); }

void Session::Enqueue(std::string bytes) {
  if (outbound_.size() >= kMaxOutbound && !closing_) {
    return ProtocolError("it does not read what this device sends");
  }
  outbound_.push_back(std::move(bytes));
  wake_.Notify();
}

asio::awaitable<void> Session::Writer() {
  for (;;) {
    while (outbound_.empty() && !closing_) {
      if (Complete()) {
        MarkCompleted();
        break;
      }
      co_await wake_.Wait();
    }
    if (outbound_.empty()) break;
    std::string message = std::move(outbound_.front());
    outbound_.pop_front();
    writing_ = true;
    Status sent = co_await channel_->Send(message);
    writing_ = false;
    if (!sent.ok()) {
      if (!closing_) {
        Fail(ReasonOfTransportError(sent), sent.WithContext("the connection to the peer"));
      }
      break;
    }
    wake_.Notify();
  }
  if (outcome_.reason == EndReason::kCompleted && channel_->role() == net::Role::kResponder) {
    // One close record is enough: the initiator sends it, once complete.
    while (!reader_done_ && !force_closing_) co_await wake_.Wait();
  }
  co_await channel_->Close();
  writer_done_ = true;
  watchdog_timer_.cancel();
  wake_.Notify();
}

// ---------------------------------------------------------------------------
// Liveness and the end

asio::awaitable<void> Session::Watchdog() {
  const Duration tick =
      std::clamp<Duration>(std::min(options_.stall_timeout, options_.keepalive) / 4,
                           std::chrono::milliseconds(5), std::chrono::seconds(1));
  // After deciding to close, how long the last messages may take.
  const Duration close_grace = std::min<Duration>(options_.stall_timeout, std::chrono::seconds(5));
  while (!writer_done_) {
    co_await SleepFor(watchdog_timer_, tick);
    if (writer_done_) break;
    const auto now = SteadyClock::now();
    if (closing_) {
      if (now - closing_since_ > close_grace) ForceClose();
      continue;
    }
    if (WaitingOnPeer() && now - last_heard_ > options_.stall_timeout) {
      std::string what = !have_peer_hello_                ? "its Hello"
                         : batches_acked_ < batches_sent_ ? "acknowledgements"
                         : ping_outstanding_              ? "an answer to a Ping"
                                                          : "the rest of its ops";
      Fail(EndReason::kStalled,
           Status::Unavailable("peer stalled: nothing arrived for " +
                               Millis(options_.stall_timeout) + " while this device waited for " +
                               what),
           v1::SyncError::CODE_STALLED);
      continue;
    }
    if (live() && !ping_outstanding_ && now - last_heard_ >= options_.keepalive &&
        now - last_ping_ >= options_.keepalive) {
      v1::SyncMessage ping;
      ping.mutable_ping()->set_nonce(++ping_nonce_);
      ping_outstanding_ = true;
      last_ping_ = now;
      Enqueue(ping);
    }
  }
}

bool Session::WaitingOnPeer() const {
  if (!inbound_.empty() || !ingests_.empty()) return false;  // our own work comes first
  if (!have_peer_hello_) return true;
  if (batches_acked_ < batches_sent_) return true;
  if (ping_outstanding_) return true;
  return !live() && !peer_done_;
}

bool Session::CaughtUp() const {
  return have_peer_hello_ && sent_done_ && peer_done_ && batches_acked_ == batches_sent_ &&
         batches_processed_ == batches_received_ && inbound_.empty() && ingests_.empty();
}

bool Session::Complete() const { return !live() && CaughtUp() && outbound_.empty() && !writing_; }

void Session::CheckCaughtUp() {
  if (caught_up_ || !CaughtUp()) return;
  caught_up_ = true;
  if (on_caught_up_) on_caught_up_();
}

void Session::MarkCompleted() {
  if (closing_) return;
  CheckCaughtUp();
  closing_ = true;
  closing_since_ = SteadyClock::now();
  outcome_.reason = EndReason::kCompleted;
  outcome_.status = Status::Ok();
  wake_.Notify();
}

void Session::Fail(EndReason reason, Status status, std::optional<v1::SyncError::Code> notify) {
  if (closing_) return;
  closing_ = true;
  closing_since_ = SteadyClock::now();
  outcome_.reason = reason;
  outcome_.status = std::move(status);
  outbound_.clear();
  if (notify) {
    v1::SyncMessage error;
    error.mutable_error()->set_code(*notify);
    // The peer learns what it did wrong; our own failures stay here.
    error.mutable_error()->set_reason(reason == EndReason::kLocal || reason == EndReason::kStopped
                                          ? std::string()
                                          : CleanReason(outcome_.status.message()));
    outbound_.push_back(EncodeMessage(error));
  }
  if (writer_done_) ForceClose();
  wake_.Notify();
}

void Session::ForceClose() {
  if (force_closing_) return;
  force_closing_ = true;
  SpawnChild([this]() -> asio::awaitable<void> { co_await channel_->Close(); });
}

void Session::ReportProgress() {
  if (!options_.progress) return;
  const uint64_t done = outcome_.stats.ops_sent + outcome_.stats.ops_received;
  options_.progress(done, std::max(done, expected_ops_));
}

}  // namespace kindred::sync
