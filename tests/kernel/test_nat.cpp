// The `ip berth` nftables table against a real kernel, and host port reservations. Everything
// happens in network namespaces the suite makes with iproute2's `ip` (test-only): a "host"
// with three bridges and an uplink, a container on each bridge, and an "outside" namespace.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kernel/nat.hpp"
#include "kernel/netns.hpp"
#include "kernel/port_reservation.hpp"

using namespace berth::kernel;

namespace {

// host h: brA 10.211.0.1/24, brB 10.212.0.1/24, brX 10.213.0.1/24 (internal), up0 10.214.0.1/24
// a, b, x: a container on brA/brB/brX at .2, default route via .1 (vA/vB/vX in h)
// o: "outside" at 10.214.0.2, with no route to the container subnets: only masqueraded traffic
//    gets an answer from it.
const char* const topology = R"(set -e
for n in h a b x o; do ip netns add $P$n; ip -n $P$n link set lo up; done
i=1
for c in a b x; do
  B=br$(echo $c | tr a-z A-Z); V=v$(echo $c | tr a-z A-Z); net=10.21$i.0
  ip -n ${P}h link add $B type bridge
  ip -n ${P}h addr add $net.1/24 dev $B
  ip -n ${P}h link set $B up
  ip -n ${P}h link add $V type veth peer name eth0 netns $P$c
  ip -n ${P}h link set $V master $B
  ip -n ${P}h link set $V up
  # With br_netfilter a hairpinned packet is bridged back out of the port it came in on.
  ip -n ${P}h link set $V type bridge_slave hairpin on
  ip -n $P$c addr add $net.2/24 dev eth0
  ip -n $P$c link set eth0 up
  ip -n $P$c route add default via $net.1
  i=$((i + 1))
done
ip -n ${P}h link add up0 type veth peer name eth0 netns ${P}o
ip -n ${P}h addr add 10.214.0.1/24 dev up0
ip -n ${P}h link set up0 up
ip -n ${P}o addr add 10.214.0.2/24 dev eth0
ip -n ${P}o link set eth0 up
)";

Ipv4Address ip(const char* text) {
    return *Ipv4Address::parse(text);
}
Ipv4Prefix prefix(const char* text) {
    return *Ipv4Prefix::parse(text);
}

constexpr int answer_timeout_ms = 400;
constexpr uint16_t service_port = 80;

// A TCP and UDP server on port 80 inside one namespace; each answers "<tag> <peer address>".
class Server {
  public:
    Server(int netns, std::string tag) : tag_(std::move(tag)), stop_(::eventfd(0, EFD_CLOEXEC)) {
        tcp_ = open_socket(netns, SOCK_STREAM);
        udp_ = open_socket(netns, SOCK_DGRAM);
        if (tcp_ && ::listen(tcp_.get(), 64) != 0) tcp_.reset();
        thread_ = std::thread([this] { serve(); });
    }
    ~Server() {
        uint64_t one = 1;
        (void)!::write(stop_.get(), &one, sizeof one);
        thread_.join();
    }
    bool ok() const { return bool(tcp_) && bool(udp_); }

