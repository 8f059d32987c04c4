// The hijacked stream of docker attach and docker exec: output in stdcopy frames
// ([stream, 0, 0, 0, size BE32] + bytes) without a tty, raw with one; the client's input to the
// process's stdin, with Docker's detach keys on a tty. Works for any ID the engine streams:
// a container's or an exec's.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "http/exchange.hpp"
#include "jobs/container_engine.hpp"

namespace berth::http {

struct ApiContext;

// One chunk of output as Docker frames it: stdcopy without a tty, the bytes as they are with one.
std::string frame(int stream, std::string_view data, bool tty);

// `detachKeys` ("ctrl-p,ctrl-q", "a,ctrl-@"…) as bytes; "" gives Docker's default ctrl-p ctrl-q.
Result<std::string> parse_detach_keys(std::string_view spec);

// A tty size from the query (h, w for POST …/resize): missing is 0, nullopt when not a number
// from 0 to 65535.
std::optional<unsigned short> tty_dimension(const Request& req, const char* key);

struct AttachOptions {
    bool tty = false;
    bool stdout = false, stderr = false;
    bool stdin = false;       // the client's input goes to the process
    bool stdin_once = false;  // the client's end of input closes the process's stdin
    std::string detach_keys;  // bytes (parse_detach_keys); used with a tty
    // Runs once the 101 response has left for the client: a process started later cannot have
    // its first output in the same segment as the header (docker-py reads the header through
    // a buffered reader and then the socket itself: bytes behind the header would be lost).
    std::function<void()> on_header_sent;
};

class AttachStream final : public jobs::OutputListener, public RawSink {
  public:
    // Hijacks `ex` and listens to `id` (a container or an exec); frees itself when the
    // stream ends.
    AttachStream(ApiContext& ctx, Exchange& ex, std::string id, AttachOptions options);
    void on_output(int stream, std::span<const std::byte> data) override;
    void on_end() override;
    bool saturated() const override;
    void on_data(std::span<const std::byte> data) override;
    void on_eof() override;

  private:
    static void on_aborted(void* self);
    static void on_drained(void* self);
    void detach();
    static constexpr size_t attach_buffer_bytes_max = 1 << 20;
    ApiContext& ctx_;
    Exchange* ex_;
    std::string id_;
    AttachOptions opt_;
    size_t matched_ = 0;  // bytes of the detach sequence seen so far (held back)
};

}  // namespace berth::http
