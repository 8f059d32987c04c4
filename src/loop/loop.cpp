#include "loop/loop.hpp"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <cassert>
#include <cstdio>
#include <fstream>
#include <poll.h>

#include "base/time.hpp"

namespace berth::loop {

struct Loop::Ring {
    io_uring ring{};
    bool ok = false;
    ~Ring() {
        if (ok) io_uring_queue_exit(&ring);
    }
};

struct BufferGroup {
    static constexpr int group_id = 0;
    io_uring_buf_ring* ring = nullptr;
    size_t ring_bytes = 0;
    std::unique_ptr<std::byte[]> memory;
    unsigned count = 0;
    unsigned size = 0;
    int mask = 0;
    ~BufferGroup() {
        if (ring) munmap(ring, ring_bytes);
    }
};

bool Completion::more() const { return (cqe_flags & IORING_CQE_F_MORE) != 0; }
int Completion::buffer_id() const {
    if (!(cqe_flags & IORING_CQE_F_BUFFER)) return -1;
    return int(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
}

namespace {

// liburing 2.3 predates IORING_OP_WAITID (Linux 6.7); its number and SQE layout are the
// kernel's ABI (io_uring/waitid.c: fd = id, len = idtype, file_index = options, addr2 = infop).
constexpr int op_waitid = 50;

std::string read_sysctl(const char* path) {
    std::ifstream in(path);
    std::string v;
    if (in) std::getline(in, v);
    return v;
}

Error setup_error(int err) {
    std::string why;
    if (err == EPERM) {
        std::string disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
        if (disabled == "2")
            why = "io_uring is disabled by sysctl kernel.io_uring_disabled=2; set it to 0";
        else if (disabled == "1")
            why = "io_uring is restricted by sysctl kernel.io_uring_disabled=1 and this process "
                  "is not in kernel.io_uring_group; set the sysctl to 0 or run berthd as root";
        else
            why = "io_uring_setup was refused (EPERM): a seccomp filter or LSM policy blocks "
                  "io_uring; run berthd outside that sandbox";
    } else if (err == ENOSYS) {
        why = "this kernel has no io_uring (too old, CONFIG_IO_URING off) or a seccomp filter "
              "blocks io_uring_setup";
    } else if (err == ENOMEM) {
        why = "io_uring could not allocate its rings: raise RLIMIT_MEMLOCK (ulimit -l)";
    } else {
        why = "io_uring_setup failed";
    }
    return Error::sys(err, "berthd needs io_uring: " + why);
}

}  // namespace

Result<std::unique_ptr<Loop>> Loop::create(unsigned entries) {
    std::unique_ptr<Loop> loop(new Loop());
    loop->ring_ = std::make_unique<Ring>();
    io_uring_params params{};
    // Completions may outnumber submissions (multishot); size the CQ generously and
    // rely on IORING_FEAT_NODROP for the rest.
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    params.cq_entries = entries * 8;
    int rc = io_uring_queue_init_params(entries, &loop->ring_->ring, &params);
    if (rc == -EINVAL) {
        // Older kernels reject SUBMIT_ALL; retry plainly so the probe below can say what's missing.
        params = io_uring_params{};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = entries * 8;
        rc = io_uring_queue_init_params(entries, &loop->ring_->ring, &params);
    }
    if (rc < 0) return fail(setup_error(-rc));
    loop->ring_->ok = true;

    utsname u{};
    uname(&u);
    Features& f = loop->features_;
    std::sscanf(u.release, "%u.%u", &f.kernel_major, &f.kernel_minor);
    auto at_least = [&](unsigned maj, unsigned min) {
        return f.kernel_major > maj || (f.kernel_major == maj && f.kernel_minor >= min);
    };
    f.multishot_accept = at_least(5, 19);
    f.provided_buffer_ring = at_least(5, 19);
    f.recv_multishot = at_least(6, 0);
    f.waitid = false;

    io_uring_probe* probe = io_uring_get_probe_ring(&loop->ring_->ring);
    std::string missing;
    if (!probe) {
        missing = "the opcode probe itself";
    } else {
        const std::pair<int, const char*> needed[] = {
            {IORING_OP_ACCEPT, "accept"},  {IORING_OP_RECV, "recv"},
            {IORING_OP_SEND, "send"},      {IORING_OP_RECVMSG, "recvmsg"},
            {IORING_OP_SENDMSG, "sendmsg"}, {IORING_OP_READ, "read"},
            {IORING_OP_WRITE, "write"},    {IORING_OP_TIMEOUT, "timeout"},
            {IORING_OP_ASYNC_CANCEL, "cancel"}, {IORING_OP_POLL_ADD, "poll"},
            {IORING_OP_CLOSE, "close"},    {IORING_OP_NOP, "nop"},
        };
        for (auto [op, name] : needed) {
            if (!io_uring_opcode_supported(probe, op)) {
                if (!missing.empty()) missing += ", ";
                missing += name;
            }
        }
        f.waitid = at_least(6, 7) && probe->last_op >= op_waitid &&
                   io_uring_opcode_supported(probe, op_waitid);
        io_uring_free_probe(probe);
    }
    if (!(params.features & IORING_FEAT_NODROP) || !(params.features & IORING_FEAT_EXT_ARG)) {
        if (!missing.empty()) missing += ", ";
        missing += "IORING_FEAT_NODROP/EXT_ARG";
    }
    if (!f.multishot_accept || !f.recv_multishot || !f.provided_buffer_ring) {
        if (!missing.empty()) missing += ", ";
        missing += "multishot accept/recv and provided buffer rings (Linux 6.0 or newer)";
    }
    if (!missing.empty())
        return fail(Error::make(ErrorKind::unavailable,
                                std::string("berthd needs io_uring features this kernel (") +
                                    u.release + ") lacks: " + missing));

    // Provided buffers for recv.
    auto bg = std::make_unique<BufferGroup>();
    bg->count = recv_buffer_count;
    bg->size = recv_buffer_bytes;
    bg->mask = io_uring_buf_ring_mask(bg->count);
    bg->ring_bytes = bg->count * sizeof(io_uring_buf);
    void* mem = mmap(nullptr, bg->ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                     -1, 0);
    if (mem == MAP_FAILED) return fail(Error::last_sys("mmap io_uring buffer ring"));
    bg->ring = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(bg->ring);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(bg->ring);
    reg.ring_entries = bg->count;
    reg.bgid = BufferGroup::group_id;
    rc = io_uring_register_buf_ring(&loop->ring_->ring, &reg, 0);
    if (rc < 0) return fail(Error::sys(-rc, "register io_uring provided buffer ring"));
    bg->memory.reset(new std::byte[size_t(bg->count) * bg->size]);
    for (unsigned i = 0; i < bg->count; ++i)
        io_uring_buf_ring_add(bg->ring, bg->memory.get() + size_t(i) * bg->size, bg->size,
                              uint16_t(i), bg->mask, int(i));
    io_uring_buf_ring_advance(bg->ring, int(bg->count));
    loop->buffers_ = std::move(bg);

    loop->ready_.reserve(params.cq_entries);
    loop->batch_.reserve(params.cq_entries);
    return loop;
}

Loop::~Loop() = default;

std::span<const std::byte> Loop::buffer(int id) const {
    assert(id >= 0 && unsigned(id) < buffers_->count);
    return {buffers_->memory.get() + size_t(id) * buffers_->size, buffers_->size};
}

void Loop::release_buffer(int id) {
    assert(id >= 0 && unsigned(id) < buffers_->count);
    io_uring_buf_ring_add(buffers_->ring, buffers_->memory.get() + size_t(id) * buffers_->size,
                          buffers_->size, uint16_t(id), buffers_->mask, 0);
    io_uring_buf_ring_advance(buffers_->ring, 1);
}

bool Loop::prepare(Completion& c) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_->ring);
    if (!sqe) {
        // Submission queue full: flush it to the kernel and try once more.
        io_uring_submit(&ring_->ring);
        sqe = io_uring_get_sqe(&ring_->ring);
        if (!sqe) return false;
    }
    switch (c.op) {
        case Op::nop: io_uring_prep_nop(sqe); break;
        case Op::accept:
            io_uring_prep_multishot_accept(sqe, c.fd_, nullptr, nullptr, SOCK_CLOEXEC);
            break;
        case Op::recv:
            if (c.multishot_) {
                io_uring_prep_recv_multishot(sqe, c.fd_, nullptr, 0, 0);
                sqe->flags |= IOSQE_BUFFER_SELECT;
                sqe->buf_group = BufferGroup::group_id;
            } else {
                io_uring_prep_recv(sqe, c.fd_, c.buf_, c.len_, 0);
            }
            break;
        case Op::send: io_uring_prep_send(sqe, c.fd_, c.buf_, c.len_, MSG_NOSIGNAL); break;
        case Op::recvmsg:
            io_uring_prep_recvmsg(sqe, c.fd_, static_cast<msghdr*>(c.addr_), 0);
            break;
        case Op::sendmsg:
            io_uring_prep_sendmsg(sqe, c.fd_, static_cast<const msghdr*>(c.addr_), MSG_NOSIGNAL);
            break;
        case Op::read:
            if (c.buf_) {
                io_uring_prep_read(sqe, c.fd_, c.buf_, c.len_, c.target_);
            } else {
                io_uring_prep_read(sqe, c.fd_, nullptr, buffers_->size, uint64_t(-1));
                sqe->flags |= IOSQE_BUFFER_SELECT;
                sqe->buf_group = BufferGroup::group_id;
            }
            break;
        case Op::write: io_uring_prep_write(sqe, c.fd_, c.buf_, c.len_, c.target_); break;
        case Op::poll: io_uring_prep_poll_add(sqe, c.fd_, c.flags_); break;
        case Op::timeout: io_uring_prep_timeout(sqe, &c.ts_, 0, 0); break;
        case Op::cancel: io_uring_prep_cancel64(sqe, c.target_, 0); break;
        case Op::close: io_uring_prep_close(sqe, c.fd_); break;
        case Op::waitid:
            if (features_.waitid) {
                io_uring_prep_rw(op_waitid, sqe, c.fd_, nullptr, P_PIDFD, 0);
                sqe->file_index = WEXITED;
                sqe->addr2 = reinterpret_cast<uint64_t>(c.addr_);
            } else {
                io_uring_prep_poll_add(sqe, c.fd_, POLLIN);
            }
            break;
        case Op::none:
        case Op::post: assert(false && "not a ring operation"); break;
    }
    io_uring_sqe_set_data(sqe, &c);
    return true;
}

