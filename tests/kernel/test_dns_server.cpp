// The embedded DNS server on a real loop, answering a client inside a network namespace the test
// creates (`ip netns add`, lo up) at 127.0.0.11:53 over UDP and TCP, forwarding unknown names to
// a fake upstream resolver on 127.0.0.1 in the test's own namespace. Root only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/time.hpp"
#include "drivers/network/dns_message.hpp"
#include "drivers/network/dns_server.hpp"
#include "kernel/fd.hpp"
#include "kernel/netns.hpp"
#include "kernel/udp_socket.hpp"
#include "loop/loop.hpp"

using namespace berth;
using namespace berth::drivers::net;
using Bytes = std::vector<std::byte>;

namespace {

kernel::Ipv4Address ip(const char* text) {
    return *kernel::Ipv4Address::parse(text);
}

const kernel::SocketAddress dns_address = kernel::ipv4_socket_address(ip("127.0.0.11"), 53);

Bytes query(uint16_t id, std::string_view dotted, uint16_t type = dns::type_a) {
    Bytes b;
    for (uint16_t v : {id, uint16_t(0x0100), uint16_t(1), uint16_t(0), uint16_t(0), uint16_t(0)}) {
        b.push_back(std::byte(v >> 8));
        b.push_back(std::byte(v & 0xff));
    }
    while (!dotted.empty()) {
        size_t dot = dotted.find('.');
        std::string_view label = dotted.substr(0, dot);
        b.push_back(std::byte(label.size()));
        for (char c : label) b.push_back(std::byte(c));
        dotted = dot == std::string_view::npos ? "" : dotted.substr(dot + 1);
    }
    b.push_back(std::byte(0));
    for (uint16_t v : {type, dns::class_in}) {
        b.push_back(std::byte(v >> 8));
        b.push_back(std::byte(v & 0xff));
    }
    return b;
}

// The A records' addresses of a response (answers follow the question; their names are
// pointers, as berth and most servers write them).
std::vector<std::string> addresses_of(const Bytes& r) {
    std::vector<std::string> out;
    auto h = dns::read_header(r);
    auto q = dns::read_name(r, dns::header_bytes);
    if (!h || !q) return out;
    size_t at = q->end + 4;
    for (int i = 0; i < h->answer_count; ++i) {
        auto owner = dns::read_name(r, at);
        if (!owner || owner->end + 10 > r.size()) break;
        at = owner->end;
        auto u16 = [&](size_t i) {
            return uint16_t(std::to_integer<uint8_t>(r[i]) << 8 |
                            std::to_integer<uint8_t>(r[i + 1]));
        };
        size_t length = u16(at + 8);
        if (u16(at) == dns::type_a && length == 4 && at + 14 <= r.size())
            out.push_back(kernel::Ipv4Address{uint32_t(u16(at + 10)) << 16 | u16(at + 12)}.text());
        at += 10 + length;
    }
    return out;
}

size_t open_fds() {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

// A fake upstream resolver on 127.0.0.1 served by the same loop: answers every A query with
// 93.184.216.34 (keeping the id it got) unless told to stay silent.
struct FakeUpstream {
    loop::Loop& loop;
    kernel::UniqueFd fd;
    kernel::SocketAddress address;
    bool silent = false;
    int queries = 0;
    uint16_t last_id = 0;
    loop::Completion rx, tx;
    sockaddr_storage peer{};
    std::byte buffer[1024];
    Bytes answer;
    iovec iov{};
    msghdr msg{};

    explicit FakeUpstream(loop::Loop& l) : loop(l) {
        auto s = kernel::udp_socket();
        EXPECT_TRUE(s);
        fd = std::move(*s);
        EXPECT_TRUE(kernel::bind_socket(fd.get(), kernel::ipv4_socket_address(ip("127.0.0.1"), 0)));
        address = *kernel::local_address(fd.get());
        rx.context = tx.context = this;
        rx.callback = [](loop::Completion& c) {
            auto* f = static_cast<FakeUpstream*>(c.context);
            if (c.result == -ECANCELED) return;
            f->on_query(size_t(c.result));
        };
        arm();
    }
    ~FakeUpstream() {
        if (rx.in_flight()) loop.cancel(rx);
        int64_t end = monotonic_ns() + 1'000'000'000;
        while ((rx.in_flight() || tx.in_flight()) && monotonic_ns() < end)
            (void)loop.tick(1'000'000);
    }
    void arm() {
        iov = {buffer, sizeof buffer};
        msg = {};
        msg.msg_name = &peer;
        msg.msg_namelen = sizeof peer;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        loop.recvmsg(rx, fd.get(), &msg);
    }
    void on_query(size_t n) {
        ++queries;
        auto q = dns::parse_query(std::span<const std::byte>(buffer, n));
        if (q) last_id = q->header.id;
        if (q && !silent && !tx.in_flight()) {
            kernel::Ipv4Address a[] = {ip("93.184.216.34")};
            answer = dns::build_response(*q, dns::Rcode::noerror, a);
            iov = {answer.data(), answer.size()};
            msg.msg_iov = &iov;
            tx.callback = [](loop::Completion& c) { static_cast<FakeUpstream*>(c.context)->arm(); };
            loop.sendmsg(tx, fd.get(), &msg);
            return;
        }
        arm();
    }
};

class DnsServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: creates a network namespace";
        auto l = loop::Loop::create();
        ASSERT_TRUE(l) << l.error().message;
        loop_ = std::move(*l);
        ns_name_ = "berth-dns-test-" + std::to_string(getpid());
        ASSERT_EQ(run("ip netns add " + ns_name_), 0);
        created_ = true;
        ASSERT_EQ(run("ip -n " + ns_name_ + " link set lo up"), 0);
        ns_ = kernel::UniqueFd(::open(("/run/netns/" + ns_name_).c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(ns_);
    }
    void TearDown() override {
        if (server_) {
            server_->shutdown();
            EXPECT_TRUE(tick_until([&] { return server_->in_flight() == 0; }));
            server_.reset();
        }
        upstreams_.clear();
        ns_.reset();
        if (created_) run("ip netns delete " + ns_name_);
    }
    static int run(const std::string& command) { return std::system((command + " 2>&1").c_str()); }

    template <class F>
    bool tick_until(F done, int64_t limit_ns = 5'000'000'000) {
        int64_t end = monotonic_ns() + limit_ns;
        while (!done()) {
            if (monotonic_ns() > end) return false;
            if (!loop_->tick(5'000'000)) return false;
        }
        return true;
    }

    void start(std::vector<kernel::SocketAddress> upstreams) {
        server_ = std::make_unique<DnsServer>(
            *loop_,
            [this](uint64_t key, std::string_view name) -> std::vector<kernel::Ipv4Address> {
                asked_.emplace_back(key, std::string(name));
                if (key == 7 && name == "web") return {ip("10.1.2.3")};
                return {};
            },
            std::move(upstreams));
        auto r = server_->add_listener(7, ns_.get());
        ASSERT_TRUE(r) << r.error().message;
    }

    FakeUpstream& fake_upstream() {
        upstreams_.push_back(std::make_unique<FakeUpstream>(*loop_));
        return *upstreams_.back();
    }

    kernel::UniqueFd client(int type) {
        auto s = kernel::socket_in_netns(ns_.get(), AF_INET, type);
        EXPECT_TRUE(s);
        return s ? std::move(*s) : kernel::UniqueFd();
    }

    // Sends `q` from a fresh UDP socket inside the namespace; the response, or nothing.
    std::optional<Bytes> ask_udp(const Bytes& q, int64_t limit_ns = 5'000'000'000) {
        kernel::UniqueFd c = client(SOCK_DGRAM);
        if (::sendto(c.get(), q.data(), q.size(), 0, dns_address.get(), dns_address.length) < 0)
            return std::nullopt;
        Bytes r(4096);
        ssize_t n = -1;
        tick_until(
            [&] {
                n = ::recv(c.get(), r.data(), r.size(), MSG_DONTWAIT);
                return n >= 0;
            },
            limit_ns);
        if (n < 0) return std::nullopt;
        r.resize(size_t(n));
        return r;
    }

    std::optional<Bytes> ask_tcp(const Bytes& q) {
        kernel::UniqueFd c = client(SOCK_STREAM);
        if (::connect(c.get(), dns_address.get(), dns_address.length) < 0) return std::nullopt;
        Bytes framed{std::byte(q.size() >> 8), std::byte(q.size() & 0xff)};
        framed.insert(framed.end(), q.begin(), q.end());
        if (::send(c.get(), framed.data(), framed.size(), MSG_NOSIGNAL) != ssize_t(framed.size()))
            return std::nullopt;
        Bytes in;
        bool eof = false;
        tick_until([&] {
            std::byte buf[4096];
            ssize_t n = ::recv(c.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) in.insert(in.end(), buf, buf + n);
            eof = n == 0;
            return eof;
        });
        if (!eof || in.size() < 2) return std::nullopt;
        size_t length =
            size_t(std::to_integer<uint8_t>(in[0])) << 8 | std::to_integer<uint8_t>(in[1]);
        if (in.size() != 2 + length) return std::nullopt;
        return Bytes(in.begin() + 2, in.end());
    }

    std::unique_ptr<loop::Loop> loop_;
    std::string ns_name_;
    bool created_ = false;
    kernel::UniqueFd ns_;
    std::unique_ptr<DnsServer> server_;
    std::vector<std::unique_ptr<FakeUpstream>> upstreams_;
    std::vector<std::pair<uint64_t, std::string>> asked_;
};

}  // namespace

TEST_F(DnsServerTest, a_container_name_resolves_over_udp_with_the_clients_id) {
    start({});
    auto r = ask_udp(query(0x1234, "web"));
    ASSERT_TRUE(r) << "no answer from 127.0.0.11:53";
    auto h = dns::read_header(*r);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->id, 0x1234);
    EXPECT_TRUE(h->response());
    EXPECT_EQ(h->rcode(), dns::Rcode::noerror);
    EXPECT_EQ(addresses_of(*r), std::vector<std::string>{"10.1.2.3"});
    ASSERT_FALSE(asked_.empty());
    EXPECT_EQ(asked_.back(), (std::pair<uint64_t, std::string>{7, "web"}));
}