  private:
    static UniqueFd open_socket(int netns, int type) {
        auto fd = socket_in_netns(netns, AF_INET, type);
        if (!fd) return {};
        int one = 1;
        ::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(service_port);
        if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {};
        return std::move(*fd);
    }
    std::string answer(const sockaddr_in& peer) const {
        char text[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
        return tag_ + " " + text;
    }
    void serve() {
        while (true) {
            pollfd fds[3] = {
                {stop_.get(), POLLIN, 0}, {tcp_.get(), POLLIN, 0}, {udp_.get(), POLLIN, 0}};
            if (::poll(fds, 3, -1) < 0 || fds[0].revents) return;
            sockaddr_in peer{};
            socklen_t len = sizeof peer;
            if (fds[1].revents) {
                UniqueFd c(
                    ::accept4(tcp_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
                std::string a = answer(peer);
                if (c) (void)!::write(c.get(), a.data(), a.size());
            }
            if (fds[2].revents) {
                char buf[64];
                len = sizeof peer;
                if (::recvfrom(udp_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer),
                               &len) >= 0) {
                    std::string a = answer(peer);
                    ::sendto(udp_.get(), a.data(), a.size(), 0, reinterpret_cast<sockaddr*>(&peer),
                             len);
                }
            }
        }
    }

    std::string tag_;
    UniqueFd stop_, tcp_, udp_;
    std::thread thread_;
};

// What a client in `netns` gets from address:port: the server's answer, "refused" or
// "timeout".
std::string exchange(int netns, Protocol protocol, Ipv4Address address, uint16_t port) {
    int type = (protocol == Protocol::tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK;
    auto fd = socket_in_netns(netns, AF_INET, type);
    if (!fd) return "socket: " + fd.error().message;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = address.network_order();
    if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 &&
        errno != EINPROGRESS)
        return std::string("connect: ") + std::strerror(errno);
    if (protocol == Protocol::udp) (void)!::send(fd->get(), "?", 1, 0);
    pollfd p{fd->get(), POLLIN, 0};
    if (::poll(&p, 1, answer_timeout_ms) == 0) return "timeout";
    char buf[128];
    ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n < 0) return errno == ECONNREFUSED ? "refused" : std::string(std::strerror(errno));
    return std::string(buf, size_t(n));
}

std::string command_output(const std::string& command) {
    std::string out;
    if (FILE* f = ::popen(command.c_str(), "r")) {
        char buf[4096];
        while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
        ::pclose(f);
    }
    return out;
}

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// The namespaces, servers and sysctls are made once for the suite; each test gets a fresh
// table (rebuild) in the host namespace.
class Nat : public ::testing::Test {
  protected:
    static inline std::string prefix_;
    static inline std::string skip_;
    static inline UniqueFd h_, a_, b_, x_, o_;
    static inline std::vector<std::unique_ptr<Server>> servers_;

    static UniqueFd netns(char which) {
        return UniqueFd(::open(("/run/netns/" + prefix_ + which).c_str(), O_RDONLY | O_CLOEXEC));
    }

    static void SetUpTestSuite() {
        if (::geteuid() != 0) {
            skip_ = "needs root (network namespaces, nftables)";
            return;
        }
        if (std::system("ip -V >/dev/null 2>&1") != 0) {
            skip_ = "needs iproute2's ip to build the test's namespaces";
            return;
        }
        prefix_ = "bnat" + std::to_string(::getpid());
        std::string script = "P=" + prefix_ + "\n" + topology;
        if (std::system(("sh -c '" + script + "' >/dev/null 2>&1").c_str()) != 0) {
            skip_ = "could not build the test topology with ip (bridge/veth support?)";
            return;
        }
        h_ = netns('h'), a_ = netns('a'), b_ = netns('b'), x_ = netns('x'), o_ = netns('o');
        auto probe = in_netns(h_.get(), [] { return NatTable::open("berth"); });
        auto works = probe ? probe->destroy() : berth::Result<>(berth::fail(probe.error()));
        if (!works) {
            skip_ = "no nftables here (libnftables or the kernel's nf_tables): " +
                    works.error().message;
            return;
        }
        (void)in_netns(h_.get(), [] {
            if (auto f = enable_forwarding(); !f) return f;
            return enable_route_localnet("brA");
        });
        servers_.push_back(std::make_unique<Server>(a_.get(), "A"));
        servers_.push_back(std::make_unique<Server>(b_.get(), "B"));
        servers_.push_back(std::make_unique<Server>(x_.get(), "X"));
        servers_.push_back(std::make_unique<Server>(o_.get(), "O"));
    }

