// TCP sockets for the registry client and the tests' fake servers: name resolution (getaddrinfo,
// a short synchronous step; numeric addresses skip the resolver), a non-blocking connect whose
// end the loop watches with POLLOUT, and listeners. Every fd is close-on-exec.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::kernel {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    // "127.0.0.1:5000" or "[::1]:5000", as Go prints a dialled address.
    std::string text() const;
};

// Resolves `host` (a name, a dotted IPv4 address or an IPv6 address without brackets) for a
// TCP connection to `port`. Names go through getaddrinfo, which blocks: registries are named
// once per pull and are mostly numeric or loopback here, so this stays short.
Result<std::vector<SocketAddress>> resolve_tcp(const std::string& host, uint16_t port);

struct PendingConnect {
    UniqueFd fd;
    bool connected = false;  // finished at once (loopback often does); no POLLOUT wait needed
};

// Opens a non-blocking socket and starts connecting. When `connected` is false, wait for
// POLLOUT on the fd and then call connect_finish().
Result<PendingConnect> connect_start(const SocketAddress& address);

// The outcome of a connect that polled writable (SO_ERROR). On success the socket is put back
// into blocking mode (io_uring waits for readiness itself) and gets TCP_NODELAY.
Result<> connect_finish(int fd, const SocketAddress& address);

// True when a kept-alive idle socket can no longer carry a request: the peer closed it (EOF
// waiting), reset it, or sent bytes nobody asked for. A non-blocking peek; nothing is consumed.
bool idle_socket_unusable(int fd);

struct TcpListener {
    UniqueFd fd;
    uint16_t port = 0;
};

// Listens on `host` (numeric) at `port`; port 0 picks a free one, reported back.
Result<TcpListener> listen_tcp(const std::string& host, uint16_t port, int backlog = 128);

// A port that was free a moment ago on 127.0.0.1 (for child processes that bind it themselves).
Result<uint16_t> free_tcp_port();

}  // namespace berth::kernel