void Loop::queue(Completion& c) {
    assert(!c.pending_ && "a completion is reused while still in flight");
    c.pending_ = true;
    c.next_ = nullptr;
    ++in_flight_;
    if (overflow_head_ || !prepare(c)) {
        // Keep order: once anything overflowed, later operations wait behind it.
        if (overflow_tail_) overflow_tail_->next_ = &c;
        else overflow_head_ = &c;
        overflow_tail_ = &c;
    }
}

void Loop::nop(Completion& c) {
    c.op = Op::nop;
    queue(c);
}

void Loop::post(Completion& c) {
    assert(!c.pending_);
    c.op = Op::post;
    c.pending_ = true;
    c.next_ = nullptr;
    ++in_flight_;
    if (post_tail_) post_tail_->next_ = &c;
    else post_head_ = &c;
    post_tail_ = &c;
}

void Loop::accept_multishot(Completion& c, int listen_fd) {
    c.op = Op::accept;
    c.fd_ = listen_fd;
    c.multishot_ = true;
    queue(c);
}

void Loop::recv_multishot(Completion& c, int fd) {
    c.op = Op::recv;
    c.fd_ = fd;
    c.multishot_ = true;
    queue(c);
}

void Loop::recv(Completion& c, int fd, std::span<std::byte> buf) {
    c.op = Op::recv;
    c.fd_ = fd;
    c.multishot_ = false;
    c.buf_ = buf.data();
    c.len_ = uint32_t(buf.size());
    queue(c);
}

