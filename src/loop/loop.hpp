// The reactor: one io_uring, driven by one thread. Operations are described by caller-owned
// Completions (no allocation per operation). A tick submits what is queued, waits once (bounded)
// only when nothing is ready, moves every CQE to the ready list, then runs the callbacks; what
// the callbacks queue is submitted in the same tick.
// Invariant: a Completion must stay alive and untouched from the call that queues it until its
// final callback (for multishot operations, the one where more() is false).
#pragma once

#include <linux/time_types.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace berth::loop {

class Loop;

enum class Op : unsigned char {
    none,
    nop,
    post,  // no I/O: run the callback on the next tick
    accept,
    recv,
    send,
    recvmsg,
    sendmsg,
    read,
    write,
    poll,
    timeout,
    cancel,
    close,
    waitid,
};

struct Completion {
    using Callback = void (*)(Completion&);

    Callback callback = nullptr;
    void* context = nullptr;  // the owner; callbacks cast it back
    int32_t result = 0;       // the CQE's res: bytes, an fd, or -errno
    uint32_t cqe_flags = 0;

    // True from queueing until the final CQE has been delivered.
    bool in_flight() const { return pending_; }
    // For multishot operations: more CQEs will follow this one.
    bool more() const;
    // For recv with a provided buffer: the buffer id chosen by the kernel, or -1.
    int buffer_id() const;

    // Operation state, owned by the loop while in flight.
    Op op = Op::none;
    bool pending_ = false;
    bool multishot_ = false;
    int fd_ = -1;
    __kernel_timespec ts_{};
    Completion* next_ = nullptr;  // overflow and post queues
    // Arguments kept for resubmission after EINTR or a full submission queue.
    void* buf_ = nullptr;
    uint32_t len_ = 0;
    uint32_t flags_ = 0;
    uint64_t target_ = 0;  // cancel target / waitid id
    void* addr_ = nullptr;
};

// What the kernel's ring supports, read at start-up.
struct Features {
    unsigned kernel_major = 0, kernel_minor = 0;
    bool multishot_accept = false;
    bool recv_multishot = false;
    bool provided_buffer_ring = false;
    bool waitid = false;  // IORING_OP_WAITID (Linux 6.7), for child exits
};

// A group of equal buffers registered with the ring; recv picks one when data arrives, so an
// idle connection owns no buffer at all.
struct BufferGroup;

class Loop {
public:
    static constexpr unsigned entries_default = 512;
    static constexpr unsigned recv_buffer_bytes = 16 * 1024;
    static constexpr unsigned recv_buffer_count = 256;

    // Sets up the ring and probes it. The error says plainly what is missing: io_uring disabled
    // by sysctl, blocked by seccomp, or a kernel too old for what berth needs.
    static Result<std::unique_ptr<Loop>> create(unsigned entries = entries_default);
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    const Features& features() const { return features_; }
    // Use the pidfd-poll + waitid path for child exits even where IORING_OP_WAITID exists
    // (older kernels' path, exercised by the tests on new ones).
    void use_waitid_fallback() { features_.waitid = false; }

    // One pass: submit, wait at most `wait_ns` if nothing is ready, reap, run callbacks.
    Result<> tick(int64_t wait_ns);
    // Ticks until stop() is called.
    Result<> run();
    void stop() { stopped_ = true; }
    bool stopped() const { return stopped_; }
    // Operations queued and not yet completed (for tests and shutdown).
    size_t in_flight() const { return in_flight_; }

    // Monotonic time of the current tick (ns).
    int64_t now_ns() const { return now_ns_; }

    void nop(Completion& c);
    void post(Completion& c);
    void accept_multishot(Completion& c, int listen_fd);
    // Multishot recv into the loop's provided buffers; each CQE names a buffer that the callback
    // must hand back with release_buffer() when done with it.
    void recv_multishot(Completion& c, int fd);
    void recv(Completion& c, int fd, std::span<std::byte> buf);
    // A read (pipes, ptys) into one of the loop's provided buffers; like recv_multishot's, the
    // buffer must be handed back with release_buffer(). Single-shot: re-arm after each.
    void read_provided(Completion& c, int fd);
    void send(Completion& c, int fd, std::span<const std::byte> buf);
    // Datagrams with their addresses (UDP): `msg` (its name, iovecs and control buffers) belongs
    // to the caller and must stay untouched while `c` is in flight, like the Completion itself.
    // recvmsg's result is the datagram's length; msg->msg_flags says MSG_TRUNC when it did not fit.
    void recvmsg(Completion& c, int fd, msghdr* msg);
    void sendmsg(Completion& c, int fd, const msghdr* msg);
    void read(Completion& c, int fd, std::span<std::byte> buf, uint64_t offset = uint64_t(-1));
    void write(Completion& c, int fd, std::span<const std::byte> buf,
               uint64_t offset = uint64_t(-1));
    void poll(Completion& c, int fd, uint32_t events);
    // Completes with -ETIME when the time has passed, -ECANCELED when cancelled.
    void timeout(Completion& c, int64_t ns);
    // Cancels `target`; `c` completes with 0, -ENOENT (already done) or -EALREADY.
    void cancel(Completion& c, Completion& target);
    // Cancels `target` without a completion of its own to watch.
    void cancel(Completion& target);
    void close(Completion& c, int fd);
    // Waits for the process behind `pidfd` to exit and reaps it; `info` gets waitid's siginfo
    // (si_code CLD_EXITED / CLD_KILLED / CLD_DUMPED, si_status). IORING_OP_WAITID where the
    // kernel has it (6.7+); elsewhere a poll on the pidfd followed by waitid(WNOHANG).
    void waitid(Completion& c, int pidfd, siginfo_t* info);

    std::span<const std::byte> buffer(int id) const;
    void release_buffer(int id);

private:
    Loop() = default;
    void queue(Completion& c);
    bool prepare(Completion& c);
    void reap();
    void run_ready();

    struct Ring;
    std::unique_ptr<Ring> ring_;
    std::unique_ptr<BufferGroup> buffers_;
    Features features_;
    bool stopped_ = false;
    size_t in_flight_ = 0;
    int64_t now_ns_ = 0;
    Completion* overflow_head_ = nullptr;
    Completion* overflow_tail_ = nullptr;
    Completion* post_head_ = nullptr;
    Completion* post_tail_ = nullptr;

    struct Ready {
        Completion* c;
        int32_t res;
        uint32_t flags;
    };
    std::vector<Ready> ready_;
    std::vector<Ready> batch_;  // the ready list being run
};

}  // namespace berth::loop
