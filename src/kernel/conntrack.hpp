// Conntrack entries of published UDP ports, forgotten when the port is unpublished. A UDP "flow"
// to a host port keeps the DNAT it got at its first datagram for as long as datagrams keep
// coming (and 30 s after): without this, a client of a restarted UDP service would keep sending
// to the old container's address. TCP connections end with their container and are left alone,
// as dockerd does.
#pragma once

#include <cstddef>
#include <span>

#include "base/error.hpp"
#include "kernel/nat.hpp"

namespace berth::kernel {

// Deletes, in the calling thread's network namespace, the conntrack entries of UDP flows whose
// replies come from one of `forwards`' container address and port (so, DNAT'ed to it). Returns
// how many went. A kernel without ctnetlink is an error the caller may ignore.
Result<size_t> forget_udp_flows(std::span<const PortForward> forwards);

}  // namespace berth::kernel
