// Method + path-pattern routing. Patterns are '/'-separated: a literal segment, "{name}" (one
// segment) or "{name*}" (one or more segments, for image names with slashes, as moby's
// "{name:.*}"). Paths come as "/v1.NN/..." or unversioned; the version is checked here
// against the server's minimum and current, with Docker's messages.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "http/request.hpp"

namespace berth::http {

class Exchange;
using Handler = std::function<void(Exchange&)>;

class Router {
public:
    // stream_body: the handler runs as soon as the headers are in and reads the body as it
    // arrives (Exchange::read_body), with no size limit: docker load, import, cp.
    void add(std::string_view method, std::string_view pattern, Handler handler,
             bool stream_body = false);

    struct Match {
        const Handler* handler = nullptr;
        bool stream_body = false;
    };
    // Strips and checks the version prefix, decodes the path, fills req.params.
    // Errors: 400 for a version out of range, 404 "page not found", 405 for a known path
    // with another method.
    Result<Match> route(Request& req) const;

private:
    struct Segment {
        enum class Kind : unsigned char { literal, one, rest } kind;
        std::string text;
    };
    struct Route {
        std::string method;
        std::vector<Segment> segments;
        Handler handler;
        bool stream_body = false;
    };
    static bool match(const std::vector<Segment>& pattern, size_t pi,
                      const std::vector<std::string_view>& parts, size_t si,
                      std::vector<std::string>& captures);
    std::vector<Route> routes_;
};

// Splits "/v1.51/containers/json" into the version and "/containers/json".
// Returns false if the path has no version prefix.
bool split_version(std::string_view path, ApiVersion& version, std::string_view& rest,
                   bool& well_formed);

}  // namespace berth::http
