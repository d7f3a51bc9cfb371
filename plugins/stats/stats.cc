// The stats plugin: its manifest, its view, and computing the figures.
// Rendering is in report.cc.
#include "plugins/stats/stats.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/calendar/calendar.h"
#include "engine/calendar/occurrence_state.h"
#include "kindred/plugin.h"

namespace kindred::stats {
namespace {

namespace kp = ::kindred::plugin;
namespace cal = ::kindred::calendar;
using nlohmann::json;

constexpr char kGratitude[] = "org.kindred.gratitude/notes";
constexpr char kRepairs[] = "org.kindred.repair/conflicts";
constexpr char kView[] = "weekly";
constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kDaySeconds = 86400;
constexpr int64_t kWeekSeconds = 7 * kDaySeconds;

// ---- Reading the records other components wrote --------------------------------
// The ritual record layout is documented in docs/architecture.md
// ("Rituals"); these readers follow it, as engine/rituals does.

std::optional<cal::FactKind> FactKindNamed(const std::string& name) {
  if (name == "done") return cal::FactKind::kDone;
  if (name == "undone") return cal::FactKind::kUndone;
  if (name == "skipped") return cal::FactKind::kSkipped;
  if (name == "moved") return cal::FactKind::kMoved;
  if (name == "restored") return cal::FactKind::kRestored;
  return std::nullopt;
}

// A ritual's rule segments, from its "rule" JSON; nullopt if unreadable or
// of another calendar model.
std::optional<std::vector<cal::RuleSegment>> DecodeRule(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object() || j.value("model", std::string()) != cal::kCalendarModelName)
    return std::nullopt;
  auto list = j.find("segments");
  if (list == j.end() || !list->is_array() || list->empty()) return std::nullopt;
  std::vector<cal::RuleSegment> out;
  for (const json& s : *list) {
    if (!s.is_object()) return std::nullopt;
    cal::RuleSegment seg;
    auto from = s.find("from");
    if (!out.empty()) {
      if (from == s.end() || !from->is_number_integer()) return std::nullopt;
      seg.effective_from = from->get<cal::UnixSeconds>();
    }
    if (!s.contains("start") || !s["start"].is_string() || !s.contains("zone") ||
        !s["zone"].is_string() || !s.contains("rrule") || !s["rrule"].is_string() ||
        !s.contains("duration") || !s["duration"].is_number_integer()) {
      return std::nullopt;
    }
    auto civil = cal::ParseLocalDateTime(s["start"].get<std::string>());
    if (!civil.ok()) return std::nullopt;
    seg.start = *civil;
    seg.zone = s["zone"].get<std::string>();
    seg.rrule = s["rrule"].get<std::string>();
    seg.duration = std::chrono::seconds(s["duration"].get<int64_t>());
    out.push_back(std::move(seg));
  }
  return out;
}

// ---- The view: one small row per record that counts ----------------------------------

// "j/<id>": a closeness moment; "g/<id>": a gratitude note; "r/<id>": a
// repair; "f/<id>": a ritual fact. Values are compact JSON.
std::optional<std::pair<std::string, json>> RowFor(const kp::Record& r) {
  if (r.collection == "journal") {
    return std::make_pair("j/" + r.id, json{{"t", r.Int("created_at").value_or(r.created_micros)},
                                            {"a", r.author},
                                            {"s", r.shared}});
  }
  if (r.collection == kGratitude) {
    return std::make_pair("g/" + r.id,
                          json{{"t", r.created_micros}, {"a", r.author}, {"s", r.shared}});
  }
  if (r.collection == kRepairs) {
    return std::make_pair(
        "r/" + r.id,
        json{{"o", r.Int("opened").value_or(r.created_micros)},
             {"x", r.Text("status") == "resolved" ? r.Int("resolved").value_or(0) : 0}});
  }
  if (r.collection == "ritual_facts") {
    if (r.Text("model") != cal::kCalendarModelName) return std::nullopt;
    return std::make_pair("f/" + r.id, json{{"r", r.Text("ritual")},
                                            {"k", r.Int("key").value_or(0)},
                                            {"kind", r.Text("kind")},
                                            {"m", r.Text("member")},
                                            {"st", r.Int("stamp").value_or(-1)},
                                            {"d", r.device},
                                            {"at", r.Int("at").value_or(0)},
                                            {"mood", r.Int("mood").value_or(0)}});
  }
  return std::nullopt;
}

std::optional<cal::OccurrenceFact> FactFromRow(const json& v) {
  auto kind = FactKindNamed(v.value("kind", std::string()));
  const int64_t stamp = v.value("st", int64_t{-1});
  auto device = DeviceId::Parse(v.value("d", std::string()));
  if (!kind || stamp < 0 || !device.ok()) return std::nullopt;
  cal::OccurrenceFact f;
  f.ritual_id = v.value("r", std::string());
  f.key = v.value("k", int64_t{0});
  f.kind = *kind;
  f.member = v.value("m", std::string());
  f.hlc = static_cast<uint64_t>(stamp);
  f.device = *device;
  f.at = v.value("at", int64_t{0});
  const int64_t mood = v.value("mood", int64_t{0});
  if (mood < 0 || mood > 5) return std::nullopt;
  f.mood = static_cast<int>(mood);
  if (!cal::ValidateFact(f).ok()) return std::nullopt;
  return f;
}

std::optional<double> Median(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// ---- The figures ------------------------------------------------------------------------

class Weeks {
 public:
  // `count` weeks ending with the one holding `now`, in local time at `offset`.
  Weeks(int64_t now_micros, int32_t offset, int count) : offset_(offset), count_(count) {
    const int64_t local_day = FloorDiv(now_micros / kSecond + offset, kDaySeconds);
    const int64_t monday = local_day - ((local_day + 3) % 7 + 7) % 7;  // 1970-01-01 was a Thursday
    first_ = (monday - 7 * (count - 1)) * kDaySeconds - offset;        // UTC seconds
  }
  // The week holding `utc_seconds`, or -1 outside.
  int Index(int64_t utc_seconds) const {
    const int64_t w = FloorDiv(utc_seconds - first_, kWeekSeconds);
    return w >= 0 && w < count_ ? static_cast<int>(w) : -1;
  }
  int64_t Start(int i) const { return first_ + i * kWeekSeconds; }
  int64_t End() const { return first_ + count_ * kWeekSeconds; }
  Week Describe(int i) const {
    Week w;
    w.start_micros = Start(i) * kSecond;
    const cal::CivilTime local = cal::CivilFromSecondsAsIfUtc(Start(i) + offset_);
    w.date = cal::FormatCivilTime(local).substr(0, 10);
    static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    w.label = std::to_string(local.day) + " " + kMonths[(local.month + 11) % 12];
    return w;
  }

 private:
  static int64_t FloorDiv(int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
  }
  int32_t offset_;
  int count_;
  int64_t first_;
};

struct Inputs {
  std::vector<kp::Record> rituals;
  std::vector<kp::ViewRow> rows;
  std::string member;
  int64_t now_micros = 0;
  int32_t offset = 0;
  int weeks = 8;
};

// Whether a record counts for `member`: shared, or their own.
bool Counts(bool shared, const std::string& author, const std::string& member) {
  return shared || author == member;
}

kp::Result<Figures> Compute(const Inputs& in, cal::Calendar* calendar) {
  Figures f;
  f.now_micros = in.now_micros;
  Weeks weeks(in.now_micros, in.offset, in.weeks);
  for (int i = 0; i < in.weeks; ++i) f.weeks.push_back(weeks.Describe(i));
  std::set<std::string> members{in.member};
  const int64_t now = in.now_micros / kSecond;

  cal::OccurrenceStates states;
  std::vector<double> all_repairs, earlier, later;
  std::vector<std::vector<double>> repairs_by_week(in.weeks);
  for (const auto& row : in.rows) {
    const json v = json::parse(row.value, nullptr, false);
    if (!v.is_object() || row.key.size() < 2) continue;
    const char kind = row.key[0];
    if (kind == 'j' || kind == 'g') {
      const std::string author = v.value("a", std::string());
      if (!Counts(v.value("s", false), author, in.member)) continue;
      const int w = weeks.Index(v.value("t", int64_t{0}) / kSecond);
      if (w < 0) continue;
      if (kind == 'j') {
        ++f.weeks[w].closeness;
      } else {
        ++f.weeks[w].gratitude;
        ++f.weeks[w].gratitude_by[author];
        if (!author.empty()) members.insert(author);
      }
    } else if (kind == 'r') {
      const int64_t opened = v.value("o", int64_t{0}), resolved = v.value("x", int64_t{0});
      if (int w = weeks.Index(opened / kSecond); w >= 0) ++f.weeks[w].repairs_opened;
      if (resolved > 0) {
        if (int w = weeks.Index(resolved / kSecond); w >= 0) {
          ++f.weeks[w].repairs_resolved;
          const double hours = static_cast<double>(resolved - opened) / (3600.0 * kSecond);
          repairs_by_week[w].push_back(hours);
          all_repairs.push_back(hours);
          (w < in.weeks / 2 ? earlier : later).push_back(hours);
        }
      }
    } else if (kind == 'f') {
      if (auto fact = FactFromRow(v)) states.Apply(*fact).IgnoreError();
    }
  }
  for (int i = 0; i < in.weeks; ++i) f.weeks[i].median_hours_to_repair = Median(repairs_by_week[i]);
  f.median_hours_to_repair = Median(all_repairs);
  f.earlier_median_hours = Median(earlier);
  f.later_median_hours = Median(later);

  // Rituals: what was planned (occurrences that have begun and were not
  // skipped) and kept (done by at least one of you), and streaks.
  if (calendar != nullptr) {
    for (const auto& r : in.rituals) {
      if (!Counts(r.shared, r.author, in.member)) continue;
      auto segments = DecodeRule(r.Text("rule"));
      if (!segments) continue;
      cal::Ritual ritual;
      ritual.id = r.id;
      ritual.title = r.Text("title");
      ritual.segments = std::move(*segments);
      // Streaks look back further than the weeks shown.
      const cal::TimeWindow window{std::min(weeks.Start(0), now - 366 * kDaySeconds),
                                   std::min(weeks.End(), now + 1)};
      cal::ExpandOptions options;
      options.include_skipped = true;
      auto occurrences = calendar->Expand(ritual, states.OverridesFor(r.id), window, options);
      if (!occurrences.ok()) continue;
      Streak streak;
      streak.ritual = r.id;
      streak.title = ritual.title;
      int run = 0;
      bool broken = false;
      for (auto it = occurrences->rbegin(); it != occurrences->rend(); ++it) {
        const cal::Occurrence& o = *it;
        if (o.status == cal::OccurrenceStatus::kSkipped || o.start.utc > now) continue;
        ++streak.happened;
        const cal::OccurrenceState* state = states.Find(r.id, o.key);
        const bool kept = state != nullptr && !state->Completions().empty();
        if (const int w = weeks.Index(o.start.utc); w >= 0) {
          ++f.weeks[w].rituals_planned;
          if (kept) ++f.weeks[w].rituals_kept;
        }
        if (broken) continue;
        if (kept) {
          ++run;
        } else if (now - o.end.utc > kDaySeconds || run > 0) {
          // Not done, and no longer fresh enough to be marked later.
          broken = true;
        }
      }
      streak.current = run;
      // Longest run within the weeks shown.
      int best = 0, cur = 0;
      for (const auto& o : *occurrences) {
        if (o.status == cal::OccurrenceStatus::kSkipped || o.start.utc > now ||
            weeks.Index(o.start.utc) < 0)
          continue;
        const cal::OccurrenceState* state = states.Find(r.id, o.key);
        if (state != nullptr && !state->Completions().empty()) {
          best = std::max(best, ++cur);
        } else if (now - o.end.utc > kDaySeconds) {
          cur = 0;
        }
      }
      streak.longest = std::max(best, streak.current);
      f.streaks.push_back(std::move(streak));
    }
  }
  f.members.assign(members.begin(), members.end());
  return f;
}

// ---- The plugin ------------------------------------------------------------------------------

class StatsPlugin final : public kp::Plugin {
 public:
  kp::Manifest Describe() const override {
    kp::Manifest m{
        "org.kindred.stats", "1.0.0",
        "How you are doing together, week by week: rituals, gratitude, closeness, repair"};
    // Your own private records count too; your partner's private ones never do.
    m.Reads("journal", kp::ReadScope::kPrivateToo)
        .Reads("rituals", kp::ReadScope::kPrivateToo)
        .Reads("ritual_facts", kp::ReadScope::kPrivateToo)
        .Reads(kGratitude, kp::ReadScope::kPrivateToo)
        .Reads(kRepairs, kp::ReadScope::kSharedOnly);
    m.View(kView, 1)
        .FromTagged("journal", "tags", "closeness")
        .From(kGratitude)
        .From(kRepairs)
        .From("ritual_facts");
    m.Command({"stats"}, "How you are doing together, week by week")
        .Option("weeks", "How many weeks to show, up to 52 (default 8)", kp::ValueType::kInteger)
        .Option("html", "Also write a report to FILE: one HTML page with charts",
                kp::ValueType::kOutputFile);
    return m;
  }

  kp::ViewUpdate UpdateView(const kp::ViewChanges& changes, kp::Host&) override {
    kp::ViewUpdate u;
    for (const auto& r : changes.records) {
      if (r.deleted) {
        // The same id could be any kind: remove whichever row it had.
        for (const char* prefix : {"j/", "g/", "r/", "f/"}) u.Remove(prefix + r.id);
        continue;
      }
      if (auto row = RowFor(r)) u.Put(row->first, row->second.dump());
    }
    return u;
  }

  kp::CommandResult Run(const kp::Command& c, kp::Host& host) override {
    Inputs in;
    in.member = c.env.member;
    in.now_micros = c.env.now_micros;
    in.offset = c.env.utc_offset_seconds;
    if (c.Has("weeks")) {
      auto n = c.Int("weeks");
      if (!n || *n < 1 || *n > 52) return kp::CommandResult::Usage("--weeks must be from 1 to 52");
      in.weeks = static_cast<int>(*n);
    }
    auto rows = host.ReadView(kView);
    if (!rows.ok()) return Failed(rows.error());
    in.rows = std::move(*rows);
    auto rituals = host.All("rituals");
    if (!rituals.ok()) return Failed(rituals.error());
    in.rituals = std::move(*rituals);

    std::unique_ptr<cal::Calendar> calendar;
    if (!in.rituals.empty()) {
      auto made = cal::Calendar::Create();
      if (made.ok()) calendar = std::move(*made);
    }
    auto figures = Compute(in, calendar.get());
    if (!figures.ok()) return Failed(figures.error());

    kp::CommandResult r =
        kp::CommandResult::Ok(c.json ? RenderJson(*figures) : RenderText(*figures));
    if (c.Has("html")) {
      r.files.push_back({"html", RenderHtml(*figures)});
      if (!c.json) r.err = "Wrote the report to " + c.Get("html") + " (open it in a browser).\n";
    }
    return r;
  }

 private:
  static kp::CommandResult Failed(const kp::Error& e) {
    kp::CommandResult r;
    r.exit_code = 2;
    r.err = e.message;
    return r;
  }
};

}  // namespace
}  // namespace kindred::stats

KINDRED_PLUGIN_ENTRY(kindred::stats::StatsPlugin, kindred_stats_plugin_entry)
