// Host port reservations: bind without listen (tcp) or a bound datagram socket (udp), errors
// in dockerd's words with Go's lower-case errno text.
#include "kernel/port_reservation.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

namespace berth::kernel {

namespace {

// Go prints errno as strerror in lower case ("address already in use").
std::string go_errno_text(int err) {
    std::string text = std::strerror(err);
    for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// `context` names the binding in dockerd's words; the error is "failed to bind host port
// <context>: <errno text>".
Result<PortReservation> bind_port(Protocol protocol, Ipv4Address host_ip, uint16_t port,
                                  const std::string& context) {
    int type = protocol == Protocol::tcp ? SOCK_STREAM : SOCK_DGRAM;
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(Error::last_sys("failed to create socket for " + context));
    PortReservation r{UniqueFd(fd), port};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = host_ip.network_order();
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        int err = errno;
        return fail(Error{ErrorKind::system, err,
                          "failed to bind host port " + context + ": " + go_errno_text(err)});
    }
    socklen_t len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        return fail(Error::last_sys("getsockname for " + context));
    r.port = ntohs(a.sin_port);
    return r;
}

}  // namespace

Result<PortReservation> reserve_port(Protocol protocol, Ipv4Address host_ip, uint16_t port) {
    std::string context =
        host_ip.text() + ":" + std::to_string(port) + "/" + std::string(protocol_name(protocol));
    return bind_port(protocol, host_ip, port, context);
}

Result<PortReservation> reserve_port(const PortForward& f) {
    // types.PortBinding.String(): host-ip:host-port:container-ip:container-port/proto.
    std::string context = "for " + f.host_ip.text() + ":" + std::to_string(f.host_port) + ":" +
                          f.container_ip.text() + ":" + std::to_string(f.container_port) + "/" +
                          std::string(protocol_name(f.protocol));
    return bind_port(f.protocol, f.host_ip, f.host_port, context);
}

Error port_already_allocated(Ipv4Address host_ip, uint16_t port) {
    return Error{ErrorKind::system, EADDRINUSE,
                 "Bind for " + host_ip.text() + ":" + std::to_string(port) +
                     " failed: port is already allocated"};
}

}  // namespace berth::kernel
