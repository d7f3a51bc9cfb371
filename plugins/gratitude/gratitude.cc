#include "plugins/gratitude/gratitude.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kindred/plugin.h"
#include "kindred/timefmt.h"

namespace kindred::gratitude {
namespace {

namespace kp = ::kindred::plugin;
using nlohmann::json;

constexpr char kNotes[] = "notes";
constexpr size_t kMaxTextBytes = 4000;
constexpr int64_t kWeekMicros = int64_t{7} * 24 * 3600 * 1000000;

// "Sun 5 Jan, 21:14" in local time.
std::string When(int64_t micros) {
  time_t secs = static_cast<time_t>(micros / 1000000);
  struct tm local {};
  localtime_r(&secs, &local);
  char buf[64];
  strftime(buf, sizeof buf, "%a %-d %b, %H:%M", &local);
  return buf;
}

class GratitudePlugin final : public kp::Plugin {
 public:
  kp::Manifest Describe() const override {
    kp::Manifest m{"org.kindred.gratitude", "1.0.0",
                   "Gratitude notes, shared with your partner: noticing the small efforts"};
    m.Collection(kNotes).Field("text", kp::MergeRule::kKeepBoth);
    m.Command(
         {"gratitude", "add"},
         "Write down something you are grateful for (shared with your partner unless --private)")
        .Rest("text", "What you are grateful for")
        .Flag("private", "Keep this note to yourself");
    m.Command({"gratitude", "list"}, "Your gratitude notes and your partner's, oldest first")
        .Flag("week", "Only the last seven days");
    return m;
  }

  kp::CommandResult Run(const kp::Command& command, kp::Host& host) override {
    if (command.Name() == "gratitude add") return Add(command, host);
    return List(command, host);
  }

 private:
  static kp::CommandResult Add(const kp::Command& command, kp::Host& host) {
    const std::string text = command.Get("text");
    if (text.find_first_not_of(" \t\n") == std::string::npos) {
      return kp::CommandResult::Usage("the note is empty; say what you are grateful for");
    }
    if (text.size() > kMaxTextBytes)
      return kp::CommandResult::Usage("the note is longer than 4000 bytes");
    const bool shared = !command.Has("private");
    auto id = host.Commit(kp::Change::Create(kNotes).Shared(shared).Set("text", text));
    if (!id.ok()) {
      kp::CommandResult r;
      r.exit_code = 2;
      r.err = id.error().message;
      return r;
    }
    kp::CommandResult r;
    r.out = command.json ? json{{"id", *id}}.dump() + "\n" : *id + "\n";
    r.err = shared ? "Noted, and shared: your partner will see it when your devices sync.\n"
                   : "Noted, just for you.\n";
    return r;
  }

  static kp::CommandResult List(const kp::Command& command, kp::Host& host) {
    auto notes = host.All(kNotes);
    if (!notes.ok()) {
      kp::CommandResult r;
      r.exit_code = 2;
      r.err = notes.error().message;
      return r;
    }
    const int64_t since = command.Has("week") ? command.env.now_micros - kWeekMicros : INT64_MIN;
    std::vector<const kp::Record*> shown;
    for (const auto& n : *notes) {
      // Your partner's private notes are theirs alone.
      if (!n.shared && n.author != command.env.member) continue;
      if (n.created_micros >= since) shown.push_back(&n);
    }
    std::stable_sort(shown.begin(), shown.end(), [](const kp::Record* a, const kp::Record* b) {
      return std::tie(a->created_micros, a->id) < std::tie(b->created_micros, b->id);
    });
    if (command.json) {
      json out = json::array();
      for (const kp::Record* n : shown) {
        json o{{"id", n->id},
               {"text", n->Text("text")},
               {"author", n->author},
               {"created", FormatIsoLocal(n->created_micros)},
               {"visibility", n->shared ? "shared" : "private"}};
        auto v = n->versions.find("text");
        if (v != n->versions.end()) o["versions"] = v->second;
        out.push_back(std::move(o));
      }
      return kp::CommandResult::Ok(out.dump() + "\n");
    }
    if (shown.empty()) {
      return kp::CommandResult::Ok(
          command.Has("week")
              ? "No gratitude notes this week yet. What small thing did your partner do today?\n"
              : "No gratitude notes yet. Try: kindred gratitude add \"...\"\n");
    }
    std::ostringstream out;
    for (const kp::Record* n : shown) {
      out << When(n->created_micros) << "  " << (n->author.empty() ? "someone" : n->author)
          << (n->shared ? "" : " (private)") << "\n    " << n->Text("text") << "\n";
    }
    return kp::CommandResult::Ok(out.str());
  }
};

}  // namespace
}  // namespace kindred::gratitude

KINDRED_PLUGIN_ENTRY(kindred::gratitude::GratitudePlugin, kindred_gratitude_plugin_entry)
