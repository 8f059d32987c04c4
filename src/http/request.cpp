#include "http/request.hpp"

namespace berth::http {

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::string url_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += char(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += (plus_is_space && c == '+') ? ' ' : c;
    }
    return out;
}

std::string_view Request::header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
        if (k == lower_name) return v;
    return {};
}

namespace {
// Calls f(value) for each `key` in the query until f returns false.
template <class F>
void each_query_value(std::string_view q, std::string_view key, F f) {
    while (!q.empty()) {
        size_t amp = q.find('&');
        std::string_view pair = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        size_t eq = pair.find('=');
        if (url_decode(pair.substr(0, eq), true) != key) continue;
        if (!f(eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1), true)))
            return;
    }
}
}  // namespace

std::optional<std::string> Request::query_value(std::string_view key) const {
    std::optional<std::string> out;
    each_query_value(query, key, [&](std::string v) {
        out = std::move(v);
        return false;
    });
    return out;
}

std::vector<std::string> Request::query_values(std::string_view key) const {
    std::vector<std::string> out;
    each_query_value(query, key, [&](std::string v) {
        out.push_back(std::move(v));
        return true;
    });
    return out;
}

bool Request::query_bool(std::string_view key) const {
    auto v = query_value(key);
    if (!v) return false;
    std::string s;
    for (char c : *v) s += char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return !(s.empty() || s == "0" || s == "no" || s == "false" || s == "none");
}

void Request::clear() {
    method.clear();
    target.clear();
    path.clear();
    query.clear();
    headers.clear();
    body.clear();
    params.clear();
    http_major = http_minor = 1;
    keep_alive = true;
    upgrade = false;
    version = api_version_current;
    versioned = false;
}

}  // namespace berth::http
