// The one place where an Error becomes an HTTP status and Docker's error body
// {"message": "..."}; and the reason phrases for the status line.
#pragma once

#include <string>
#include <string_view>

#include "base/error.hpp"

namespace berth::http {

int status_for(const Error& e);
std::string_view reason_phrase(int status);
// {"message":"..."} followed by a newline, as dockerd's JSON encoder writes it.
std::string error_body(std::string_view message);

}  // namespace berth::http
