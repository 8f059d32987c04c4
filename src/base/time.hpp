// Clocks and Docker's time formats: RFC 3339 with nanoseconds (Created, StartedAt, SystemTime)
// and the `since`/`until` query values (unix seconds, optionally with a fraction).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth {

int64_t wall_clock_ns();
int64_t monotonic_ns();
// 2006-01-02T15:04:05.999999999Z (UTC, trailing zeros of the fraction trimmed as Go does).
std::string rfc3339_nano(int64_t unix_ns);
// Docker's `since`/`until` values: "1700000000", "1700000000.123456789", an RFC 3339 time or a
// Go duration relative to now ("10m", "1h30m"). Returns unix nanoseconds.
std::optional<int64_t> parse_docker_time(std::string_view text, int64_t now_ns);

}  // namespace berth
