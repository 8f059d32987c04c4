// One fd carried over a Unix socket (SCM_RIGHTS) with a one-byte payload: the tty master the
// spawn child sends to the daemon. Header-only and allocation-free, so the child can use it.
#pragma once

#include <sys/socket.h>

#include <cstring>

namespace berth::kernel {

struct FdMessage {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};

    FdMessage() {
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
    }
    FdMessage(const FdMessage&) = delete;
    FdMessage& operator=(const FdMessage&) = delete;

    // Prepares the message to carry `fd`.
    void set_fd(int fd) {
        cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    // The fd a received message carried, or -1.
    int fd() const {
        const cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) return -1;
        int fd;
        std::memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        return fd;
    }
};

}  // namespace berth::kernel
