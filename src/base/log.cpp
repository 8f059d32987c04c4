#include "base/log.hpp"

#include <unistd.h>

#include <string>

#include "base/time.hpp"

namespace berth::log {
namespace {
Level g_level = Level::info;

std::string_view name(Level l) {
    switch (l) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warn: return "warning";
        case Level::error: return "error";
        case Level::fatal: return "fatal";
    }
    return "info";
}
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }

bool parse_level(std::string_view n, Level& out) {
    if (n == "debug") out = Level::debug;
    else if (n == "info") out = Level::info;
    else if (n == "warn" || n == "warning") out = Level::warn;
    else if (n == "error") out = Level::error;
    else if (n == "fatal") out = Level::fatal;
    else return false;
    return true;
}

void write(Level l, std::string_view message) {
    if (l < g_level) return;
    std::string line = "time=\"" + rfc3339_nano(wall_clock_ns()) + "\" level=";
    line += name(l);
    line += " msg=\"";
    for (char c : message) {
        if (c == '"' || c == '\\') line += '\\';
        line += c;
    }
    line += "\"\n";
    // A short write to stderr is not worth retrying: logging must never block the loop long.
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace berth::log