void Loop::send(Completion& c, int fd, std::span<const std::byte> buf) {
    c.op = Op::send;
    c.fd_ = fd;
    c.multishot_ = false;
    c.buf_ = const_cast<std::byte*>(buf.data());
    c.len_ = uint32_t(buf.size());
    queue(c);
}

void Loop::recvmsg(Completion& c, int fd, msghdr* msg) {
    c.op = Op::recvmsg;
    c.fd_ = fd;
    c.multishot_ = false;
    c.addr_ = msg;
    queue(c);
}

void Loop::sendmsg(Completion& c, int fd, const msghdr* msg) {
    c.op = Op::sendmsg;
    c.fd_ = fd;
    c.multishot_ = false;
    c.addr_ = const_cast<msghdr*>(msg);
    queue(c);
}

void Loop::read(Completion& c, int fd, std::span<std::byte> buf, uint64_t offset) {
    c.op = Op::read;
    c.fd_ = fd;
    c.multishot_ = false;
    c.buf_ = buf.data();
    c.len_ = uint32_t(buf.size());
    c.target_ = offset;
    queue(c);
}

void Loop::read_provided(Completion& c, int fd) {
    c.op = Op::read;
    c.fd_ = fd;
    c.multishot_ = false;
    c.buf_ = nullptr;
    c.len_ = 0;
    queue(c);
}

