// The reactor on a real io_uring: ordering, queue overflow, timeouts, cancellation, multishot
// accept and recv with provided buffers, datagrams with addresses (recvmsg/sendmsg), signals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstring>
#include <string_view>
#include <vector>

#include "base/time.hpp"
#include "kernel/fd.hpp"
#include "kernel/udp_socket.hpp"
#include "loop/loop.hpp"
#include "loop/signals.hpp"

using namespace berth;
using berth::loop::Completion;
using berth::loop::Loop;

namespace {

std::unique_ptr<Loop> make_loop(unsigned entries = Loop::entries_default) {
    auto l = Loop::create(entries);
    if (!l) ADD_FAILURE() << l.error().message;
    return l ? std::move(*l) : nullptr;
}

// Ticks until `done` or the deadline; returns whether `done` became true.
template <class F>
bool run_until(Loop& loop, F done, int64_t limit_ns = 5'000'000'000) {
    int64_t end = monotonic_ns() + limit_ns;
    while (!done()) {
        if (monotonic_ns() > end) return false;
        if (!loop.tick(10'000'000)) return false;
    }
    return true;
}

struct Counter {
    int calls = 0;
    int32_t last = 0;
    static void cb(Completion& c) {
        auto* self = static_cast<Counter*>(c.context);
        ++self->calls;
        self->last = c.result;
    }
};

}  // namespace

TEST(Loop, nop_completes_and_in_flight_returns_to_zero) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    Counter n;
    Completion c;
    c.context = &n;
    c.callback = &Counter::cb;
    loop->nop(c);
    EXPECT_TRUE(c.in_flight());
    EXPECT_EQ(loop->in_flight(), 1u);
    ASSERT_TRUE(run_until(*loop, [&] { return n.calls == 1; }));
    EXPECT_FALSE(c.in_flight());
    EXPECT_EQ(loop->in_flight(), 0u);
    EXPECT_EQ(n.last, 0);
}

TEST(Loop, more_operations_than_ring_entries_all_complete_in_order_of_queueing) {
    auto loop = make_loop(4);  // a tiny submission queue: everything beyond it overflows
    ASSERT_TRUE(loop);
    std::vector<Completion> cs(1000);
    std::vector<int> order;
    struct Ctx {
        std::vector<int>* order;
        int index;
    };
    std::vector<Ctx> ctx(cs.size());
    for (size_t i = 0; i < cs.size(); ++i) {
        ctx[i] = {&order, int(i)};
        cs[i].context = &ctx[i];
        cs[i].callback = [](Completion& c) {
            auto* x = static_cast<Ctx*>(c.context);
            x->order->push_back(x->index);
        };
        loop->nop(cs[i]);
    }
    ASSERT_TRUE(run_until(*loop, [&] { return order.size() == cs.size(); }));
    EXPECT_EQ(loop->in_flight(), 0u);
    for (size_t i = 0; i < order.size(); ++i) ASSERT_EQ(order[i], int(i));
}

TEST(Loop, callbacks_that_queue_more_work_keep_the_chain_going) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    struct Chain {
        Loop* loop;
        int remaining = 500;
        int ran = 0;
    } chain{loop.get()};
    Completion c;
    c.context = &chain;
    c.callback = [](Completion& self) {
        auto* ch = static_cast<Chain*>(self.context);
        ++ch->ran;
        // Re-queueing the same completion from its own callback is allowed: it is no longer
        // in flight once its final callback runs.
        if (--ch->remaining > 0) {
            if (ch->ran % 2) ch->loop->nop(self);
            else ch->loop->post(self);
        }
    };
    loop->nop(c);
    ASSERT_TRUE(run_until(*loop, [&] { return chain.remaining == 0; }));
    EXPECT_EQ(chain.ran, 500);
}

