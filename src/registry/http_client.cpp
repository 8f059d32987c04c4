#include "registry/http_client.hpp"

#include <llhttp.h>

#include <cassert>

#include "base/time.hpp"

namespace berth::registry {

namespace {

constexpr size_t body_chunk_bytes = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

bool is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// "GET" → "Get", as Go's url.Error prints the operation.
std::string go_method(std::string_view m) {
    std::string out(m);
    for (size_t i = 1; i < out.size(); ++i)
        if (out[i] >= 'A' && out[i] <= 'Z') out[i] = char(out[i] - 'A' + 'a');
    return out;
}

bool has_line_break(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
}

}  // namespace

std::string_view header_value(const Headers& headers, std::string_view name) {
    for (const Header& h : headers)
        if (iequals(h.name, name)) return h.value;
    return {};
}

void set_header(Headers& headers, std::string_view name, std::string value) {
    std::erase_if(headers, [&](const Header& h) { return iequals(h.name, name); });
    headers.push_back({std::string(name), std::move(value)});
}

// ---- one request ----

class Exchange final : public ConnectionOwner {
  public:
    Exchange(HttpClient& client, HttpClient::RequestId id, HttpRequest request,
             HttpHandlers handlers);
    ~Exchange() { assert(!conn_); }

    void start();
    void pause() { paused_ = true; }
    void resume();
    void body_ready();
    void cancel();
    void finish(Result<> result);
    bool freeable() const { return !step_c_.in_flight(); }

    void on_open(Result<> result) override;
    void on_sent(Result<> result) override;
    size_t on_data(std::span<const std::byte> data) override;
    void on_eof() override;
    void on_failure(Error e) override;
    bool waiting_on_self() const override { return paused_ || phase_ == Phase::waiting_source; }

  private:
    enum class Phase : unsigned char {
        connecting,
        sending_head,
        sending_body,
        waiting_source,
        receiving,
        ending,  // the result is decided; on_done is on its way
        ended,
    };

    void begin_attempt(bool fresh_only);
    Result<> build_head();
    void send_head();
    void pump_body();
    size_t parse(const char* data, size_t size);
    void message_done(bool clean);
    void follow_redirect(bool reusable);
    void release(bool reusable);
    void attempt_failed(Error e);
    Error wrap(Error e) const;
    bool ending() const { return phase_ >= Phase::ending; }
    static void on_step(loop::Completion& c);
    void step();

    static int on_header_field(llhttp_t* p, const char* at, size_t len);
    static int on_header_value(llhttp_t* p, const char* at, size_t len);
    static int on_headers_complete(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, size_t len);
    static int on_message_complete(llhttp_t* p);
    int headers_complete();
    int body(const char* at, size_t len);

