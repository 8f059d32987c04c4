// One client socket on the loop: resolve, non-blocking connect (POLLOUT), optional TLS
// handshake through memory BIOs, then a byte pipe with at most one send and one recv in flight.
// The owner (an HTTP exchange) hears of every event; input it does not consume stays here until
// it asks again (back-pressure), and one timer fails any wait on the peer that makes no progress
// for too long. A connection is freed only when nothing of it is in flight (busy() is false).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"
#include "kernel/tcp_socket.hpp"
#include "loop/loop.hpp"
#include "registry/tls.hpp"

namespace berth::registry {

struct Endpoint {
    std::string host;  // a name or an IP address (IPv6 without brackets)
    uint16_t port = 0;
    std::shared_ptr<TlsContext> tls;  // null: plain TCP
};

struct ConnectionTimeouts {
    int64_t connect_ns = 30'000'000'000;    // TCP connect, all addresses (dockerd's dialer: 30 s)
    int64_t handshake_ns = 10'000'000'000;  // TLS handshake (Go's TLSHandshakeTimeout)
    int64_t idle_ns = 60'000'000'000;       // no byte moving while we wait on the peer
};

class ConnectionOwner {
  public:
    virtual void on_open(Result<> result) = 0;  // connected, and TLS established when asked
    virtual void on_sent(Result<> result) = 0;  // the write() is on the wire
    // Input; returns how much was consumed. Consuming less pauses reading until read().
    virtual size_t on_data(std::span<const std::byte> data) = 0;
    virtual void on_eof() = 0;             // the peer finished sending (after all input)
    virtual void on_failure(Error e) = 0;  // a recv failed, or the peer stalled past idle_ns
    // True while the wait is on the owner (paused consumer, a body source not ready): the
    // idle timer does not count then.
    virtual bool waiting_on_self() const = 0;

  protected:
    ~ConnectionOwner() = default;
};

class Connection {
  public:
    static constexpr size_t input_bytes = 64 * 1024;
    static constexpr size_t cipher_bytes = 64 * 1024;

    Connection(loop::Loop& loop, Endpoint endpoint);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    const Endpoint& endpoint() const { return endpoint_; }
    // The peer as Go prints it in errors: "127.0.0.1:5000".
    std::string peer() const;

    void attach(ConnectionOwner* owner, const ConnectionTimeouts& timeouts);
    // Back to the idle pool: no owner, no reading, no timer.
    void detach();
    // Resolves, connects and handshakes; ends in owner->on_open.
    void open();
    // Sends all of `data`; ends in owner->on_sent. Plain TCP sends from `data` itself, which
    // must stay valid until then; TLS encrypts it at once.
    void write(std::span<const std::byte> data);
    // Delivers input to the owner until it consumes less than offered; call again to resume.
    void read();
    void stop_reading() { reading_ = false; }
    // Cancels what is in flight and closes the socket. `quiet(ctx)` runs once nothing of this
    // connection is in flight any more (at once if nothing is).
    void abort(void (*quiet)(void*), void* ctx);

    bool busy() const;
    bool dead() const { return state_ == State::dead; }
    bool is_open() const { return state_ == State::open; }
    // A pooled connection the peer has closed (or that holds stray input) must not be reused.
    bool stale() const;

    int64_t idle_since_ns = 0;
    uint32_t uses = 0;

  private:
    enum class State : unsigned char { fresh, connecting, handshaking, open, dead };

    static void on_poll(loop::Completion& c);
    static void on_send(loop::Completion& c);
    static void on_recv(loop::Completion& c);
    static void on_timer(loop::Completion& c);
    static void on_kick(loop::Completion& c);

    void connect_next(Error last);
    void connected();
    void handshake_step();
    void opened(Result<> r);
    void send_more();
    void flush_cipher();
    void sent(int32_t res);
    void received(int32_t res);
    void pump();
    bool deliver();
    void arm_timer(int64_t limit_ns);
    void disarm_timer();
    void timer_fired(int32_t res);
    bool waiting_on_peer() const;
    Error timeout_error() const;
    void failed(Error e);
    void check_quiet();

    loop::Loop& loop_;
    Endpoint endpoint_;
    ConnectionOwner* owner_ = nullptr;
    uint64_t epoch_ = 0;  // bumped on attach/detach/abort: a callback that sees it change stops
    ConnectionTimeouts timeouts_;
    State state_ = State::fresh;
    kernel::UniqueFd fd_;
    std::vector<kernel::SocketAddress> addresses_;
    size_t address_index_ = 0;
    std::unique_ptr<TlsSession> tls_;

    loop::Completion poll_c_, send_c_, recv_c_, timer_c_, kick_c_;

    std::unique_ptr<std::byte[]> input_;  // plain text (decrypted under TLS)
    size_t input_begin_ = 0, input_end_ = 0;
    std::unique_ptr<std::byte[]> cipher_in_, cipher_out_;
    size_t cipher_out_begin_ = 0, cipher_out_end_ = 0;
    std::span<const std::byte> plain_out_;
    bool writing_ = false;
    bool reading_ = false;
    bool eof_ = false;

    int64_t progress_ns_ = 0;  // last time a byte moved (or a wait began)
    int64_t timer_limit_ns_ = 0;
    bool timer_rearm_ = false;

    void (*quiet_)(void*) = nullptr;
    void* quiet_ctx_ = nullptr;
};

}  // namespace berth::registry
