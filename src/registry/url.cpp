#include "registry/url.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace berth::registry {

namespace {

uint16_t default_port(std::string_view scheme) {
    return scheme == "https" ? 443 : 80;
}

bool is_ipv6_literal(std::string_view host) {
    return host.find(':') != std::string_view::npos;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

// Removes "." and ".." segments from an absolute path (RFC 3986 §5.2.4).
std::string remove_dot_segments(std::string_view path) {
    std::string out;
    size_t i = 0;
    while (i < path.size()) {
        size_t j = path.find('/', i + 1);
        if (j == std::string_view::npos) j = path.size();
        std::string_view seg = path.substr(i, j - i);  // includes the leading '/'
        if (seg == "/.") {
            if (j == path.size()) out += '/';
        } else if (seg == "/..") {
            size_t k = out.rfind('/');
            out.erase(k == std::string::npos ? 0 : k);
            if (j == path.size()) out += '/';
        } else {
            out += seg;
        }
        i = j;
    }
    return out.empty() ? "/" : out;
}

}  // namespace

std::string Url::authority() const {
    std::string h = is_ipv6_literal(host) ? "[" + host + "]" : host;
    if (port != default_port(scheme)) h += ":" + std::to_string(port);
    return h;
}

std::string Url::origin() const {
    std::string h = is_ipv6_literal(host) ? "[" + host + "]" : host;
    return scheme + "://" + h + ":" + std::to_string(port);
}

Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view a) {
    std::string_view host = a, port;
    if (a.starts_with('[')) {
        size_t close = a.find(']');
        if (close == std::string_view::npos) return fail(Error::invalid("missing ']' in host"));
        host = a.substr(1, close - 1);
        std::string_view rest = a.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') return fail(Error::invalid("invalid host: " + std::string(a)));
            port = rest.substr(1);
        }
    } else if (size_t colon = a.rfind(':'); colon != std::string_view::npos) {
        host = a.substr(0, colon);
        port = a.substr(colon + 1);
    }
    if (host.empty()) return fail(Error::invalid("empty host in " + std::string(a)));
    uint16_t p = 0;
    if (!port.empty()) {
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc() || end != port.data() + port.size() || p == 0)
            return fail(Error::invalid("invalid port " + std::string(port)));
    }
    return std::pair{lower(host), p};
}

Result<Url> parse_url(std::string_view text) {
    size_t colon = text.find("://");
    if (colon == std::string_view::npos)
        return fail(Error::invalid("not an absolute URL: " + std::string(text)));
    Url u;
    u.scheme = lower(text.substr(0, colon));
    if (u.scheme != "http" && u.scheme != "https")
        return fail(Error::invalid("unsupported protocol scheme \"" + u.scheme + "\""));
    std::string_view rest = text.substr(colon + 3);
    size_t slash = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, slash);
    if (authority.find('@') != std::string_view::npos)
        return fail(Error::invalid("URLs with user information are not supported"));
    auto hp = split_host_port(authority);
    if (!hp) return fail(std::move(hp.error()).wrap("parse \"" + std::string(text) + "\""));
    u.host = hp->first;
    u.port = hp->second ? hp->second : default_port(u.scheme);
    std::string_view target = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (size_t hash = target.find('#'); hash != std::string_view::npos)
        target = target.substr(0, hash);
    u.target = target.empty() || target[0] != '/' ? "/" + std::string(target) : std::string(target);
    return u;
}

Result<Url> resolve_location(const Url& base, std::string_view loc) {
    if (loc.find("://") != std::string_view::npos) return parse_url(loc);
    if (loc.starts_with("//")) return parse_url(base.scheme + ":" + std::string(loc));
    Url u = base;
    if (size_t hash = loc.find('#'); hash != std::string_view::npos) loc = loc.substr(0, hash);
    if (loc.empty()) return u;
    if (loc[0] == '?') {
        u.target = base.target.substr(0, base.target.find('?')) + std::string(loc);
        return u;
    }
    std::string_view path = loc.substr(0, loc.find('?'));
    std::string_view query = loc.substr(path.size());
    std::string merged;
    if (path.starts_with('/')) {
        merged = std::string(path);
    } else {
        std::string_view base_path = base.target.substr(0, base.target.find('?'));
        merged = std::string(base_path.substr(0, base_path.rfind('/') + 1)) + std::string(path);
    }
    u.target = remove_dot_segments(merged) + std::string(query);
    return u;
}

std::string query_escape(std::string_view v) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        if (plain) {
            out += char(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string add_query(std::string target, std::string_view key, std::string_view value) {
    target += target.find('?') == std::string::npos ? '?' : '&';
    target += key;
    target += '=';
    target += query_escape(value);
    return target;
}

bool is_loopback_host(std::string_view host) {
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    if (host == "localhost") return true;
    std::string h(host);
    in_addr v4{};
    if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

}  // namespace berth::registry
