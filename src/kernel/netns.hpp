// Network namespaces held as fds: a fresh one made without moving the calling thread, one
// taken from a running process, and sockets opened inside one. A thread's network namespace
// is its own (setns affects only the caller), so these are safe on the loop thread and on a
// pool-filling thread alike; every function leaves the caller in the namespace it was in.
#pragma once

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::kernel {

// A new, empty network namespace (loopback down), returned as an O_CLOEXEC fd.
Result<UniqueFd> create_netns();

// The network namespace of the process behind `pidfd`.
Result<UniqueFd> netns_of_pidfd(int pidfd);

// socket(domain, type | SOCK_CLOEXEC, protocol) created inside `netns_fd`: the socket stays
// bound to that namespace for its whole life.
Result<UniqueFd> socket_in_netns(int netns_fd, int domain, int type, int protocol = 0);

// IPv6 off for the links made in `netns_fd` from now on (net.ipv6.conf.default.disable_ipv6):
// berth's networks are IPv4 only, so a container's eth0 has no link-local address to
// configure, announce and tear down. Loopback keeps ::1.
Result<> disable_ipv6_for_new_links(int netns_fd);

// Runs `fn` with the calling thread inside `netns_fd` and switches back afterwards (writes to
// /proc/sys/net/... that must land in that namespace). Returns fn's result.
template <typename Fn>
auto in_netns(int netns_fd, Fn&& fn) -> decltype(fn());

namespace detail {
Result<UniqueFd> enter_netns(int netns_fd);  // returns the fd of the namespace left
Result<> return_to_netns(const UniqueFd& previous);
}  // namespace detail

template <typename Fn>
auto in_netns(int netns_fd, Fn&& fn) -> decltype(fn()) {
    auto previous = detail::enter_netns(netns_fd);
    if (!previous) return fail(previous.error());
    auto result = fn();
    if (auto back = detail::return_to_netns(*previous); !back) return fail(back.error());
    return result;
}

}  // namespace berth::kernel
