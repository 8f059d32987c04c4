#include "kernel/udp_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace berth::kernel {

SocketAddress ipv4_socket_address(Ipv4Address address, uint16_t port) {
    SocketAddress a;
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = address.network_order();
    a.length = sizeof(sockaddr_in);
    return a;
}

std::optional<Ipv4Address> ipv4_of(const SocketAddress& a) {
    if (a.storage.ss_family != AF_INET) return std::nullopt;
    auto* in = reinterpret_cast<const sockaddr_in*>(&a.storage);
    return Ipv4Address::from_network_order(in->sin_addr.s_addr);
}

uint16_t port_of(const SocketAddress& a) {
    if (a.storage.ss_family == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_port);
    if (a.storage.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_port);
    return 0;
}

bool same_endpoint(const SocketAddress& a, const SocketAddress& b) {
    if (a.storage.ss_family != b.storage.ss_family || port_of(a) != port_of(b)) return false;
    if (a.storage.ss_family == AF_INET) return ipv4_of(a) == ipv4_of(b);
    if (a.storage.ss_family == AF_INET6) {
        auto* x = reinterpret_cast<const sockaddr_in6*>(&a.storage);
        auto* y = reinterpret_cast<const sockaddr_in6*>(&b.storage);
        return std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return false;
}

Result<UniqueFd> udp_socket() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(Error::last_sys("udp socket"));
    return UniqueFd(fd);
}

Result<> bind_socket(int fd, const SocketAddress& address) {
    if (::bind(fd, address.get(), address.length) < 0)
        return fail(Error::last_sys("bind " + address.text()));
    return {};
}

Result<> listen_socket(int fd, int backlog) {
    if (::listen(fd, backlog) < 0) return fail(Error::last_sys("listen"));
    return {};
}

Result<> set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return fail(Error::last_sys("fcntl O_NONBLOCK"));
    return {};
}

Result<> set_reuse_address(int fd) {
    int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return fail(Error::last_sys("setsockopt SO_REUSEADDR"));
    return {};
}

Result<SocketAddress> local_address(int fd) {
    SocketAddress a;
    a.length = sizeof a.storage;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) < 0)
        return fail(Error::last_sys("getsockname"));
    return a;
}

}  // namespace berth::kernel
