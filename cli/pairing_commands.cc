// invite, join, devices, revoke, unpair: pairing devices with a short code,
// and who belongs to your spaces (docs/cli.md, docs/security.md).
// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "cli/control.h"
#include "engine/calendar/calendar.h"
#include "engine/pairing/discovery.h"
#include "engine/pairing/invite_code.h"
#include "engine/pairing/pairing.h"
#include "engine/sync/client.h"
#include "kindred/journal.h"
#include "kindred/rituals.h"
#include "kindred/timefmt.h"

namespace kindred::cli {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using nlohmann::json;

struct PairingArgs {
  std::string kind;
  std::string listen = "0.0.0.0:0";
  int timeout = 300;
  std::string discovery;  // invite: where to answer probes; join: where to send them
  std::vector<std::string> code;
  std::string peer;
  std::string device;
};

std::string DescribeDevice(const DeviceCard& card) {
  std::string name = card.member_name.empty() ? "a device" : card.member_name;
  if (!card.device_name.empty()) name += "'s " + card.device_name;
  return name;
}

// "5 minutes", "90 seconds", "1 minute": how long an invite stays open.
std::string HumanSeconds(int seconds) {
  if (seconds % 60 != 0) return std::to_string(seconds) + (seconds == 1 ? " second" : " seconds");
  const int minutes = seconds / 60;
  return std::to_string(minutes) + (minutes == 1 ? " minute" : " minutes");
}

// The exit code for a pairing that did not happen.
int PairingFailed(const Status& status) {
  std::cerr << "kindred: " << status.message() << "\n";
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
      return kExitUsage;
    case StatusCode::kIOError:
    case StatusCode::kInternal:
    case StatusCode::kBusy:
      return kExitStore;
    default:
      return kExitPeer;
  }
}

Result<udp::endpoint> ParseUdp(const std::string& text, const char* what) {
  auto where = sync::ParseHostPort(text);
  if (!where.ok()) return where.status().WithContext(what);
  boost::system::error_code error;
  auto address = asio::ip::make_address(where->host, error);
  if (error) {
    return Status::InvalidArgument(std::string(what) + ": `" + where->host +
                                   "` is not an IP address");
  }
  return udp::endpoint(address, where->port);
}

int ReportPaired(Context& ctx, Engine& engine, const pairing::Paired& paired, bool inviter) {
  if (paired.kind == PairingKind::kPartner) MoveSharedItems(engine, /*only_this_device=*/false);
  if (ctx.json) {
    std::cout << json{{"peer_device", paired.peer.id.ToString()},
                      {"peer_name", paired.peer.member_name},
                      {"peer_device_name", paired.peer.device_name},
                      {"kind", std::string(pairing::KindName(paired.kind))},
                      {"safety", paired.safety_words}}
                     .dump()
              << std::endl;
    return kExitOk;
  }
  std::cout << "safety: " << paired.safety_words << "\n"
            << "paired with " << DescribeDevice(paired.peer) << " (" << paired.peer.id.ToString()
            << ")\n";
  // A partner's device is not this member's to revoke: unpairing is the way out.
  std::cerr << (paired.kind == PairingKind::kPartner
                    ? "Read the safety words to each other: both devices should show the same "
                      "five. If they differ, someone else got in: run `kindred unpair`.\n"
                    : "Check that both devices show the same five safety words. If they "
                      "differ, someone else got in: run `kindred revoke " +
                          paired.peer.id.ToString() + "`.\n");
  if (paired.kind == PairingKind::kPartner) {
    std::cerr << "You and " << paired.peer.member_name
              << " now share a space: entries marked --shared reach them when you sync; "
                 "private ones never leave your own devices.\n";
  } else {
    const std::string other =
        paired.peer.device_name.empty() ? "other device" : paired.peer.device_name;
    std::cerr << (inviter ? "Your " + other +
                                " is linked: it gets all your entries, private and shared, when "
                                "it syncs with this device.\n"
                          : "This device is linked to your " + other +
                                ": sync with it to bring all your entries here.\n");
  }
  if (inviter && ctx.serving) {
    std::cerr << "`kindred serve` keeps running here and syncs with "
              << (paired.kind == PairingKind::kPartner ? "their device" : "it")
              << " as soon as it connects.\n";
  }
  return kExitOk;
}

