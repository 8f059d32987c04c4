#include "base/time.hpp"

#include <time.h>

#include <charconv>
#include <cstdio>

namespace berth {

int64_t wall_clock_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string rfc3339_nano(int64_t unix_ns) {
    time_t secs = time_t(unix_ns / 1'000'000'000);
    int64_t frac = unix_ns % 1'000'000'000;
    if (frac < 0) {
        frac += 1'000'000'000;
        secs -= 1;
    }
    tm t{};
    gmtime_r(&secs, &t);
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", t.tm_year + 1900,
                          t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
    std::string out(buf, size_t(n));
    if (frac != 0) {
        char f[16];
        std::snprintf(f, sizeof f, ".%09lld", static_cast<long long>(frac));
        std::string fs(f);
        while (fs.back() == '0') fs.pop_back();
        out += fs;
    }
    out += 'Z';
    return out;
}

namespace {

// Go duration units accepted by Docker's `--since 10m`.
std::optional<int64_t> parse_go_duration(std::string_view s) {
    if (s.empty()) return std::nullopt;
    int64_t total = 0;
    size_t i = 0;
    while (i < s.size()) {
        size_t start = i;
        while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
        if (i == start) return std::nullopt;
        double value = 0;
        auto [p, ec] = std::from_chars(s.data() + start, s.data() + i, value);
        if (ec != std::errc{} || p != s.data() + i) return std::nullopt;
        size_t ustart = i;
        while (i < s.size() && !((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
        std::string_view unit = s.substr(ustart, i - ustart);
        double mult = 0;
        if (unit == "ns") mult = 1;
        else if (unit == "us" || unit == "µs") mult = 1e3;
        else if (unit == "ms") mult = 1e6;
        else if (unit == "s") mult = 1e9;
        else if (unit == "m") mult = 60e9;
        else if (unit == "h") mult = 3600e9;
        else return std::nullopt;
        total += int64_t(value * mult);
    }
    return total;
}

std::optional<int64_t> parse_rfc3339(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM); a date alone is accepted as midnight UTC.
    tm t{};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    std::string str(s);
    int consumed = 0;
    if (std::sscanf(str.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &consumed) != 3) return std::nullopt;
    size_t pos = size_t(consumed);
    int64_t frac_ns = 0;
    int64_t offset_s = 0;
    if (pos < str.size() && (str[pos] == 'T' || str[pos] == 't' || str[pos] == ' ')) {
        int c2 = 0;
        if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &c2) != 3)
            return std::nullopt;
        pos += 1 + size_t(c2);
        if (pos < str.size() && str[pos] == '.') {
            ++pos;
            int64_t scale = 100'000'000;
            while (pos < str.size() && str[pos] >= '0' && str[pos] <= '9') {
                frac_ns += (str[pos] - '0') * scale;
                scale /= 10;
                ++pos;
            }
        }
        if (pos < str.size()) {
            if (str[pos] == 'Z' || str[pos] == 'z') {
                ++pos;
            } else if (str[pos] == '+' || str[pos] == '-') {
                int oh = 0, om = 0;
                if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
                offset_s = (oh * 3600 + om * 60) * (str[pos] == '+' ? 1 : -1);
                pos += 6;
            }
        }
    }
    if (pos != str.size()) return std::nullopt;
    t.tm_year = y - 1900;
    t.tm_mon = mo - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = mi;
    t.tm_sec = sec;
    time_t secs = timegm(&t);
    return (int64_t(secs) - offset_s) * 1'000'000'000 + frac_ns;
}

}  // namespace

std::optional<int64_t> parse_docker_time(std::string_view text, int64_t now_ns) {
    if (text.empty()) return std::nullopt;
    // Unix seconds with an optional fraction of up to 9 digits.
    size_t dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    int64_t secs = 0;
    auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), secs);
    if (ec == std::errc{} && p == whole.data() + whole.size()) {
        int64_t frac_ns = 0;
        if (dot != std::string_view::npos) {
            std::string_view frac = text.substr(dot + 1);
            if (frac.empty() || frac.size() > 9) return std::nullopt;
            int64_t scale = 100'000'000;
            for (char c : frac) {
                if (c < '0' || c > '9') return std::nullopt;
                frac_ns += (c - '0') * scale;
                scale /= 10;
            }
        }
        return secs * 1'000'000'000 + frac_ns;
    }
    if (auto t = parse_rfc3339(text)) return t;
    if (auto d = parse_go_duration(text)) return now_ns - *d;
    return std::nullopt;
}

}  // namespace berth