void Loop::write(Completion& c, int fd, std::span<const std::byte> buf, uint64_t offset) {
    c.op = Op::write;
    c.fd_ = fd;
    c.multishot_ = false;
    c.buf_ = const_cast<std::byte*>(buf.data());
    c.len_ = uint32_t(buf.size());
    c.target_ = offset;
    queue(c);
}

void Loop::poll(Completion& c, int fd, uint32_t events) {
    c.op = Op::poll;
    c.fd_ = fd;
    c.multishot_ = false;
    c.flags_ = events;
    queue(c);
}

void Loop::timeout(Completion& c, int64_t ns) {
    c.op = Op::timeout;
    c.multishot_ = false;
    c.ts_.tv_sec = ns / 1'000'000'000;
    c.ts_.tv_nsec = ns % 1'000'000'000;
    queue(c);
}

void Loop::cancel(Completion& c, Completion& target) {
    c.op = Op::cancel;
    c.multishot_ = false;
    c.target_ = reinterpret_cast<uint64_t>(&target);
    queue(c);
}

void Loop::cancel(Completion& target) {
    if (!target.pending_) return;
    if (target.op == Op::post) return;  // runs on the next tick regardless
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_->ring);
    if (!sqe) {
        io_uring_submit(&ring_->ring);
        sqe = io_uring_get_sqe(&ring_->ring);
    }
    if (!sqe) {
        // Still queued behind the overflow: it has not reached the kernel, so completing it
        // as cancelled here is exact.
        for (Completion** p = &overflow_head_; *p; p = &(*p)->next_) {
            if (*p != &target) continue;
            *p = target.next_;
            if (overflow_tail_ == &target) {
                overflow_tail_ = nullptr;
                for (Completion* q = overflow_head_; q; q = q->next_) overflow_tail_ = q;
            }
            ready_.push_back({&target, -ECANCELED, 0});
            return;
        }
        return;
    }
    io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(&target), 0);
    io_uring_sqe_set_data64(sqe, 0);  // fire and forget: its CQE is dropped in reap()
}