int RunInvite(Context& ctx, const PairingArgs& a) {
  PairingKind kind;
  if (a.kind == "partner") {
    kind = PairingKind::kPartner;
  } else if (a.kind == "device") {
    kind = PairingKind::kOwnDevice;
  } else {
    return Fail(Status::InvalidArgument("invite `partner` or `device`, not `" + a.kind + "`"));
  }
  if (a.timeout <= 0 || a.timeout > 86400) {
    return Fail(Status::InvalidArgument("--timeout must be from 1 to 86400 seconds"));
  }
  auto listen = sync::ParseHostPort(a.listen);
  if (!listen.ok()) return Fail(listen.status().WithContext("--listen"));
  boost::system::error_code error;
  auto address = asio::ip::make_address(listen->host, error);
  if (error) {
    return Fail(Status::InvalidArgument("--listen: `" + listen->host + "` is not an IP address"));
  }
  std::optional<udp::endpoint> discovery;
  if (a.discovery != "off") {
    auto where = ParseUdp(a.discovery.empty()
                              ? "0.0.0.0:" + std::to_string(pairing::kDefaultDiscoveryPort)
                              : a.discovery,
                          "--discovery");
    if (!where.ok()) return Fail(where.status());
    discovery = *where;
  }
  // Under a running `kindred serve` this runs there, against its open
  // engine, and what it prints reaches the person's terminal as it is
  // written (the code at once).
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());

  asio::io_context io;
  tcp::acceptor acceptor(io);
  const tcp::endpoint endpoint(address, listen->port);
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return PairingFailed(
        Status::Unavailable("cannot listen on " + listen->ToString() + ": " + error.message()));
  }
  const tcp::endpoint bound = acceptor.local_endpoint(error);
  const pairing::InviteCode code = pairing::InviteCode::Generate(Env::System().random());

  std::cout << "code: " << code.ToString() << "\n"
            << "listening on " << sync::HostPort{bound.address().to_string(), bound.port()}.ToString()
            << std::endl;  // flushed at once: the person reads it out
  pairing::DiscoveryResponder responder(io.get_executor(), bound.port());
  bool discoverable = false;
  if (discovery) {
    auto udp_bound = responder.Bind(*discovery);
    if (udp_bound.ok()) {
      discoverable = true;
      std::cout << "discoverable on "
                << sync::HostPort{udp_bound->address().to_string(), udp_bound->port()}.ToString()
                << std::endl;
      asio::co_spawn(io, responder.Run(), asio::detached);
    } else {
      std::cerr << "kindred: the other device will need --peer: " << udp_bound.status().message()
                << "\n";
    }
  }
  std::cerr << (kind == PairingKind::kPartner
                    ? "Read the code to your partner: it works once, for the next "
                    : "Type the code on your other device: it works once, for the next ")
            << HumanSeconds(a.timeout) << ". Waiting for `kindred join` with it...\n";

  pairing::InviteOptions options;
  options.kind = kind;
  options.timeout = std::chrono::seconds(a.timeout);
  options.log = [](const std::string& line) { std::cerr << "kindred: " << line << "\n"; };
  std::optional<Result<pairing::Paired>> result;
  // Ctrl-C ends the invite: nobody else gets in. Run by `kindred serve`, the
  // invite ends when the person's terminal goes away or serve stops; the
  // signals are serve's own.
  asio::signal_set signals(io);
  if (!ctx.serving) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
  }
  signals.async_wait([&](const boost::system::error_code& e, int) {
    if (e) return;
    boost::system::error_code ignored;
    acceptor.close(ignored);
  });
  OnCancel cancelled(ctx.serving ? ctx.serving->cancel : nullptr,
                     [&io] { io.stop(); });  // at once, even halfway through a pairing
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result.emplace(co_await pairing::Invite(**engine, acceptor, code, options));
        responder.Stop();
        signals.cancel();
      },
      asio::detached);
  io.run();
  static_cast<void>(discoverable);
  if (!result || !result->ok()) {
    if (!result && ctx.serving && ctx.serving->cancel && ctx.serving->cancel->cancelled()) {
      return PairingFailed(Status::Unavailable("the invite was closed (" +
                                               ctx.serving->cancel->reason() +
                                               ") with nobody paired; make a new one"));
    }
    return PairingFailed(result ? result->status()
                                : Status::Unavailable("the invite ended before anyone paired"));
  }
  return ReportPaired(ctx, **engine, **result, /*inviter=*/true);
}

