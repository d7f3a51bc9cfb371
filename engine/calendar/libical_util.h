// Internal to kindred::calendar: owning wrappers for libical objects and
// conversions between libical's time type and ours. Include only from .cc
// files of this component; callers must hold the Calendar's mutex while they
// use libical (see calendar.h).
#ifndef KINDRED_ENGINE_CALENDAR_LIBICAL_UTIL_H_
#define KINDRED_ENGINE_CALENDAR_LIBICAL_UTIL_H_

#include <libical/ical.h>

#include <memory>
#include <string>

#include "engine/calendar/civil_time.h"

namespace kindred::calendar::internal {

struct IcalComponentDeleter {
  void operator()(icalcomponent* c) const { icalcomponent_free(c); }
};
using IcalComponentPtr = std::unique_ptr<icalcomponent, IcalComponentDeleter>;

struct IcalIteratorDeleter {
  void operator()(icalrecur_iterator* it) const { icalrecur_iterator_free(it); }
};
using IcalIteratorPtr = std::unique_ptr<icalrecur_iterator, IcalIteratorDeleter>;

struct IcalBufferDeleter {
  void operator()(char* p) const { icalmemory_free_buffer(p); }
};
// A string libical allocated for the caller (the *_r functions).
using IcalBuffer = std::unique_ptr<char, IcalBufferDeleter>;

// Takes ownership of a libical *_r string and copies it out.
inline std::string TakeIcalString(char* p) {
  IcalBuffer owned(p);
  return owned ? std::string(owned.get()) : std::string();
}

// A floating (zone-less) libical date-time with the fields of `t`.
inline icaltimetype ToIcalFloating(const CivilTime& t) {
  icaltimetype out = icaltime_null_time();
  out.year = t.year;
  out.month = t.month;
  out.day = t.day;
  out.hour = t.hour;
  out.minute = t.minute;
  out.second = t.second;
  out.is_date = 0;
  out.is_daylight = 0;
  out.zone = nullptr;
  return out;
}

// The wall-clock fields of a libical time (its zone is ignored).
inline CivilTime FromIcal(const icaltimetype& t) {
  return CivilTime{t.year,
                   t.month,
                   t.day,
                   t.is_date ? 0 : t.hour,
                   t.is_date ? 0 : t.minute,
                   t.is_date ? 0 : t.second};
}

}  // namespace kindred::calendar::internal

#endif  // KINDRED_ENGINE_CALENDAR_LIBICAL_UTIL_H_
