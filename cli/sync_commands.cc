// kindred serve, sync, peers: syncing with other devices over the network.
// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/context.h"
#include "cli/control.h"
#include "cli/terminal.h"
#include "engine/sync/client.h"
#include "engine/sync/server.h"
#include "kindred/timefmt.h"

namespace kindred::cli {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

struct SyncArgs {
  std::string peer;
  std::string listen = "0.0.0.0:" + std::to_string(sync::kDefaultPort);
};

std::string HumanBytes(uint64_t bytes) {
  char buf[32];
  if (bytes < 10 * 1024) return std::to_string(bytes) + " B";
  if (bytes < 10 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024 * 1024));
  }
  return buf;
}

std::string PeerName(const PeerInfo& peer) {
  std::string name = peer.card.member_name.empty() ? "device" : peer.card.member_name;
  if (!peer.card.device_name.empty()) name += "'s " + peer.card.device_name;
  return name + " (" + peer.card.id.ToString() + ")";
}

// The message for a sync that did not complete: it names what went wrong.
Status DescribeFailure(const sync::DialResult& r, const std::string& where) {
  switch (r.failure) {
    case sync::DialFailure::kUnreachable:
      return Status::Unavailable("the peer at " + where + " is unreachable: " + r.status.message());
    case sync::DialFailure::kRejected:
      if (r.status.message().find("we rejected") != std::string::npos) {
        return Status::PermissionDenied("the device at " + where +
                                        " is unknown: none of this device's spaces lists it");
      }
      return Status::PermissionDenied("the device at " + where +
                                      " does not know this device (is it linked or paired?)");
    case sync::DialFailure::kHandshake:
      return Status::Unauthenticated("the secure handshake with " + where +
                                     " failed: " + r.status.message());
    case sync::DialFailure::kNone:
      break;
  }
  const std::string who = r.peer ? PeerName(*r.peer) : where;
  switch (r.session.reason) {
    case sync::EndReason::kFork:
      return Status::Corruption("forked peer " + who + ": " + r.status.message());
    case sync::EndReason::kVersion:
      return Status::FailedPrecondition("incompatible peer " + who + ": " + r.status.message());
    case sync::EndReason::kVerification:
      return Status::Corruption("sync with " + who + " refused a batch: " + r.status.message());
    case sync::EndReason::kStalled:
      return Status::Unavailable("sync with " + who + " stalled: " + r.status.message());
    case sync::EndReason::kLocal:
      return r.status;
    default:
      return Status::Unavailable("sync with " + who + " did not finish: " + r.status.message());
  }
}

