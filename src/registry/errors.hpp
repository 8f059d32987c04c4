// Registry error responses in Docker's words: distribution's JSON ({"errors":[{"code",
// "message"}]} → "manifest unknown: manifest unknown"), token servers' {"details": …}, the
// Bearer error="insufficient_scope" challenge, and the ErrorKind each maps to.
#pragma once

#include <string>
#include <string_view>

#include "base/error.hpp"
#include "registry/http_client.hpp"

namespace berth::registry {

// The error for a non-2xx registry response, as docker/distribution's client words it.
Error registry_error(int status, std::string_view body, const Headers& headers);

// The registry error code ("MANIFEST_UNKNOWN", "DENIED", …) a message of registry_error()
// came from, or "" — for callers that reword (pull access denied, manifest … not found).
std::string_view registry_error_code(const Error& e);

std::string_view reason_phrase(int status);

}  // namespace berth::registry
