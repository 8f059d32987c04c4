// Errors are values: every fallible function returns Result<T>. An Error carries the
// kind (which maps to a Docker HTTP status in http/status.cpp, and nowhere else), the errno
// where a syscall failed, and a message built where it happened and wrapped on the way up.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace berth {

enum class ErrorKind : unsigned char {
    system,             // a syscall failed; errno says which way (→ 500)
    invalid_parameter,  // the request is wrong (→ 400)
    unauthorized,       // → 401
    forbidden,          // → 403
    not_found,          // no such object (→ 404)
    method_not_allowed, // a known path with another method (→ 405)
    conflict,           // name in use, wrong state (→ 409)
    not_modified,       // already started/stopped (→ 304)
    too_large,          // a limit on the request was exceeded (→ 413 / 431)
    unavailable,        // shutting down, over a limit (→ 503)
    not_implemented,    // → 501
    internal,           // a bug or an impossible state (→ 500)
};

struct Error {
    ErrorKind kind = ErrorKind::internal;
    int sys_errno = 0;
    std::string message;

    // "<context>: <strerror>" with errno kept for callers that branch on it.
    static Error sys(int err, std::string_view context) {
        std::string m{context};
        m += ": ";
        m += std::strerror(err);
        return Error{ErrorKind::system, err, std::move(m)};
    }
    static Error last_sys(std::string_view context) { return sys(errno, context); }
    static Error make(ErrorKind kind, std::string message) {
        return Error{kind, 0, std::move(message)};
    }
    static Error invalid(std::string m) { return make(ErrorKind::invalid_parameter, std::move(m)); }
    static Error not_found(std::string m) { return make(ErrorKind::not_found, std::move(m)); }
    static Error conflict(std::string m) { return make(ErrorKind::conflict, std::move(m)); }
    static Error internal(std::string m) { return make(ErrorKind::internal, std::move(m)); }

    // Adds what the caller was doing in front: "open store: open /x: No such file".
    Error wrap(std::string_view context) && {
        std::string m{context};
        m += ": ";
        m += message;
        message = std::move(m);
        return std::move(*this);
    }
};

template <class T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(Error e) { return std::unexpected<Error>(std::move(e)); }

}  // namespace berth
