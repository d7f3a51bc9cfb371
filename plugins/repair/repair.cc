#include "plugins/repair/repair.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "kindred/plugin.h"
#include "kindred/timefmt.h"

namespace kindred::repair {
namespace {

namespace kp = ::kindred::plugin;
using nlohmann::json;

constexpr char kConflicts[] = "conflicts";
constexpr size_t kMaxTextBytes = 4000;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool Blank(const std::string& s) { return s.find_first_not_of(" \t\n") == std::string::npos; }

// "2h 15m", "3 days", "40m".
std::string Duration(int64_t micros) {
  const int64_t minutes = micros / 60'000'000;
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return std::to_string(minutes) + "m";
  const int64_t hours = minutes / 60;
  if (hours < 48)
    return std::to_string(hours) + "h" +
           (minutes % 60 ? " " + std::to_string(minutes % 60) + "m" : "");
  return std::to_string(hours / 24) + " days";
}

std::string When(int64_t micros) {
  time_t secs = static_cast<time_t>(micros / 1000000);
  struct tm local {};
  localtime_r(&secs, &local);
  char buf[64];
  strftime(buf, sizeof buf, "%a %-d %b, %H:%M", &local);
  return buf;
}

kp::CommandResult Failed(const kp::Error& e) {
  kp::CommandResult r;
  r.exit_code = e.code == KINDRED_PLUGIN_NOT_FOUND ? 1 : 2;
  r.err = e.message;
  return r;
}

// A conflict record, read.
struct Repair {
  std::string id;
  std::string topic;
  bool resolved = false;
  int64_t opened = 0;
  int64_t resolved_at = 0;
  std::string opened_by;
  std::vector<json> notes;
  std::vector<json> agreements;
};

Repair Read(const kp::Record& r) {
  Repair out;
  out.id = r.id;
  out.topic = r.Text("topic");
  out.resolved = r.Text("status") == "resolved";
  out.opened = r.Int("opened").value_or(r.created_micros);
  out.resolved_at = out.resolved ? r.Int("resolved").value_or(0) : 0;
  out.opened_by = r.author;
  for (const auto& item : r.List("notes")) {
    json j = json::parse(item, nullptr, false);
    if (j.is_object()) out.notes.push_back(std::move(j));
  }
  for (const auto& item : r.List("agreements")) {
    json j = json::parse(item, nullptr, false);
    if (j.is_object()) out.agreements.push_back(std::move(j));
  }
  return out;
}

json Summary(const Repair& r) {
  return json{{"id", r.id},
              {"topic", r.topic},
              {"status", r.resolved ? "resolved" : "open"},
              {"opened", FormatIsoLocal(r.opened)},
              {"resolved", r.resolved ? json(FormatIsoLocal(r.resolved_at)) : json(nullptr)},
              {"seconds_to_repair",
               r.resolved ? json((r.resolved_at - r.opened) / 1000000) : json(nullptr)},
              {"opened_by", r.opened_by},
              {"note_count", r.notes.size()},
              {"agreement_count", r.agreements.size()}};
}

class RepairPlugin final : public kp::Plugin {
 public:
  kp::Manifest Describe() const override {
    kp::Manifest m{
        "org.kindred.repair", "1.0.0",
        "Repair after conflict: I-statements, listening, agreements, and time to repair"};
    m.Collection(kConflicts)
        .Field("topic", kp::MergeRule::kKeepBoth)
        .Field("status", kp::MergeRule::kLastWriterWins)
        .Field("opened", kp::MergeRule::kLastWriterWins)
        .Field("resolved", kp::MergeRule::kLastWriterWins)
        .Field("notes", kp::MergeRule::kAppendOnly)
        .Field("agreements", kp::MergeRule::kAppendOnly);
    m.Command({"repair", "open"}, "Open a repair after a conflict; prints its id")
        .Rest("topic", "What the conflict was about, in a few neutral words");
    m.Command({"repair", "note"},
              "Say what you feel and need (an I-statement), or --reflect what you heard")
        .Positional("id", "The repair")
        .Rest("text", "What you want to say")
        .Option("feeling", "What you feel, in a word or two (e.g. hurt, worried)")
        .Option("need", "What you need (e.g. to be heard, some time)")
        .Flag("reflect", "A summary of what your partner said, to check you understood");
    m.Command({"repair", "agree"}, "Write down something you both agree to")
        .Positional("id", "The repair")
        .Rest("text", "The agreement");
    m.Command({"repair", "resolve"}, "Mark the repair resolved (the time it took is kept)")
        .Positional("id", "The repair");
    m.Command({"repair", "show"}, "A repair with its notes and agreements")
        .Positional("id", "The repair");
    m.Command({"repair", "list"}, "Every repair, open and resolved, oldest first");
    return m;
  }

