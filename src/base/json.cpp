#include "base/json.hpp"

#include <simdjson.h>

#include <charconv>
#include <cmath>

namespace berth {

void json_escape_into(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                // Go's encoder also escapes <, > and & in HTML-safe mode; Docker's bodies do,
                // but clients accept either, so only control characters are escaped here.
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += char(c);
                }
        }
    }
    out += '"';
}

JsonWriter& JsonWriter::value(double v) {
    if (!std::isfinite(v)) return null();
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return raw(std::string_view(buf, size_t(p - buf)));
}

JsonWriter& JsonWriter::value_i64(int64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return raw(std::string_view(buf, size_t(p - buf)));
}

JsonWriter& JsonWriter::value_u64(uint64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return raw(std::string_view(buf, size_t(p - buf)));
}

std::string json_object_of(const std::map<std::string, std::string>& m) {
    JsonWriter w;
    w.begin_object();
    for (const auto& [k, v] : m) w.field(k, v);
    w.end_object();
    return w.take();
}

std::string json_array_of(const std::vector<std::string>& v) {
    JsonWriter w;
    w.begin_array();
    for (const auto& s : v) w.value(s);
    w.end_array();
    return w.take();
}

std::map<std::string, std::string> json_string_map(std::string_view json) {
    std::map<std::string, std::string> out;
    simdjson::dom::parser p;
    simdjson::dom::object obj;
    if (json.empty() || p.parse(simdjson::padded_string(json)).get(obj)) return out;
    for (auto [k, v] : obj) {
        std::string_view s;
        if (!v.get(s)) out.emplace(std::string(k), std::string(s));
    }
    return out;
}

}  // namespace berth