TEST_F(DnsServerTest, names_are_case_insensitive_and_the_trailing_dot_is_the_same_name) {
    start({});
    auto r = ask_udp(query(2, "WEB."));
    ASSERT_TRUE(r);
    EXPECT_EQ(addresses_of(*r), std::vector<std::string>{"10.1.2.3"});
    EXPECT_EQ(asked_.back().second, "web");
}

TEST_F(DnsServerTest, aaaa_for_a_known_name_is_noerror_without_records) {
    start({});
    auto r = ask_udp(query(3, "web", dns::type_aaaa));
    ASSERT_TRUE(r);
    auto h = dns::read_header(*r);
    EXPECT_EQ(h->rcode(), dns::Rcode::noerror);
    EXPECT_EQ(h->answer_count, 0);
}

TEST_F(DnsServerTest, unknown_names_without_upstreams_get_servfail) {
    start({});
    auto r = ask_udp(query(4, "example.org"));
    ASSERT_TRUE(r);
    EXPECT_EQ(dns::read_header(*r)->id, 4);
    EXPECT_EQ(dns::read_header(*r)->rcode(), dns::Rcode::servfail);
}

TEST_F(DnsServerTest, malformed_queries_get_formerr) {
    start({});
    Bytes q = query(5, "web");
    q[5] = std::byte(2);  // two questions announced, one present
    auto r = ask_udp(q);
    ASSERT_TRUE(r);
    EXPECT_EQ(dns::read_header(*r)->id, 5);
    EXPECT_EQ(dns::read_header(*r)->rcode(), dns::Rcode::formerr);
}

