// An HTTP/1.1 client on the loop, for registries: keep-alive connections pooled per origin,
// plain or TLS, requests with small or streamed bodies, responses parsed by llhttp and streamed
// to callbacks (Content-Length, chunked, close-delimited) with pause/resume back-pressure,
// redirects (never carrying Authorization to another origin), connect/handshake/idle timeouts
// and cancellation. Only small responses asked for with fetch() are buffered, under a cap.
// Callbacks never run inside the call that starts a request; on_done is always the last one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.hpp"
#include "loop/loop.hpp"
#include "registry/connection.hpp"
#include "registry/tls.hpp"
#include "registry/url.hpp"

namespace berth::registry {

class Exchange;  // one request in flight (http_client.cpp)

struct Header {
    std::string name;  // lower-case in responses
    std::string value;
};
using Headers = std::vector<Header>;

// The first value of `name` (case-insensitive), or "" when absent.
std::string_view header_value(const Headers& headers, std::string_view name);
// Removes every `name` (case-insensitive) and adds one with `value`.
void set_header(Headers& headers, std::string_view name, std::string value);

// A streamed request body of known length (sent with Content-Length).
struct BodySource {
    // Returned by read(): no bytes yet; call HttpClient::body_ready() when there are.
    static constexpr size_t pending = SIZE_MAX;
    uint64_t length = 0;
    // Fills up to buf.size() bytes and returns how many (never 0 before `length` is reached),
    // `pending`, or an error that aborts the request.
    std::move_only_function<Result<size_t>(std::span<std::byte> buf)> read;
};

struct HttpRequest {
    std::string method = "GET";
    Url url;
    Headers headers;                   // Host, User-Agent and Content-Length are added
    std::string body;                  // a small body, sent as is
    std::optional<BodySource> source;  // or a streamed one (not replayed: no retry, no redirect)
    int max_redirects = 5;             // 0: hand 3xx responses to the caller
};

struct HttpResponseHead {
    int status = 0;
    Headers headers;
    Url url;  // where the response came from, after redirects
    std::optional<uint64_t> content_length;
};

struct HttpHandlers {
    std::move_only_function<void(const HttpResponseHead&)> on_headers;  // optional
    std::move_only_function<void(std::span<const std::byte>)> on_body;  // optional
    std::move_only_function<void(Result<>)> on_done;                    // required
};

struct HttpResponse {
    int status = 0;
    Headers headers;
    Url url;
    std::string body;
};

struct HttpOptions {
    ConnectionTimeouts timeouts;
    std::string user_agent = "berth";
    size_t idle_per_origin_max = 4;         // kept-alive connections per origin
    int64_t idle_keep_ns = 90'000'000'000;  // Go's IdleConnTimeout
    size_t response_header_bytes_max = 64 * 1024;
    // CAs trusted for every https origin on top of the system store.
    std::vector<std::string> ca_files;
    // Per-origin TLS settings (certs.d, insecure registries); default: verify, ca_files.
    std::function<TlsConfig(const std::string& host, uint16_t port)> tls_for;
};

class HttpClient {
  public:
    using RequestId = uint64_t;

    HttpClient(loop::Loop& loop, HttpOptions options);
    // Everything must be finished first: shutdown(), then tick the loop until quiescent().
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    loop::Loop& loop() { return loop_; }
    const HttpOptions& options() const { return options_; }

    // Starts a request; the handlers run on the loop thread, never before send() returns.
    RequestId send(HttpRequest request, HttpHandlers handlers);
    // A small response, whole: the body is capped at `body_max` bytes (an error past it).
    RequestId fetch(HttpRequest request, size_t body_max,
                    std::move_only_function<void(Result<HttpResponse>)> done);

    // Back-pressure: no on_body between pause() and resume(); the socket is not read meanwhile.
    void pause(RequestId id);
    void resume(RequestId id);
    // A BodySource that returned `pending` has bytes now.
    void body_ready(RequestId id);
    // Ends a request at once and closes its connection; none of its callbacks runs afterwards.
    void cancel(RequestId id);
    // Ends a request with `error`, delivered to its on_done (on a later tick).
    void abort(RequestId id, Error error);

    // Cancels every request and closes every connection.
    void shutdown();
    // Nothing in flight: the client may be destroyed.
    bool quiescent() const;
    size_t idle_connections() const;
    // Connections opened so far (for tests of keep-alive).
    uint64_t connections_opened() const { return connections_opened_; }

  private:
    friend class Exchange;
    Result<Endpoint> endpoint_for(const Url& url);
    std::unique_ptr<Connection> take_idle(const std::string& origin);
    std::unique_ptr<Connection> connect(Endpoint endpoint);
    void put_idle(std::unique_ptr<Connection> conn);
    void discard(std::unique_ptr<Connection> conn);
    void retire(RequestId id);
    void schedule_reap();
    static void on_reap(loop::Completion& c);
    static void on_connection_quiet(void* client);

    loop::Loop& loop_;
    HttpOptions options_;
    RequestId next_id_ = 1;
    uint64_t connections_opened_ = 0;
    std::unordered_map<RequestId, std::unique_ptr<Exchange>> active_;
    std::vector<std::unique_ptr<Exchange>> retired_;
    std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
    std::vector<std::unique_ptr<Connection>> dead_;
    std::unordered_map<std::string, std::shared_ptr<TlsContext>> tls_contexts_;
    loop::Completion reap_c_;
};

}  // namespace berth::registry