int RunJoin(Context& ctx, const PairingArgs& a) {
  std::string typed;
  for (const std::string& part : a.code) typed += (typed.empty() ? "" : " ") + part;
  auto code = pairing::InviteCode::Parse(typed);
  if (!code.ok()) return Fail(code.status());
  if (a.timeout <= 0 || a.timeout > 86400) {
    return Fail(Status::InvalidArgument("--timeout must be from 1 to 86400 seconds"));
  }
  std::optional<sync::HostPort> peer;
  if (!a.peer.empty()) {
    auto where = sync::ParseHostPort(a.peer);
    if (!where.ok()) return Fail(where.status().WithContext("--peer"));
    peer = *where;
  }
  udp::endpoint probe_target(asio::ip::address_v4::broadcast(), pairing::kDefaultDiscoveryPort);
  if (!a.discovery.empty()) {
    auto where = ParseUdp(a.discovery, "--discovery");
    if (!where.ok()) return Fail(where.status());
    probe_target = *where;
  }
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());

  asio::io_context io;
  // Run by `kindred serve`: stop when the person's terminal goes away.
  OnCancel cancelled(ctx.serving ? ctx.serving->cancel : nullptr, [&io] { io.stop(); });
  pairing::JoinOptions options;
  options.step_timeout = std::chrono::seconds(std::min(a.timeout, 30));
  std::optional<Result<pairing::Paired>> result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::vector<tcp::endpoint> candidates;
        if (peer) {
          tcp::resolver resolver(io);
          boost::system::error_code error;
          auto found = co_await resolver.async_resolve(
              peer->host, std::to_string(peer->port),
              asio::redirect_error(asio::use_awaitable, error));
          if (error) {
            result.emplace(Status::Unavailable("cannot resolve " + peer->host + ": " +
                                               error.message()));
            co_return;
          }
          for (const auto& entry : found) candidates.push_back(entry.endpoint());
        } else {
          std::cerr << "Looking for the invite on the local network...\n";
          auto found = co_await pairing::Discover(probe_target, std::chrono::seconds(3),
                                                  Env::System().random());
          if (!found.ok()) {
            result.emplace(found.status().WithContext("finding the invite (try --peer HOST:PORT)"));
            co_return;
          }
          if (found->empty()) {
            result.emplace(Status::Unavailable(
                "no open invite answered on the local network; give its address with --peer "
                "HOST:PORT (the inviter's `listening on` line)"));
            co_return;
          }
          candidates = std::move(*found);
        }
        // Several invites may answer: the PAKE tells which holds this code.
        Status last = Status::Unavailable("no invite to join");
        for (const tcp::endpoint& candidate : candidates) {
          auto paired = co_await pairing::Join(**engine, candidate, *code, options);
          if (paired.ok()) {
            result.emplace(std::move(paired));
            co_return;
          }
          // A wrong code says the most: keep it over "unreachable".
          if (last.code() == StatusCode::kUnavailable || paired.status().code() != StatusCode::kUnavailable) {
            last = paired.status();
          }
          if (paired.status().code() == StatusCode::kFailedPrecondition) break;
        }
        result.emplace(last);
      },
      asio::detached);
  io.run();
  if (!result || !result->ok()) {
    return PairingFailed(result ? result->status() : Status::Unavailable("the join did not finish"));
  }
  return ReportPaired(ctx, **engine, **result, /*inviter=*/false);
}

