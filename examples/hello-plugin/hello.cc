// A small Kindred plugin: leave your partner a greeting, and give the ones
// they leave you a hug. Its records sync to your partner, end-to-end
// encrypted, without a line of code about syncing or encryption.
//
//   kindred hello say Good morning, love
//   kindred hello hug ID
//   kindred hello list [--json]
#include <kindred/plugin.h>

#include <string>

namespace kp = kindred::plugin;

class Hello final : public kp::Plugin {
 public:
  kp::Manifest Describe() const override {
    kp::Manifest m{"org.example.hello", "1.0.0", "Leave each other small greetings"};
    // Concurrent edits of a greeting keep both; hugs from both of you add up.
    m.Collection("greetings")
        .Field("text", kp::MergeRule::kKeepBoth)
        .Field("hugs", kp::MergeRule::kCounter);
    m.Command({"hello", "say"}, "Leave a greeting for your partner").Rest("text", "What to say");
    m.Command({"hello", "hug"}, "Send a hug for a greeting").Positional("id", "The greeting");
    m.Command({"hello", "list"}, "The greetings you left each other");
    return m;
  }

  kp::CommandResult Run(const kp::Command& command, kp::Host& host) override {
    const std::string name = command.Name();
    if (name == "hello say") {
      auto id = host.Commit(
          kp::Change::Create("greetings").Shared(true).Set("text", command.Get("text")));
      if (!id.ok()) return kp::CommandResult::Usage(id.error().message);
      return kp::CommandResult::Ok(command.json ? "{\"id\":" + kp::JsonQuote(*id) + "}\n"
                                                : *id + "\n");
    }
    if (name == "hello hug") {
      auto id = host.Commit(kp::Change::Update("greetings", command.Get("id")).Add("hugs", 1));
      if (!id.ok()) return kp::CommandResult::Usage("no greeting " + command.Get("id"));
      return kp::CommandResult::Ok("Hug sent.\n");
    }
    auto greetings = host.All("greetings");
    if (!greetings.ok()) return kp::CommandResult::Usage(greetings.error().message);
    std::string out = command.json ? "[" : "";
    for (const kp::Record& g : *greetings) {
      const int64_t hugs = g.Int("hugs").value_or(0);
      if (command.json) {
        out += (out.size() > 1 ? "," : "") + std::string("{\"id\":") + kp::JsonQuote(g.id) +
               ",\"text\":" + kp::JsonQuote(g.Text("text")) +
               ",\"author\":" + kp::JsonQuote(g.author) + ",\"hugs\":" + std::to_string(hugs) + "}";
      } else {
        out += g.author + ": " + g.Text("text") +
               (hugs ? "  (" + std::to_string(hugs) + " hugs)" : "") + "\n";
      }
    }
    return kp::CommandResult::Ok(command.json ? out + "]\n" : out);
  }
};

KINDRED_PLUGIN(Hello)
