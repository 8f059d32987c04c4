#include "kernel/tcp_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>

#include <cstring>

namespace berth::kernel {

std::string SocketAddress::text() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (storage.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
    }
    auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
}

namespace {

bool numeric_address(const std::string& host, uint16_t port, SocketAddress& out) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        out.length = sizeof(sockaddr_in);
        return true;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        out.length = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

}  // namespace

Result<std::vector<SocketAddress>> resolve_tcp(const std::string& host, uint16_t port) {
    std::vector<SocketAddress> out(1);
    if (numeric_address(host, port, out[0])) return out;
    out.clear();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* list = nullptr;
    std::string service = std::to_string(port);
    int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
    if (rc != 0) {
        // Go's wording: "dial tcp: lookup <host>: no such host".
        std::string why = rc == EAI_NONAME ? "no such host" : gai_strerror(rc);
        if (rc == EAI_SYSTEM) return fail(Error::last_sys("dial tcp: lookup " + host));
        return fail(Error::make(ErrorKind::unavailable, "dial tcp: lookup " + host + ": " + why));
    }
    for (addrinfo* ai = list; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
        SocketAddress a;
        std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
        a.length = ai->ai_addrlen;
        out.push_back(a);
    }
    freeaddrinfo(list);
    if (out.empty())
        return fail(
            Error::make(ErrorKind::unavailable, "dial tcp: lookup " + host + ": no address"));
    return out;
}

Result<PendingConnect> connect_start(const SocketAddress& address) {
    int fd = ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(Error::last_sys("dial tcp " + address.text() + ": socket"));
    PendingConnect p{UniqueFd(fd), false};
    if (::connect(fd, address.get(), address.length) == 0) {
        if (auto r = connect_finish(fd, address); !r) return fail(std::move(r.error()));
        p.connected = true;
        return p;
    }
    if (errno != EINPROGRESS)
        return fail(Error::last_sys("dial tcp " + address.text() + ": connect"));
    return p;
}

Result<> connect_finish(int fd, const SocketAddress& address) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return fail(Error::last_sys("dial tcp " + address.text() + ": getsockopt"));
    if (err != 0) return fail(Error::sys(err, "dial tcp " + address.text() + ": connect"));
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        return fail(Error::last_sys("dial tcp " + address.text() + ": fcntl"));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return {};
}

bool idle_socket_unusable(int fd) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    return true;  // 0: EOF; >0: unsolicited bytes
}

Result<TcpListener> listen_tcp(const std::string& host, uint16_t port, int backlog) {
    SocketAddress a;
    if (!numeric_address(host, port, a))
        return fail(Error::invalid("listen tcp: not a numeric address: " + host));
    int fd = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(Error::last_sys("listen tcp: socket"));
    TcpListener l{UniqueFd(fd), 0};
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a.get(), a.length) < 0)
        return fail(Error::last_sys("listen tcp " + a.text() + ": bind"));
    if (::listen(fd, backlog) < 0) return fail(Error::last_sys("listen tcp " + a.text()));
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) < 0)
        return fail(Error::last_sys("listen tcp: getsockname"));
    l.port = bound.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                                        : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    return l;
}

Result<uint16_t> free_tcp_port() {
    auto l = listen_tcp("127.0.0.1", 0, 1);
    if (!l) return fail(std::move(l.error()));
    return l->port;
}

}  // namespace berth::kernel