std::string When(int64_t micros) { return micros == 0 ? "never" : FormatIsoLocal(micros); }

int RunDevices(Context& ctx) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  auto devices = (*engine)->Devices();
  if (!devices.ok()) return Fail(devices.status());
  auto peers = (*engine)->Peers();
  std::map<DeviceId, PeerInfo> seen;
  if (peers.ok()) {
    for (PeerInfo& p : *peers) seen[p.card.id] = std::move(p);
  }
  const DeviceId me = (*engine)->device().id;
  std::map<DeviceId, std::string> names;
  for (const RosterDevice& d : *devices) names[d.card.id] = DescribeDevice(d.card);
  auto status_of = [&](const RosterDevice& d) -> std::string {
    if (d.card.id == me) return "this device";
    return d.revoked ? "revoked" : "active";
  };
  // This device first, then this member's other devices, then the partner's.
  std::vector<const RosterDevice*> order;
  for (const RosterDevice& d : *devices) {
    if (d.card.id == me) order.push_back(&d);
  }
  for (const RosterDevice& d : *devices) {
    if (d.card.member_id == (*engine)->card().member_id && d.card.id != me) order.push_back(&d);
  }
  for (const RosterDevice& d : *devices) {
    if (d.card.member_id != (*engine)->card().member_id) order.push_back(&d);
  }
  if (ctx.json) {
    json out = json::array();
    for (const RosterDevice* d : order) {
      auto peer = seen.find(d->card.id);
      const int64_t last_seen = peer == seen.end() ? 0 : peer->second.last_seen_micros;
      out.push_back({{"device_id", d->card.id.ToString()},
                     {"name", d->card.device_name},
                     {"member", d->card.member_name},
                     {"status", status_of(*d)},
                     {"added_by", d->added_by.empty() || d->added_by == d->card.id
                                      ? json(nullptr)
                                      : json(d->added_by.ToString())},
                     {"last_seen", last_seen ? json(FormatIsoLocal(last_seen)) : json(nullptr)}});
    }
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  for (const RosterDevice* d : order) {
    auto peer = seen.find(d->card.id);
    std::string added_by = "(first device)";
    if (!d->added_by.empty() && d->added_by != d->card.id) {
      auto name = names.find(d->added_by);
      added_by = (name == names.end() ? std::string("a device") : name->second) + " (" +
                 d->added_by.ToString() + ")";
    }
    std::cout << d->card.id.ToString() << "  " << DescribeDevice(d->card) << "\n"
              << "  member:    " << d->card.member_name << "\n"
              << "  added by:  " << added_by << "\n"
              << "  last seen: "
              << (d->card.id == me ? "now"
                                   : When(peer == seen.end() ? 0 : peer->second.last_seen_micros))
              << "\n"
              << "  status:    " << status_of(*d)
              << (d->revoked ? " on " + When(d->revoked_micros) : std::string()) << "\n";
  }
  return kExitOk;
}

int RunRevoke(Context& ctx, const PairingArgs& a) {
  auto device = DeviceId::Parse(a.device);
  if (!device.ok()) return Fail(device.status().WithContext("DEVICE_ID"));
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  Status revoked = (*engine)->RevokeDevice(*device);
  if (!revoked.ok()) return Fail(revoked);
  if (ctx.json) {
    std::cout << json{{"device_id", device->ToString()}, {"status", "revoked"}}.dump() << "\n";
    return kExitOk;
  }
  std::cout << "Revoked " << device->ToString() << ".\n";
  std::cerr << "It can no longer sync with your devices, and everything written from now on uses "
               "new keys it does not have. Sync your other devices (and your partner's) so they "
               "learn of it too.\n";
  return kExitOk;
}

