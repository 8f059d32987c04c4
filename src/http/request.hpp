// A parsed HTTP request as the API handlers see it: method, decoded path (without the
// /v1.NN prefix), query, lower-cased headers, body, the API version the client asked for,
// and the captures of the route that matched.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::http {

struct ApiVersion {
    unsigned major = 0;
    unsigned minor = 0;
    auto operator<=>(const ApiVersion&) const = default;
    std::string str() const { return std::to_string(major) + "." + std::to_string(minor); }
};

// The API versions berthd serves (Docker 28.3's current, and dockerd's minimum).
inline constexpr ApiVersion api_version_current{1, 51};
inline constexpr ApiVersion api_version_min{1, 24};

struct Request {
    std::string method;  // "GET", "POST", …
    std::string target;  // the raw request target
    std::string path;    // percent-decoded path, version prefix removed by the router
    std::string query;   // raw query string (no '?')
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    unsigned http_major = 1, http_minor = 1;
    bool keep_alive = true;
    bool upgrade = false;

    // Filled by the router.
    ApiVersion version = api_version_current;
    bool versioned = false;  // the path had a /vN.NN prefix
    std::vector<std::string> params;

    std::string_view header(std::string_view lower_name) const;
    // Percent-decoded value of the first `key` in the query, if present.
    std::optional<std::string> query_value(std::string_view key) const;
    // Every value of a repeated key (`changes=…&changes=…`), decoded, in order.
    std::vector<std::string> query_values(std::string_view key) const;
    // Docker's boolValue: absent, "", "0", "no", "false" and "none" are false.
    bool query_bool(std::string_view key) const;
    bool is_head() const { return method == "HEAD"; }

    void clear();
};

// Percent-decoding; '+' becomes a space only in query components.
std::string url_decode(std::string_view s, bool plus_is_space);

}  // namespace berth::http
