// The stats, rendered: a text table with small terminal charts, JSON, and
// one self-contained HTML page with SVG charts (no scripts, fonts or images
// from anywhere else).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kindred/timefmt.h"
#include "plugins/stats/stats.h"

namespace kindred::stats {
namespace {

using nlohmann::json;

// "5h", "40m", "2 days", "1.5 days".
std::string Hours(double h) {
  char buf[32];
  if (h < 1) {
    std::snprintf(buf, sizeof buf, "%.0fm", std::max(1.0, h * 60));
  } else if (h < 36) {
    std::snprintf(buf, sizeof buf, "%.0fh", h);
  } else {
    const double days = h / 24;
    std::snprintf(buf, sizeof buf,
                  days < 10 && std::fmod(days, 1.0) >= 0.25 ? "%.1f days" : "%.0f days", days);
  }
  return buf;
}

std::string Sparkline(const std::vector<double>& values) {
  static const char* kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  const double max = values.empty() ? 0 : *std::max_element(values.begin(), values.end());
  std::string out;
  for (double v : values) {
    if (v <= 0 || max <= 0) {
      out += "·";
    } else {
      out += kBars[std::clamp(static_cast<int>(std::ceil(v / max * 8)) - 1, 0, 7)];
    }
  }
  return out;
}

std::string Meter(int kept, int planned, int cells = 5) {
  if (planned == 0) return std::string(cells, ' ');
  const int full = static_cast<int>(std::lround(static_cast<double>(kept) / planned * cells));
  std::string out;
  for (int i = 0; i < cells; ++i) out += i < full ? "█" : "░";
  return out;
}

std::string Pad(const std::string& s, size_t width, bool right = false) {
  // Width in characters: count UTF-8 lead bytes.
  size_t chars = 0;
  for (unsigned char c : s) chars += (c & 0xc0) != 0x80;
  if (chars >= width) return s;
  return right ? std::string(width - chars, ' ') + s : s + std::string(width - chars, ' ');
}

int Sum(const std::vector<Week>& weeks, int Week::*field) {
  int n = 0;
  for (const auto& w : weeks) n += w.*field;
  return n;
}

std::string Range(const Figures& f) {
  if (f.weeks.empty()) return "";
  return f.weeks.front().label + " to now";
}

// How the time to repair moved, in words; "" when there is too little to say.
std::string RepairTrend(const Figures& f) {
  if (!f.earlier_median_hours || !f.later_median_hours) return "";
  const double a = *f.earlier_median_hours, b = *f.later_median_hours;
  if (b < a * 0.8)
    return "you are finding your way back to each other sooner (" + Hours(a) + " earlier, " +
           Hours(b) + " lately)";
  if (b > a * 1.25)
    return "repair has been taking longer lately (" + Hours(a) + " earlier, " + Hours(b) +
           " lately); be gentle with each other";
  return "about as quick as before (" + Hours(a) + " earlier, " + Hours(b) + " lately)";
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

// A bar chart: for each week, one bar per series (grouped), or stacked.
struct Series {
  std::string name;
  std::string color;
  std::vector<double> values;
};

std::string BarChart(const std::vector<std::string>& labels, const std::vector<Series>& series,
                     bool stacked, const std::string& aria,
                     const std::vector<std::optional<double>>& dots = {},
                     const std::string& dot_label = "") {
  const double W = 640, H = 200, left = 34, right = dots.empty() ? 12 : 44, top = 14, bottom = 30;
  const double plot_w = W - left - right, plot_h = H - top - bottom;
  const size_t n = labels.size();
  double max = 1;
  for (size_t i = 0; i < n; ++i) {
    double total = 0;
    for (const auto& s : series) {
      total = stacked ? total + s.values[i] : std::max(total, s.values[i]);
    }
    max = std::max(max, total);
  }
  max = std::ceil(max);
  std::ostringstream svg;
  svg << "<svg viewBox=\"0 0 " << W << " " << H << "\" role=\"img\" aria-label=\"" << Escape(aria)
      << "\" xmlns=\"http://www.w3.org/2000/svg\">";
  // Gridlines at 0, half (when it is a whole number) and max.
  std::vector<double> grid{0.0, max};
  if (static_cast<int64_t>(max) % 2 == 0 && max >= 2) grid.push_back(max / 2);
  for (double g : grid) {
    const double y = top + plot_h - g / max * plot_h;
    svg << "<line x1=\"" << left << "\" x2=\"" << left + plot_w << "\" y1=\"" << Num(y)
        << "\" y2=\"" << Num(y) << "\" class=\"grid\"/>";
    svg << "<text x=\"" << left - 8 << "\" y=\"" << Num(y + 4)
        << "\" class=\"axis\" text-anchor=\"end\">" << Num(g) << "</text>";
  }
  const double slot = plot_w / std::max<size_t>(n, 1);
  const double group = slot * 0.62;
  for (size_t i = 0; i < n; ++i) {
    const double x0 = left + i * slot + (slot - group) / 2;
    double base = 0;
    for (size_t k = 0; k < series.size(); ++k) {
      const double v = series[k].values[i];
      const double bw = stacked ? group : group / series.size();
      const double x = stacked ? x0 : x0 + k * bw;
      const double h = v / max * plot_h;
      const double y = top + plot_h - (stacked ? base : 0) / max * plot_h - h;
      if (v > 0) {
        svg << "<rect x=\"" << Num(x + (stacked ? 0 : 1)) << "\" y=\"" << Num(y) << "\" width=\""
            << Num(std::max(1.0, bw - (stacked ? 0 : 2))) << "\" height=\"" << Num(h)
            << "\" rx=\"3\" fill=\"" << series[k].color << "\"><title>"
            << Escape(labels[i] + ": " + Num(v) + " " + series[k].name) << "</title></rect>";
      }
      if (stacked) base += v;
    }
    svg << "<text x=\"" << Num(left + i * slot + slot / 2) << "\" y=\"" << H - 10
        << "\" class=\"axis\" text-anchor=\"middle\">" << Escape(labels[i]) << "</text>";
  }
  if (!dots.empty()) {
    double dmax = 1;
    for (const auto& d : dots) {
      if (d) dmax = std::max(dmax, *d);
    }
    std::string path;
    for (size_t i = 0; i < n && i < dots.size(); ++i) {
      if (!dots[i]) continue;
      const double x = left + i * slot + slot / 2, y = top + plot_h - *dots[i] / dmax * plot_h;
      path += (path.empty() ? "M" : " L") + Num(x) + " " + Num(y);
      svg << "<circle cx=\"" << Num(x) << "\" cy=\"" << Num(y)
          << "\" r=\"4.5\" class=\"dot\"><title>"
          << Escape(labels[i] + ": " + dot_label + " " + Hours(*dots[i])) << "</title></circle>";
    }
    if (!path.empty()) svg << "<path d=\"" << path << "\" class=\"dotline\"/>";
    svg << "<text x=\"" << W - 4 << "\" y=\"" << top + 4 << "\" class=\"axis\" text-anchor=\"end\">"
        << Escape(Hours(dmax)) << "</text>";
  }
  svg << "</svg>";
  return svg.str();
}

std::string Legend(const std::vector<Series>& series) {
  std::string out = "<p class=\"legend\">";
  for (const auto& s : series) {
    out += "<span><i style=\"background:" + s.color + "\"></i>" + Escape(s.name) + "</span>";
  }
  return out + "</p>";
}

}  // namespace

std::string RenderText(const Figures& f) {
  std::ostringstream out;
  const size_t n = f.weeks.size();
  out << "How you are doing together, the last " << n << (n == 1 ? " week" : " weeks") << " ("
      << Range(f) << ")\n\n";
  out << Pad("week", 10) << Pad("rituals kept", 16) << Pad("gratitude", 11) << Pad("closeness", 11)
      << Pad("repairs", 11) << "time to repair\n";
  std::vector<double> kept_share, gratitude, closeness, repair;
  for (size_t i = 0; i < n; ++i) {
    const Week& w = f.weeks[i];
    const std::string label = i + 1 == n ? "this week" : w.label;
    std::string rituals =
        w.rituals_planned ? std::to_string(w.rituals_kept) + "/" + std::to_string(w.rituals_planned)
                          : "-";
    out << Pad(label, 10) << Pad(rituals, 6) << Pad(Meter(w.rituals_kept, w.rituals_planned), 10)
        << Pad(std::to_string(w.gratitude), 11) << Pad(std::to_string(w.closeness), 11)
        << Pad(w.repairs_opened || w.repairs_resolved
                   ? std::to_string(w.repairs_opened) + " / " + std::to_string(w.repairs_resolved)
                   : "-",
               11)
        << (w.median_hours_to_repair ? Hours(*w.median_hours_to_repair) : "-") << "\n";
    kept_share.push_back(w.rituals_planned ? static_cast<double>(w.rituals_kept) / w.rituals_planned
                                           : 0);
    gratitude.push_back(w.gratitude);
    closeness.push_back(w.closeness);
    repair.push_back(w.median_hours_to_repair.value_or(0));
  }
  out << "(repairs: opened / resolved)\n\n";
  const int planned = Sum(f.weeks, &Week::rituals_planned),
            kept = Sum(f.weeks, &Week::rituals_kept);
  out << Pad("Rituals kept", 16) << Sparkline(kept_share) << "   ";
  if (planned) {
    out << kept << " of " << planned << " (" << std::lround(100.0 * kept / planned) << "%)\n";
  } else {
    out << "no rituals planned yet\n";
  }
  std::map<std::string, int> by;
  for (const auto& w : f.weeks) {
    for (const auto& [m, c] : w.gratitude_by) by[m] += c;
  }
  const int notes = Sum(f.weeks, &Week::gratitude), moments = Sum(f.weeks, &Week::closeness);
  out << Pad("Gratitude", 16) << Sparkline(gratitude) << "   " << notes
      << (notes == 1 ? " note" : " notes");
  std::string sep = ": ";
  for (const auto& [m, c] : by) {
    out << sep << m << " " << c;
    sep = ", ";
  }
  out << "\n";
  out << Pad("Closeness", 16) << Sparkline(closeness) << "   " << moments
      << (moments == 1 ? " moment" : " moments") << " tagged closeness\n";
  out << Pad("Time to repair", 16) << Sparkline(repair) << "   ";
  if (f.median_hours_to_repair) {
    out << "median " << Hours(*f.median_hours_to_repair);
    const std::string trend = RepairTrend(f);
    if (!trend.empty()) out << "; " << trend;
    out << "\n";
  } else {
    out << "no repairs resolved in these weeks\n";
  }
  if (!f.streaks.empty()) {
    out << "\nStreaks\n";
    for (const auto& s : f.streaks) {
      out << "  " << Pad(s.title, 28);
      if (s.happened == 0) {
        out << "the first one is still to come\n";
        continue;
      }
      out << s.current << " in a row";
      if (s.longest > s.current) out << " (longest " << s.longest << ")";
      out << "\n";
    }
  }
  return out.str();
}

std::string RenderJson(const Figures& f) {
  json weeks = json::array();
  for (const auto& w : f.weeks) {
    weeks.push_back(
        {{"start", w.date},
         {"rituals", {{"planned", w.rituals_planned}, {"kept", w.rituals_kept}}},
         {"gratitude", {{"total", w.gratitude}, {"by_member", w.gratitude_by}}},
         {"closeness_moments", w.closeness},
         {"repairs",
          {{"opened", w.repairs_opened},
           {"resolved", w.repairs_resolved},
           {"median_hours_to_repair",
            w.median_hours_to_repair ? json(*w.median_hours_to_repair) : json(nullptr)}}}});
  }
  json streaks = json::array();
  for (const auto& s : f.streaks) {
    streaks.push_back({{"ritual", s.ritual},
                       {"title", s.title},
                       {"current", s.current},
                       {"longest", s.longest},
                       {"occurrences_so_far", s.happened}});
  }
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  return json{{"weeks", weeks},
              {"streaks", streaks},
              {"members", f.members},
              {"median_hours_to_repair", opt(f.median_hours_to_repair)},
              {"earlier_median_hours_to_repair", opt(f.earlier_median_hours)},
              {"later_median_hours_to_repair", opt(f.later_median_hours)},
              {"generated", FormatIsoLocal(f.now_micros)}}
             .dump() +
         "\n";
}

std::string RenderHtml(const Figures& f) {
  constexpr char kPlanned[] = "#eadfce", kKept[] = "#c96f4a", kSage[] = "#7f9f80",
                 kBlue[] = "#7b93b0", kPlum[] = "#b07ba0", kRose[] = "#d99a86";
  std::vector<std::string> labels;
  std::vector<double> planned, kept, closeness, opened, resolved;
  std::vector<std::optional<double>> medians;
  std::map<std::string, std::vector<double>> grat;
  for (const auto& m : f.members) grat[m] = {};
  for (const auto& w : f.weeks) {
    for (const auto& [m, c] : w.gratitude_by) grat[m];
  }
  for (size_t i = 0; i < f.weeks.size(); ++i) {
    const Week& w = f.weeks[i];
    labels.push_back(i + 1 == f.weeks.size() ? "now" : w.label);
    planned.push_back(w.rituals_planned);
    kept.push_back(w.rituals_kept);
    closeness.push_back(w.closeness);
    opened.push_back(w.repairs_opened);
    resolved.push_back(w.repairs_resolved);
    medians.push_back(w.median_hours_to_repair);
    for (auto& [m, v] : grat) {
      auto it = w.gratitude_by.find(m);
      v.push_back(it == w.gratitude_by.end() ? 0 : it->second);
    }
  }
  const int total_planned = Sum(f.weeks, &Week::rituals_planned),
            total_kept = Sum(f.weeks, &Week::rituals_kept);
  std::string names;
  for (size_t i = 0; i < f.members.size(); ++i) {
    names += (i == 0 ? "" : i + 1 == f.members.size() ? " &amp; " : ", ") + Escape(f.members[i]);
  }
  std::vector<Series> gratitude_series;
  const char* palette[] = {kSage, kBlue, kPlum, kKept};
  size_t k = 0;
  for (const auto& [m, v] : grat) gratitude_series.push_back({m, palette[k++ % 4], v});

  std::ostringstream h;
  h << R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kindred: how you are doing together</title>
<style>
  :root { --ink: #3b3632; --soft: #7a6f66; --paper: #fbf7f1; --card: #fffdf9; --line: #ece3d7; --warm: #c96f4a; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--paper); color: var(--ink);
         font: 16px/1.55 "Helvetica Neue", Arial, "Liberation Sans", sans-serif; }
  main { max-width: 760px; margin: 0 auto; padding: 48px 24px 64px; }
  header { margin-bottom: 28px; }
  .eyebrow { letter-spacing: .14em; text-transform: uppercase; font-size: 12px; color: var(--warm); margin: 0 0 6px; }
  h1 { font: 600 34px/1.2 Georgia, "DejaVu Serif", serif; margin: 0 0 6px; }
  h2 { font: 600 21px/1.3 Georgia, "DejaVu Serif", serif; margin: 0 0 2px; }
  .sub, .note { color: var(--soft); margin: 0; }
  .note { font-size: 14px; margin-bottom: 10px; }
  .highlights { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 0 0 22px; }
  .stat { background: var(--card); border: 1px solid var(--line); border-radius: 14px; padding: 14px 14px 12px; }
  .stat b { display: block; font: 600 28px/1.1 Georgia, "DejaVu Serif", serif; }
  .stat span { font-size: 13px; color: var(--soft); }
  section.card { background: var(--card); border: 1px solid var(--line); border-radius: 16px;
                 padding: 20px 22px 14px; margin: 0 0 18px; box-shadow: 0 1px 2px rgba(80, 60, 40, .04); }
  svg { width: 100%; height: auto; display: block; }
  .grid { stroke: var(--line); stroke-width: 1; }
  .axis { fill: #9a8f85; font-size: 11px; font-family: inherit; }
  .dot { fill: #fff; stroke: #8a5a9a; stroke-width: 2.2; }
  .dotline { fill: none; stroke: #8a5a9a; stroke-width: 1.6; stroke-dasharray: 3 4; }
  .legend { font-size: 13px; color: var(--soft); margin: 6px 0 4px; }
  .legend span { margin-right: 16px; white-space: nowrap; }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 3px; margin-right: 6px; vertical-align: -1px; }
  .legend i.ring { border: 2px solid #8a5a9a; background: #fff; border-radius: 50%; }
  ul.streaks { list-style: none; padding: 0; margin: 8px 0 6px; }
  ul.streaks li { display: flex; justify-content: space-between; gap: 12px; padding: 9px 0; border-top: 1px solid var(--line); }
  ul.streaks li:first-child { border-top: 0; }
  .pips { color: var(--warm); letter-spacing: 2px; white-space: nowrap; }
  .trend { margin: 8px 0 6px; }
  footer { color: var(--soft); font-size: 13px; text-align: center; margin-top: 30px; }
  @media (max-width: 620px) { .highlights { grid-template-columns: repeat(2, 1fr); } }
</style>
</head>
<body>
<main>
<header>
  <p class="eyebrow">Kindred</p>
  <h1>How you are doing together</h1>
  <p class="sub">)"
    << (names.empty() ? "" : names + " &middot; ") << f.weeks.size() << " weeks, "
    << Escape(Range(f)) << R"(</p>
</header>
<div class="highlights">
  <div class="stat"><b>)"
    << (total_planned ? std::to_string(std::lround(100.0 * total_kept / total_planned)) + "%"
                      : "&ndash;")
    << R"(</b><span>of rituals kept</span></div>
  <div class="stat"><b>)"
    << Sum(f.weeks, &Week::gratitude) << R"(</b><span>gratitude notes</span></div>
  <div class="stat"><b>)"
    << Sum(f.weeks, &Week::closeness) << R"(</b><span>moments of closeness</span></div>
  <div class="stat"><b>)"
    << (f.median_hours_to_repair ? Escape(Hours(*f.median_hours_to_repair)) : "&ndash;")
    << R"(</b><span>median time to repair</span></div>
</div>
<section class="card">
  <h2>Rituals kept</h2>
  <p class="note">Each week, the rituals you had planned and the ones you kept, together or alone.</p>
  )"
    << BarChart(labels, {{"planned", kPlanned, planned}, {"kept", kKept, kept}}, false,
                "Rituals kept per week")
    << Legend({{"planned", kPlanned, {}}, {"kept", kKept, {}}}) << R"(