int RunUnpair(Context& ctx) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  auto shared = (*engine)->SharedSpace();
  if (!shared || (*engine)->SpaceEnded(*shared)) {
    return Fail(Status::FailedPrecondition("this device is not paired with a partner"));
  }
  std::string partner;
  auto devices = (*engine)->SpaceDevices(*shared);
  if (devices.ok()) {
    for (const DeviceCard& d : *devices) {
      if (d.member_id != (*engine)->card().member_id) partner = d.member_name;
    }
  }
  Status ended = (*engine)->EndSpace(*shared);
  if (!ended.ok()) return Fail(ended);
  if (ctx.json) {
    std::cout << json{{"space", shared->ToHex()}, {"partner", partner}, {"ended", true}}.dump()
              << "\n";
    return kExitOk;
  }
  std::cout << "The partnership" << (partner.empty() ? "" : " with " + partner)
            << " has ended.\n";
  std::cerr << "What you shared so far stays here, read-only; nothing new is shared or synced. "
               "Their devices learn of it the next time they connect to one of yours.\n";
  return kExitOk;
}

}  // namespace

// After partner pairing: this member's shared entries and rituals written
// before it move into the couple's space (docs/security.md, "Pairing").
void MoveSharedItems(Engine& engine, bool only_this_device) {
  Journal journal(engine);
  auto entries = journal.MoveSharedEntries(only_this_device);
  if (!entries.ok()) {
    std::cerr << "kindred: could not move shared entries into the shared space yet: "
              << entries.status().message() << "\n";
  }
  auto calendar = calendar::Calendar::Create();
  if (!calendar.ok()) return;
  Rituals rituals(engine, **calendar, Env::System().clock());
  auto moved = rituals.MoveSharedRituals(only_this_device);
  if (!moved.ok()) {
    std::cerr << "kindred: could not move shared rituals into the shared space yet: "
              << moved.status().message() << "\n";
  }
}

void AddPairingCommands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<PairingArgs>();
  auto* invite = app.add_subcommand(
      "invite", "Pair with your partner, or link another device of yours, with a short code");
  invite->add_option("kind", args->kind, "`partner` or `device`")->required();
  invite->add_option("--listen", args->listen,
                     "HOST:PORT to wait on (default 0.0.0.0:0, a free port)");
  invite->add_option("--timeout", args->timeout, "Seconds the invite stays open (default 300)");
  invite->add_option("--discovery", args->discovery,
                     "UDP HOST:PORT where the invite answers `kindred join` on the local "
                     "network (default 0.0.0.0:47801), or `off`");
  invite->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunInvite(ctx, *args); }; });

  auto* join = app.add_subcommand("join", "Pair with an invite, using its code");
  join->add_option("code", args->code, "The invite code, e.g. 47-orbit-maple-lantern")
      ->required()
      ->expected(1, 4);
  join->add_option("--peer", args->peer,
                   "HOST:PORT of the invite (its `listening on` line); default: find it on "
                   "the local network");
  join->add_option("--timeout", args->timeout, "Seconds to wait for each step (default 300, at most 30 per step)");
  join->add_option("--discovery", args->discovery,
                   "UDP HOST:PORT to look for the invite at (default 255.255.255.255:47801)");
  join->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunJoin(ctx, *args); }; });

  app.add_subcommand("devices", "List your devices and your partner's")->callback([&ctx] {
    ctx.action = [&ctx] { return RunDevices(ctx); };
  });
  auto* revoke = app.add_subcommand("revoke", "Remove one of your devices (a lost phone)");
  revoke->add_option("device", args->device, "The device id (see `kindred devices`)")->required();
  revoke->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunRevoke(ctx, *args); }; });
  app.add_subcommand("unpair", "End the partnership: keep what was shared, share nothing new")
      ->callback([&ctx] { ctx.action = [&ctx] { return RunUnpair(ctx); }; });
}

}  // namespace kindred::cli