    static void TearDownTestSuite() {
        servers_.clear();
        h_.reset(), a_.reset(), b_.reset(), x_.reset(), o_.reset();
        if (prefix_.empty()) return;
        for (char n : std::string("habxo"))
            (void)!std::system(("ip netns del " + prefix_ + n + " 2>/dev/null").c_str());
    }

    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        for (auto& s : servers_) ASSERT_TRUE(s->ok()) << "test servers could not bind port 80";
        auto t = in_netns(h_.get(), [] { return NatTable::open("berth"); });
        ASSERT_TRUE(t) << t.error().message;
        table_.emplace(std::move(*t));
        auto r = table_->rebuild(bridges_, {});
        ASSERT_TRUE(r) << r.error().message;
    }

    std::string nft_list() {
        return command_output("ip netns exec " + prefix_ + "h nft list ruleset 2>&1");
    }

    std::optional<NatTable> table_;
    std::vector<NatBridge> bridges_ = {{"brA", prefix("10.211.0.1/24"), false},
                                       {"brB", prefix("10.212.0.1/24"), false},
                                       {"brX", prefix("10.213.0.1/24"), true}};
    const Ipv4Address any_{},
        a_ip_ = ip("10.211.0.2"), b_ip_ = ip("10.212.0.2"), x_ip_ = ip("10.213.0.2"),
        o_ip_ = ip("10.214.0.2"), h_uplink_ = ip("10.214.0.1"), h_br_a_ = ip("10.211.0.1"),
        h_br_b_ = ip("10.212.0.1"), h_br_x_ = ip("10.213.0.1"), loopback_ = ip("127.0.0.1");
};

PortForward forward(Protocol p, Ipv4Address host_ip, uint16_t host_port, Ipv4Address to) {
    return {p, host_ip, host_port, to, service_port};
}

TEST_F(Nat, published_tcp_port_reaches_the_container_from_localhost_bridge_and_outside) {
    PortForward f = forward(Protocol::tcp, any_, 18080, a_ip_);
    ASSERT_TRUE(table_->add(std::span(&f, 1)));
    // 127.0.0.1 is masqueraded to the bridge's address: the container could not answer it.
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, 18080), "A 10.211.0.1");
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, h_br_a_, 18080), "A 10.211.0.1");
    // From outside, the client's own address arrives.
    EXPECT_EQ(exchange(o_.get(), Protocol::tcp, h_uplink_, 18080), "A 10.214.0.2");
}

TEST_F(Nat, published_udp_port_answers) {
    PortForward f = forward(Protocol::udp, any_, 15353, a_ip_);
    ASSERT_TRUE(table_->add(std::span(&f, 1)));
    EXPECT_EQ(exchange(h_.get(), Protocol::udp, loopback_, 15353), "A 10.211.0.1");
    EXPECT_EQ(exchange(o_.get(), Protocol::udp, h_uplink_, 15353), "A 10.214.0.2");
    // The tcp map is separate.
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, 15353), "refused");
}

TEST_F(Nat, host_ip_forward_matches_only_that_address) {
    PortForward f = forward(Protocol::tcp, loopback_, 18081, a_ip_);
    ASSERT_TRUE(table_->add(std::span(&f, 1)));
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, 18081), "A 10.211.0.1");
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, h_br_a_, 18081), "refused");
    EXPECT_EQ(exchange(o_.get(), Protocol::tcp, h_uplink_, 18081), "refused");
}

TEST_F(Nat, removed_forward_stops_answering_and_removing_again_is_no_error) {
    std::vector<PortForward> f = {forward(Protocol::tcp, any_, 18082, a_ip_),
                                  forward(Protocol::udp, h_uplink_, 18082, a_ip_)};
    ASSERT_TRUE(table_->add(f));
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, 18082), "A 10.211.0.1");
    EXPECT_EQ(exchange(o_.get(), Protocol::udp, h_uplink_, 18082), "A 10.214.0.2");
    auto r = table_->remove(f);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, 18082), "refused");
    EXPECT_EQ(exchange(o_.get(), Protocol::udp, h_uplink_, 18082), "refused");
    auto again = table_->remove(f);
    EXPECT_TRUE(again) << again.error().message;
}