</section>
<section class="card">
  <h2>Gratitude</h2>
  <p class="note">Notes of thanks you wrote for each other: noticing the small efforts.</p>
  )" << BarChart(labels, gratitude_series, true, "Gratitude notes per week")
    << Legend(gratitude_series) << R"(
</section>
<section class="card">
  <h2>Moments of closeness</h2>
  <p class="note">Journal moments you tagged <em>closeness</em>.</p>
  )" << BarChart(labels, {{"moments", kRose, closeness}}, false, "Closeness moments per week")
    << R"(
</section>
<section class="card">
  <h2>Repair</h2>
  <p class="note">Conflicts happen to every couple; what matters is coming back to each other. Bars: repairs opened and resolved. Rings: the median time to repair.</p>
  )"
    << BarChart(labels, {{"opened", kPlanned, opened}, {"resolved", kBlue, resolved}}, false,
                "Repairs per week", medians, "median time to repair")
    << R"(<p class="legend"><span><i style="background:)" << kPlanned
    << R"("></i>opened</span><span><i style="background:)" << kBlue
    << R"("></i>resolved</span><span><i class="ring"></i>median time to repair</span></p>)";
  const std::string trend = RepairTrend(f);
  if (!trend.empty()) h << "<p class=\"trend\">Lately " << Escape(trend) << ".</p>";
  h << "\n</section>\n";
  if (!f.streaks.empty()) {
    h << "<section class=\"card\">\n  <h2>Streaks</h2>\n  <p class=\"note\">Occurrences kept in a "
         "row, up to today.</p>\n  <ul class=\"streaks\">";
    for (const auto& s : f.streaks) {
      std::string pips;
      for (int i = 0; i < std::min(s.current, 14); ++i) pips += "&#9679;";
      if (s.current > 14) pips += "+";
      h << "<li><span>" << Escape(s.title) << "</span><span>";
      if (s.happened == 0) {
        h << "the first one is still to come</span></li>";
        continue;
      }
      h << "<span class=\"pips\">" << pips << "</span> " << s.current << " in a row"
        << (s.longest > s.current ? " (longest " + std::to_string(s.longest) + ")" : "")
        << "</span></li>";
    }
    h << "</ul>\n</section>\n";
  }
  h << "<footer>Made by Kindred on your own device, "
    << Escape(FormatIsoLocal(f.now_micros).substr(0, 10))
    << ". Nothing in this page left it.</footer>\n</main>\n</body>\n</html>\n";
  return h.str();
}

}  // namespace kindred::stats
