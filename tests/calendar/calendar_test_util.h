// Helpers shared by the calendar tests.
#ifndef KINDRED_TESTS_CALENDAR_CALENDAR_TEST_UTIL_H_
#define KINDRED_TESTS_CALENDAR_CALENDAR_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/calendar/calendar.h"

namespace kindred::calendar::testing {

// One Calendar for the whole test binary, as the engine would have.
inline Calendar& TheCalendar() {
  static Calendar* calendar = [] {
    auto made = Calendar::Create();
    if (!made.ok()) {
      ADD_FAILURE() << made.status().ToString();
      std::abort();
    }
    return std::move(made).value().release();
  }();
  return *calendar;
}

// REQUIRES: `text` is "YYYY-MM-DDTHH:MM".
inline CivilTime Local(const std::string& text) {
  auto t = ParseLocalDateTime(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : CivilTime{};
}

// The instant `text` names when read as UTC.
inline UnixSeconds Utc(const std::string& text) { return CivilAsIfUtc(Local(text)); }

inline RuleSegment Segment(const std::string& rrule, const std::string& start,
                           const std::string& zone, int minutes = 30) {
  RuleSegment s;
  s.start = Local(start);
  s.zone = zone;
  s.rrule = rrule;
  s.duration = std::chrono::minutes(minutes);
  return s;
}

inline Ritual MakeRitual(const std::string& id, const std::string& rrule, const std::string& start,
                         const std::string& zone, int minutes = 30) {
  Ritual r;
  r.id = id;
  r.title = "Ritual " + id;
  r.segments.push_back(Segment(rrule, start, zone, minutes));
  return r;
}

// The occurrences' starts as ISO 8601 with offset.
inline std::vector<std::string> Starts(const std::vector<Occurrence>& occurrences) {
  std::vector<std::string> out;
  for (const Occurrence& o : occurrences) out.push_back(FormatIso8601(o.start));
  return out;
}

// The occurrences' start dates, "YYYY-MM-DD", in the ritual's zone.
inline std::vector<std::string> Dates(const std::vector<Occurrence>& occurrences) {
  std::vector<std::string> out;
  for (const Occurrence& o : occurrences)
    out.push_back(FormatCivilTime(o.start.local).substr(0, 10));
  return out;
}

// Expands `ritual` over [from, to) given as UTC "YYYY-MM-DDTHH:MM"; fails the
// test on error.
inline std::vector<Occurrence> ExpandUtc(const Ritual& ritual, const std::string& from,
                                         const std::string& to,
                                         const OccurrenceOverrides& overrides = {},
                                         const ExpandOptions& options = {}) {
  auto got = TheCalendar().Expand(ritual, overrides, TimeWindow{Utc(from), Utc(to)}, options);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  return got.ok() ? *got : std::vector<Occurrence>{};
}

}  // namespace kindred::calendar::testing

#endif  // KINDRED_TESTS_CALENDAR_CALENDAR_TEST_UTIL_H_
