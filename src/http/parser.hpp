// RequestParser: llhttp wrapped to produce one Request at a time, with limits on header and
// body bytes. It stops after each complete request (pipelined bytes stay unconsumed) so the
// connection decides when to parse the next one.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "http/request.hpp"

namespace berth::http {

struct ParseLimits {
    size_t header_bytes_max = 64 * 1024;
    size_t body_bytes_max = 16 * 1024 * 1024;
};

class RequestParser {
public:
    explicit RequestParser(ParseLimits limits);
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;

    // headers: a request with a body has its headers parsed; the caller may route it and
    // stream_body() before feeding more (bytes after the headers are not consumed yet).
    enum class Status : unsigned char { need_more, headers, complete, error };
    struct Outcome {
        Status status = Status::need_more;
        size_t consumed = 0;   // bytes of `data` used
        int http_status = 0;   // for errors: 400, 413, 431, 505…
        std::string message;   // for errors
    };

    // Parses until one request is complete, an error, or the data runs out.
    Outcome feed(std::string_view data);
    // True once any byte of the current request was seen (for the header timeout).
    bool in_request() const { return started_; }
    Request& request() { return req_; }
    // Prepares for the next request on the same connection.
    void next();
    // At Status::headers: the declared body is over the limit (a non-streaming route refuses
    // it at once with 413, before reading it).
    bool declared_body_over_limit() const {
        return (parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > limits_.body_bytes_max;
    }
    Outcome body_too_large() const {
        return {Status::error, 0, 413,
                "request body too large: over " + std::to_string(limits_.body_bytes_max) + " bytes"};
    }
    // From now on the current request's body goes to `sink` (no size limit) instead of
    // Request::body. `sink` returns an error to abort the request.
    using BodySink = Result<> (*)(void* ctx, std::span<const std::byte> data);
    void stream_body(BodySink sink, void* ctx) {
        sink_ = sink;
        sink_ctx_ = ctx;
    }
    // Frees what an idle connection does not need.
    void shrink();

private:
    static int on_message_begin(llhttp_t* p);
    static int on_url(llhttp_t* p, const char* at, size_t len);
    static int on_header_field(llhttp_t* p, const char* at, size_t len);
    static int on_header_value(llhttp_t* p, const char* at, size_t len);
    static int on_headers_complete(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, size_t len);
    static int on_message_complete(llhttp_t* p);
    int add_header_bytes(size_t n);

    llhttp_t parser_{};
    llhttp_settings_t settings_{};
    ParseLimits limits_;
    Request req_;
    size_t header_bytes_ = 0;
    bool started_ = false;
    bool in_value_ = false;
    bool complete_ = false;
    bool headers_done_ = false;
    BodySink sink_ = nullptr;
    void* sink_ctx_ = nullptr;
    int error_status_ = 0;
    std::string error_message_;
};

}  // namespace berth::http
