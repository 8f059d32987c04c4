// The JSON types of POST /containers/create's body, checked as Go's decoder checks them in
// dockerd: a field of the wrong type is a 400 naming it ("json: cannot unmarshal string into Go
// struct field CreateRequest.Cmd of type []string"), before anything is made.
#pragma once

#include <simdjson.h>

#include "base/error.hpp"

namespace berth::http {

Result<> check_create_types(simdjson::dom::element body);

}  // namespace berth::http