  kp::CommandResult Run(const kp::Command& c, kp::Host& host) override {
    const std::string name = c.Name();
    if (name == "repair open") return Open(c, host);
    if (name == "repair list") return List(c, host);
    auto record = host.Get(kConflicts, c.Get("id"));
    if (!record.ok()) {
      if (record.error().code == KINDRED_PLUGIN_NOT_FOUND) {
        return kp::CommandResult::Usage("no repair with id " + c.Get("id") +
                                        " (see `kindred repair list`)");
      }
      return Failed(record.error());
    }
    const Repair repair = Read(*record);
    if (name == "repair show") return Show(c, repair);
    if (name == "repair resolve") return Resolve(c, host, repair);
    if (repair.resolved) {
      return kp::CommandResult::Usage(
          "this repair is resolved; open a new one if it comes up again");
    }
    if (name == "repair note") return Note(c, host, repair);
    return Agree(c, host, repair);
  }

 private:
  static kp::CommandResult Open(const kp::Command& c, kp::Host& host) {
    const std::string topic = c.Get("topic");
    if (Blank(topic))
      return kp::CommandResult::Usage("say in a few words what the conflict was about");
    if (topic.size() > 500) return kp::CommandResult::Usage("the topic is longer than 500 bytes");
    auto id = host.Commit(kp::Change::Create(kConflicts)
                              .Shared(true)
                              .Set("topic", topic)
                              .Set("status", std::string("open"))
                              .Set("opened", c.env.now_micros));
    if (!id.ok()) return Failed(id.error());
    kp::CommandResult r =
        kp::CommandResult::Ok(c.json ? json{{"id", *id}}.dump() + "\n" : *id + "\n");
    r.err = "Opened. Take turns: each say what you feel and need (`kindred repair note " + *id +
            " ...`), and reflect back what you heard (--reflect).\n";
    return r;
  }

  static kp::CommandResult Note(const kp::Command& c, kp::Host& host, const Repair& repair) {
    const std::string text = c.Get("text");
    if (Blank(text)) return kp::CommandResult::Usage("the note is empty");
    if (text.size() > kMaxTextBytes)
      return kp::CommandResult::Usage("the note is longer than 4000 bytes");
    const bool reflect = c.Has("reflect");
    json note{{"kind", reflect ? "reflect" : "i"}, {"text", text}, {"member", c.env.member}};
    if (c.Has("feeling")) note["feeling"] = c.Get("feeling");
    if (c.Has("need")) note["need"] = c.Get("need");
    auto id = host.Commit(kp::Change::Update(kConflicts, repair.id).Append("notes", note.dump()));
    if (!id.ok()) return Failed(id.error());
    std::optional<std::string> suggestion;
    if (!reflect) suggestion = SuggestIStatement(text, c.Get("feeling"), c.Get("need"));
    kp::CommandResult r;
    if (c.json) {
      r.out =
          json{{"id", repair.id}, {"suggestion", suggestion ? json(*suggestion) : json(nullptr)}}
              .dump() +
          "\n";
    } else {
      r.out = reflect ? "Noted what you heard. Ask if you got it right.\n" : "Noted.\n";
    }
    if (suggestion) r.err = *suggestion + "\n";
    return r;
  }

  static kp::CommandResult Agree(const kp::Command& c, kp::Host& host, const Repair& repair) {
    const std::string text = c.Get("text");
    if (Blank(text)) return kp::CommandResult::Usage("the agreement is empty");
    if (text.size() > kMaxTextBytes)
      return kp::CommandResult::Usage("the agreement is longer than 4000 bytes");
    json item{{"text", text}, {"member", c.env.member}};
    auto id =
        host.Commit(kp::Change::Update(kConflicts, repair.id).Append("agreements", item.dump()));
    if (!id.ok()) return Failed(id.error());
    return kp::CommandResult::Ok(c.json ? json{{"id", repair.id}}.dump() + "\n" : "Agreed.\n");
  }

