#include "http/server.hpp"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <cstdio>

#include "base/log.hpp"
#include "http/status.hpp"

namespace berth::http {

// One client connection. States: reading (parsing, maybe mid-request), busy (a handler holds
// the exchange), hijacked (raw stream), lingering (error reply sent, write side shut, draining
// input briefly so the client reads the reply instead of a reset), closing (waiting for the
// ring to give back every completion before the fd is closed and the object freed).
class Connection {
public:
    Connection(Server& server, int fd)
        : server_(server), loop_(server.loop_), fd_(fd), parser_(server.limits_.parse) {
        recv_.context = send_.context = retry_.context = close_.context = this;
        recv_.callback = &Connection::on_recv;
        send_.callback = &Connection::on_send;
        retry_.callback = &Connection::on_retry;
        close_.callback = &Connection::on_closed;
        exchange_.conn_ = this;
        exchange_.request_ = &parser_.request();
    }

    void start() {
        set_deadline(server_.limits_.idle_timeout_ns);
        loop_.recv_multishot(recv_, fd_);
    }

    void reject_overloaded() {
        queue_response_head_and_body(503, "application/json",
                                     error_body("too many connections: the limit is " +
                                                std::to_string(server_.limits_.connections_max)),
                                     true);
        close_after_flush_ = true;
        flush();
    }

    // --- used by Exchange -------------------------------------------------------------------
    void respond(int status, std::string_view content_type, std::string_view body) {
        bool close = !exchange_.request().keep_alive || server_.shutting_down_;
        queue_response_head_and_body(status, content_type, body, close);
        if (close) close_after_flush_ = true;
        exchange_finished();
    }
    void begin_stream(int status, std::string_view content_type) {
        Request& r = exchange_.request();
        exchange_.chunked_ = r.http_major == 1 && r.http_minor >= 1;
        std::string h = head(status, content_type);
        if (exchange_.chunked_) h += "Transfer-Encoding: chunked\r\n";
        else h += "Connection: close\r\n";
        h += "\r\n";
        out_ += h;
        flush();
    }
    void write_stream(std::string_view data) {
        if (exchange_.mode_ == Exchange::Mode::streaming && exchange_.chunked_) {
            char size[20];
            int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
            out_.append(size, size_t(n));
            out_ += data;
            out_ += "\r\n";
        } else {
            out_ += data;
        }
        flush();
    }
    void end_stream() {
        if (exchange_.mode_ == Exchange::Mode::hijacked) {
            // The handler is done with the stream (and may be gone): nothing reaches it now.
            close_after_flush_ = true;
            exchange_.mode_ = Exchange::Mode::done;
            exchange_.sink_ = nullptr;
            exchange_.observer_ = {};
            flush_or_finish_close();
            return;
        }
        if (exchange_.chunked_) out_ += "0\r\n\r\n";
        else close_after_flush_ = true;
        if (!exchange_.request().keep_alive || server_.shutting_down_) close_after_flush_ = true;
        exchange_finished();
    }
    void hijack(std::string_view content_type, RawSink* sink) {
        const Request& r = exchange_.request();
        std::string h;
        if (r.upgrade) {
            h = "HTTP/1.1 101 UPGRADED\r\nContent-Type: ";
            h += content_type;
            h += "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
        } else {
            // Old clients that did not ask to upgrade get a 200 and the raw stream after it.
            h = head(200, content_type);
            h += "\r\n";
        }
        out_ += h;
        state_ = State::hijacked;
        deadline_ns_ = 0;
        exchange_.sink_ = sink;
        flush();
        // Bytes the client sent right after the request belong to the stream.
        if (in_.size() > in_off_) {
            std::string rest = in_.substr(in_off_);
            in_.clear();
            in_off_ = 0;
            sink->on_data(std::as_bytes(std::span<const char>(rest.data(), rest.size())));
        }
        resume_reading_if_paused();
    }
    void close_write() {
        shut_write_after_flush_ = true;
        flush_or_finish_close();
    }
    size_t buffered() const { return out_.size() + (sending_.size() - sent_off_); }

