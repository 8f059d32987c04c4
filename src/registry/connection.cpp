#include "registry/connection.hpp"

#include <poll.h>

#include <cassert>

#include "base/time.hpp"

namespace berth::registry {

namespace {

// Go's duration format for the common cases: "300ms", "5s", "1m30s".
std::string duration_text(int64_t ns) {
    if (ns % 1'000'000'000 != 0) return std::to_string(ns / 1'000'000) + "ms";
    int64_t s = ns / 1'000'000'000;
    if (s < 60) return std::to_string(s) + "s";
    return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
}

Connection* self(loop::Completion& c) {
    return static_cast<Connection*>(c.context);
}

}  // namespace

Connection::Connection(loop::Loop& loop, Endpoint endpoint)
    : loop_(loop), endpoint_(std::move(endpoint)) {
    for (loop::Completion* c : {&poll_c_, &send_c_, &recv_c_, &timer_c_, &kick_c_})
        c->context = this;
    poll_c_.callback = &on_poll;
    send_c_.callback = &on_send;
    recv_c_.callback = &on_recv;
    timer_c_.callback = &on_timer;
    kick_c_.callback = &on_kick;
}

Connection::~Connection() {
    assert(!busy() && "a connection is freed with I/O in flight");
}

std::string Connection::peer() const {
    if (address_index_ < addresses_.size()) return addresses_[address_index_].text();
    return endpoint_.host + ":" + std::to_string(endpoint_.port);
}

bool Connection::busy() const {
    return poll_c_.in_flight() || send_c_.in_flight() || recv_c_.in_flight() ||
           timer_c_.in_flight() || kick_c_.in_flight();
}

bool Connection::stale() const {
    return state_ != State::open || input_begin_ != input_end_ || eof_ ||
           kernel::idle_socket_unusable(fd_.get());
}

void Connection::attach(ConnectionOwner* owner, const ConnectionTimeouts& timeouts) {
    owner_ = owner;
    ++epoch_;
    timeouts_ = timeouts;
    ++uses;
    if (state_ == State::open) arm_timer(timeouts_.idle_ns);
}

void Connection::detach() {
    owner_ = nullptr;
    ++epoch_;
    reading_ = false;
    disarm_timer();
    idle_since_ns = monotonic_ns();
}

// ---- connect and handshake ----

void Connection::open() {
    assert(state_ == State::fresh);
    state_ = State::connecting;
    arm_timer(timeouts_.connect_ns);
    auto addresses = kernel::resolve_tcp(endpoint_.host, endpoint_.port);
    if (!addresses) return opened(fail(std::move(addresses.error())));
    addresses_ = std::move(*addresses);
    address_index_ = 0;
    connect_next(Error::internal("dial tcp: no address"));
}

void Connection::connect_next(Error last) {
    for (; address_index_ < addresses_.size(); ++address_index_) {
        auto p = kernel::connect_start(addresses_[address_index_]);
        if (!p) {
            last = std::move(p.error());
            continue;
        }
        fd_ = std::move(p->fd);
        if (p->connected) return connected();
        loop_.poll(poll_c_, fd_.get(), POLLOUT);
        return;
    }
    address_index_ = addresses_.empty() ? 0 : addresses_.size() - 1;
    opened(fail(std::move(last)));
}

void Connection::on_poll(loop::Completion& c) {
    Connection* conn = self(c);
    if (conn->dead()) return conn->check_quiet();
    if (c.result < 0) return conn->opened(fail(Error::sys(-c.result, "dial tcp " + conn->peer())));
    auto r = kernel::connect_finish(conn->fd_.get(), conn->addresses_[conn->address_index_]);
    if (r) return conn->connected();
    conn->fd_.reset();
    ++conn->address_index_;
    conn->connect_next(std::move(r.error()));
}

void Connection::connected() {
    progress_ns_ = monotonic_ns();
    if (!endpoint_.tls) {
        state_ = State::open;
        arm_timer(timeouts_.idle_ns);
        return opened({});
    }
    auto session = TlsSession::create(endpoint_.tls, endpoint_.host);
    if (!session) return opened(fail(std::move(session.error())));
    tls_ = std::move(*session);
    cipher_in_.reset(new std::byte[cipher_bytes]);
    cipher_out_.reset(new std::byte[cipher_bytes]);
    state_ = State::handshaking;
    arm_timer(timeouts_.handshake_ns);
    handshake_step();
}

void Connection::handshake_step() {
    auto done = tls_->handshake();
    if (!done) return opened(fail(std::move(done.error())));
    if (send_c_.in_flight()) return;  // its completion steps again
    if (tls_->pending_output() > 0 || cipher_out_begin_ < cipher_out_end_) return flush_cipher();
    if (*done) {
        state_ = State::open;
        arm_timer(timeouts_.idle_ns);
        return opened({});
    }
    if (!recv_c_.in_flight()) loop_.recv(recv_c_, fd_.get(), {cipher_in_.get(), cipher_bytes});
}

void Connection::opened(Result<> r) {
    if (owner_) owner_->on_open(std::move(r));
}

// ---- sending ----

void Connection::write(std::span<const std::byte> data) {
    assert(state_ == State::open && !writing_);
    writing_ = true;
    progress_ns_ = monotonic_ns();
    if (!tls_) {
        plain_out_ = data;
        return send_more();
    }
    if (auto r = tls_->write(data); !r) {
        writing_ = false;
        if (owner_) owner_->on_sent(std::move(r));
        return;
    }
    if (!send_c_.in_flight()) flush_cipher();
}

void Connection::send_more() {
    size_t n = std::min<size_t>(plain_out_.size(), 1u << 30);
    loop_.send(send_c_, fd_.get(), plain_out_.first(n));
}

void Connection::flush_cipher() {
    if (cipher_out_begin_ == cipher_out_end_) {
        cipher_out_begin_ = 0;
        cipher_out_end_ = tls_->drain({cipher_out_.get(), cipher_bytes});
    }
    if (cipher_out_end_ == 0) return;
    loop_.send(send_c_, fd_.get(),
               {cipher_out_.get() + cipher_out_begin_, cipher_out_end_ - cipher_out_begin_});
}

void Connection::on_send(loop::Completion& c) {
    self(c)->sent(c.result);
}

void Connection::sent(int32_t res) {
    if (dead()) return check_quiet();
    if (res < 0) {
        Error e = Error::sys(-res, "write tcp " + peer());
        if (state_ == State::handshaking) return opened(fail(std::move(e)));
        writing_ = false;
        if (owner_) owner_->on_sent(fail(std::move(e)));
        return;
    }
    progress_ns_ = monotonic_ns();
    if (!tls_) {
        plain_out_ = plain_out_.subspan(size_t(res));
        if (!plain_out_.empty()) return send_more();
    } else {
        cipher_out_begin_ += size_t(res);
        if (cipher_out_begin_ < cipher_out_end_ || tls_->pending_output() > 0)
            return flush_cipher();
        cipher_out_begin_ = cipher_out_end_ = 0;
        if (state_ == State::handshaking) return handshake_step();
    }
    if (!writing_) return;  // TLS bytes OpenSSL wanted to send on its own
    writing_ = false;
    if (owner_) owner_->on_sent({});
}

// ---- receiving ----

void Connection::read() {
    if (dead()) return;
    reading_ = true;
    if (!kick_c_.in_flight()) loop_.post(kick_c_);
}

void Connection::on_kick(loop::Completion& c) {
    Connection* conn = self(c);
    if (conn->dead()) return conn->check_quiet();
    conn->pump();
}

// Hands buffered input to the owner; false when the owner went away or stopped taking it.
bool Connection::deliver() {
    size_t offered = input_end_ - input_begin_;
    uint64_t epoch = epoch_;
    size_t n = owner_->on_data({input_.get() + input_begin_, offered});
    // Account first: an owner that finished hands us back to the pool from inside on_data.
    input_begin_ += std::min(n, offered);
    if (input_begin_ == input_end_) input_begin_ = input_end_ = 0;
    if (epoch != epoch_ || dead()) return false;
    if (n < offered) reading_ = false;
    return reading_;
}

void Connection::pump() {
    if (!input_) input_.reset(new std::byte[input_bytes]);
    while (reading_ && state_ == State::open && owner_) {
        if (input_begin_ < input_end_) {
            if (!deliver()) return;
            continue;
        }
        if (eof_) {
            reading_ = false;
            return owner_->on_eof();
        }
        if (tls_) {
            bool closed = false;
            auto n = tls_->read({input_.get(), input_bytes}, closed);
            if (!n) return failed(std::move(n.error()));
            if (*n > 0 || closed) {
                input_end_ = *n;
                eof_ = closed;
                if (tls_->pending_output() > 0 && !send_c_.in_flight()) flush_cipher();
                continue;
            }
        }
        if (!recv_c_.in_flight()) {
            std::span<std::byte> buf = tls_ ? std::span<std::byte>(cipher_in_.get(), cipher_bytes)
                                            : std::span<std::byte>(input_.get(), input_bytes);
            loop_.recv(recv_c_, fd_.get(), buf);
        }
        return;
    }
}

void Connection::on_recv(loop::Completion& c) {
    self(c)->received(c.result);
}

void Connection::received(int32_t res) {
    if (dead()) return check_quiet();
    if (res < 0) {
        Error e = Error::sys(-res, "read tcp " + peer());
        if (state_ == State::handshaking) return opened(fail(std::move(e)));
        return failed(std::move(e));
    }
    progress_ns_ = monotonic_ns();
    if (state_ == State::handshaking) {
        if (res == 0)
            return opened(
                fail(Error::make(ErrorKind::unavailable, "tls: handshake: EOF from " + peer())));
        tls_->feed({cipher_in_.get(), size_t(res)});
        return handshake_step();
    }
    if (res == 0)
        eof_ = true;
    else if (tls_)
        tls_->feed({cipher_in_.get(), size_t(res)});
    else
        input_end_ = size_t(res);
    pump();
}

void Connection::failed(Error e) {
    reading_ = false;
    if (owner_) owner_->on_failure(std::move(e));
}

// ---- the timer ----

void Connection::arm_timer(int64_t limit_ns) {
    timer_limit_ns_ = limit_ns;
    progress_ns_ = monotonic_ns();
    if (limit_ns <= 0) return disarm_timer();
    if (timer_c_.in_flight()) {
        // A timer set for another limit: cancel it; its completion arms the new one.
        timer_rearm_ = true;
        loop_.cancel(timer_c_);
        return;
    }
    loop_.timeout(timer_c_, limit_ns);
}

void Connection::disarm_timer() {
    timer_limit_ns_ = 0;
    timer_rearm_ = false;
    if (timer_c_.in_flight()) loop_.cancel(timer_c_);
}

void Connection::on_timer(loop::Completion& c) {
    self(c)->timer_fired(c.result);
}

bool Connection::waiting_on_peer() const {
    if (state_ != State::open) return true;  // connecting or handshaking
    if (owner_ && owner_->waiting_on_self()) return false;
    return send_c_.in_flight() || recv_c_.in_flight() || (reading_ && !kick_c_.in_flight());
}

void Connection::timer_fired(int32_t res) {
    if (dead()) return check_quiet();
    if (timer_limit_ns_ <= 0) return;
    if (res == -ECANCELED && !std::exchange(timer_rearm_, false)) return;
    int64_t now = monotonic_ns();
    if (res == -ECANCELED || !waiting_on_peer()) progress_ns_ = now;
    int64_t elapsed = now - progress_ns_;
    if (elapsed < timer_limit_ns_) return loop_.timeout(timer_c_, timer_limit_ns_ - elapsed);
    Error e = timeout_error();
    timer_limit_ns_ = 0;
    if (state_ == State::open) return failed(std::move(e));
    opened(fail(std::move(e)));
}

Error Connection::timeout_error() const {
    std::string m;
    switch (state_) {
        case State::connecting:
            m = "dial tcp " + peer() + ": i/o timeout";
            break;
        case State::handshaking:
            m = "net/http: TLS handshake timeout";
            break;
        default:
            m = "net/http: request canceled (idle timeout: no data from " + peer() + " for " +
                duration_text(timer_limit_ns_) + ")";
    }
    return Error{ErrorKind::unavailable, ETIMEDOUT, std::move(m)};
}

// ---- shutting down ----

void Connection::abort(void (*quiet)(void*), void* ctx) {
    quiet_ = quiet;
    quiet_ctx_ = ctx;
    if (state_ != State::dead) {
        state_ = State::dead;
        owner_ = nullptr;
        ++epoch_;
        reading_ = false;
        for (loop::Completion* c : {&poll_c_, &send_c_, &recv_c_, &timer_c_})
            if (c->in_flight()) loop_.cancel(*c);
        fd_.reset();  // in-flight operations hold their own reference to the socket
    }
    check_quiet();
}

void Connection::check_quiet() {
    if (!dead() || busy() || !quiet_) return;
    auto quiet = std::exchange(quiet_, nullptr);
    quiet(quiet_ctx_);
}

}  // namespace berth::registry
