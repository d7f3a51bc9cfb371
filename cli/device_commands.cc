// init, id, status, verify: the device itself.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "cli/terminal.h"
#include "kindred/timefmt.h"

namespace kindred::cli {
namespace {

using nlohmann::json;

// The passphrase for a new device: $KINDRED_PASSPHRASE, else asked twice
// on a terminal (empty for none), else none.
Result<std::optional<std::string>> NewPassphrase() {
  if (const char* p = std::getenv("KINDRED_PASSPHRASE")) return std::optional<std::string>(p);
  if (!StdinIsTerminal()) return std::optional<std::string>();
  auto first = PromptSecret(
      "Choose a passphrase to protect this device's keys (press Enter for none): ");
  if (!first || first->empty()) return std::optional<std::string>();
  auto second = PromptSecret("Type it again: ");
  if (!second || *second != *first) {
    return Status::InvalidArgument("the two passphrases did not match; nothing was created");
  }
  return std::optional<std::string>(*first);
}

int RunInit(Context& ctx, const std::string& name, const std::string& device_name) {
  InitOptions init;
  init.engine.home = ctx.Home();
  init.member_name = name;
  init.device_name = device_name;
  if (const char* s = std::getenv("KINDRED_KDF"); s && std::string(s) == "interactive") {
    init.strength = PassphraseStrength::kInteractive;
  }
  auto passphrase = NewPassphrase();
  if (!passphrase.ok()) return Fail(passphrase.status());
  init.engine.passphrase = *passphrase;
  auto engine = Engine::Init(init);
  if (!engine.ok()) return Fail(engine.status());
  const DeviceInfo& d = (*engine)->device();
  if (ctx.json) {
    std::cout << json{{"device_id", d.id.ToString()}, {"name", d.member_name},
                      {"home", init.engine.home}, {"keys_protected", d.keys_protected}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  std::cout << "Welcome, " << d.member_name << ". This device is ready.\n"
            << "  device id: " << d.id.ToString() << "\n"
            << "  home:      " << init.engine.home << "\n";
  if (!d.keys_protected) {
    std::cout << "  Your keys are not protected by a passphrase: anyone who can read this\n"
                 "  home can read your journal. Set KINDRED_PASSPHRASE at init to seal them.\n";
  }
  return kExitOk;
}

int RunId(Context& ctx) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  const DeviceInfo& d = (*engine)->device();
  if (ctx.json) {
    std::cout << json{{"device_id", d.id.ToString()}, {"name", d.member_name},
                      {"sign_pk", ToHex(d.sign_pk)}, {"dh_pk", ToHex(d.dh_pk)}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  std::cout << "device id:   " << d.id.ToString() << "\n"
            << "member:      " << d.member_name << "\n"
            << "device name: " << d.device_name << "\n"
            << "signing key: " << ToHex(d.sign_pk) << " (Ed25519)\n"
            << "sync key:    " << ToHex(d.dh_pk) << " (X25519)\n";
  return kExitOk;
}

int RunStatus(Context& ctx) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  const DeviceInfo& d = (*engine)->device();
  auto spaces = (*engine)->Spaces();
  if (!spaces.ok()) return Fail(spaces.status());
  if (ctx.json) {
    json out{{"device_id", d.id.ToString()},
             {"name", d.member_name},
             {"home", ctx.Home()},
             {"keys_protected", d.keys_protected},
             {"spaces", json::array()}};
    for (const auto& s : *spaces) {
      json vv = json::object();
      for (const auto& [dev, seq] : s.version_vector) vv[dev.ToString()] = seq;
      out["spaces"].push_back({{"id", s.id.ToHex()}, {"kind", s.kind}, {"epoch", s.epoch},
                               {"records", s.records}, {"version_vector", vv},
                               {"ended", s.ended_micros != 0}});
    }
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  std::cout << "device:  " << d.id.ToString() << " (" << d.member_name << ", " << d.device_name
            << ")\n"
            << "home:    " << ctx.Home() << "\n";
  if (d.keys_protected) {
    std::cout << "keys:    protected by a passphrase\n";
  } else {
    std::cout << "keys:    NOT protected by a passphrase. Anyone who can read this home can read\n"
                 "         your journal. Create the device with KINDRED_PASSPHRASE set to seal them.\n";
  }
  for (const auto& s : *spaces) {
    std::cout << "space:   " << s.kind << " " << s.id.ToHex().substr(0, 8) << " (key epoch "
              << s.epoch << (s.ended_micros ? "; ended, read-only" : "") << ")\n";
    for (const auto& [collection, n] : s.records) {
      std::cout << "  " << collection << ": " << n << (n == 1 ? " record" : " records") << "\n";
    }
    for (const auto& [dev, seq] : s.version_vector) {
      std::cout << "  log of " << dev.ToString() << (dev == d.id ? " (this device)" : "")
                << ": " << seq << (seq == 1 ? " op" : " ops") << "\n";
    }
  }
  return kExitOk;
}

int RunVerify(Context& ctx) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  VerifyReport report;
  Status s = (*engine)->Verify(&report);
  if (!s.ok()) return Fail(s);
  if (ctx.json) {
    std::cout << json{{"ok", true}, {"ops", report.ops}, {"decrypted", report.decrypted},
                      {"purged", report.purged}, {"signatures", report.signatures},
                      {"records", report.records}}
                     .dump()
              << "\n";
    return kExitOk;
  }
  std::cout << "All is well: " << report.ops << " ops in unbroken hash chains, "
            << report.signatures << " batch signatures, " << report.decrypted
            << " payloads authenticated, " << report.purged << " purged, " << report.records
            << " records authenticated.\n";
  return kExitOk;
}

}  // namespace

void AddDeviceCommands(CLI::App& app, Context& ctx) {
  auto* init = app.add_subcommand("init", "Create this device: its keys and your personal space");
  auto name = std::make_shared<std::string>();
  auto device_name = std::make_shared<std::string>();
  init->add_option("--name", *name, "Your name, as your partner will see it")->required();
  init->add_option("--device-name", *device_name, "A name for this device (default: host name)");
  init->callback([&ctx, name, device_name] {
    ctx.action = [&ctx, name, device_name] { return RunInit(ctx, *name, *device_name); };
  });

  app.add_subcommand("id", "Show this device's id and public keys")->callback([&ctx] {
    ctx.action = [&ctx] { return RunId(ctx); };
  });
  app.add_subcommand("status", "Show the device, its spaces, counts and key protection")
      ->callback([&ctx] { ctx.action = [&ctx] { return RunStatus(ctx); }; });
  app.add_subcommand("verify", "Check every hash chain, signature and stored record")
      ->callback([&ctx] { ctx.action = [&ctx] { return RunVerify(ctx); }; });
}

}  // namespace kindred::cli
