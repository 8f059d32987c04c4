// End-to-end fixtures: a real berthd in a private temporary directory (socket, data root, exec
// root, pid file, captured stdout/stderr all inside it), a raw Unix-socket client, a small
// HTTP/1.1 response parser, and a shell runner for the docker CLI and docker-py.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace berth::e2e {

using Millis = std::chrono::milliseconds;

// A berthd child process. The temporary directory lives as long as the object, so a daemon can
// be stopped and started again on the same data root. The destructor stops a daemon still
// running (SIGTERM, SIGKILL after 5 s), detaches what is still mounted under the directory
// (a killed daemon's containers' roots) and removes it.
class BerthDaemon {
  public:
    explicit BerthDaemon(std::vector<std::string> extra_args = {});
    ~BerthDaemon();
    BerthDaemon(const BerthDaemon&) = delete;
    BerthDaemon& operator=(const BerthDaemon&) = delete;

    // Paths may be pointed elsewhere before start() (e.g. another daemon's data root).
    void set_socket_path(std::string path) { socket_path_ = std::move(path); }
    void set_data_root(std::string path) { data_root_ = std::move(path); }
    void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
    // By default (as root) berthd runs in a network namespace of this object's own, kept across
    // restarts: its bridges, veths and NAT rules never touch the host's network. A daemon that
    // must reach servers the test runs on the host's loopback (a registry) stays in the host's
    // namespace with its default bridge switched off (--bridge none). Call before start().
    void use_host_network();
    // The daemon's network namespace as a path for nsenter --net= ("" in the host's).
    std::string netns_path() const;
    // `cmd` run with /bin/sh inside the daemon's network namespace (its "host").
    std::string in_netns(const std::string& cmd) const;

    // Starts berthd and waits until its socket accepts; fails with berthd's stderr if it exits.
    testing::AssertionResult start(Millis deadline = Millis(15000));
    // Starts berthd expecting it to refuse: waits for its exit and returns the exit code
    // (-1 if it was still running at the deadline; it is then killed).
    int run_expecting_exit(Millis deadline = Millis(15000));

    // Sends `signo` and waits for the exit; returns the exit code, 128+N for death by signal N,
    // or -1 if it did not exit in time (it is then SIGKILLed).
    int stop(int signo = SIGTERM, Millis deadline = Millis(15000));
    bool running() const { return pid_ > 0; }
    // Polls for the daemon to exit on its own (without signalling it).
    std::optional<int> wait_exit(Millis deadline);

    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_; }
    const std::string& socket_path() const { return socket_path_; }
    const std::string& data_root() const { return data_root_; }
    const std::string& exec_root() const { return exec_root_; }
    const std::string& pidfile() const { return pidfile_; }
    std::string docker_host() const { return "unix://" + socket_path_; }
    // --cgroup-parent of this daemon: its own, so parallel test daemons never meet.
    std::string cgroup_parent() const;
    std::string stdout_text() const;
    std::string stderr_text() const;

  private:
    bool spawn();
    std::vector<std::string> argv() const;
    static int decode_status(int status);

    std::string dir_, socket_path_, data_root_, exec_root_, pidfile_;
    std::vector<std::string> extra_args_;
    pid_t pid_ = -1;
    bool own_netns_ = true;
    int netns_fd_ = -1;
};

// One client connection on a Unix socket, non-blocking underneath; every read has a timeout.
class RawClient {
  public:
    explicit RawClient(const std::string& socket_path);
    ~RawClient();
    RawClient(RawClient&& other) noexcept;
    RawClient& operator=(RawClient&&) = delete;
    RawClient(const RawClient&) = delete;

    bool connected() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    // Sends all of `bytes`; false when the peer closed or the socket stayed full until timeout.
    bool send(std::string_view bytes, Millis timeout = Millis(5000));
    // Whatever arrives within `timeout` (returns at the first data, empty on timeout or EOF).
    std::string read_some(Millis timeout);
    // Reads until the peer closes (or resets) or the timeout passes.
    std::string read_until_close(Millis timeout);
    // Reads until `marker` appears in what was read, the peer closes, or the timeout passes.
    std::string read_until(std::string_view marker, Millis timeout);
    // Reads until a complete response (head + whole body) is buffered, or close / timeout.
    std::string read_response(Millis timeout, bool head_request = false);
    // True once the peer's close (EOF or reset) has been seen.
    bool peer_closed() const { return peer_closed_; }
    // Waits up to `timeout` for the peer to close, discarding any data; true if it did.
    bool wait_for_close(Millis timeout);
    void close();

  private:
    // One recv after waiting up to `timeout`; appends to `out`. False on timeout or close.
    bool read_once(std::string& out, Millis timeout);

    int fd_ = -1;
    bool peer_closed_ = false;
};

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;                            // de-chunked
    bool chunked = false;
    bool complete = false;  // the whole body arrived (Content-Length met or last chunk seen)

    std::string header(std::string_view name) const;
};

// Parses one response from the front of `raw`. nullopt until the head is complete. `consumed`
// gets the bytes the response used when it is complete. A reply to HEAD has no body.
std::optional<HttpResponse> parse_response(std::string_view raw, size_t* consumed = nullptr,
                                           bool head_request = false);

// One request on a fresh connection with `Connection: close`; status 0 when nothing parsable
// came back.
HttpResponse http_request(const std::string& socket_path, std::string_view method,
                          std::string_view path, Millis timeout = Millis(10000));
HttpResponse http_get(const std::string& socket_path, std::string_view path);
// POST with a JSON body, on a fresh connection with `Connection: close`.
HttpResponse http_post_json(const std::string& socket_path, std::string_view path,
                            std::string_view body);

struct CommandResult {
    int exit_code = -1;
    std::string output;  // stdout
    std::string error;   // stderr
};

// Runs `cmd` with /bin/sh, with `env` ("NAME=value") exported first.
CommandResult run_command(const std::string& cmd, const std::vector<std::string>& env = {});
// Runs `docker <args>` against `daemon` (DOCKER_HOST set, any context cleared).
CommandResult docker(const BerthDaemon& daemon, const std::string& args);

// The value of the first `"key":` in a compact JSON text, as raw text (strings unquoted, no
// escapes decoded); a shallow helper for scalar checks, not a parser.
std::string json_field(std::string_view json, std::string_view key);

// Polls `pred` every 20 ms until it holds or `deadline` passes.
template <class Pred>
bool eventually(Pred pred, Millis deadline) {
    auto end = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        struct timespec ts {
            0, 20'000'000
        };
        nanosleep(&ts, nullptr);
    }
}

bool file_exists(const std::string& path);
std::string read_file(const std::string& path);
std::string write_temp_file(const std::string& dir, const std::string& name,
                            const std::string& text);

// A number from GET /info (NFd, NEventsListener, Containers…); -1 when missing.
long info_number(const BerthDaemon& d, const char* field);
// Makes room for `fds` open files in this process.
bool ensure_fd_limit(rlim_t fds);
// berthd's open fds once the count holds still (a close may still be in flight).
// berthd's open fds (/info NFd) less those the netns pool and the batched close of exited
// namespaces hold (BerthNetworkReserveFds): what a leak would grow.
long fd_count(const BerthDaemon& d);
long settled_fd_count(const BerthDaemon& d);

}  // namespace berth::e2e