TEST_F(Nat, same_forward_twice_is_no_error_but_a_taken_host_port_is) {
    PortForward f = forward(Protocol::tcp, any_, 18083, a_ip_);
    ASSERT_TRUE(table_->add(std::span(&f, 1)));
    auto same = table_->add(std::span(&f, 1));
    EXPECT_TRUE(same) << same.error().message;
    PortForward other = forward(Protocol::tcp, any_, 18083, b_ip_);
    auto taken = table_->add(std::span(&other, 1));
    ASSERT_FALSE(taken);
    EXPECT_EQ(taken.error().sys_errno, EEXIST) << taken.error().message;
    // Removing the other container's forward leaves this one in place.
    auto r = table_->remove(std::span(&other, 1));
    EXPECT_TRUE(r) << r.error().message;
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, 18083), "A 10.211.0.1");
}

TEST_F(Nat, rebuild_is_idempotent_and_keeps_only_the_forwards_it_is_given) {
    std::vector<PortForward> first = {forward(Protocol::tcp, any_, 18084, a_ip_),
                                      forward(Protocol::tcp, any_, 18085, b_ip_)};
    ASSERT_TRUE(table_->rebuild(bridges_, first));
    std::vector<PortForward> second = {forward(Protocol::tcp, any_, 18085, b_ip_)};
    auto r = table_->rebuild(bridges_, second);
    ASSERT_TRUE(r) << r.error().message;
    std::string listing = nft_list();
    EXPECT_EQ(count(listing, "table ip berth"), 1u) << listing;
    EXPECT_EQ(count(listing, "masquerade"), 8u) << listing;  // 3 + 3 + 2 (brX has no outbound)
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, 18084), "refused");
    EXPECT_EQ(exchange(o_.get(), Protocol::tcp, h_uplink_, 18085), "B 10.214.0.2");
}

TEST_F(Nat, bridges_are_isolated_and_outbound_traffic_is_masqueraded) {
    EXPECT_EQ(exchange(a_.get(), Protocol::tcp, b_ip_, service_port), "timeout");
    EXPECT_EQ(exchange(b_.get(), Protocol::tcp, a_ip_, service_port), "timeout");
    EXPECT_EQ(exchange(b_.get(), Protocol::udp, a_ip_, service_port), "timeout");
    // The outside has no route back to 10.211/16: an answer means the host's address was used.
    EXPECT_EQ(exchange(a_.get(), Protocol::tcp, o_ip_, service_port), "O 10.214.0.1");
    EXPECT_EQ(exchange(b_.get(), Protocol::udp, o_ip_, service_port), "O 10.214.0.1");
}

TEST_F(Nat, container_reaches_its_own_and_another_networks_published_port_through_the_host) {
    PortForward f = forward(Protocol::tcp, any_, 18086, a_ip_);
    ASSERT_TRUE(table_->add(std::span(&f, 1)));
    // Hairpin: the answer must come from the address asked, so the source is masqueraded.
    EXPECT_EQ(exchange(a_.get(), Protocol::tcp, h_br_a_, 18086), "A 10.211.0.1");
    EXPECT_EQ(exchange(a_.get(), Protocol::tcp, h_uplink_, 18086), "A 10.211.0.1");
    // A published port is public, also to a container of another network.
    EXPECT_EQ(exchange(b_.get(), Protocol::tcp, h_br_b_, 18086), "A 10.211.0.1");
}