int RunSync(Context& ctx, const SyncArgs& a) {
  Result<sync::HostPort> where = sync::ParseHostPort(a.peer);
  if (!where.ok()) return Fail(where.status().WithContext("--peer"));
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());

  asio::io_context io;
  asio::thread_pool pool(1);
  ProgressBar bar("syncing", ctx.Interactive());
  sync::DialOptions options;
  options.session.progress = [&bar](uint64_t done, uint64_t total) {
    if (total >= 1000) bar.Update(done, total);  // only long syncs
  };
  sync::DialResult result;
  // Who belongs to which space here: a session that changes it (a device
  // added or a space joined, e.g. the couple's space after pairing) is
  // followed by one more, so the new logs come along at once.
  auto membership = [&engine]() {
    std::set<std::pair<SpaceId, DeviceId>> out;
    auto devices = (*engine)->Devices();
    if (!devices.ok()) return out;
    for (const RosterDevice& d : *devices) {
      if (d.revoked) continue;
      for (const SpaceId& s : d.spaces) out.insert({s, d.card.id});
    }
    return out;
  };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto before = membership();
        const auto shared_before = (*engine)->SharedSpace();
        result = co_await sync::Dial(**engine, pool.get_executor(), *where, options);
        if (result.failure != sync::DialFailure::kNone ||
            result.session.reason != sync::EndReason::kCompleted || membership() == before) {
          co_return;
        }
        // This device just heard of the couple's space (paired on another
        // of the member's devices): what it shared before goes there now,
        // and travels in the next session.
        if ((*engine)->SharedSpace() && (*engine)->SharedSpace() != shared_before) {
          MoveSharedItems(**engine, /*only_this_device=*/true);
        }
        sync::DialResult more = co_await sync::Dial(**engine, pool.get_executor(), *where, options);
        if (more.failure == sync::DialFailure::kNone &&
            more.session.reason == sync::EndReason::kCompleted) {
          result.session.stats.ops_sent += more.session.stats.ops_sent;
          result.session.stats.ops_received += more.session.stats.ops_received;
          result.session.stats.bytes_out += more.session.stats.bytes_out;
          result.session.stats.bytes_in += more.session.stats.bytes_in;
          result.elapsed += more.elapsed;
        }
      },
      asio::detached);
  io.run();
  pool.join();

  const std::string place = where->ToString();
  if (result.failure != sync::DialFailure::kNone ||
      result.session.reason != sync::EndReason::kCompleted) {
    Status failure = DescribeFailure(result, place);
    std::cerr << "kindred: " << failure.message() << "\n";
    return failure.code() == StatusCode::kInternal || failure.code() == StatusCode::kIOError
               ? kExitStore
               : kExitPeer;
  }
  const sync::SessionStats& s = result.session.stats;
  if (ctx.json) {
    std::cout << json{{"sent", s.ops_sent},           {"received", s.ops_received},
                      {"bytes_out", s.bytes_out},     {"bytes_in", s.bytes_in},
                      {"ms", result.elapsed.count()}, {"peer", result.peer->card.id.ToString()}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  std::cout << "Synced with " << PeerName(*result.peer) << ": sent " << s.ops_sent
            << (s.ops_sent == 1 ? " op" : " ops") << ", received " << s.ops_received
            << (s.ops_received == 1 ? " op" : " ops") << "; " << HumanBytes(s.bytes_out) << " out, "
            << HumanBytes(s.bytes_in) << " in, " << result.elapsed.count() << " ms.\n";
  return kExitOk;
}

// serve's own lines go straight to file descriptor 2: while it runs a
// forwarded command, std::cerr belongs to that command.
void ServeLog(const std::string& line) {
  const std::string text = "kindred serve: " + line + "\n";
  ssize_t written = ::write(STDERR_FILENO, text.data(), text.size());
  static_cast<void>(written);  // nothing to do if stderr is gone
}

int RunServe(Context& ctx, const SyncArgs& a) {
  if (ctx.serving) {
    return Fail(Status::FailedPrecondition("kindred serve is already running for this home"));
  }
  // The store is opened by absolute path: forwarded commands run in their
  // caller's working directory.
  std::error_code ec;
  const std::string home = std::filesystem::absolute(ctx.Home(), ec).string();
  ctx.home_flag = home;
  // Not forwarded: a second serve on a home is refused as busy.
  auto engine = ctx.OpenEngine(/*allow_forward=*/false);
  if (!engine.ok()) return Fail(engine.status());
  // What this device shared before it heard of the couple's space (while
  // another of the member's devices paired) moves there now.
  MoveSharedItems(**engine, /*only_this_device=*/true);
  // Plugins keep their views current as ops arrive (docs/plugins.md).
  std::shared_ptr<void> plugins = StartServePlugins(ctx, **engine, ServeLog);

  asio::io_context io;
  asio::thread_pool pool(2);
  sync::ServerOptions options;
  options.listen = a.listen;
  options.log = ServeLog;
  sync::Server server(io.get_executor(), **engine, pool.get_executor(), options);
  auto bound = server.Listen();
  if (!bound.ok()) return Fail(bound.status().WithContext("--listen"));

  // Other commands on this home reach the open engine through the control socket.
  ControlServer control(
      io, ControlSocketPath(home),
      [&](const v1::ControlRequest& request, const ForwardedOutputFn& output,
          Cancellation& cancel) {
        return RunForwarded(request, output, cancel, **engine, home, &ctx);
      },
      ServeLog);
  Status control_up = control.Listen();
  if (!control_up.ok()) {
    ServeLog("other commands on this home will find it busy: " + control_up.message());
  }

  sync::HostPort shown{bound->address().to_string(), bound->port()};
  std::cout << "listening on " << shown.ToString() << std::endl;  // flushed at once

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int) {
    if (error) return;
    ServeLog("stopping");
    control.Stop();
    server.Stop();
  });
  server.Start();
  control.Start();
  io.run();
  pool.join();
  return kExitOk;
}

std::string When(int64_t micros) {
  if (micros == 0) return "never";
  return FormatIsoLocal(micros);
}

int RunPeers(Context& ctx) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  auto peers = (*engine)->Peers();
  if (!peers.ok()) return Fail(peers.status());
  if (ctx.json) {
    json out = json::array();
    for (const PeerInfo& p : *peers) {
      json spaces = json::array();
      for (const SpaceId& s : p.spaces) spaces.push_back(s.ToHex());
      out.push_back({{"device_id", p.card.id.ToString()},
                     {"name", p.card.member_name},
                     {"device_name", p.card.device_name},
                     {"spaces", spaces},
                     {"address", p.address.empty() ? json(nullptr) : json(p.address)},
                     {"last_seen", p.last_seen_micros ? json(FormatIsoLocal(p.last_seen_micros))
                                                      : json(nullptr)},
                     {"last_sync", p.last_sync_micros ? json(FormatIsoLocal(p.last_sync_micros))
                                                      : json(nullptr)},
                     {"last_result", p.last_result.empty() ? json(nullptr) : json(p.last_result)}});
    }
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  if (peers->empty()) {
    std::cout << "No other devices yet. Link or pair one, then sync with it.\n";
    return kExitOk;
  }
  for (const PeerInfo& p : *peers) {
    std::cout << PeerName(p) << "\n"
              << "  address:   " << (p.address.empty() ? "unknown" : p.address) << "\n"
              << "  last seen: " << When(p.last_seen_micros) << "\n"
              << "  last sync: " << When(p.last_sync_micros) << "\n"
              << "  state:     " << (p.last_result.empty() ? "never synced" : p.last_result)
              << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddSyncCommands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<SyncArgs>();
  auto* serve = app.add_subcommand(
      "serve", "Keep syncing with your other devices, live, until stopped (SIGINT or SIGTERM)");
  serve->add_option("--listen", args->listen,
                    "HOST:PORT to listen on (default 0.0.0.0:47800; port 0 picks a free one)");
  serve->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunServe(ctx, *args); }; });

  auto* once = app.add_subcommand("sync", "Sync once, both ways, with a device");
  once->add_option("--peer", args->peer, "HOST:PORT of the other device's `kindred serve`")
      ->required();
  once->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunSync(ctx, *args); }; });

  app.add_subcommand("peers", "List the devices you sync with and how it went")->callback([&ctx] {
    ctx.action = [&ctx] { return RunPeers(ctx); };
  });
}

}  // namespace kindred::cli