TEST(Loop, post_runs_on_the_next_tick_without_waiting) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    Counter n;
    Completion c;
    c.context = &n;
    c.callback = &Counter::cb;
    loop->post(c);
    int64_t start = monotonic_ns();
    ASSERT_TRUE(loop->tick(30'000'000'000));  // must not sit in the wait: work is ready
    EXPECT_EQ(n.calls, 1);
    EXPECT_LT(monotonic_ns() - start, 10'000'000'000);
}

TEST(Loop, timeout_fires_with_etime_after_its_duration) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    Counter n;
    Completion t;
    t.context = &n;
    t.callback = &Counter::cb;
    int64_t start = monotonic_ns();
    loop->timeout(t, 50'000'000);
    ASSERT_TRUE(run_until(*loop, [&] { return n.calls == 1; }));
    EXPECT_EQ(n.last, -ETIME);
    EXPECT_GE(monotonic_ns() - start, 50'000'000);
}

TEST(Loop, cancelled_timeout_completes_with_ecanceled) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    Counter timer, cancel;
    Completion t, c;
    t.context = &timer;
    t.callback = &Counter::cb;
    c.context = &cancel;
    c.callback = &Counter::cb;
    loop->timeout(t, 60'000'000'000);
    loop->cancel(c, t);
    ASSERT_TRUE(run_until(*loop, [&] { return timer.calls == 1 && cancel.calls == 1; }));
    EXPECT_EQ(timer.last, -ECANCELED);
    EXPECT_EQ(cancel.last, 0);
    EXPECT_EQ(loop->in_flight(), 0u);
}

TEST(Loop, fire_and_forget_cancel_stops_a_pending_recv) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    kernel::UniqueFd a(sv[0]), b(sv[1]);
    Counter n;
    Completion r;
    r.context = &n;
    r.callback = &Counter::cb;
    std::byte buf[64];
    loop->recv(r, a.get(), buf);
    ASSERT_TRUE(loop->tick(0));
    EXPECT_EQ(n.calls, 0);
    loop->cancel(r);
    ASSERT_TRUE(run_until(*loop, [&] { return n.calls == 1; }));
    EXPECT_EQ(n.last, -ECANCELED);
}

TEST(Loop, cancel_of_something_already_done_reports_enoent) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    Counter nop_n, cancel_n;
    Completion nop, c;
    nop.context = &nop_n;
    nop.callback = &Counter::cb;
    c.context = &cancel_n;
    c.callback = &Counter::cb;
    loop->nop(nop);
    ASSERT_TRUE(run_until(*loop, [&] { return nop_n.calls == 1; }));
    loop->cancel(c, nop);
    ASSERT_TRUE(run_until(*loop, [&] { return cancel_n.calls == 1; }));
    EXPECT_EQ(cancel_n.last, -ENOENT);
}

TEST(Loop, multishot_recv_uses_provided_buffers_and_sees_eof) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    kernel::UniqueFd a(sv[0]), b(sv[1]);
    struct Rx {
        Loop* loop;
        int fd;
        std::string data;
        bool eof = false;
    } rx{loop.get(), a.get(), {}, false};
    Completion r;
    r.context = &rx;
    r.callback = [](Completion& c) {
        auto* x = static_cast<Rx*>(c.context);
        if (c.result > 0) {
            auto buf = x->loop->buffer(c.buffer_id()).first(size_t(c.result));
            x->data.append(reinterpret_cast<const char*>(buf.data()), buf.size());
            x->loop->release_buffer(c.buffer_id());
            // The kernel may end a multishot recv at any time; the owner re-arms it.
            if (!c.in_flight()) x->loop->recv_multishot(c, x->fd);
        } else if (c.result == 0) {
            x->eof = true;
        }
    };
    loop->recv_multishot(r, a.get());
    ASSERT_TRUE(loop->tick(0));
    for (int i = 0; i < 20; ++i) {
        std::string part = "chunk" + std::to_string(i) + ";";
        ASSERT_EQ(write(b.get(), part.data(), part.size()), ssize_t(part.size()));
        ASSERT_TRUE(loop->tick(1'000'000));
    }
    b.reset();
    ASSERT_TRUE(run_until(*loop, [&] { return rx.eof; }));
    std::string want;
    for (int i = 0; i < 20; ++i) want += "chunk" + std::to_string(i) + ";";
    EXPECT_EQ(rx.data, want);
    EXPECT_FALSE(r.in_flight());
}

