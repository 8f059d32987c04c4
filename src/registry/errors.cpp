#include "registry/errors.hpp"

#include <simdjson.h>

#include "registry/auth.hpp"

namespace berth::registry {

namespace {

struct Code {
    std::string_view code;
    std::string_view text;  // errcode's lower-case value, the prefix of every message
    ErrorKind kind;
};

constexpr Code codes[] = {
    {"UNAUTHORIZED", "unauthorized", ErrorKind::unauthorized},
    {"DENIED", "denied", ErrorKind::forbidden},
    {"MANIFEST_UNKNOWN", "manifest unknown", ErrorKind::not_found},
    {"NAME_UNKNOWN", "name unknown", ErrorKind::not_found},
    {"BLOB_UNKNOWN", "blob unknown", ErrorKind::not_found},
    {"BLOB_UPLOAD_UNKNOWN", "blob upload unknown", ErrorKind::not_found},
    {"MANIFEST_BLOB_UNKNOWN", "manifest blob unknown", ErrorKind::invalid_parameter},
    {"MANIFEST_INVALID", "manifest invalid", ErrorKind::invalid_parameter},
    {"DIGEST_INVALID", "digest invalid", ErrorKind::invalid_parameter},
    {"SIZE_INVALID", "size invalid", ErrorKind::invalid_parameter},
    {"NAME_INVALID", "name invalid", ErrorKind::invalid_parameter},
    {"TAG_INVALID", "tag invalid", ErrorKind::invalid_parameter},
    {"UNSUPPORTED", "unsupported", ErrorKind::not_implemented},
    {"TOOMANYREQUESTS", "toomanyrequests", ErrorKind::unavailable},
    {"UNAVAILABLE", "unavailable", ErrorKind::unavailable},
};

const Code* find_code(std::string_view code) {
    for (const Code& c : codes)
        if (c.code == code) return &c;
    return nullptr;
}

ErrorKind kind_for_status(int status) {
    switch (status) {
        case 400:
            return ErrorKind::invalid_parameter;
        case 401:
            return ErrorKind::unauthorized;
        case 403:
            return ErrorKind::forbidden;
        case 404:
            return ErrorKind::not_found;
        case 405:
            return ErrorKind::not_implemented;
        case 429:
            return ErrorKind::unavailable;
        default:
            return status >= 500 ? ErrorKind::unavailable : ErrorKind::system;
    }
}

// "code: message" for a known code; an unknown code keeps its own lower-cased words.
std::string code_text(std::string_view code) {
    if (const Code* c = find_code(code)) return std::string(c->text);
    std::string s(code);
    for (char& ch : s) ch = ch == '_' ? ' ' : (ch >= 'A' && ch <= 'Z') ? char(ch - 'A' + 'a') : ch;
    return s;
}

Error make(std::string_view code, std::string message, int status) {
    const Code* c = find_code(code);
    ErrorKind kind = c ? c->kind : kind_for_status(status);
    return Error::make(kind, code_text(code) + ": " + message);
}

// The error JSON; false when the body is not that (or has no errors).
bool from_json(int status, std::string_view body, Error& out) {
    if (body.empty()) return false;
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    if (parser.parse(padded).get(doc)) return false;
    std::string_view details;
    if (!doc["details"].get(details) && !details.empty()) {
        out = make(status == 401   ? "UNAUTHORIZED"
                   : status == 429 ? "TOOMANYREQUESTS"
                                   : "UNKNOWN",
                   std::string(details), status);
        return true;
    }
    simdjson::dom::array errors;
    if (doc["errors"].get(errors) || errors.size() == 0) return false;
    std::string text;
    Error first;
    bool have_first = false;
    for (simdjson::dom::element e : errors) {
        std::string_view code, message;
        if (e["code"].get(code)) code = "UNKNOWN";
        if (e["message"].get(message)) message = "";
        Error one = make(code, std::string(message), status);
        if (!have_first) first = one;
        have_first = true;
        text += (text.empty() ? "" : "; ") + one.message;
    }
    // errcode.Errors prints one error alone, several as a list.
    out = errors.size() == 1 ? first : Error::make(first.kind, "errors:\n" + text);
    return true;
}

}  // namespace

std::string_view reason_phrase(int status) {
    switch (status) {
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 409:
            return "Conflict";
        case 413:
            return "Request Entity Too Large";
        case 416:
            return "Requested Range Not Satisfiable";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        default:
            return "";
    }
}

Error registry_error(int status, std::string_view body, const Headers& headers) {
    if (status == 401) {
        // RFC 6750 errors in the challenge come first, as docker/distribution reads them.
        Challenge c = parse_challenge(header_value(headers, "www-authenticate"));
        if (c.scheme == Challenge::Scheme::bearer && c.error == "insufficient_scope")
            return make("DENIED", "requested access to the resource is denied", status);
    }
    if (Error e; from_json(status, body, e)) return e;
    if (status == 401) return make("UNAUTHORIZED", "authentication required", status);
    std::string status_text = std::to_string(status);
    if (auto r = reason_phrase(status); !r.empty()) status_text += " " + std::string(r);
    return Error::make(kind_for_status(status), "received unexpected HTTP status: " + status_text);
}

std::string_view registry_error_code(const Error& e) {
    std::string_view m = e.message;
    for (const Code& c : codes)
        if (m.starts_with(c.text) && m.substr(c.text.size()).starts_with(": ")) return c.code;
    return {};
}

}  // namespace berth::registry