    void dispatch_shutdown() {
        if (state_ == State::reading && !parser_.in_request() && in_.size() == in_off_) {
            // Idle: close, after the last response has gone out.
            if (buffered() == 0) {
                close_now();
            } else {
                close_after_flush_ = true;
                flush_or_finish_close();
            }
            return;
        }
        if (state_ == State::busy || state_ == State::hijacked) {
            if (exchange_.observer_.shutdown) exchange_.observer_.shutdown(exchange_.observer_.ctx);
        }
        int64_t d = loop_.now_ns() + server_.limits_.shutdown_grace_ns;
        if (state_ != State::closing && (deadline_ns_ == 0 || deadline_ns_ > d)) deadline_ns_ = d;
    }

    void on_deadline() {
        switch (state_) {
            case State::reading:
                if (request_clock_) {
                    ++server_.stats_.timeouts;
                    queue_response_head_and_body(
                        408, "application/json",
                        error_body("request timeout: the request was not complete within " +
                                   std::to_string(server_.limits_.request_timeout_ns /
                                                  1'000'000'000) +
                                   "s"),
                        true);
                    close_after_flush_ = true;
                    state_ = State::busy;  // nothing more is parsed
                    deadline_ns_ = loop_.now_ns() + server_.limits_.linger_ns;
                    flush();
                } else {
                    close_now();
                }
                break;
            default: close_now(); break;
        }
    }

    int64_t deadline_ns() const { return deadline_ns_; }
    // Called by the sweep: a connection with no request in progress drops its buffers.
    void shrink_if_idle() {
        if (state_ != State::reading || request_clock_ || shrunk_) return;
        parser_.shrink();
        if (out_.empty()) std::string().swap(out_);
        if (sending_.empty()) std::string().swap(sending_);
        std::string().swap(exchange_.extra_headers_);
        shrunk_ = true;
    }
    Connection* next = nullptr;
    Connection* prev = nullptr;

private:
    // body: a stream_body handler holds the exchange while the parser still reads its body.
    enum class State : unsigned char { reading, body, busy, hijacked, lingering, closing };

    std::string head(int status, std::string_view content_type) {
        std::string h = "HTTP/1.1 ";
        h += std::to_string(status);
        h += ' ';
        h += reason_phrase(status);
        h += "\r\nApi-Version: ";
        h += server_.identity_.api_version;
        if (!content_type.empty()) {
            h += "\r\nContent-Type: ";
            h += content_type;
        }
        h += "\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: ";
        h += server_.identity_.server;
        h += "\r\n";
        h += server_.date_header();
        h += exchange_.extra_headers_;
        return h;
    }

    void queue_response_head_and_body(int status, std::string_view content_type,
                                      std::string_view body, bool close) {
        bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
        std::string h = head(status, no_body ? std::string_view{} : content_type);
        if (!no_body) {
            h += "Content-Length: ";
            h += std::to_string(body.size());
            h += "\r\n";
        }
        if (close) h += "Connection: close\r\n";
        h += "\r\n";
        out_ += h;
        if (!no_body && !exchange_.request().is_head()) out_ += body;
        flush();
    }

    void set_deadline(int64_t from_now_ns) { deadline_ns_ = loop_.now_ns() + from_now_ns; }

    // --- input ------------------------------------------------------------------------------
    static void on_recv(loop::Completion& c) {
        auto* self = static_cast<Connection*>(c.context);
        int bid = c.buffer_id();
        if (c.result > 0 && bid >= 0) {
            auto buf = self->loop_.buffer(bid).first(size_t(c.result));
            self->received(std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
            self->loop_.release_buffer(bid);
        } else if (bid >= 0) {
            self->loop_.release_buffer(bid);
        }
        if (c.result == 0) {
            self->peer_closed();
        } else if (c.result < 0 && c.result != -ENOBUFS) {
            if (c.result != -ECANCELED) self->close_now();
        }
        if (!c.in_flight()) {
            if (self->state_ == State::closing) {
                self->try_release();
            } else if (c.result == -ENOBUFS || (c.result > 0 && !self->read_paused_)) {
                // The multishot recv ended (buffers ran out or the kernel stopped it): re-arm,
                // on the next tick when buffers were short so others can give theirs back.
                if (c.result == -ENOBUFS) self->loop_.post(self->retry_);
                else self->loop_.recv_multishot(self->recv_, self->fd_);
            }
        }
    }

    static void on_retry(loop::Completion& c) {
        auto* self = static_cast<Connection*>(c.context);
        if (self->state_ == State::closing) {
            self->try_release();
            return;
        }
        if (!self->recv_.in_flight() && !self->read_paused_)
            self->loop_.recv_multishot(self->recv_, self->fd_);
    }

    void received(std::string_view data) {
        switch (state_) {
            case State::closing:
            case State::lingering: return;  // drained and dropped
            case State::hijacked:
                if (exchange_.sink_) exchange_.sink_->on_data(std::as_bytes(std::span(data)));
                return;  // after end(), the client's bytes are dropped
            case State::reading:
            case State::body:
            case State::busy: break;
        }
        start_request_clock();
        // A streamed body may take long (docker load of gigabytes) but must keep moving.
        if (state_ == State::body) set_deadline(server_.limits_.request_timeout_ns);
        if (in_.size() == in_off_ && parsing() && !processing_) {
            parse_fresh(data);
        } else {
            in_ += data;
            process_input();
        }
        if (state_ == State::busy && in_.size() - in_off_ > server_.limits_.pipeline_bytes_max)
            pause_reading();
    }

    // The common case: nothing buffered, parse straight from the ring's buffer and copy only
    // what follows a complete request.
    bool parsing() const { return state_ == State::reading || state_ == State::body; }

    void parse_fresh(std::string_view data) {
        auto out = parser_.feed(data);
        if (out.status == RequestParser::Status::need_more) {
            after_parse();
            return;
        }
        in_.assign(data.substr(out.consumed));
        in_off_ = 0;
        handle(out);
        process_input();
    }

    // Parses what in_ holds, one request at a time, while no handler holds the connection.
    // Offsets, not views: a handler may change in_ (hijack takes what follows the request).
    void process_input() {
        if (processing_) return;
        processing_ = true;
        while (parsing() && in_off_ < in_.size()) {
            auto out = parser_.feed(std::string_view(in_).substr(in_off_));
            in_off_ += out.consumed;
            if (out.status == RequestParser::Status::need_more) break;
            handle(out);
        }
        if (in_off_ >= in_.size()) {
            in_.clear();
            in_off_ = 0;
            if (in_.capacity() > 4096) in_.shrink_to_fit();
        }
        processing_ = false;
        after_parse();
    }

    void handle(const RequestParser::Outcome& out) {
        if (out.status == RequestParser::Status::error) {
            fail_request(out);
            return;
        }
        if (out.status == RequestParser::Status::headers) {
            headers_in();
            return;
        }
        if (state_ == State::body) {
            body_end();
            return;
        }
        dispatch();
    }

    void fail_request(const RequestParser::Outcome& out) {
        ++server_.stats_.bad_requests;
        if (state_ == State::body) abort_exchange();
        state_ = State::busy;
        in_.clear();
        in_off_ = 0;
        if (exchange_.mode_ == Exchange::Mode::streaming) {
            exchange_.write(error_body(out.message));
            close_after_flush_ = true;
            flush_or_finish_close();
            return;
        }
        queue_response_head_and_body(out.http_status, "application/json",
                                     error_body(out.message), true);
        close_after_flush_ = true;
        flush_or_finish_close();
    }

    // A request with a body: route it now. A streaming route's handler runs at once and reads
    // the body as it comes; any other is held to the body limit and dispatched when complete.
    void headers_in() {
        auto match = server_.router_.route(exchange_.request());
        if (!match || !match->stream_body) {
            // Routed once: dispatch() uses this when the body is complete (an unknown route
            // is answered then, after its body was read within the limit).
            matched_ = match ? match->handler : nullptr;
            if (parser_.declared_body_over_limit()) fail_request(parser_.body_too_large());
            return;
        }
        begin_exchange();
        state_ = State::body;
        exchange_.body_done_ = false;
        (*match->handler)(exchange_);
        if (exchange_.body_sink_) {
            parser_.stream_body(&Connection::body_chunk, this);
        } else if (exchange_.mode_ == Exchange::Mode::pending) {
            exchange_.respond_error(Error::internal("handler did not read the request body"));
        }
    }

    static Result<> body_chunk(void* ctx, std::span<const std::byte> data) {
        auto* self = static_cast<Connection*>(ctx);
        if (!self->exchange_.body_sink_) return {};  // answered early: the rest is dropped
        return self->exchange_.body_sink_->on_body(data);
    }

    void body_end() {
        request_clock_ = false;
        deadline_ns_ = 0;
        exchange_.body_done_ = true;
        BodySink* sink = exchange_.body_sink_;
        bool finished = exchange_.mode_ == Exchange::Mode::done;
        state_ = finished ? State::reading : State::busy;
        if (sink && !finished) sink->on_body_end();
        if (finished) exchange_finished_after_body();
    }

    // Deadlines: from the first byte of a request (blank lines count: a slowloris must not keep
    // a connection by trickling them) it must complete within request_timeout; between requests
    // an idle keep-alive connection is closed after idle_timeout.
    void start_request_clock() {
        if (state_ != State::reading || request_clock_) return;
        request_clock_ = true;
        set_deadline(server_.limits_.request_timeout_ns);
    }
    void after_parse() {
        if (state_ == State::reading && (parser_.in_request() || in_.size() > in_off_))
            start_request_clock();
    }

    void begin_exchange() {
        ++server_.stats_.requests;
        shrunk_ = false;
        deadline_ns_ = 0;
        exchange_.mode_ = Exchange::Mode::pending;
        exchange_.observer_ = {};
        exchange_.sink_ = nullptr;
        exchange_.body_sink_ = nullptr;
        exchange_.body_done_ = true;
        exchange_.chunked_ = false;
        exchange_.extra_headers_.clear();
    }

    void dispatch() {
        begin_exchange();
        state_ = State::busy;
        request_clock_ = false;
        const Handler* handler = std::exchange(matched_, nullptr);
        if (!handler) {
            auto match = server_.router_.route(exchange_.request());
            if (!match) {
                exchange_.respond_error(match.error());
                return;
            }
            handler = match->handler;
        }
        (*handler)(exchange_);
    }

    void exchange_finished() {
        exchange_.mode_ = Exchange::Mode::done;
        exchange_.observer_ = {};
        exchange_.extra_headers_.clear();
        if (state_ == State::body) {
            // Answered before the body ended: keep reading it, but only to drop it; the
            // connection is reused once the request is complete.
            exchange_.body_sink_ = nullptr;
            flush();
            return;
        }
        exchange_finished_after_body();
    }

    void exchange_finished_after_body() {
        if (close_after_flush_) {
            flush_or_finish_close();
            return;
        }
        parser_.next();
        state_ = State::reading;
        set_deadline(server_.limits_.idle_timeout_ns);
        flush();
        resume_reading_if_paused();
        if (!processing_) process_input();
        // Keep the request's buffers for the next one on this connection; an idle connection
        // gives them back in the sweep (shrink_if_idle), so idle memory stays small.
    }

    void peer_closed() {
        eof_ = true;
        if (state_ == State::hijacked) {
            if (exchange_.sink_) exchange_.sink_->on_eof();
            return;
        }
        if ((state_ == State::busy || state_ == State::body) &&
            exchange_.mode_ != Exchange::Mode::done) {
            // The client went away while its request was being served: abort it, as dockerd
            // cancels the request context.
            abort_exchange();
        }
        if (!out_.empty() || sending_.size() > sent_off_) {
            close_after_flush_ = true;
            state_ = State::busy;
            flush();
            return;
        }
        close_now();
    }

    void pause_reading() {
        if (read_paused_) return;
        read_paused_ = true;
        loop_.cancel(recv_);
    }
    void resume_reading_if_paused() {
        if (!read_paused_) return;
        read_paused_ = false;
        if (!recv_.in_flight() && !retry_.in_flight()) loop_.recv_multishot(recv_, fd_);
    }

    // --- output -----------------------------------------------------------------------------
    void flush() {
        if (state_ == State::closing || send_.in_flight()) return;
        if (out_.empty()) {
            flush_or_finish_close();
            return;
        }
        sending_.clear();
        sending_.swap(out_);
        sent_off_ = 0;
        loop_.send(send_, fd_, std::as_bytes(std::span(sending_.data(), sending_.size())));
    }

    static void on_send(loop::Completion& c) {
        auto* self = static_cast<Connection*>(c.context);
        if (self->state_ == State::closing) {
            self->try_release();
            return;
        }
        if (c.result < 0) {
            self->close_now();
            return;
        }
        self->sent_off_ += size_t(c.result);
        if (self->sent_off_ < self->sending_.size()) {
            auto rest = std::span(self->sending_.data() + self->sent_off_,
                                  self->sending_.size() - self->sent_off_);
            self->loop_.send(self->send_, self->fd_, std::as_bytes(rest));
            return;
        }
        self->sending_.clear();
        if (self->sending_.capacity() > 64 * 1024) self->sending_.shrink_to_fit();
        self->sent_off_ = 0;
        bool had_more = !self->out_.empty();
        self->flush();
        if (!had_more && self->exchange_.observer_.drained &&
            (self->exchange_.mode_ == Exchange::Mode::streaming ||
             self->exchange_.mode_ == Exchange::Mode::hijacked))
            self->exchange_.observer_.drained(self->exchange_.observer_.ctx);
    }

    // Called when the output may be empty: applies a pending half-close or close.
    void flush_or_finish_close() {
        if (send_.in_flight() || !out_.empty()) {
            if (!send_.in_flight()) flush();
            return;
        }
        if (shut_write_after_flush_ && !write_shut_) {
            write_shut_ = true;
            ::shutdown(fd_, SHUT_WR);
        }
        if (close_after_flush_ && state_ != State::lingering && state_ != State::closing) {
            if (exchange_.mode_ != Exchange::Mode::done && exchange_.mode_ != Exchange::Mode::idle)
                abort_exchange();
            if (eof_) {
                close_now();
                return;
            }
            // Lingering close: the client reads our reply before it sees the connection end.
            ::shutdown(fd_, SHUT_WR);
            state_ = State::lingering;
            set_deadline(server_.limits_.linger_ns);
            resume_reading_if_paused();
        }
    }

    // --- closing ----------------------------------------------------------------------------
    void abort_exchange() {
        ExchangeObserver o = exchange_.observer_;
        exchange_.observer_ = {};
        exchange_.mode_ = Exchange::Mode::done;
        exchange_.sink_ = nullptr;
        exchange_.body_sink_ = nullptr;
        if (o.aborted) o.aborted(o.ctx);
    }

public:
    void close_now() {
        if (state_ == State::closing) return;
        if (exchange_.mode_ != Exchange::Mode::done && exchange_.mode_ != Exchange::Mode::idle)
            abort_exchange();
        state_ = State::closing;
        deadline_ns_ = 0;
        if (recv_.in_flight()) loop_.cancel(recv_);
        if (send_.in_flight()) loop_.cancel(send_);
        try_release();
    }

private:
    void try_release() {
        if (state_ != State::closing || close_.in_flight() || closed_) return;
        if (recv_.in_flight() || send_.in_flight() || retry_.in_flight()) return;
        closed_ = true;
        loop_.close(close_, fd_);
    }

    static void on_closed(loop::Completion& c) {
        auto* self = static_cast<Connection*>(c.context);
        self->server_.connection_closed(self);
    }

    Server& server_;
    loop::Loop& loop_;
    int fd_;
    State state_ = State::reading;
    bool processing_ = false;
    bool read_paused_ = false;
    bool close_after_flush_ = false;
    bool shut_write_after_flush_ = false;
    bool write_shut_ = false;
    bool request_clock_ = false;
    bool closed_ = false;
    bool eof_ = false;
    bool shrunk_ = false;
    const Handler* matched_ = nullptr;  // routed at the headers, dispatched when complete
    int64_t deadline_ns_ = 0;
    RequestParser parser_;
    Exchange exchange_;
    std::string in_;  // unparsed input (pipelined requests while busy)
    size_t in_off_ = 0;
    std::string out_;      // queued output
    std::string sending_;  // output handed to the ring
    size_t sent_off_ = 0;
    loop::Completion recv_, send_, retry_, close_;
};

// --- Exchange ---------------------------------------------------------------------------------

void Exchange::respond(int status, std::string_view content_type, std::string_view body) {
    assert(mode_ == Mode::pending && "respond() on an exchange that is not waiting for it");
    if (mode_ != Mode::pending) return;
    conn_->respond(status, content_type, body);
}

void Exchange::respond_empty(int status) { respond(status, {}, {}); }

void Exchange::respond_error(const Error& e) { respond_error(status_for(e), e.message); }

void Exchange::respond_error(int status, std::string_view message) {
    if (mode_ == Mode::streaming) {
        // Too late for a status: Docker's streams carry the error in the body and end.
        write(error_body(message));
        end();
        return;
    }
    respond(status, "application/json", error_body(message));
}

void Exchange::begin_stream(int status, std::string_view content_type) {
    assert(mode_ == Mode::pending);
    if (mode_ != Mode::pending) return;
    mode_ = Mode::streaming;
    conn_->begin_stream(status, content_type);
}

bool Exchange::write(std::string_view data) {
    if (mode_ != Mode::streaming && mode_ != Mode::hijacked) return false;
    if (data.empty()) return true;
    conn_->write_stream(data);
    return mode_ == Mode::streaming || mode_ == Mode::hijacked;
}

void Exchange::end() {
    if (mode_ != Mode::streaming && mode_ != Mode::hijacked) return;
    conn_->end_stream();
}

size_t Exchange::buffered() const { return conn_->buffered(); }

void Exchange::abort() {
    if (mode_ == Mode::done || mode_ == Mode::idle) return;
    observer_ = {};
    conn_->close_now();
}

void Exchange::hijack(std::string_view content_type, RawSink* sink) {
    assert(mode_ == Mode::pending);
    if (mode_ != Mode::pending) return;
    mode_ = Mode::hijacked;
    conn_->hijack(content_type, sink);
}

void Exchange::close_write() {
    if (mode_ == Mode::hijacked) conn_->close_write();
}

// --- Server -----------------------------------------------------------------------------------

struct Server::Listener {
    Server* server;
    int fd;
    bool closing = false;
    loop::Completion accept;
    loop::Completion retry;
    loop::Completion close;
};

Server::Server(loop::Loop& loop, const Router& router, ServerLimits limits,
               ServerIdentity identity)
    : loop_(loop), router_(router), limits_(limits), identity_(std::move(identity)) {
    int64_t smallest = std::min({limits_.idle_timeout_ns, limits_.request_timeout_ns,
                                 limits_.linger_ns, limits_.shutdown_grace_ns});
    sweep_interval_ns_ = std::clamp<int64_t>(smallest / 4, 10'000'000, 1'000'000'000);
    sweep_.context = this;
    sweep_.callback = &Server::on_sweep;
    arm_sweep();
}

Server::~Server() {
    // The owner runs the loop until shutdown() reports done before destroying the server.
    assert(connection_count_ == 0);
}

void Server::arm_sweep() { loop_.timeout(sweep_, sweep_interval_ns_); }

void Server::add_listener(int fd) {
    auto l = std::make_unique<Listener>();
    l->server = this;
    l->fd = fd;
    l->accept.context = l->retry.context = l->close.context = l.get();
    l->accept.callback = &Server::on_accept;
    l->retry.callback = [](loop::Completion& c) {
        auto* l = static_cast<Listener*>(c.context);
        if (!l->closing) l->server->loop_.accept_multishot(l->accept, l->fd);
        else l->server->loop_.close(l->close, l->fd);
    };
    l->close.callback = [](loop::Completion& c) {
        static_cast<Listener*>(c.context)->server->maybe_done();
    };
    loop_.accept_multishot(l->accept, fd);
    listeners_.push_back(std::move(l));
}

void Server::on_accept(loop::Completion& c) {
    auto* l = static_cast<Listener*>(c.context);
    Server& s = *l->server;
    if (c.result >= 0) {
        int fd = c.result;
        if (s.shutting_down_ || s.connection_count_ >= s.limits_.connections_max * 2) {
            ::close(fd);
            ++s.stats_.connections_refused;
        } else {
            auto* conn = new Connection(s, fd);
            conn->next = s.head_;
            if (s.head_) s.head_->prev = conn;
            s.head_ = conn;
            ++s.connection_count_;
            ++s.stats_.connections_accepted;
            if (s.connection_count_ > s.limits_.connections_max) {
                ++s.stats_.connections_refused;
                conn->reject_overloaded();
            } else {
                conn->start();
            }
        }
    } else if (c.result != -ECANCELED) {
        log::warn("accept: " + std::string(std::strerror(-c.result)));
    }
    if (!c.in_flight()) {
        if (l->closing) {
            if (!l->close.in_flight()) s.loop_.close(l->close, l->fd);
        } else {
            // Multishot accept ended (EMFILE and friends): try again shortly, not in a hot spin.
            s.loop_.timeout(l->retry, 100'000'000);
        }
    }
}

void Server::on_sweep(loop::Completion& c) {
    auto* s = static_cast<Server*>(c.context);
    int64_t now = s->loop_.now_ns();
    for (Connection* conn = s->head_; conn; conn = conn->next) {
        int64_t d = conn->deadline_ns();
        if (d != 0 && d <= now) conn->on_deadline();
        else conn->shrink_if_idle();
    }
    if (!(s->shutting_down_ && s->connection_count_ == 0)) s->arm_sweep();
    else s->maybe_done();
}

void Server::connection_closed(Connection* conn) {
    if (conn->prev) conn->prev->next = conn->next;
    else head_ = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    --connection_count_;
    delete conn;
    if (shutting_down_) maybe_done();
}

void Server::shutdown(void (*done)(void*), void* ctx) {
    if (shutting_down_) return;
    shutting_down_ = true;
    done_ = done;
    done_ctx_ = ctx;
    for (auto& l : listeners_) {
        l->closing = true;
        if (l->accept.in_flight()) loop_.cancel(l->accept);
        else if (l->retry.in_flight()) loop_.cancel(l->retry);
        else loop_.close(l->close, l->fd);
    }
    for (Connection* conn = head_; conn;) {
        Connection* next = conn->next;
        conn->dispatch_shutdown();
        conn = next;
    }
    maybe_done();
}

void Server::maybe_done() {
    if (!shutting_down_ || connection_count_ != 0 || !done_) return;
    for (auto& l : listeners_)
        if (l->accept.in_flight() || l->retry.in_flight() || l->close.in_flight()) return;
    if (sweep_.in_flight()) {
        loop_.cancel(sweep_);
        return;  // on_sweep runs with -ECANCELED and calls back here
    }
    auto done = done_;
    done_ = nullptr;
    done(done_ctx_);
}

const std::string& Server::date_header() {
    time_t now = time(nullptr);
    if (now != date_second_) {
        date_second_ = now;
        tm t{};
        gmtime_r(&now, &t);
        char buf[64];
        size_t n = strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &t);
        date_.assign(buf, n);
    }
    return date_;
}

}  // namespace berth::http
