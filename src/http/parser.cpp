#include "http/parser.hpp"

namespace berth::http {

RequestParser::RequestParser(ParseLimits limits) : limits_(limits) {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = &on_message_begin;
    settings_.on_url = &on_url;
    settings_.on_header_field = &on_header_field;
    settings_.on_header_value = &on_header_value;
    settings_.on_headers_complete = &on_headers_complete;
    settings_.on_body = &on_body;
    settings_.on_message_complete = &on_message_complete;
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
}

void RequestParser::next() {
    req_.clear();
    header_bytes_ = 0;
    started_ = false;
    in_value_ = false;
    complete_ = false;
    headers_done_ = false;
    sink_ = nullptr;
    sink_ctx_ = nullptr;
}

void RequestParser::shrink() {
    req_.clear();
    req_.headers.shrink_to_fit();
    req_.body.shrink_to_fit();
    req_.target.shrink_to_fit();
    req_.path.shrink_to_fit();
    req_.query.shrink_to_fit();
    req_.params.shrink_to_fit();
}

int RequestParser::add_header_bytes(size_t n) {
    header_bytes_ += n;
    if (header_bytes_ > limits_.header_bytes_max) {
        error_status_ = 431;
        error_message_ = "request header fields too large: over " +
                         std::to_string(limits_.header_bytes_max) + " bytes";
        return -1;
    }
    return 0;
}

int RequestParser::on_message_begin(llhttp_t* p) {
    auto* self = static_cast<RequestParser*>(p->data);
    self->started_ = true;
    return 0;
}

int RequestParser::on_url(llhttp_t* p, const char* at, size_t len) {
    auto* self = static_cast<RequestParser*>(p->data);
    self->started_ = true;
    if (self->add_header_bytes(len)) return -1;
    self->req_.target.append(at, len);
    return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, size_t len) {
    auto* self = static_cast<RequestParser*>(p->data);
    if (self->add_header_bytes(len + 4)) return -1;
    if (self->in_value_ || self->req_.headers.empty()) {
        self->req_.headers.emplace_back();
        self->in_value_ = false;
    }
    std::string& name = self->req_.headers.back().first;
    for (size_t i = 0; i < len; ++i) {
        char c = at[i];
        name += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
    }
    return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, size_t len) {
    auto* self = static_cast<RequestParser*>(p->data);
    if (self->add_header_bytes(len)) return -1;
    self->in_value_ = true;
    self->req_.headers.back().second.append(at, len);
    return 0;
}

int RequestParser::on_headers_complete(llhttp_t* p) {
    auto* self = static_cast<RequestParser*>(p->data);
    Request& r = self->req_;
    r.method = llhttp_method_name(llhttp_method_t(p->method));
    r.http_major = p->http_major;
    r.http_minor = p->http_minor;
    r.keep_alive = llhttp_should_keep_alive(p) != 0;
    r.upgrade = p->upgrade != 0;
    if (p->http_major != 1) {
        // As Go's net/http: this server speaks HTTP/1.x only.
        self->error_status_ = 505;
        self->error_message_ = "unsupported protocol version";
        return -1;
    }
    size_t q = r.target.find('?');
    r.path = r.target.substr(0, q);
    if (q != std::string::npos) r.query = r.target.substr(q + 1);
    if (r.path.empty() || r.path[0] != '/') {
        self->error_status_ = 400;
        self->error_message_ = "malformed request target: " + r.target.substr(0, 200);
        return -1;
    }
    // A request with a body pauses here so the caller can route it first: a streaming route
    // takes the body as it comes, any other is held to the body limit.
    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
    if (has_body && !r.upgrade) {
        self->headers_done_ = true;
        return HPE_PAUSED;
    }
    return 0;
}

int RequestParser::on_body(llhttp_t* p, const char* at, size_t len) {
    auto* self = static_cast<RequestParser*>(p->data);
    if (self->sink_) {
        auto r = self->sink_(self->sink_ctx_, std::as_bytes(std::span(at, len)));
        if (!r) {
            self->error_status_ = 400;
            self->error_message_ = r.error().message;
            return -1;
        }
        return 0;
    }
    if (self->req_.body.size() + len > self->limits_.body_bytes_max) {
        self->error_status_ = 413;
        self->error_message_ = "request body too large: over " +
                               std::to_string(self->limits_.body_bytes_max) + " bytes";
        return -1;
    }
    self->req_.body.append(at, len);
    return 0;
}

int RequestParser::on_message_complete(llhttp_t* p) {
    auto* self = static_cast<RequestParser*>(p->data);
    self->complete_ = true;
    return HPE_PAUSED;  // one request at a time: the connection resumes when it is ready
}

RequestParser::Outcome RequestParser::feed(std::string_view data) {
    Outcome out;
    if (data.empty()) return out;
    llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
    if (err == HPE_OK) {
        out.consumed = data.size();
        out.status = Status::need_more;
        return out;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        const char* pos = llhttp_get_error_pos(&parser_);
        out.consumed = pos ? size_t(pos - data.data()) : data.size();
        if (err == HPE_PAUSED_UPGRADE) llhttp_resume_after_upgrade(&parser_);
        else llhttp_resume(&parser_);
        if (complete_) {
            out.status = Status::complete;
            return out;
        }
        if (headers_done_) {
            headers_done_ = false;
            out.status = Status::headers;
            return out;
        }
        // An upgrade without on_message_complete cannot happen for requests; treat as done.
        out.status = Status::complete;
        return out;
    }
    out.status = Status::error;
    if (error_status_) {
        out.http_status = error_status_;
        out.message = error_message_;
    } else if (err == HPE_INVALID_VERSION) {
        out.http_status = 505;
        out.message = "unsupported HTTP version";
    } else {
        out.http_status = 400;
        out.message = std::string("malformed HTTP request: ") + llhttp_errno_name(err) + ": " +
                      (parser_.reason ? parser_.reason : "");
    }
    return out;
}

}  // namespace berth::http
