// Network namespace fds: create without moving the caller, join for a moment, sockets inside.
#include "kernel/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

// PIDFD_GET_NET_NAMESPACE (Linux 6.11) is not in Debian 12's headers.
#ifndef PIDFS_IOCTL_MAGIC
#define PIDFS_IOCTL_MAGIC 0xFF
#endif
#ifndef PIDFD_GET_NET_NAMESPACE
#define PIDFD_GET_NET_NAMESPACE _IO(PIDFS_IOCTL_MAGIC, 7)
#endif

namespace berth::kernel {

namespace {

Result<UniqueFd> current_netns() {
    int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(Error::last_sys("open /proc/thread-self/ns/net"));
    return UniqueFd(fd);
}

}  // namespace

namespace detail {

Result<UniqueFd> enter_netns(int netns_fd) {
    auto previous = current_netns();
    if (!previous) return previous;
    if (setns(netns_fd, CLONE_NEWNET) != 0) return fail(Error::last_sys("setns(network namespace)"));
    return previous;
}

Result<> return_to_netns(const UniqueFd& previous) {
    // Failing to go back would leave the daemon's thread in a container's network: nothing
    // later could be trusted.
    if (setns(previous.get(), CLONE_NEWNET) != 0) std::abort();
    return {};
}

}  // namespace detail

Result<UniqueFd> create_netns() {
    auto previous = current_netns();
    if (!previous) return previous;
    if (unshare(CLONE_NEWNET) != 0) return fail(Error::last_sys("unshare(CLONE_NEWNET)"));
    auto created = current_netns();
    (void)detail::return_to_netns(*previous);
    return created;
}

Result<UniqueFd> netns_of_pidfd(int pidfd) {
    int fd = ioctl(pidfd, PIDFD_GET_NET_NAMESPACE, 0);
    if (fd >= 0) {
        // The ioctl's fd is not close-on-exec on every kernel that has it.
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        return UniqueFd(fd);
    }
    return fail(Error::last_sys("pidfd network namespace"));
}

Result<> disable_ipv6_for_new_links(int netns_fd) {
    return in_netns(netns_fd, []() -> Result<> {
        // Opened after setns: /proc/sys/net follows the opening thread's namespace.
        const char* path = "/proc/sys/net/ipv6/conf/default/disable_ipv6";
        int fd = ::open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) return {};  // a kernel without IPv6
            return fail(Error::last_sys(std::string("open ") + path));
        }
        bool ok = ::write(fd, "1\n", 2) == 2;
        int err = errno;
        ::close(fd);
        if (!ok) return fail(Error::sys(err, std::string("write ") + path));
        return {};
    });
}

Result<UniqueFd> socket_in_netns(int netns_fd, int domain, int type, int protocol) {
    return in_netns(netns_fd, [&]() -> Result<UniqueFd> {
        int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
        if (fd < 0) return fail(Error::last_sys("socket in network namespace"));
        return UniqueFd(fd);
    });
}

}  // namespace berth::kernel