TEST(Loop, signal_watcher_delivers_signals_on_the_loop_thread) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    int got = 0;
    auto w = loop::SignalWatcher::create(
        *loop, {SIGUSR2}, [](void* ctx, int signo) { *static_cast<int*>(ctx) = signo; }, &got);
    ASSERT_TRUE(w) << w.error().message;
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
    ASSERT_TRUE(run_until(*loop, [&] { return got != 0; }));
    EXPECT_EQ(got, SIGUSR2);
    (*w)->stop();
    ASSERT_TRUE(run_until(*loop, [&] { return (*w)->idle(); }));
}

TEST(Loop, probe_reports_what_the_kernel_offers) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    const auto& f = loop->features();
    EXPECT_GE(f.kernel_major, 6u);
    EXPECT_TRUE(f.multishot_accept);
    EXPECT_TRUE(f.recv_multishot);
    EXPECT_TRUE(f.provided_buffer_ring);
}

namespace {

// A child that exits with `code`, watched through the loop; returns what waitid reported.
siginfo_t wait_for_child_exit(Loop& loop, int code) {
    siginfo_t info{};
    pid_t pid = fork();
    if (pid == 0) _exit(code);
    int pidfd = int(syscall(SYS_pidfd_open, pid, 0));
    EXPECT_GE(pidfd, 0);
    Counter n;
    Completion c;
    c.context = &n;
    c.callback = &Counter::cb;
    loop.waitid(c, pidfd, &info);
    EXPECT_TRUE(run_until(loop, [&] { return n.calls == 1; }));
    EXPECT_EQ(n.last, 0);
    close(pidfd);
    return info;
}

}  // namespace

TEST(Loop, child_exit_arrives_through_the_ring_with_its_status) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    siginfo_t info = wait_for_child_exit(*loop, 42);
    EXPECT_EQ(info.si_code, CLD_EXITED);
    EXPECT_EQ(info.si_status, 42);
    // Reaped: nothing is left to wait for.
    EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
}

TEST(Loop, child_exit_fallback_polls_the_pidfd_then_reaps) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    loop->use_waitid_fallback();
    siginfo_t info = wait_for_child_exit(*loop, 7);
    EXPECT_EQ(info.si_code, CLD_EXITED);
    EXPECT_EQ(info.si_status, 7);
    EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
}

namespace {

// One datagram's worth of msghdr: the peer's address, one iovec over `data`.
struct Datagram {
    sockaddr_storage peer{};
    char data[256] = {};
    iovec iov{};
    msghdr msg{};
    void for_receive() {
        iov = {data, sizeof data};
        msg = {};
        msg.msg_name = &peer;
        msg.msg_namelen = sizeof peer;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
    }
    void for_send(const kernel::SocketAddress& to, std::string_view text) {
        std::memcpy(data, text.data(), text.size());
        std::memcpy(&peer, &to.storage, to.length);
        iov = {data, text.size()};
        msg = {};
        msg.msg_name = &peer;
        msg.msg_namelen = to.length;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
    }
    kernel::SocketAddress source() const {
        kernel::SocketAddress a;
        std::memcpy(&a.storage, &peer, msg.msg_namelen);
        a.length = msg.msg_namelen;
        return a;
    }
};

}  // namespace