    HttpClient& client_;
    HttpClient::RequestId id_;
    HttpRequest request_;
    HttpHandlers handlers_;
    Url url_;
    std::unique_ptr<Connection> conn_;
    Phase phase_ = Phase::connecting;
    std::string head_;
    std::unique_ptr<std::byte[]> body_buf_;
    uint64_t body_sent_ = 0;
    int redirects_ = 0;
    bool reused_ = false;
    bool retried_ = false;
    bool got_response_ = false;
    bool paused_ = false;
    bool resume_pending_ = false;
    bool cancelled_ = false;
    bool redirecting_ = false;
    bool interim_ = false;
    bool message_complete_ = false;
    bool in_value_ = false;
    size_t header_bytes_ = 0;
    HttpResponseHead response_;
    Result<> result_;
    llhttp_t parser_{};
    llhttp_settings_t settings_{};
    loop::Completion step_c_;
};

Exchange::Exchange(HttpClient& client, HttpClient::RequestId id, HttpRequest request,
                   HttpHandlers handlers)
    : client_(client), id_(id), request_(std::move(request)), handlers_(std::move(handlers)) {
    llhttp_settings_init(&settings_);
    settings_.on_header_field = &on_header_field;
    settings_.on_header_value = &on_header_value;
    settings_.on_headers_complete = &on_headers_complete;
    settings_.on_body = &on_body;
    settings_.on_message_complete = &on_message_complete;
    step_c_.context = this;
    step_c_.callback = &on_step;
}

void Exchange::start() {
    url_ = request_.url;
    begin_attempt(false);
}

Error Exchange::wrap(Error e) const {
    return std::move(e).wrap(go_method(request_.method) + " \"" + url_.str() + "\"");
}

void Exchange::begin_attempt(bool fresh_only) {
    llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
    parser_.data = this;
    response_ = HttpResponseHead{};
    header_bytes_ = 0;
    in_value_ = redirecting_ = interim_ = message_complete_ = got_response_ = false;
    body_sent_ = 0;
    if (auto r = build_head(); !r) return finish(fail(wrap(std::move(r.error()))));
    conn_ = fresh_only ? nullptr : client_.take_idle(url_.origin());
    reused_ = conn_ != nullptr;
    if (!conn_) {
        auto endpoint = client_.endpoint_for(url_);
        if (!endpoint) return finish(fail(wrap(std::move(endpoint.error()))));
        conn_ = client_.connect(std::move(*endpoint));
    }
    conn_->attach(this, client_.options_.timeouts);
    if (reused_) return send_head();
    phase_ = Phase::connecting;
    conn_->open();
}

Result<> Exchange::build_head() {
    const HttpRequest& r = request_;
    head_ = r.method + " " + url_.target + " HTTP/1.1\r\nHost: " + url_.authority() + "\r\n";
    if (header_value(r.headers, "user-agent").empty())
        head_ += "User-Agent: " + client_.options_.user_agent + "\r\n";
    for (const Header& h : r.headers) {
        if (iequals(h.name, "host") || iequals(h.name, "content-length")) continue;
        if (h.name.empty() || has_line_break(h.name) || has_line_break(h.value))
            return fail(Error::invalid("invalid header field " + h.name));
        head_ += h.name + ": " + h.value + "\r\n";
    }
    bool has_body = r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
    if (r.source)
        head_ += "Content-Length: " + std::to_string(r.source->length) + "\r\n";
    else if (has_body || !r.body.empty())
        head_ += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    head_ += "\r\n";
    if (!r.source) head_ += r.body;
    return {};
}

void Exchange::on_open(Result<> result) {
    if (ending()) return;
    if (!result) return finish(fail(wrap(std::move(result.error()))));
    send_head();
}

void Exchange::send_head() {
    phase_ = Phase::sending_head;
    conn_->write(std::as_bytes(std::span(head_.data(), head_.size())));
    // Read at once: a registry may answer (401, 413) before the body is through.
    conn_->read();
}

void Exchange::on_sent(Result<> result) {
    if (ending()) return;
    if (!result) {
        // The server answered early and closed its side: let the response decide.
        if (got_response_) return;
        return attempt_failed(std::move(result.error()));
    }
    if (phase_ == Phase::sending_head || phase_ == Phase::sending_body) pump_body();
}

void Exchange::pump_body() {
    BodySource* src = request_.source ? &*request_.source : nullptr;
    if (!src || body_sent_ >= src->length) {
        phase_ = Phase::receiving;
        return;
    }
    if (!body_buf_) body_buf_.reset(new std::byte[body_chunk_bytes]);
    size_t want = size_t(std::min<uint64_t>(body_chunk_bytes, src->length - body_sent_));
    auto n = src->read({body_buf_.get(), want});
    if (!n) return finish(fail(wrap(std::move(n.error()))));
    if (*n == BodySource::pending) {
        phase_ = Phase::waiting_source;
        return;
    }
    if (*n == 0 || *n > want)
        return finish(
            fail(wrap(Error::internal("request body ended after " + std::to_string(body_sent_) +
                                      " of " + std::to_string(src->length) + " bytes"))));
    body_sent_ += *n;
    phase_ = Phase::sending_body;
    conn_->write({body_buf_.get(), *n});
}

void Exchange::body_ready() {
    if (phase_ == Phase::waiting_source) pump_body();
}

size_t Exchange::on_data(std::span<const std::byte> data) {
    if (ending()) return data.size();
    if (paused_) return 0;
    got_response_ = true;
    return parse(reinterpret_cast<const char*>(data.data()), data.size());
}

size_t Exchange::parse(const char* data, size_t size) {
    llhttp_errno_t err = llhttp_execute(&parser_, data, size);
    if (ending()) return size;  // cancelled or aborted from a callback
    if (err == HPE_OK) return size;
    if (err == HPE_PAUSED) {
        size_t used = size_t(llhttp_get_error_pos(&parser_) - data);
        llhttp_resume(&parser_);
        if (!message_complete_) return used;  // the consumer paused
        message_done(used == size);
        return size;
    }
    std::string reason = llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "";
    finish(fail(wrap(
        Error::make(ErrorKind::unavailable,
                    "net/http: HTTP/1.x transport connection broken: malformed HTTP response (" +
                        reason + ")"))));
    return size;
}

void Exchange::on_eof() {
    if (ending()) return;
    if (!got_response_) return attempt_failed(Error{ErrorKind::unavailable, ECONNRESET, "EOF"});
    llhttp_finish(&parser_);  // completes a close-delimited body
    if (ending()) return;
    if (message_complete_) return message_done(false);
    finish(fail(wrap(Error{ErrorKind::unavailable, ECONNRESET, "unexpected EOF"})));
}

void Exchange::on_failure(Error e) {
    if (ending()) return;
    attempt_failed(std::move(e));
}

void Exchange::attempt_failed(Error e) {
    // A kept-alive connection the server closed meanwhile: try once more on a fresh one, as
    // Go's transport does, when nothing of the response came and the body can be sent again.
    bool replayable = !request_.source || body_sent_ == 0;
    if (reused_ && !got_response_ && !retried_ && replayable) {
        retried_ = true;
        client_.discard(std::move(conn_));
        return begin_attempt(true);
    }
    finish(fail(wrap(std::move(e))));
}

void Exchange::message_done(bool clean) {
    conn_->stop_reading();
    bool reusable = clean && phase_ == Phase::receiving && llhttp_should_keep_alive(&parser_);
    if (redirecting_) return follow_redirect(reusable);
    release(reusable);
    finish({});
}

void Exchange::release(bool reusable) {
    if (!conn_) return;
    if (reusable)
        client_.put_idle(std::move(conn_));
    else
        client_.discard(std::move(conn_));
}

void Exchange::follow_redirect(bool reusable) {
    std::string location(header_value(response_.headers, "location"));
    int status = response_.status;
    release(reusable);
    if (++redirects_ > request_.max_redirects)
        return finish(fail(wrap(Error::make(
            ErrorKind::unavailable,
            "stopped after " + std::to_string(request_.max_redirects) + " redirects"))));
    auto next = resolve_location(url_, location);
    if (!next) return finish(fail(wrap(std::move(next.error()))));
    // Credentials stay with the origin they were meant for (blob downloads are redirected
    // to storage hosts that must never see the registry's token).
    if (next->origin() != url_.origin())
        std::erase_if(request_.headers, [](const Header& h) {
            return iequals(h.name, "authorization") || iequals(h.name, "cookie");
        });
    bool to_get = (status == 303 && request_.method != "HEAD") ||
                  ((status == 301 || status == 302) && request_.method == "POST");
    if (to_get) {
        request_.method = "GET";
        request_.body.clear();
        std::erase_if(request_.headers,
                      [](const Header& h) { return iequals(h.name, "content-type"); });
    }
    url_ = std::move(*next);
    begin_attempt(false);
}

void Exchange::finish(Result<> result) {
    if (ending()) return;
    phase_ = Phase::ending;
    result_ = std::move(result);
    if (conn_) client_.discard(std::move(conn_));
    if (!step_c_.in_flight()) client_.loop_.post(step_c_);
}

void Exchange::cancel() {
    if (phase_ == Phase::ended) return;
    cancelled_ = true;
    phase_ = Phase::ended;
    if (conn_) client_.discard(std::move(conn_));
    client_.retire(id_);
}

void Exchange::resume() {
    if (!paused_) return;
    paused_ = false;
    resume_pending_ = true;
    if (!step_c_.in_flight()) client_.loop_.post(step_c_);
}

void Exchange::on_step(loop::Completion& c) {
    static_cast<Exchange*>(c.context)->step();
}

void Exchange::step() {
    if (phase_ == Phase::ended) return client_.schedule_reap();
    if (phase_ == Phase::ending) {
        phase_ = Phase::ended;
        auto done = std::move(handlers_.on_done);
        Result<> r = std::move(result_);
        client_.retire(id_);  // freed on a later tick, never under our feet
        if (done) done(std::move(r));
        return;
    }
    if (!std::exchange(resume_pending_, false) || paused_ || !conn_) return;
    // The parser may hold a pause at the very end of the input (a body that ended exactly
    // there): run it on nothing so on_message_complete fires, then read on.
    static const char nothing[1] = {0};
    if (phase_ >= Phase::sending_head) parse(nothing, 0);
    if (!ending() && !paused_ && conn_) conn_->read();
}

// ---- llhttp callbacks ----

int Exchange::on_header_field(llhttp_t* p, const char* at, size_t len) {
    auto* ex = static_cast<Exchange*>(p->data);
    ex->header_bytes_ += len + 4;
    if (ex->header_bytes_ > ex->client_.options_.response_header_bytes_max) return -1;
    if (ex->in_value_ || ex->response_.headers.empty()) {
        ex->response_.headers.emplace_back();
        ex->in_value_ = false;
    }
    std::string& name = ex->response_.headers.back().name;
    for (size_t i = 0; i < len; ++i) {
        char c = at[i];
        name += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
    }
    return 0;
}

int Exchange::on_header_value(llhttp_t* p, const char* at, size_t len) {
    auto* ex = static_cast<Exchange*>(p->data);
    ex->header_bytes_ += len;
    if (ex->header_bytes_ > ex->client_.options_.response_header_bytes_max) return -1;
    ex->in_value_ = true;
    if (!ex->response_.headers.empty()) ex->response_.headers.back().value.append(at, len);
    return 0;
}

int Exchange::on_headers_complete(llhttp_t* p) {
    return static_cast<Exchange*>(p->data)->headers_complete();
}

int Exchange::headers_complete() {
    int status = parser_.status_code;
    bool head = request_.method == "HEAD";
    if (status < 200) {  // 100 Continue and friends: the real answer follows
        interim_ = true;
        return 0;
    }
    response_.status = status;
    response_.url = url_;
    if (parser_.flags & F_CONTENT_LENGTH) response_.content_length = parser_.content_length;
    bool follow = request_.max_redirects > 0 && !request_.source && is_redirect(status) &&
                  !header_value(response_.headers, "location").empty();
    if (follow) {
        redirecting_ = true;
        return head ? 1 : 0;
    }
    if (handlers_.on_headers) handlers_.on_headers(response_);
    if (ending()) return HPE_USER;
    if (head) return 1;  // a HEAD response has no body, whatever Content-Length says
    return paused_ ? HPE_PAUSED : 0;
}

int Exchange::on_body(llhttp_t* p, const char* at, size_t len) {
    return static_cast<Exchange*>(p->data)->body(at, len);
}

int Exchange::body(const char* at, size_t len) {
    // llhttp reports an empty span when run on no input mid-body: nothing to hand on.
    if (redirecting_ || interim_ || len == 0) return 0;
    if (handlers_.on_body) handlers_.on_body({reinterpret_cast<const std::byte*>(at), len});
    if (ending()) return HPE_USER;
    return paused_ ? HPE_PAUSED : 0;
}

int Exchange::on_message_complete(llhttp_t* p) {
    auto* ex = static_cast<Exchange*>(p->data);
    if (ex->interim_) {
        ex->interim_ = false;
        ex->response_.headers.clear();
        ex->in_value_ = false;
        return 0;
    }
    ex->message_complete_ = true;
    return HPE_PAUSED;  // stop here: whatever follows is not ours
}

// ---- the client ----

HttpClient::HttpClient(loop::Loop& loop, HttpOptions options)
    : loop_(loop), options_(std::move(options)) {
    reap_c_.context = this;
    reap_c_.callback = &on_reap;
}

HttpClient::~HttpClient() {
    assert(quiescent() && "HttpClient destroyed with work in flight");
}

HttpClient::RequestId HttpClient::send(HttpRequest request, HttpHandlers handlers) {
    RequestId id = next_id_++;
    auto ex = std::make_unique<Exchange>(*this, id, std::move(request), std::move(handlers));
    Exchange* e = ex.get();
    active_.emplace(id, std::move(ex));
    e->start();
    return id;
}

HttpClient::RequestId HttpClient::fetch(HttpRequest request, size_t body_max,
                                        std::move_only_function<void(Result<HttpResponse>)> done) {
    struct State {
        HttpClient* client;
        RequestId id = 0;
        size_t max;
        HttpResponse response;
        std::move_only_function<void(Result<HttpResponse>)> done;
    };
    auto st = std::make_shared<State>(State{this, 0, body_max, {}, std::move(done)});
    auto too_large = [st] {
        st->client->abort(
            st->id, Error::make(ErrorKind::too_large, "response from " + st->response.url.str() +
                                                          " is larger than " +
                                                          std::to_string(st->max) + " bytes"));
    };
    HttpHandlers h;
    h.on_headers = [st, too_large](const HttpResponseHead& head) {
        st->response.status = head.status;
        st->response.headers = head.headers;
        st->response.url = head.url;
        if (head.content_length && *head.content_length > st->max) too_large();
    };
    h.on_body = [st, too_large](std::span<const std::byte> data) {
        if (st->response.body.size() + data.size() > st->max) return too_large();
        st->response.body.append(reinterpret_cast<const char*>(data.data()), data.size());
    };
    h.on_done = [st](Result<> r) {
        auto done = std::move(st->done);
        if (!r) return done(fail(std::move(r.error())));
        done(std::move(st->response));
    };
    st->id = send(std::move(request), std::move(h));
    return st->id;
}

void HttpClient::pause(RequestId id) {
    if (auto it = active_.find(id); it != active_.end()) it->second->pause();
}

void HttpClient::resume(RequestId id) {
    if (auto it = active_.find(id); it != active_.end()) it->second->resume();
}

void HttpClient::body_ready(RequestId id) {
    if (auto it = active_.find(id); it != active_.end()) it->second->body_ready();
}

void HttpClient::cancel(RequestId id) {
    if (auto it = active_.find(id); it != active_.end()) it->second->cancel();
}

void HttpClient::abort(RequestId id, Error error) {
    if (auto it = active_.find(id); it != active_.end()) it->second->finish(fail(std::move(error)));
}

void HttpClient::shutdown() {
    std::vector<RequestId> ids;
    for (auto& [id, ex] : active_) ids.push_back(id);
    for (RequestId id : ids) cancel(id);
    for (auto& [origin, conns] : idle_)
        for (auto& c : conns) discard(std::move(c));
    idle_.clear();
}

bool HttpClient::quiescent() const {
    if (!active_.empty() || !retired_.empty() || !dead_.empty() || reap_c_.in_flight())
        return false;
    for (const auto& [origin, conns] : idle_)
        for (const auto& c : conns)
            if (c->busy()) return false;
    return true;
}

size_t HttpClient::idle_connections() const {
    size_t n = 0;
    for (const auto& [origin, conns] : idle_) n += conns.size();
    return n;
}

Result<Endpoint> HttpClient::endpoint_for(const Url& url) {
    Endpoint ep{url.host, url.port, nullptr};
    if (!url.tls()) return ep;
    std::string origin = url.origin();
    auto it = tls_contexts_.find(origin);
    if (it == tls_contexts_.end()) {
        TlsConfig config = options_.tls_for ? options_.tls_for(url.host, url.port)
                                            : TlsConfig{true, options_.ca_files, {}, {}};
        auto ctx = TlsContext::create(config);
        if (!ctx) return fail(std::move(ctx.error()));
        it = tls_contexts_.emplace(origin, std::move(*ctx)).first;
    }
    ep.tls = it->second;
    return ep;
}

std::unique_ptr<Connection> HttpClient::connect(Endpoint endpoint) {
    ++connections_opened_;
    return std::make_unique<Connection>(loop_, std::move(endpoint));
}

std::unique_ptr<Connection> HttpClient::take_idle(const std::string& origin) {
    auto it = idle_.find(origin);
    if (it == idle_.end()) return nullptr;
    auto& conns = it->second;
    int64_t now = monotonic_ns();
    while (!conns.empty()) {
        std::unique_ptr<Connection> c = std::move(conns.back());
        conns.pop_back();
        if (now - c->idle_since_ns < options_.idle_keep_ns && !c->stale()) return c;
        discard(std::move(c));
    }
    return nullptr;
}

void HttpClient::put_idle(std::unique_ptr<Connection> conn) {
    conn->detach();
    const Endpoint& ep = conn->endpoint();
    auto& conns = idle_[Url{ep.tls ? "https" : "http", ep.host, ep.port, "/"}.origin()];
    if (conns.size() >= options_.idle_per_origin_max) {
        discard(std::move(conns.front()));
        conns.erase(conns.begin());
    }
    conns.push_back(std::move(conn));
}

void HttpClient::discard(std::unique_ptr<Connection> conn) {
    if (!conn) return;
    conn->abort(&on_connection_quiet, this);
    dead_.push_back(std::move(conn));
}

void HttpClient::retire(RequestId id) {
    auto it = active_.find(id);
    if (it == active_.end()) return;
    retired_.push_back(std::move(it->second));
    active_.erase(it);
    schedule_reap();
}

void HttpClient::schedule_reap() {
    if (!reap_c_.in_flight()) loop_.post(reap_c_);
}

void HttpClient::on_connection_quiet(void* client) {
    static_cast<HttpClient*>(client)->schedule_reap();
}

void HttpClient::on_reap(loop::Completion& c) {
    auto* self = static_cast<HttpClient*>(c.context);
    std::erase_if(self->retired_, [](const auto& ex) { return ex->freeable(); });
    std::erase_if(self->dead_, [](const auto& conn) { return !conn->busy(); });
}

}  // namespace berth::registry
