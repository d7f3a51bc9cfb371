// One sync session: two devices, over an established SecureChannel,
// exchange Hellos, then each streams the ops the other lacks in signed
// batches, with a bounded window of unacknowledged batches, and the
// receiver ingests and acknowledges them. One-shot sessions end once both
// sides are caught up; live sessions stay open and push every new commit.
// The protocol is in docs/protocol.md. Internal to the engine.
//
//   Session session(executor, std::move(channel), peer, engine, pool.get_executor(), options);
//   SessionOutcome outcome = co_await session.Run();
#ifndef KINDRED_ENGINE_SYNC_SESSION_H_
#define KINDRED_ENGINE_SYNC_SESSION_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "engine/net/secure_channel.h"
#include "engine/sync/async.h"
#include "engine/sync/codec.h"
#include "kindred/engine.h"
#include "kindred/v1/sync.pb.h"

namespace kindred::sync {

using Duration = std::chrono::steady_clock::duration;

// Tuning for one session.
struct SessionOptions {
  // Stay open after catching up and push new commits (kindred serve).
  bool live = false;
  // Ops per batch read from the store, and per SyncBatch message.
  size_t max_batch_ops = 2000;
  // About how many bytes of ops go into one SyncBatch message.
  size_t max_batch_bytes = size_t{1} << 20;
  // SyncBatch messages this side accepts unacknowledged (announced in
  // Hello; 1..kMaxWindow). The sender keeps to the receiver's window.
  uint32_t window = 8;
  // How long the peer may keep us waiting for something it owes us (its
  // Hello, an acknowledgement, the rest of its catch-up, a Pong) before the
  // session ends as stalled.
  Duration stall_timeout = std::chrono::seconds(30);
  // Live sessions: after this long without hearing from the peer, send a
  // Ping (which the peer must answer within stall_timeout).
  Duration keepalive = std::chrono::seconds(15);
  // Advertised in Hello: the port this device's `serve` listens on, or 0.
  uint16_t listen_port = 0;
  // Called on the session's executor as ops are sent and received, with
  // (ops moved so far, ops to move as the Hellos said). May be empty.
  ProgressFn progress;
};

// What a session ended with, and why.
enum class EndReason {
  kCompleted,     // one-shot: both sides caught up
  kStopped,       // Stop() was called (live sessions)
  kPeerClosed,    // the peer ended the session or the connection went away
  kVersion,       // the peer speaks another protocol version
  kProtocol,      // the peer broke the protocol
  kVerification,  // a batch from the peer failed verification
  kFork,          // a device's log differs between the two sides
  kStalled,       // the peer stopped making progress
  kLocal,         // this device failed (its store)
};

// A short name for `reason`, e.g. "fork".
std::string_view EndReasonName(EndReason reason);

struct SessionStats {
  uint64_t ops_sent = 0;          // ops in batches the peer acknowledged
  uint64_t ops_received = 0;      // new ops ingested here
  uint64_t batches_sent = 0;      // SyncBatch messages sent
  uint64_t batches_received = 0;  // SyncBatch messages received
  uint64_t bytes_out = 0;         // bytes written to the connection, handshake included
  uint64_t bytes_in = 0;          // bytes read from it
};

struct SessionOutcome {
  EndReason reason = EndReason::kCompleted;
  Status status;  // OK for kCompleted and kStopped; otherwise says what happened
  SessionStats stats;
  bool caught_up = false;  // both sides had caught up at some point
};

// Builds the AcceptPeerFn for a sync channel: a static key is accepted only
// if it belongs to another device in the roster of a space here, and then
// `*peer` is filled in. With `expected`, only that device is accepted.
// `engine` and `peer` must outlive the handshake.
net::AcceptPeerFn AcceptRosterDevices(Engine& engine, PeerInfo* peer,
                                      std::optional<DeviceId> expected = std::nullopt);

// Threading: everything runs on the channel's executor (single-threaded);
// engine calls run on `blocking`. Not thread-safe: call Stop() and
// NotifyChanged() on the channel's executor.
class Session {
 public:
  // `channel` is established with `peer` (authenticated by
  // AcceptRosterDevices) and runs on `executor`. `engine` must outlive the
  // session; `blocking` runs engine calls (disk and crypto) off the loop.
  Session(asio::any_io_executor executor, std::unique_ptr<net::SecureChannel> channel,
          PeerInfo peer, Engine& engine, asio::any_io_executor blocking, SessionOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the session to its end. Call once; the session must outlive it.
  asio::awaitable<SessionOutcome> Run();

  // Ends the session soon and cleanly (outcome kStopped). Idempotent.
  void Stop();
  // Tells a live session that `space` changed here, so it pushes what the
  // peer lacks.
  void NotifyChanged(const SpaceId& space);

  const PeerInfo& peer() const { return peer_; }
  // The port the peer says its `serve` listens on (0 before its Hello, or none).
  uint16_t peer_listen_port() const { return peer_listen_port_; }
  // Called once, on the session's executor, when both sides have caught up.
  void set_on_caught_up(std::function<void()> fn) { on_caught_up_ = std::move(fn); }

 private:
  // What this side knows of one shared space.
  struct SpaceState {
    std::map<DeviceId, LogHead> ours;    // our heads when the session began
    std::set<DeviceId> our_roster;       // devices whose logs we accept (listed in our Hello)
    std::map<DeviceId, LogHead> theirs;  // what the peer holds, as far as we know
    // Per log, what leaves prev_hash out of what we send (codec.h); only
    // the pusher touches it.
    std::map<DeviceId, KnownHeads> sent_views;
  };
  // A SyncBatch message sent and not yet acknowledged.
  struct InFlight {
    uint64_t ops;
  };
  // One SyncBatch as received, rebuilt as it arrived (on the event loop,
  // while the runs before it are being ingested).
  struct Inbound {
    size_t ops = 0;
    Status status;                 // not OK: the part broke the protocol (reported in turn)
    std::optional<SignedRun> run;  // the run this part completes, if it does
  };
  // What ingesting one part gave.
  struct IngestResult {
    Status status;                             // OK, or why the part or its run was refused...
    EndReason reason = EndReason::kCompleted;  // ...as this
    bool run_complete = false;
    uint64_t added = 0;
    DeviceId device;
    SpaceId space;
    uint64_t last_seq = 0;
    std::string head_hash;  // of the run's last op
  };

  // An ingest of parts that arrived, run on the blocking executor.
  struct IngestJob {
    std::vector<Inbound> parts;
    std::vector<IngestResult> results;
    bool built = false;     // the engine built its last batch (or it finished)
    bool finished = false;  // the results are in
  };

  asio::awaitable<void> Reader();
  asio::awaitable<void> Writer();
  asio::awaitable<void> Ingester();
  // Ingester's steps: whether an ingest has not finished yet; starts one of
  // what arrived; runs one; handles the oldest one's results (false: the
  // session failed).
  bool IngestUnderWay() const;
  void StartIngest();
  asio::awaitable<void> RunIngest(IngestJob* job);
  bool FinishIngest();
  asio::awaitable<void> Pusher();
  asio::awaitable<void> Watchdog();
  // Starts `coroutine` as a child; Run() waits for all children.
  template <typename F>
  void SpawnChild(F coroutine);

  Result<v1::SyncMessage> BuildHello();
  // Handles one message from the peer; an error ends the session.
  void Handle(v1::SyncMessage& message);
  void HandleHello(const v1::Hello& hello);
  void HandleError(const v1::SyncError& error);
  void ProtocolError(const std::string& what);
  // Reads what the peer lacks of `space` and encodes it (blocking executor).
  Result<std::vector<EncodedPart>> Fetch(const SpaceId& space, std::map<DeviceId, LogHead> theirs,
                                         std::map<DeviceId, KnownHeads>* views, size_t max_batches);
  // Sends `part` once the peer's window has room; false if the session ended.
  asio::awaitable<bool> SendPart(EncodedPart part);
  // Ingests the runs `parts` complete, in order, merging consecutive runs
  // of one log into one Engine::Ingest (blocking executor). One result per
  // part, up to and including the first that failed (a malformed part, or
  // a run Ingest refused). Calls `on_built` once, as the engine has built
  // the last batch (see Engine::Ingest), or before returning.
  std::vector<IngestResult> IngestParts(std::vector<Inbound>& parts,
                                        const std::function<void()>& on_built);
  // Why Ingest refused a run: a fork, or a failed verification.
  void ClassifyRefusal(const SignedRun& run, const Status& refused, IngestResult* result);

  void Enqueue(const v1::SyncMessage& message);
  void Enqueue(std::string bytes);
  // Ends the session with `status` as `reason`; when `notify` is set, the
  // peer is told with a SyncError first. The first call wins.
  void Fail(EndReason reason, Status status,
            std::optional<v1::SyncError::Code> notify = std::nullopt);
  // Both Hellos are in and both say live.
  bool live() const { return options_.live && peer_live_; }
  // Both sides have sent SyncDone, and everything sent so far is
  // acknowledged and everything received processed.
  bool CaughtUp() const;
  // One-shot sessions: caught up with nothing left to say.
  bool Complete() const;
  void MarkCompleted();
  // Closes the channel now, even in the middle of a Send.
  void ForceClose();
  void ReportProgress();
  // True when the peer owes us something (for the stall watchdog).
  bool WaitingOnPeer() const;
  void CheckCaughtUp();

  std::unique_ptr<net::SecureChannel> channel_;
  PeerInfo peer_;
  Engine& engine_;
  asio::any_io_executor blocking_;
  SessionOptions options_;
  asio::any_io_executor executor_;
  Event wake_;
  asio::steady_timer watchdog_timer_;

  // Hellos and the spaces both sides share.
  bool have_peer_hello_ = false;
  bool peer_live_ = false;
  uint32_t peer_window_ = 1;
  uint16_t peer_listen_port_ = 0;
  std::map<SpaceId, SpaceState> spaces_;  // filled from our Hello, cut to the shared ones
  std::set<SpaceId> ended_;               // shared spaces that ended, here or at the peer
  uint64_t expected_ops_ = 0;             // ops to move, from the Hellos

  // Sending.
  std::deque<std::string> outbound_;
  bool writing_ = false;
  uint64_t batches_sent_ = 0;
  uint64_t batches_acked_ = 0;
  std::deque<InFlight> in_flight_;
  bool sent_done_ = false;
  bool push_pending_ = false;

  // Receiving.
  std::deque<Inbound> inbound_;
  // Ingests started and not yet handled, in order; at most two under way.
  std::deque<std::unique_ptr<IngestJob>> ingests_;
  uint64_t batches_received_ = 0;
  uint64_t batches_processed_ = 0;
  bool peer_done_ = false;
  uint64_t peer_done_batches_ = 0;
  RunBuilder runs_;              // rebuilds each SyncBatch as it arrives
  bool rebuild_failed_ = false;  // a part broke the protocol: later ones are not rebuilt
  // Per log, what a SyncBatch without prev_hash may follow (codec.h): our
  // Hello's head and the last run the peer sent us.
  std::map<std::pair<SpaceId, DeviceId>, KnownHeads> received_views_;
  bool we_owe_ = false;  // by the Hellos, the peer lacks something we hold

  // Liveness.
  std::chrono::steady_clock::time_point last_heard_;
  std::chrono::steady_clock::time_point last_ping_;
  std::chrono::steady_clock::time_point closing_since_;
  bool ping_outstanding_ = false;
  uint64_t ping_nonce_ = 0;

  // The end.
  bool caught_up_ = false;
  bool closing_ = false;
  bool force_closing_ = false;
  bool writer_done_ = false;
  bool reader_done_ = false;
  int children_ = 0;
  SessionOutcome outcome_;
  std::function<void()> on_caught_up_;
};

}  // namespace kindred::sync

#endif  // KINDRED_ENGINE_SYNC_SESSION_H_
