// The HTTP server on the reactor: listeners (multishot accept), connections (llhttp, multishot
// recv into the loop's provided buffers, one send in flight), limits, deadlines swept by one
// timer, and graceful shutdown. Handlers are found through the Router.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/exchange.hpp"
#include "http/parser.hpp"
#include "http/router.hpp"
#include "loop/loop.hpp"

namespace berth::http {

struct ServerLimits {
    ParseLimits parse;
    size_t connections_max = 16384;
    int64_t idle_timeout_ns = 300LL * 1'000'000'000;    // keep-alive with no request
    int64_t request_timeout_ns = 60LL * 1'000'000'000;  // first byte to complete request
    int64_t shutdown_grace_ns = 10LL * 1'000'000'000;   // in-flight requests on SIGTERM
    int64_t linger_ns = 1'000'000'000;                  // reading after an error reply
    size_t output_bytes_max = 8 * 1024 * 1024;          // a stream's unsent bytes
    size_t pipeline_bytes_max = 256 * 1024;             // unparsed input held per connection
};

// Headers dockerd sends on every response (Api-Version, Ostype, Server, …).
struct ServerIdentity {
    std::string server = "berth";
    std::string api_version = "1.51";
};

struct ServerStats {
    uint64_t connections_accepted = 0;
    uint64_t connections_refused = 0;  // over connections_max
    uint64_t requests = 0;
    uint64_t timeouts = 0;
    uint64_t bad_requests = 0;
};

class Server {
public:
    Server(loop::Loop& loop, const Router& router, ServerLimits limits, ServerIdentity identity);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Starts accepting on a listening socket; the server owns the fd from here.
    void add_listener(int fd);
    // Stops accepting; idle connections close now, streams are asked to end, requests in
    // flight get `shutdown_grace_ns`. `done` runs once every connection is gone.
    void shutdown(void (*done)(void*), void* ctx);
    bool shutting_down() const { return shutting_down_; }

    size_t connection_count() const { return connection_count_; }
    const ServerStats& stats() const { return stats_; }
    const ServerLimits& limits() const { return limits_; }

private:
    friend class Connection;
    struct Listener;
    static void on_accept(loop::Completion& c);
    static void on_sweep(loop::Completion& c);
    void arm_sweep();
    void connection_closed(Connection* c);
    void maybe_done();
    const std::string& date_header();

    loop::Loop& loop_;
    const Router& router_;
    ServerLimits limits_;
    ServerIdentity identity_;
    ServerStats stats_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    Connection* head_ = nullptr;  // intrusive list of live connections
    size_t connection_count_ = 0;
    loop::Completion sweep_;
    int64_t sweep_interval_ns_ = 0;
    bool shutting_down_ = false;
    void (*done_)(void*) = nullptr;
    void* done_ctx_ = nullptr;
    int64_t date_second_ = -1;
    std::string date_;
};

}  // namespace berth::http
