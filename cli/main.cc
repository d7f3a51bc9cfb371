// kindred: the command-line front door to a device's journal.
#include <cstdlib>
#include <iostream>

#include "cli/context.h"
#include "cli/terminal.h"

namespace kindred::cli {

std::string Context::Home() const {
  if (!home_flag.empty()) return home_flag;
  if (const char* env = std::getenv("KINDRED_HOME"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/kindred";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/share/kindred";
}

Result<std::unique_ptr<Engine>> Context::OpenEngine() const {
  EngineOptions options;
  options.home = Home();
  if (const char* p = std::getenv("KINDRED_PASSPHRASE")) {
    options.passphrase = p;
  } else {
    auto sealed = Engine::KeyFileIsSealed(options.home);
    if (sealed.ok() && *sealed) {
      auto typed = PromptSecret("Passphrase for this device's keys: ");
      if (typed) options.passphrase = std::move(*typed);
    }
  }
  auto engine = Engine::Open(options);
  if (options.passphrase) std::fill(options.passphrase->begin(), options.passphrase->end(), '\0');
  return engine;
}

int ExitCode(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kCorruption:
    case StatusCode::kBusy:
    case StatusCode::kIOError:
    case StatusCode::kInternal: return kExitStore;
    default: return kExitUsage;
  }
}

int Fail(const Status& status) {
  std::string message = status.message();
  if (status.code() == StatusCode::kBusy) {
    message += " (another kindred command is using this home; try again when it has finished)";
  }
  std::cerr << "kindred: " << message << "\n";
  return ExitCode(status);
}

}  // namespace kindred::cli

int main(int argc, char** argv) {
  using namespace kindred::cli;
  Context ctx;
  CLI::App app{
      "Kindred keeps your journal and your shared rituals on your own devices,\n"
      "encrypted, and syncs them directly with your partner's.",
      "kindred"};
  app.set_version_flag("--version", "kindred 0.1.0");
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--home", ctx.home_flag, "The device's home directory (default: $KINDRED_HOME, "
                                          "else $XDG_DATA_HOME/kindred, else ~/.local/share/kindred)");
  app.add_flag("--json", ctx.json, "Print stable JSON instead of text (see docs/cli.md)");

  AddDeviceCommands(app, ctx);
  AddJournalCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "kindred: " << e.what() << "\nRun `kindred --help` for usage.\n";
    return kExitUsage;
  }
  if (!ctx.action) {
    std::cerr << "kindred: choose a command; run `kindred --help` to see them\n";
    return kExitUsage;
  }
  return ctx.action();
}