TEST_F(Nat, internal_bridge_reaches_nothing_outside_itself) {
    PortForward f = forward(Protocol::tcp, any_, 18087, a_ip_);
    ASSERT_TRUE(table_->add(std::span(&f, 1)));
    EXPECT_EQ(exchange(x_.get(), Protocol::tcp, o_ip_, service_port), "timeout");
    EXPECT_EQ(exchange(x_.get(), Protocol::tcp, a_ip_, service_port), "timeout");
    EXPECT_EQ(exchange(x_.get(), Protocol::tcp, h_br_x_, 18087), "timeout");
    EXPECT_EQ(exchange(a_.get(), Protocol::tcp, x_ip_, service_port), "timeout");
    // Not an artefact of the topology: the same container answers once it is not internal.
    bridges_[2].internal = false;
    ASSERT_TRUE(table_->rebuild(bridges_, {}));
    EXPECT_EQ(exchange(x_.get(), Protocol::tcp, o_ip_, service_port), "O 10.214.0.1");
}

TEST_F(Nat, destroy_leaves_no_table) {
    PortForward f = forward(Protocol::tcp, any_, 18088, a_ip_);
    ASSERT_TRUE(table_->add(std::span(&f, 1)));
    ASSERT_TRUE(table_->destroy());
    EXPECT_EQ(count(nft_list(), "table ip berth"), 0u);
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, 18088), "refused");
    auto again = table_->destroy();
    EXPECT_TRUE(again) << again.error().message;
    // Removing from a table that is gone: nothing is published, which is what was asked.
    auto r = table_->remove(std::span(&f, 1));
    EXPECT_TRUE(r) << r.error().message;
}

TEST_F(Nat, bad_names_and_forwards_are_refused_before_nft_sees_them) {
    std::vector<NatBridge> evil = {{"br\" drop", prefix("10.9.0.0/24"), false}};
    auto r = table_->rebuild(evil, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, berth::ErrorKind::invalid_parameter);
    PortForward zero = forward(Protocol::tcp, any_, 0, a_ip_);
    auto a = table_->add(std::span(&zero, 1));
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().kind, berth::ErrorKind::invalid_parameter);
    EXPECT_FALSE(NatTable::open("berth; flush ruleset"));
}

// libnftables opens its netlink socket without SOCK_CLOEXEC; open() fixes that, so no socket of
// the daemon's leaks into a container's process.
TEST_F(Nat, every_socket_including_nfts_own_is_close_on_exec) {
    auto second = in_netns(h_.get(), [] { return NatTable::open("berth"); });
    ASSERT_TRUE(second);
    int sockets = 0;
    for (int fd = 3; fd < 1024; ++fd) {
        int flags = ::fcntl(fd, F_GETFD);
        int domain = 0;
        socklen_t len = sizeof domain;
        if (flags < 0 || ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) continue;
        ++sockets;
        EXPECT_TRUE(flags & FD_CLOEXEC) << "fd " << fd << " (domain " << domain << ")";
    }
    EXPECT_GE(sockets, 2);  // at least the two tables' netlink sockets
}

TEST_F(Nat, add_and_remove_of_one_forward_take_under_a_few_milliseconds) {
    constexpr int rounds = 100;
    std::vector<double> add_us, remove_us;
    for (int i = 0; i < rounds; ++i) {
        PortForward f = forward(Protocol::tcp, any_, uint16_t(20000 + i), a_ip_);
        auto t0 = std::chrono::steady_clock::now();
        ASSERT_TRUE(table_->add(std::span(&f, 1)));
        auto t1 = std::chrono::steady_clock::now();
        ASSERT_TRUE(table_->remove(std::span(&f, 1)));
        auto t2 = std::chrono::steady_clock::now();
        add_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        remove_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    }
    std::sort(add_us.begin(), add_us.end());
    std::sort(remove_us.begin(), remove_us.end());
    std::printf("[ timing ] NatTable add %.0f us, remove %.0f us (median of %d; p90 %.0f / %.0f)\n",
                add_us[rounds / 2], remove_us[rounds / 2], rounds, add_us[rounds * 9 / 10],
                remove_us[rounds * 9 / 10]);
    // Generous: this is a sanity bound, not a benchmark.
    EXPECT_LT(add_us[rounds / 2] + remove_us[rounds / 2], 20000.0);
    // A rebuild (start-up, network create/remove) with the suite's bridges and 100 forwards.
    std::vector<PortForward> many;
    for (int i = 0; i < rounds; ++i) many.push_back(forward(Protocol::tcp, any_, 21000 + i, a_ip_));
    std::vector<double> rebuild_us;
    for (int i = 0; i < 20; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        ASSERT_TRUE(table_->rebuild(bridges_, many));
        rebuild_us.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count());
    }
    std::sort(rebuild_us.begin(), rebuild_us.end());
    std::printf("[ timing ] NatTable rebuild (3 bridges, %d forwards) %.0f us (median of 20)\n",
                rounds, rebuild_us[10]);
}

