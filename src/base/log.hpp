// Daemon logging in dockerd's logfmt shape (time="…" level=info msg="…") on stderr.
// One global level; the reactor thread is the only writer, so no locking.
#pragma once

#include <string_view>

namespace berth::log {

enum class Level : unsigned char { debug, info, warn, error, fatal };

void set_level(Level level);
Level level();
// Parses dockerd's --log-level names: debug, info, warn, error, fatal.
bool parse_level(std::string_view name, Level& out);
void write(Level level, std::string_view message);

inline void debug(std::string_view m) {
    if (level() <= Level::debug) write(Level::debug, m);
}
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }

}  // namespace berth::log
