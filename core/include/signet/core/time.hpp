// UTC time with millisecond precision, and RFC 3339 text through Howard Hinnant's
// date library (GCC 12 has no std::chrono::parse). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace signet {

using TimePoint = std::chrono::sys_time<std::chrono::milliseconds>;

// The system clock, truncated to milliseconds.
TimePoint now_utc();
std::int64_t to_unix_ms(TimePoint t) noexcept;
TimePoint from_unix_ms(std::int64_t ms) noexcept;

// Parses an RFC 3339 full-date ("2026-01-31", midnight UTC) or date-time in UTC
// ("2026-01-31T12:00:00Z", "...T12:00:00.250Z", "...+00:00"). Other offsets,
// invalid calendar dates and trailing text give nullopt.
std::optional<TimePoint> parse_rfc3339_utc(std::string_view text);

// "2026-01-31T12:00:00.250Z" (always milliseconds, always Z).
std::string format_rfc3339(TimePoint t);
// "2026-01-31" (the UTC date).
std::string format_date(TimePoint t);

// The same UTC date and time `years` calendar years later; a 29 February the
// later year lacks becomes its 28 February.
TimePoint add_years(TimePoint t, int years);

}  // namespace signet
