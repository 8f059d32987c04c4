#include "jobs/progress.hpp"

#include <cstdio>

#include "base/json.hpp"

namespace berth::jobs {

std::string human_size(double bytes) {
    static constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    size_t u = 0;
    while (bytes >= 1000.0 && u + 1 < std::size(units)) {
        bytes /= 1000.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g%s", bytes, units[u]);
    return buf;
}

std::string progress_bar(uint64_t current, uint64_t total) {
    std::string numbers = human_size(double(current));
    if (total == 0) return numbers;
    constexpr int width = 50;
    double pct = double(current) / double(total);
    if (pct > 1) pct = 1;
    int bars = int(width * pct);
    std::string box = "[" + std::string(size_t(bars), '=') + ">" +
                      std::string(size_t(width - bars), ' ') + "] ";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%8s/%s", numbers.c_str(), human_size(double(total)).c_str());
    return box + buf;
}

namespace {
std::string line(JsonWriter& w) {
    std::string s = w.take();
    s += "\r\n";  // dockerd ends each message with CRLF
    return s;
}
}  // namespace

std::string progress_status(std::string_view id, std::string_view status) {
    JsonWriter w;
    w.begin_object().field("status", status);
    w.key("progressDetail").begin_object().end_object();
    if (!id.empty()) w.field("id", id);
    w.end_object();
    return line(w);
}

std::string progress_bytes(std::string_view id, std::string_view status, uint64_t current,
                           uint64_t total) {
    JsonWriter w;
    w.begin_object().field("status", status);
    w.key("progressDetail").begin_object().field("current", current);
    if (total) w.field("total", total);
    w.end_object();
    w.field("progress", progress_bar(current, total));
    if (!id.empty()) w.field("id", id);
    w.end_object();
    return line(w);
}

std::string progress_error(std::string_view message) {
    JsonWriter w;
    w.begin_object().key("errorDetail").begin_object().field("message", message).end_object();
    w.field("error", message).end_object();
    return line(w);
}

std::string progress_stream(std::string_view text) {
    JsonWriter w;
    w.begin_object().field("stream", text).end_object();
    return line(w);
}

}  // namespace berth::jobs