TEST(Loop, udp_echo_through_recvmsg_and_sendmsg_keeps_the_peer_address) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    auto loopback = kernel::ipv4_socket_address(*kernel::Ipv4Address::parse("127.0.0.1"), 0);
    auto server = kernel::udp_socket();
    auto client = kernel::udp_socket();
    ASSERT_TRUE(server && client);
    ASSERT_TRUE(kernel::bind_socket(server->get(), loopback));
    ASSERT_TRUE(kernel::bind_socket(client->get(), loopback));
    auto server_address = kernel::local_address(server->get());
    auto client_address = kernel::local_address(client->get());
    ASSERT_TRUE(server_address && client_address);

    // The server echoes what it receives to whoever sent it.
    struct Echo {
        Loop* loop;
        int fd;
        Datagram in, out;
        Completion rx, tx;
        int sent = 0;
    } echo{loop.get(), server->get(), {}, {}, {}, {}};
    echo.rx.context = &echo;
    echo.rx.callback = [](Completion& c) {
        auto* e = static_cast<Echo*>(c.context);
        ASSERT_GT(c.result, 0);
        e->out.for_send(e->in.source(), std::string_view(e->in.data, size_t(c.result)));
        e->loop->sendmsg(e->tx, e->fd, &e->out.msg);
    };
    echo.tx.context = &echo;
    echo.tx.callback = [](Completion& c) { static_cast<Echo*>(c.context)->sent = c.result; };
    echo.in.for_receive();
    loop->recvmsg(echo.rx, server->get(), &echo.in.msg);
    // A non-blocking socket with nothing to read: the ring waits for the datagram itself.
    ASSERT_TRUE(loop->tick(1'000'000));
    EXPECT_TRUE(echo.rx.in_flight());

    Datagram query, reply;
    Counter sent, received;
    Completion tx, rx;
    tx.context = &sent;
    tx.callback = &Counter::cb;
    rx.context = &received;
    rx.callback = &Counter::cb;
    reply.for_receive();
    loop->recvmsg(rx, client->get(), &reply.msg);
    query.for_send(*server_address, "ping 1");
    loop->sendmsg(tx, client->get(), &query.msg);
    ASSERT_TRUE(run_until(*loop, [&] { return received.calls == 1; }));
    EXPECT_EQ(sent.last, 6);
    EXPECT_EQ(echo.sent, 6);
    ASSERT_EQ(received.last, 6);
    EXPECT_EQ(std::string_view(reply.data, 6), "ping 1");
    EXPECT_TRUE(kernel::same_endpoint(reply.source(), *server_address));
    EXPECT_TRUE(kernel::same_endpoint(echo.in.source(), *client_address));
    EXPECT_EQ(loop->in_flight(), 0u);
}

TEST(Loop, recvmsg_reports_a_datagram_larger_than_its_buffer_as_truncated) {
    auto loop = make_loop();
    ASSERT_TRUE(loop);
    auto loopback = kernel::ipv4_socket_address(*kernel::Ipv4Address::parse("127.0.0.1"), 0);
    auto server = kernel::udp_socket();
    auto client = kernel::udp_socket();
    ASSERT_TRUE(server && client);
    ASSERT_TRUE(kernel::bind_socket(server->get(), loopback));
    auto server_address = kernel::local_address(server->get());
    ASSERT_TRUE(server_address);
    Datagram big, small;
    Counter sent, received;
    Completion tx, rx;
    tx.context = &sent;
    tx.callback = &Counter::cb;
    rx.context = &received;
    rx.callback = &Counter::cb;
    small.for_receive();
    small.iov.iov_len = 4;
    loop->recvmsg(rx, server->get(), &small.msg);
    big.for_send(*server_address, std::string(200, 'x'));
    loop->sendmsg(tx, client->get(), &big.msg);
    ASSERT_TRUE(run_until(*loop, [&] { return received.calls == 1 && sent.calls == 1; }));
    EXPECT_EQ(sent.last, 200);
    EXPECT_EQ(received.last, 4);
    EXPECT_TRUE(small.msg.msg_flags & MSG_TRUNC);
}