void Loop::close(Completion& c, int fd) {
    c.op = Op::close;
    c.fd_ = fd;
    c.multishot_ = false;
    queue(c);
}

void Loop::waitid(Completion& c, int pidfd, siginfo_t* info) {
    c.op = Op::waitid;
    c.fd_ = pidfd;
    c.multishot_ = false;
    c.addr_ = info;
    queue(c);
}

void Loop::reap() {
    io_uring_cqe* cqe;
    unsigned head;
    unsigned n = 0;
    io_uring_for_each_cqe(&ring_->ring, head, cqe) {
        ++n;
        auto* c = static_cast<Completion*>(io_uring_cqe_get_data(cqe));
        if (!c) continue;
        if (cqe->res == -EINTR && !(cqe->flags & IORING_CQE_F_MORE) && c->op != Op::timeout) {
            // Interrupted: resubmit as if nothing happened.
            --in_flight_;
            c->pending_ = false;
            queue(*c);
            continue;
        }
        int32_t res = cqe->res;
        if (c->op == Op::waitid && !features_.waitid && res >= 0) {
            // The fallback: the pidfd polled readable, so the child has exited; reap it now.
            auto* info = static_cast<siginfo_t*>(c->addr_);
            res = ::waitid(P_PIDFD, id_t(c->fd_), info, WEXITED | WNOHANG) == 0 ? 0 : -errno;
        }
        ready_.push_back({c, res, cqe->flags});
    }
    io_uring_cq_advance(&ring_->ring, n);
}

void Loop::run_ready() {
    // Callbacks may queue more work and post more completions; those land in ready_ again and
    // run on the next tick. Two vectors swap roles so no tick allocates.
    batch_.swap(ready_);
    for (const Ready& r : batch_) {
        Completion& c = *r.c;
        c.result = r.res;
        c.cqe_flags = r.flags;
        bool final = !(c.multishot_ && (r.flags & IORING_CQE_F_MORE));
        if (final) {
            c.pending_ = false;
            --in_flight_;
        }
        if (c.callback) c.callback(c);
    }
    batch_.clear();
}

Result<> Loop::tick(int64_t wait_ns) {
    // Move overflowed operations into the submission queue while there is room.
    while (overflow_head_) {
        Completion* c = overflow_head_;
        if (!prepare(*c)) break;
        overflow_head_ = c->next_;
        if (!overflow_head_) overflow_tail_ = nullptr;
    }
    // Posted completions become ready now; ones posted by callbacks wait for the next tick.
    Completion* posted = post_head_;
    post_head_ = post_tail_ = nullptr;
    for (; posted; posted = posted->next_) ready_.push_back({posted, 0, 0});

    bool must_not_block = !ready_.empty() || overflow_head_ != nullptr || wait_ns <= 0;
    int rc;
    if (must_not_block) {
        rc = io_uring_submit(&ring_->ring);
    } else {
        __kernel_timespec ts{};
        ts.tv_sec = wait_ns / 1'000'000'000;
        ts.tv_nsec = wait_ns % 1'000'000'000;
        io_uring_cqe* cqe = nullptr;
        rc = io_uring_submit_and_wait_timeout(&ring_->ring, &cqe, 1, &ts, nullptr);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
        return fail(Error::sys(-rc, "io_uring_submit_and_wait"));
    now_ns_ = monotonic_ns();
    reap();
    run_ready();
    // What the callbacks queued goes to the kernel in this same tick.
    rc = io_uring_submit(&ring_->ring);
    if (rc < 0 && rc != -EBUSY && rc != -EAGAIN && rc != -EINTR)
        return fail(Error::sys(-rc, "io_uring_submit"));
    return {};
}

Result<> Loop::run() {
    while (!stopped_) {
        // One bounded wait: nothing in berth needs a wake-up later than this without a timer.
        if (auto r = tick(1'000'000'000); !r) return r;
    }
    return {};
}

}  // namespace berth::loop
