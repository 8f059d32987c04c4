// Datagram sockets and fixed-address binding for the embedded DNS server: a UDP socket in the
// caller's namespace, bind/listen on a socket made elsewhere (socket_in_netns), and IPv4 socket
// addresses. Every fd is close-on-exec; reads and writes go through the loop, never here.
#pragma once

#include <cstdint>
#include <optional>

#include "base/error.hpp"
#include "kernel/fd.hpp"
#include "kernel/ipv4.hpp"
#include "kernel/tcp_socket.hpp"

namespace berth::kernel {

SocketAddress ipv4_socket_address(Ipv4Address address, uint16_t port);
// The IPv4 address and port of `a`; nullopt for any other family.
std::optional<Ipv4Address> ipv4_of(const SocketAddress& a);
uint16_t port_of(const SocketAddress& a);
// Same family, address and port (what a datagram's source is checked against).
bool same_endpoint(const SocketAddress& a, const SocketAddress& b);

// An unbound, non-blocking AF_INET UDP socket in the calling thread's network namespace.
Result<UniqueFd> udp_socket();

// bind(2) with the address in the error; the socket's own namespace decides what it binds to.
Result<> bind_socket(int fd, const SocketAddress& address);
Result<> listen_socket(int fd, int backlog);
Result<> set_nonblocking(int fd);
// SO_REUSEADDR: a listener bound again at once must not fail on its old connections' TIME_WAIT.
Result<> set_reuse_address(int fd);
// getsockname(2): the port the kernel chose for a socket bound to port 0.
Result<SocketAddress> local_address(int fd);

}  // namespace berth::kernel
