// URLs as the registry client meets them: absolute http/https URLs, the Location of redirects
// and upload sessions (absolute, scheme-relative, path-absolute or relative), query escaping,
// and the loopback test dockerd applies to decide plain HTTP.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace berth::registry {

struct Url {
    std::string scheme;  // "http" or "https"
    std::string host;    // IPv6 without brackets
    uint16_t port = 0;
    std::string target = "/";  // path and query, as sent on the request line

    bool tls() const { return scheme == "https"; }
    // host[:port] as in a Host header: the default port left out, IPv6 in brackets.
    std::string authority() const;
    // "scheme://host:port", always with the port: requests to the same origin share
    // connections and credentials.
    std::string origin() const;
    std::string str() const { return scheme + "://" + authority() + target; }
};

// Parses an absolute http(s) URL. Anything else (other schemes, userinfo, bad ports) is refused.
Result<Url> parse_url(std::string_view text);

// Resolves a Location header against the URL it came from (RFC 3986 §5.2, the common cases).
Result<Url> resolve_location(const Url& base, std::string_view location);

// Percent-encodes a query value (RFC 3986 unreserved characters pass).
std::string query_escape(std::string_view value);

// Appends "key=value" to a target with '?' or '&' as needed; value is escaped.
std::string add_query(std::string target, std::string_view key, std::string_view value);

// 127.0.0.0/8, ::1 and "localhost": dockerd treats these registries as insecure.
bool is_loopback_host(std::string_view host);

// Splits "host[:port]" / "[v6]:port" into host (brackets removed) and port (0 when absent).
Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view authority);

}  // namespace berth::registry
