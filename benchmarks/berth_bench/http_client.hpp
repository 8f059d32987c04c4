// berth-bench's client of the Docker Engine API: HTTP/1.1 over a Unix socket, blocking, one
// connection per object (keep-alive), Content-Length and chunked bodies, and the hijacked
// attach stream. The same code talks to berthd and dockerd; each benchmark thread owns its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::bench {

struct Response {
    int status = 0;  // 0: no answer (connection failed or closed); `error` says why
    std::string body;
    std::string error;
    bool ok() const { return status >= 200 && status < 300; }
    // The daemon's {"message": …}, or the transport error.
    std::string message() const;
};

// One keep-alive connection, reopened when the daemon closed it.
class ApiClient {
  public:
    explicit ApiClient(std::string socket_path) : path_(std::move(socket_path)) {}
    ~ApiClient();
    ApiClient(const ApiClient&) = delete;
    ApiClient& operator=(const ApiClient&) = delete;

    Response request(std::string_view method, std::string_view path, std::string_view body = {},
                     std::string_view content_type = "application/json");
    // Sends a request and reads only the status line and headers (a wait answers its 200 at
    // once and the body at the exit); finish_body() reads the rest. Uses its own connection.
    Response begin(std::string_view method, std::string_view path);
    Response finish_body();
    // POST /containers/{id}/attach as the CLI sends it, on a third connection; 101 (or 200)
    // when the stream is attached.
    Response attach(const std::string& id);
    // Reads the attached stream until the daemon closes it; returns the bytes read.
    int64_t drain_attach();
    void close();
    const std::string& path() const { return path_; }

  private:
    struct Conn {
        int fd = -1;
        std::string buf;  // read but not yet consumed
        bool chunked = false;
        int64_t length = -1;  // Content-Length, -1: none (read to the close)
        void reset();
    };
    bool open_conn(Conn& c, std::string& error) const;
    static bool send_all(Conn& c, std::string_view data, std::string& error);
    static bool fill(Conn& c);
    static Response read_head(Conn& c);
    static bool read_body(Conn& c, Response& r);
    std::string path_;
    Conn main_;     // keep-alive requests
    Conn pending_;  // begin()/finish_body()
    Conn attach_;
};

// Percent-encoding for query values (filters, image references).
std::string url_encode(std::string_view s);

}  // namespace berth::bench