  static kp::CommandResult Resolve(const kp::Command& c, kp::Host& host, const Repair& repair) {
    if (repair.resolved) return kp::CommandResult::Usage("this repair is already resolved");
    auto id = host.Commit(kp::Change::Update(kConflicts, repair.id)
                              .Set("status", std::string("resolved"))
                              .Set("resolved", c.env.now_micros));
    if (!id.ok()) return Failed(id.error());
    const int64_t took = c.env.now_micros - repair.opened;
    if (c.json) {
      return kp::CommandResult::Ok(
          json{{"id", repair.id}, {"seconds_to_repair", took / 1000000}}.dump() + "\n");
    }
    return kp::CommandResult::Ok(
        "Resolved, " + Duration(took) +
        " after you opened it. Well done for coming back to each other.\n");
  }

  static kp::CommandResult Show(const kp::Command& c, const Repair& r) {
    if (c.json) {
      json out = Summary(r);
      out["notes"] = r.notes;
      out["agreements"] = r.agreements;
      return kp::CommandResult::Ok(out.dump() + "\n");
    }
    std::ostringstream out;
    out << r.topic << "  (" << (r.resolved ? "resolved" : "open") << ")\n"
        << "  opened " << When(r.opened) << " by " << r.opened_by << "\n";
    if (r.resolved)
      out << "  resolved " << When(r.resolved_at) << ", after "
          << Duration(r.resolved_at - r.opened) << "\n";
    for (const auto& n : r.notes) {
      out << "\n  " << n.value("member", std::string("?"))
          << (n.value("kind", std::string()) == "reflect" ? " heard: " : ": ")
          << n.value("text", std::string()) << "\n";
      if (n.contains("feeling"))
        out << "    feeling: " << n.value("feeling", std::string()) << "\n";
      if (n.contains("need")) out << "    needing: " << n.value("need", std::string()) << "\n";
    }
    if (!r.agreements.empty()) out << "\n  We agree:\n";
    for (const auto& a : r.agreements) out << "  - " << a.value("text", std::string()) << "\n";
    return kp::CommandResult::Ok(out.str());
  }

  static kp::CommandResult List(const kp::Command& c, kp::Host& host) {
    auto records = host.All(kConflicts);
    if (!records.ok()) return Failed(records.error());
    std::vector<Repair> repairs;
    for (const auto& r : *records) repairs.push_back(Read(r));
    std::stable_sort(repairs.begin(), repairs.end(), [](const Repair& a, const Repair& b) {
      return std::tie(a.opened, a.id) < std::tie(b.opened, b.id);
    });
    if (c.json) {
      json out = json::array();
      for (const auto& r : repairs) out.push_back(Summary(r));
      return kp::CommandResult::Ok(out.dump() + "\n");
    }
    if (repairs.empty())
      return kp::CommandResult::Ok(
          "No repairs. When a conflict comes, `kindred repair open TOPIC`.\n");
    std::ostringstream out;
    for (const auto& r : repairs) {
      out << r.id << "  " << (r.resolved ? "resolved" : "open    ") << "  " << When(r.opened)
          << "  " << r.topic;
      if (r.resolved) out << "  (" << Duration(r.resolved_at - r.opened) << ")";
      out << "\n";
    }
    return kp::CommandResult::Ok(out.str());
  }
};

}  // namespace

std::optional<std::string> SuggestIStatement(const std::string& text, const std::string& feeling,
                                             const std::string& need) {
  const std::string t = Lower(text);
  static const std::regex kIStatement(R"(\bi (feel|felt|am feeling|was feeling)\b)");
  if (std::regex_search(t, kIStatement)) return std::nullopt;
  static const std::regex kAccusing(
      R"((^\s*you\b)|\byou (always|never|make|made|don't|do not|didn't|did not|won't|can't|are (so|always|never|too))\b|\byour fault\b|\bbecause (of )?you\b|\bit's you\b)");
  if (!std::regex_search(t, kAccusing)) return std::nullopt;
  return "That may land as blame. An I-statement is easier to hear: \"I feel " +
         (feeling.empty() ? std::string("...") : feeling) + " when ... , because I need " +
         (need.empty() ? std::string("...") : need) + ".\" (Your note is kept as you wrote it.)";
}

}  // namespace kindred::repair

KINDRED_PLUGIN_ENTRY(kindred::repair::RepairPlugin, kindred_repair_plugin_entry)
