// Exchange: one request and its response on a connection. A handler answers at once or keeps
// the Exchange and answers later (a job finishing); it may stream a chunked body (events, logs,
// pull progress) or hijack the connection into a raw byte stream (attach, exec).
// Lifetime: valid from the handler call until the response is complete, or until the observer's
// `aborted` runs (client gone, server stopping); after either, the handler must drop it.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "http/request.hpp"

namespace berth::http {

class Connection;

// What an asynchronous handler wants to hear about while it holds an Exchange.
struct ExchangeObserver {
    void* ctx = nullptr;
    void (*aborted)(void* ctx) = nullptr;   // the exchange is dead: drop it, write nothing more
    void (*shutdown)(void* ctx) = nullptr;  // the daemon is stopping: end the response soon
    void (*drained)(void* ctx) = nullptr;   // buffered output was sent (back-pressure released)
};

// The receiving side of a streamed request body (routes added with stream_body).
struct BodySink {
    virtual ~BodySink() = default;
    // A chunk of the body; an error aborts the request (the client gets it as a 400).
    virtual Result<> on_body(std::span<const std::byte> data) = 0;
    virtual void on_body_end() = 0;
};

// The receiving side of a hijacked connection.
struct RawSink {
    virtual ~RawSink() = default;
    virtual void on_data(std::span<const std::byte> data) = 0;
    virtual void on_eof() = 0;  // the client half-closed its side (CloseWrite)
};

class Exchange {
public:
    Request& request() { return *request_; }
    const Request& request() const { return *request_; }

    // An extra response header for this exchange; call before responding.
    void add_header(std::string_view name, std::string_view value) {
        extra_headers_ += name;
        extra_headers_ += ": ";
        extra_headers_ += value;
        extra_headers_ += "\r\n";
    }

    // Complete responses (Content-Length); the body is dropped for HEAD.
    void respond(int status, std::string_view content_type, std::string_view body);
    void respond_json(int status, std::string_view json) {
        respond(status, "application/json", json);
    }
    void respond_empty(int status);  // 204, 304
    void respond_error(const Error& e);
    void respond_error(int status, std::string_view message);

    // Streaming: the header goes out at once; each write() is one chunk.
    void begin_stream(int status, std::string_view content_type);
    // Returns false if the exchange is over (client gone).
    bool write(std::string_view data);
    // Ends the stream (last chunk) and completes the exchange; for a hijacked connection,
    // closes it.
    void end();
    // Drops the connection mid-response (no terminating chunk), so the client sees the response
    // cut short: for errors after a stream began where the format has no room for one (a tar).
    void abort();
    // Bytes accepted by write() and not yet sent to the socket.
    size_t buffered() const;

    // Answers 101 UPGRADED (or 200 for a client that did not ask to upgrade) and turns the
    // connection into a raw stream: bytes from the client go to `sink`, write() sends raw bytes.
    void hijack(std::string_view content_type, RawSink* sink);
    // Half-closes the hijacked connection's write side.
    void close_write();

    // For stream_body routes: the body's bytes go to `sink` as they arrive. Call it from the
    // handler; the handler may respond (or begin a stream) before the body has ended.
    void read_body(BodySink* sink) { body_sink_ = sink; }
    bool body_done() const { return body_done_; }

    void observe(ExchangeObserver o) { observer_ = o; }
    bool streaming() const { return mode_ == Mode::streaming; }
    bool hijacked() const { return mode_ == Mode::hijacked; }
    bool done() const { return mode_ == Mode::done; }

private:
    friend class Connection;
    enum class Mode : unsigned char { idle, pending, streaming, hijacked, done };

    Connection* conn_ = nullptr;
    Request* request_ = nullptr;
    Mode mode_ = Mode::idle;
    bool chunked_ = false;
    ExchangeObserver observer_{};
    RawSink* sink_ = nullptr;
    BodySink* body_sink_ = nullptr;
    bool body_done_ = true;
    std::string extra_headers_;
};

}  // namespace berth::http
