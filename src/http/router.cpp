#include "http/router.hpp"

#include <charconv>

namespace berth::http {

void Router::add(std::string_view method, std::string_view pattern, Handler handler,
                 bool stream_body) {
    Route r;
    r.method = method;
    r.handler = std::move(handler);
    r.stream_body = stream_body;
    size_t i = 0;
    while (i < pattern.size()) {
        if (pattern[i] == '/') {
            ++i;
            continue;
        }
        size_t end = pattern.find('/', i);
        std::string_view seg = pattern.substr(i, end - i);
        i = end == std::string_view::npos ? pattern.size() : end;
        if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
            bool rest = seg.size() >= 3 && seg[seg.size() - 2] == '*';
            r.segments.push_back(
                {rest ? Segment::Kind::rest : Segment::Kind::one,
                 std::string(seg.substr(1, seg.size() - (rest ? 3 : 2)))});
        } else {
            r.segments.push_back({Segment::Kind::literal, std::string(seg)});
        }
    }
    routes_.push_back(std::move(r));
}

bool Router::match(const std::vector<Segment>& pattern, size_t pi,
                   const std::vector<std::string_view>& parts, size_t si,
                   std::vector<std::string>& captures) {
    if (pi == pattern.size()) return si == parts.size();
    if (si == parts.size()) return false;
    const Segment& seg = pattern[pi];
    switch (seg.kind) {
        case Segment::Kind::literal:
            return seg.text == parts[si] && match(pattern, pi + 1, parts, si + 1, captures);
        case Segment::Kind::one:
            if (parts[si].empty()) return false;
            captures.emplace_back(parts[si]);
            if (match(pattern, pi + 1, parts, si + 1, captures)) return true;
            captures.pop_back();
            return false;
        case Segment::Kind::rest: {
            // Greedy from the longest, so "/images/a/json/json" keeps "a/json" as the name.
            size_t remaining_pattern = pattern.size() - pi - 1;
            if (parts.size() - si < remaining_pattern + 1) return false;
            for (size_t take = parts.size() - si - remaining_pattern; take >= 1; --take) {
                std::string joined;
                for (size_t k = 0; k < take; ++k) {
                    if (k) joined += '/';
                    joined += parts[si + k];
                }
                captures.push_back(std::move(joined));
                if (match(pattern, pi + 1, parts, si + take, captures)) return true;
                captures.pop_back();
            }
            return false;
        }
    }
    return false;
}

bool split_version(std::string_view path, ApiVersion& version, std::string_view& rest,
                   bool& well_formed) {
    well_formed = false;
    if (path.size() < 3 || path[0] != '/' || path[1] != 'v') return false;
    size_t end = path.find('/', 2);
    std::string_view v = path.substr(2, end == std::string_view::npos ? path.npos : end - 2);
    if (v.empty()) return false;
    for (char c : v)
        if (!((c >= '0' && c <= '9') || c == '.')) return false;
    rest = end == std::string_view::npos ? std::string_view("/") : path.substr(end);
    // moby accepts any [0-9.]+ here and compares numerically; "1.51" is the usual shape.
    size_t dot = v.find('.');
    unsigned major = 0, minor = 0;
    auto [p1, e1] = std::from_chars(v.data(), v.data() + (dot == v.npos ? v.size() : dot), major);
    if (e1 != std::errc{}) return true;
    if (dot != v.npos) {
        std::string_view m = v.substr(dot + 1);
        size_t dot2 = m.find('.');
        if (dot2 != m.npos) m = m.substr(0, dot2);
        auto [p2, e2] = std::from_chars(m.data(), m.data() + m.size(), minor);
        if (e2 != std::errc{} && !m.empty()) return true;
    }
    version = {major, minor};
    well_formed = true;
    return true;
}

Result<Router::Match> Router::route(Request& req) const {
    std::string decoded = url_decode(req.path, false);
    std::string_view path = decoded;
    std::string_view rest;
    ApiVersion v{};
    bool well_formed = false;
    if (split_version(path, v, rest, well_formed)) {
        if (!well_formed) return fail(Error::not_found("page not found"));
        req.versioned = true;
        if (v > api_version_current)
            return fail(Error::invalid("client version " + v.str() +
                                       " is too new. Maximum supported API version is " +
                                       api_version_current.str()));
        if (v < api_version_min)
            return fail(Error::invalid("client version " + v.str() +
                                       " is too old. Minimum supported API version is " +
                                       api_version_min.str() +
                                       ", please upgrade your client to a newer version"));
        req.version = v;
        path = rest;
    } else {
        req.versioned = false;
        req.version = api_version_current;
    }
    std::vector<std::string_view> parts;
    size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        size_t end = path.find('/', i);
        parts.push_back(path.substr(i, end - i));
        i = end == std::string_view::npos ? path.size() : end;
    }
    bool path_known = false;
    const Route* head_fallback = nullptr;
    std::vector<std::string> fallback_captures;
    for (const Route& r : routes_) {
        std::vector<std::string> captures;
        if (!match(r.segments, 0, parts, 0, captures)) continue;
        path_known = true;
        if (r.method == req.method) {
            req.params = std::move(captures);
            req.path = std::string(path);
            return Match{&r.handler, r.stream_body};
        }
        // HEAD is served by the GET route unless a HEAD route exists; the body is dropped.
        if (req.method == "HEAD" && r.method == "GET" && !head_fallback) {
            head_fallback = &r;
            fallback_captures = std::move(captures);
        }
    }
    if (head_fallback) {
        req.params = std::move(fallback_captures);
        req.path = std::string(path);
        return Match{&head_fallback->handler, head_fallback->stream_body};
    }
    if (path_known) return fail(Error::make(ErrorKind::method_not_allowed, "method not allowed"));
    return fail(Error::not_found("page not found"));
}

}  // namespace berth::http