TEST_F(DnsServerTest, unknown_names_are_forwarded_and_the_answer_keeps_the_clients_id) {
    FakeUpstream& upstream = fake_upstream();
    start({upstream.address});
    auto r = ask_udp(query(0xcafe, "example.org"));
    ASSERT_TRUE(r) << "no forwarded answer";
    EXPECT_EQ(upstream.queries, 1);
    auto h = dns::read_header(*r);
    EXPECT_EQ(h->id, 0xcafe);
    EXPECT_EQ(addresses_of(*r), std::vector<std::string>{"93.184.216.34"});
    // Known names never reach the upstream.
    ASSERT_TRUE(ask_udp(query(1, "web")));
    EXPECT_EQ(upstream.queries, 1);
    EXPECT_EQ(server_->stats().forwarded, 1u);
}

TEST_F(DnsServerTest, a_silent_upstream_ends_in_servfail_after_the_timeout) {
    FakeUpstream& upstream = fake_upstream();
    upstream.silent = true;
    start({upstream.address});
    int64_t started = monotonic_ns();
    auto r = ask_udp(query(0x0bad, "example.org"), 5'000'000'000);
    int64_t waited = monotonic_ns() - started;
    ASSERT_TRUE(r) << "no SERVFAIL after the upstream stayed silent";
    EXPECT_EQ(dns::read_header(*r)->id, 0x0bad);
    EXPECT_EQ(dns::read_header(*r)->rcode(), dns::Rcode::servfail);
    EXPECT_GE(waited, DnsServer::forward_timeout_ns - 100'000'000);
    EXPECT_EQ(upstream.queries, 1);
}

TEST_F(DnsServerTest, a_silent_upstream_is_followed_by_the_next_one) {
    FakeUpstream& first = fake_upstream();
    FakeUpstream& second = fake_upstream();
    first.silent = true;
    start({first.address, second.address});
    auto r = ask_udp(query(77, "example.org"), 5'000'000'000);
    ASSERT_TRUE(r);
    EXPECT_EQ(dns::read_header(*r)->id, 77);
    EXPECT_EQ(addresses_of(*r), std::vector<std::string>{"93.184.216.34"});
    EXPECT_EQ(first.queries, 1);
    EXPECT_EQ(second.queries, 1);
}

TEST_F(DnsServerTest, tcp_queries_are_answered_and_the_connection_closed) {
    FakeUpstream& upstream = fake_upstream();
    start({upstream.address});
    auto r = ask_tcp(query(0x7001, "web"));
    ASSERT_TRUE(r) << "no length-prefixed answer over TCP";
    EXPECT_EQ(dns::read_header(*r)->id, 0x7001);
    EXPECT_EQ(addresses_of(*r), std::vector<std::string>{"10.1.2.3"});
    auto forwarded = ask_tcp(query(0x7002, "example.org"));
    ASSERT_TRUE(forwarded) << "no forwarded answer over TCP";
    EXPECT_EQ(dns::read_header(*forwarded)->id, 0x7002);
    EXPECT_EQ(addresses_of(*forwarded), std::vector<std::string>{"93.184.216.34"});
}

TEST_F(DnsServerTest, a_second_listener_for_the_same_endpoint_is_refused) {
    start({});
    auto again = server_->add_listener(7, ns_.get());
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind, ErrorKind::conflict);
    EXPECT_EQ(server_->listeners(), 1u);
}

TEST_F(DnsServerTest, remove_listener_closes_its_sockets_and_leaks_no_fd) {
    size_t before = open_fds();
    start({});
    EXPECT_EQ(server_->listeners(), 1u);
    ASSERT_TRUE(ask_udp(query(1, "web")));
    ASSERT_TRUE(ask_tcp(query(2, "web")));
    // A TCP client that connects and says nothing holds a connection open at removal.
    kernel::UniqueFd idle = client(SOCK_STREAM);
    ASSERT_EQ(::connect(idle.get(), dns_address.get(), dns_address.length), 0);
    ASSERT_TRUE(tick_until([&] { return server_->in_flight() > 2; }));

    server_->remove_listener(7);
    EXPECT_EQ(server_->listeners(), 0u);
    ASSERT_TRUE(tick_until([&] { return server_->listeners_closing() == 0; }));
    EXPECT_EQ(server_->in_flight(), 0u);
    idle.reset();
    EXPECT_EQ(open_fds(), before);

    kernel::UniqueFd tcp = client(SOCK_STREAM);
    EXPECT_NE(::connect(tcp.get(), dns_address.get(), dns_address.length), 0);
    EXPECT_EQ(errno, ECONNREFUSED);
    kernel::UniqueFd udp = client(SOCK_DGRAM);
    ASSERT_EQ(::connect(udp.get(), dns_address.get(), dns_address.length), 0);
    Bytes q = query(3, "web");
    ASSERT_EQ(::send(udp.get(), q.data(), q.size(), 0), ssize_t(q.size()));
    std::byte buf[512];
    ssize_t n = -1;
    for (int i = 0; i < 20 && n < 0; ++i) {
        ASSERT_TRUE(loop_->tick(5'000'000));
        n = ::recv(udp.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == ECONNREFUSED) break;
    }
    EXPECT_LT(n, 0) << "a removed listener still answered";
    EXPECT_EQ(errno, ECONNREFUSED);
}

TEST_F(DnsServerTest, removing_a_listener_while_its_query_is_forwarded_drops_the_answer_cleanly) {
    FakeUpstream& upstream = fake_upstream();
    upstream.silent = true;
    start({upstream.address});
    kernel::UniqueFd c = client(SOCK_DGRAM);
    Bytes q = query(9, "example.org");
    ASSERT_GT(::sendto(c.get(), q.data(), q.size(), 0, dns_address.get(), dns_address.length), 0);
    ASSERT_TRUE(tick_until([&] { return upstream.queries == 1; }));
    server_->remove_listener(7);
    // The forward's timer is cancelled with the listener: nothing waits the 2 s out.
    ASSERT_TRUE(tick_until([&] { return server_->in_flight() == 1; }, 500'000'000))
        << server_->in_flight() << " operations still in flight";
    EXPECT_EQ(server_->listeners_closing(), 0u);
}

TEST_F(DnsServerTest, busybox_nslookup_inside_the_namespace_resolves_a_container_name) {
    if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs busybox (busybox-static)";
    start({});
    // A real resolver (busybox asks A and AAAA, with its own ids) run while the loop ticks here.
    std::string output;
    std::atomic<bool> finished = false;
    std::thread resolver([&] {
        std::string command =
            "ip netns exec " + ns_name_ + " /bin/busybox nslookup web 127.0.0.11 2>&1";
        if (FILE* p = ::popen(command.c_str(), "r")) {
            char buf[512];
            size_t n;
            while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
            ::pclose(p);
        }
        finished = true;
    });
    bool ok = tick_until([&] { return finished.load(); }, 10'000'000'000);
    resolver.join();
    ASSERT_TRUE(ok) << "nslookup did not finish";
    EXPECT_NE(output.find("Address: 10.1.2.3"), std::string::npos) << output;
}
