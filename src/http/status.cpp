#include "http/status.hpp"

#include "base/json.hpp"

namespace berth::http {

int status_for(const Error& e) {
    switch (e.kind) {
        case ErrorKind::invalid_parameter: return 400;
        case ErrorKind::unauthorized: return 401;
        case ErrorKind::forbidden: return 403;
        case ErrorKind::not_found: return 404;
        case ErrorKind::method_not_allowed: return 405;
        case ErrorKind::conflict: return 409;
        case ErrorKind::not_modified: return 304;
        case ErrorKind::too_large: return 413;
        case ErrorKind::unavailable: return 503;
        case ErrorKind::not_implemented: return 501;
        case ErrorKind::system:
        case ErrorKind::internal: return 500;
    }
    return 500;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 101: return "UPGRADED";  // what dockerd writes for attach/exec hijacks
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 411: return "Length Required";
        case 413: return "Request Entity Too Large";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

std::string error_body(std::string_view message) {
    JsonWriter w;
    w.begin_object().field("message", message).end_object();
    std::string s = w.take();
    s += '\n';
    return s;
}

}  // namespace berth::http