// Port reservations, made inside the suite's host namespace.
TEST_F(Nat, second_reservation_of_a_port_fails_in_dockers_words) {
    auto first = in_netns(h_.get(), [] { return reserve_port(Protocol::tcp, {}, 0); });
    ASSERT_TRUE(first) << first.error().message;
    uint16_t port = first->port;
    EXPECT_NE(port, 0);
    auto second = in_netns(h_.get(), [&] { return reserve_port(Protocol::tcp, {}, port); });
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().sys_errno, EADDRINUSE);
    EXPECT_EQ(second.error().kind, berth::ErrorKind::system);
    EXPECT_EQ(second.error().message, "failed to bind host port 0.0.0.0:" + std::to_string(port) +
                                          "/tcp: address already in use");
    PortForward f = forward(Protocol::tcp, loopback_, port, a_ip_);
    auto named = in_netns(h_.get(), [&] { return reserve_port(f); });
    ASSERT_FALSE(named);
    EXPECT_EQ(named.error().message,
              "failed to bind host port for 127.0.0.1:" + std::to_string(port) +
                  ":10.211.0.2:80/tcp: address already in use");
    EXPECT_EQ(port_already_allocated(any_, port).message,
              "Bind for 0.0.0.0:" + std::to_string(port) + " failed: port is already allocated");
    // udp is its own space; a second udp reservation fails the same way.
    auto udp = in_netns(h_.get(), [&] { return reserve_port(Protocol::udp, {}, port); });
    ASSERT_TRUE(udp) << udp.error().message;
    auto udp2 = in_netns(h_.get(), [&] { return reserve_port(Protocol::udp, loopback_, port); });
    ASSERT_FALSE(udp2);
    EXPECT_EQ(udp2.error().sys_errno, EADDRINUSE);
    // Released with the fd: the port can be taken again.
    first->fd.reset();
    auto again = in_netns(h_.get(), [&] { return reserve_port(Protocol::tcp, {}, port); });
    EXPECT_TRUE(again) << again.error().message;
}

TEST_F(Nat, port_held_by_a_listening_server_cannot_be_reserved) {
    auto listener = socket_in_netns(h_.get(), AF_INET, SOCK_STREAM);
    ASSERT_TRUE(listener);
    int one = 1;
    ::setsockopt(listener->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = loopback_.network_order();
    ASSERT_EQ(::bind(listener->get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener->get(), 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(listener->get(), reinterpret_cast<sockaddr*>(&a), &len);
    uint16_t port = ntohs(a.sin_port);
    for (Ipv4Address host : {loopback_, any_}) {
        auto r = in_netns(h_.get(), [&] { return reserve_port(Protocol::tcp, host, port); });
        ASSERT_FALSE(r) << host.text();
        EXPECT_EQ(r.error().message, "failed to bind host port " + host.text() + ":" +
                                         std::to_string(port) + "/tcp: address already in use");
    }
    // A reservation is bound, not listening: it takes no connections itself.
    auto held = in_netns(h_.get(), [] { return reserve_port(Protocol::tcp, {}, 0); });
    ASSERT_TRUE(held);
    EXPECT_EQ(exchange(h_.get(), Protocol::tcp, loopback_, held->port), "refused");
}

}  // namespace
