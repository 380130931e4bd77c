#include "signet/core/time.hpp"

#include <date/date.h>

#include <cctype>

namespace signet {

namespace {

// Reads exactly n decimal digits at text[pos...]; -1 when any is not a digit.
int digits(std::string_view text, std::size_t pos, std::size_t n) {
  if (pos + n > text.size()) return -1;
  int value = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (std::isdigit(c) == 0) return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

TimePoint now_utc() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::int64_t to_unix_ms(TimePoint t) noexcept { return t.time_since_epoch().count(); }

TimePoint from_unix_ms(std::int64_t ms) noexcept { return TimePoint(std::chrono::milliseconds(ms)); }

std::optional<TimePoint> parse_rfc3339_utc(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const int y = digits(text, 0, 4);
  const int m = digits(text, 5, 2);
  const int d = digits(text, 8, 2);
  if (y < 0 || m < 0 || d < 0) return std::nullopt;
  const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)},
                                 date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  TimePoint t = std::chrono::time_point_cast<std::chrono::milliseconds>(date::sys_days{ymd});
  if (text.size() == 10) return t;

  if (text.size() < 20 || (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  const int hh = digits(text, 11, 2);
  const int mm = digits(text, 14, 2);
  const int ss = digits(text, 17, 2);
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59) return std::nullopt;
  std::size_t pos = 19;
  long long millis = 0;
  if (text[pos] == '.') {
    ++pos;
    std::size_t count = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])) != 0) {
      if (count < 3) millis = millis * 10 + (text[pos] - '0');
      ++count;
      ++pos;
    }
    if (count == 0) return std::nullopt;
    for (std::size_t i = count; i < 3; ++i) millis *= 10;
  }
  const std::string_view zone = text.substr(pos);
  if (zone != "Z" && zone != "z" && zone != "+00:00" && zone != "-00:00") return std::nullopt;
  t += std::chrono::hours(hh) + std::chrono::minutes(mm) + std::chrono::seconds(ss) +
       std::chrono::milliseconds(millis);
  return t;
}

std::string format_rfc3339(TimePoint t) { return date::format("%FT%TZ", t); }

std::string format_date(TimePoint t) { return date::format("%F", date::floor<date::days>(t)); }

TimePoint add_years(TimePoint t, int years) {
  const auto day = date::floor<date::days>(t);
  auto ymd = date::year_month_day(day) + date::years(years);
  if (!ymd.ok()) ymd = ymd.year() / ymd.month() / date::last;
  return TimePoint(date::sys_days(ymd) + (t - day));
}

}  // namespace signet
