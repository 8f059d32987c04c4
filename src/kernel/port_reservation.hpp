// Published host ports held by berthd: a socket bound to host_ip:port for as long as the port
// is published, so no other process can take it and "port already in use" shows at start, as
// dockerd does (it binds too). Nothing ever accepts on these sockets: DNAT takes the traffic.
#pragma once

#include <cstdint>

#include "base/error.hpp"
#include "kernel/fd.hpp"
#include "kernel/ipv4.hpp"
#include "kernel/nat.hpp"

namespace berth::kernel {

struct PortReservation {
    UniqueFd fd;
    uint16_t port = 0;  // the bound port (the kernel's pick when 0 was asked)
};

// tcp: a SOCK_STREAM socket bound but not listening; udp: a bound SOCK_DGRAM socket. Neither
// sets SO_REUSEADDR, so the bind fails while anything else holds the port. port 0 lets the
// kernel pick one from the ephemeral range (`-P`). A failed bind is an Error of kind system
// with the errno and dockerd 29's text: "failed to bind host port 0.0.0.0:8080/tcp: address
// already in use".
Result<PortReservation> reserve_port(Protocol protocol, Ipv4Address host_ip, uint16_t port);

// The same for a whole forward (host_port may be 0), failing in dockerd 28's words, which name
// the binding: "failed to bind host port for 0.0.0.0:8080:172.17.0.2:80/tcp: address already
// in use".
Result<PortReservation> reserve_port(const PortForward& forward);

// dockerd's text when its own allocator already holds the port for another container (berthd
// knows its reservations; the kernel only says EADDRINUSE): "Bind for 0.0.0.0:8080 failed:
// port is already allocated". Kind system (HTTP 500), errno EADDRINUSE.
Error port_already_allocated(Ipv4Address host_ip, uint16_t port);

}  // namespace berth::kernel
