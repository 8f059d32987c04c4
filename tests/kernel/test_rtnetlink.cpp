// rtnetlink against the real kernel (root): bridges, veth pairs across namespaces, link changes,
// addresses, routes, hairpin, a container's link configured in one batch and reachable over TCP,
// errors that name their object. Everything happens in network namespaces the tests create; the
// test process itself never changes namespace. Also prints what a container's network costs.
#include "kernel/rtnetlink.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "kernel/netns.hpp"

namespace berth::kernel {
namespace {

Ipv4Prefix prefix(const char* text) {
    return *Ipv4Prefix::parse(text);
}
Ipv4Address address(const char* text) {
    return *Ipv4Address::parse(text);
}

// The kind of a failed result; nullopt when it succeeded (so a wrong success fails the check).
template <class T>
std::optional<ErrorKind> error_kind(const Result<T>& r) {
    if (r) return std::nullopt;
    return r.error().kind;
}

bool has_link(const std::vector<LinkInfo>& links, const std::string& name) {
    return std::ranges::any_of(links, [&](const LinkInfo& l) { return l.name == name; });
}

// A namespace and an rtnetlink socket inside it.
struct Namespace {
    UniqueFd fd;
    std::optional<Rtnetlink> nl;

    static Namespace make() {
        Namespace ns;
        auto fd = create_netns();
        if (!fd) ADD_FAILURE() << fd.error().message;
        if (!fd) return ns;
        ns.fd = std::move(*fd);
        auto nl = Rtnetlink::open_in(ns.fd.get());
        if (!nl) ADD_FAILURE() << nl.error().message;
        if (nl) ns.nl.emplace(std::move(*nl));
        return ns;
    }
};

class RtnetlinkTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root: creates network namespaces and links";
        host_ = Namespace::make();
        ASSERT_TRUE(host_.nl);
    }

    Rtnetlink& host() { return *host_.nl; }

    Namespace host_;  // stands for the daemon's namespace; never the test's own
};

TEST_F(RtnetlinkTest, ensure_bridge_is_idempotent_and_refuses_a_link_of_another_kind) {
    auto first = host().ensure_bridge("br-test", 1400);
    ASSERT_TRUE(first) << first.error().message;
    auto second = host().ensure_bridge("br-test", 1400);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(*first, *second);

    auto bridge = host().link("br-test");
    ASSERT_TRUE(bridge) << bridge.error().message;
    EXPECT_EQ(bridge->index, *first);
    EXPECT_EQ(bridge->kind, "bridge");
    EXPECT_EQ(bridge->mtu, 1400u);
    EXPECT_TRUE(bridge->up);

    ASSERT_TRUE(host().create_veth("veth-a", "veth-b", -1, 1500));
    auto clash = host().ensure_bridge("veth-a", 1500);
    ASSERT_FALSE(clash);
    EXPECT_EQ(clash.error().kind, ErrorKind::conflict);
    EXPECT_NE(clash.error().message.find("veth-a"), std::string::npos) << clash.error().message;
}

TEST_F(RtnetlinkTest, create_veth_puts_the_peer_straight_into_the_other_namespace) {
    Namespace container = Namespace::make();
    ASSERT_TRUE(container.nl);
    auto index = host().create_veth("veth-h", "eth0-tmp", container.fd.get(), 1450);
    ASSERT_TRUE(index) << index.error().message;

    auto here = host().link("veth-h");
    ASSERT_TRUE(here) << here.error().message;
    EXPECT_EQ(here->index, *index);
    EXPECT_EQ(here->kind, "veth");
    EXPECT_EQ(here->mtu, 1450u);
    EXPECT_FALSE(here->up);
    EXPECT_EQ(error_kind(host().link_index("eth0-tmp")), ErrorKind::not_found);

    auto there = container.nl->links();
    ASSERT_TRUE(there) << there.error().message;
    auto peer = std::ranges::find(*there, std::string("eth0-tmp"), &LinkInfo::name);
    ASSERT_NE(peer, there->end());
    EXPECT_EQ(peer->kind, "veth");
    EXPECT_EQ(peer->mtu, 1450u);
    EXPECT_FALSE(peer->up);
    EXPECT_TRUE(has_link(*there, "lo"));
}

TEST_F(RtnetlinkTest, links_reads_a_dump_that_spans_many_datagrams) {
    // 200 links are several hundred KiB of messages: the kernel sends them in many parts.
    constexpr int pairs = 100;
    for (int i = 0; i < pairs; ++i) {
        auto made =
            host().create_veth("va" + std::to_string(i), "vz" + std::to_string(i), -1, 1500);
        ASSERT_TRUE(made) << made.error().message;
    }
    auto links = host().links();
    ASSERT_TRUE(links) << links.error().message;
    EXPECT_EQ(links->size(), size_t(2 * pairs + 1));  // and lo
    for (int i = 0; i < pairs; ++i) {
        EXPECT_TRUE(has_link(*links, "va" + std::to_string(i))) << i;
        EXPECT_TRUE(has_link(*links, "vz" + std::to_string(i))) << i;
    }
    // The socket is left clean: the next request gets its own answer.
    auto lo = host().link("lo");
    ASSERT_TRUE(lo) << lo.error().message;
    EXPECT_EQ(lo->index, 1);
}

TEST_F(RtnetlinkTest, set_link_changes_master_state_mac_mtu_and_name) {
    auto bridge = host().ensure_bridge("br-test", 1500);
    ASSERT_TRUE(bridge) << bridge.error().message;
    auto index = host().create_veth("veth-x", "veth-y", -1, 1500);
    ASSERT_TRUE(index) << index.error().message;

    MacAddress mac{0x02, 0x42, 0xac, 0x11, 0x00, 0x07};
    LinkChange change;
    change.master = *bridge;
    change.up = true;
    change.mac = mac;
    change.mtu = 1280;
    change.name = "veth-renamed";
    auto set = host().set_link(*index, change);
    ASSERT_TRUE(set) << set.error().message;

    auto link = host().link("veth-renamed");
    ASSERT_TRUE(link) << link.error().message;
    EXPECT_EQ(link->index, *index);
    EXPECT_EQ(link->master, *bridge);
    EXPECT_TRUE(link->up);
    EXPECT_EQ(link->mac, mac);
    EXPECT_EQ(link->mtu, 1280u);
    EXPECT_EQ(error_kind(host().link_index("veth-x")), ErrorKind::not_found);

    ASSERT_TRUE(host().set_link(*index, LinkChange{.up = false, .master = 0}));
    link = host().link("veth-renamed");
    ASSERT_TRUE(link);
    EXPECT_EQ(link->master, 0);
    EXPECT_FALSE(link->up);
}

TEST_F(RtnetlinkTest, set_link_moves_a_link_into_another_namespace) {
    Namespace other = Namespace::make();
    ASSERT_TRUE(other.nl);
    auto index = host().create_veth("veth-m", "veth-n", -1, 1500);
    ASSERT_TRUE(index) << index.error().message;
    auto peer = host().link_index("veth-n");
    ASSERT_TRUE(peer);

    LinkChange change;
    change.netns_fd = other.fd.get();
    change.name = "moved0";
    ASSERT_TRUE(host().set_link(*peer, change));
    EXPECT_EQ(error_kind(host().link_index("veth-n")), ErrorKind::not_found);
    auto moved = other.nl->link("moved0");
    ASSERT_TRUE(moved) << moved.error().message;
    EXPECT_EQ(moved->kind, "veth");
}

TEST_F(RtnetlinkTest, add_address_lists_it_once_and_adds_its_connected_route) {
    auto bridge = host().ensure_bridge("br-test", 1500);
    ASSERT_TRUE(bridge) << bridge.error().message;
    auto added = host().add_address(*bridge, prefix("10.200.3.1/24"));
    ASSERT_TRUE(added) << added.error().message;
    // Adding it again is not an error: a restarted daemon re-applies its networks.
    auto again = host().add_address(*bridge, prefix("10.200.3.1/24"));
    ASSERT_TRUE(again) << again.error().message;

    auto addresses = host().addresses(*bridge);
    ASSERT_TRUE(addresses) << addresses.error().message;
    EXPECT_EQ(*addresses, std::vector<Ipv4Prefix>{prefix("10.200.3.1/24")});

    auto routes = host().ipv4_routes();
    ASSERT_TRUE(routes) << routes.error().message;
    EXPECT_NE(std::ranges::find(*routes, prefix("10.200.3.0/24")), routes->end());

    auto lo_addresses = host().addresses(1);
    ASSERT_TRUE(lo_addresses);
    EXPECT_TRUE(lo_addresses->empty());  // a fresh namespace's lo is down and unaddressed
}

TEST_F(RtnetlinkTest, replace_default_route_twice_keeps_one_default_route) {
    auto bridge = host().ensure_bridge("br-test", 1500);
    ASSERT_TRUE(bridge);
    ASSERT_TRUE(host().add_address(*bridge, prefix("10.200.4.1/24")));
    auto first = host().replace_default_route(address("10.200.4.254"));
    ASSERT_TRUE(first) << first.error().message;
    auto second = host().replace_default_route(address("10.200.4.253"));
    ASSERT_TRUE(second) << second.error().message;

    auto routes = host().ipv4_routes();
    ASSERT_TRUE(routes);
    // The default route is left out of the list (it would overlap any subnet).
    EXPECT_EQ(*routes, std::vector<Ipv4Prefix>{prefix("10.200.4.0/24")});

    // A gateway no connected route reaches is refused, and the error says which route.
    auto unreachable = host().replace_default_route(address("192.0.2.1"));
    ASSERT_FALSE(unreachable);
    EXPECT_NE(unreachable.error().message.find("default route via 192.0.2.1"), std::string::npos)
        << unreachable.error().message;
}

TEST_F(RtnetlinkTest, delete_link_removes_the_pair) {
    Namespace container = Namespace::make();
    ASSERT_TRUE(container.nl);
    auto index = host().create_veth("veth-d", "eth0", container.fd.get(), 1500);
    ASSERT_TRUE(index);
    ASSERT_TRUE(host().delete_link(*index));
    EXPECT_EQ(error_kind(host().link_index("veth-d")), ErrorKind::not_found);
    EXPECT_EQ(error_kind(container.nl->link_index("eth0")), ErrorKind::not_found);

    auto again = host().delete_link(*index);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().sys_errno, ENODEV);
    EXPECT_NE(again.error().message.find("delete link " + std::to_string(*index)),
              std::string::npos)
        << again.error().message;
}

TEST_F(RtnetlinkTest, bridge_port_hairpin_is_switched_on_and_off) {
    auto bridge = host().ensure_bridge("br-test", 1500);
    ASSERT_TRUE(bridge);
    auto port = host().create_veth("veth-p", "veth-q", -1, 1500);
    ASSERT_TRUE(port);
    ASSERT_TRUE(host().set_link(*port, LinkChange{.master = *bridge}));

    auto off = host().bridge_port_hairpin(*port);
    ASSERT_TRUE(off) << off.error().message;
    EXPECT_FALSE(*off);
    auto set = host().set_bridge_port_hairpin(*port, true);
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_EQ(host().bridge_port_hairpin(*port), true);
    ASSERT_TRUE(host().set_bridge_port_hairpin(*port, false));
    EXPECT_EQ(host().bridge_port_hairpin(*port), false);

    auto peer = host().link_index("veth-q");
    ASSERT_TRUE(peer);
    auto not_a_port = host().set_bridge_port_hairpin(*peer, true);
    ASSERT_FALSE(not_a_port);
    EXPECT_NE(not_a_port.error().message.find("veth-q"), std::string::npos)
        << not_a_port.error().message;
}

TEST_F(RtnetlinkTest, errors_name_the_object) {
    auto missing = host().link_index("nope0");
    ASSERT_FALSE(missing);
    EXPECT_EQ(error_kind(missing), ErrorKind::not_found);
    EXPECT_EQ(missing.error().message, "link nope0 not found");

    ASSERT_TRUE(host().create_veth("veth-e", "veth-f", -1, 1500));
    auto duplicate = host().create_veth("veth-e", "veth-g", -1, 1500);
    ASSERT_FALSE(duplicate);
    EXPECT_EQ(duplicate.error().sys_errno, EEXIST);
    EXPECT_NE(duplicate.error().message.find("create veth veth-e"), std::string::npos)
        << duplicate.error().message;

    // A request by index fails naming the link by its name.
    auto index = host().link_index("veth-e");
    ASSERT_TRUE(index);
    auto tiny = host().set_link(*index, LinkChange{.mtu = 10});
    ASSERT_FALSE(tiny);
    EXPECT_EQ(tiny.error().sys_errno, EINVAL);
    EXPECT_NE(tiny.error().message.find("set link veth-e:"), std::string::npos)
        << tiny.error().message;

    auto bad_mtu = host().ensure_bridge("br-bad", 10);
    ASSERT_FALSE(bad_mtu);
    EXPECT_NE(bad_mtu.error().message.find("create bridge br-bad"), std::string::npos)
        << bad_mtu.error().message;
    EXPECT_EQ(error_kind(host().link_index("br-bad")), ErrorKind::not_found);
}

// A blocking TCP connect from `from_netns` to ip:port, with a timeout so a broken path fails
// the test instead of hanging it.
Result<UniqueFd> connect_from(int from_netns, Ipv4Address ip, uint16_t port) {
    auto fd = socket_in_netns(from_netns, AF_INET, SOCK_STREAM);
    if (!fd) return fd;
    timeval timeout{5, 0};
    setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = ip.network_order();
    if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
        return fail(Error::last_sys("connect to " + ip.text()));
    return fd;
}

// A listener bound to ip:port inside `netns`.
UniqueFd listen_in(int netns, Ipv4Address ip, uint16_t port) {
    auto fd = socket_in_netns(netns, AF_INET, SOCK_STREAM);
    EXPECT_TRUE(fd);
    if (!fd) return {};
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(port);
    at.sin_addr.s_addr = ip.network_order();
    EXPECT_EQ(::bind(fd->get(), reinterpret_cast<sockaddr*>(&at), sizeof at), 0) << errno;
    EXPECT_EQ(::listen(fd->get(), 4), 0) << errno;
    return std::move(*fd);
}

// Sends one byte from the client and reads it on the accepted side.
void expect_round_trip(int listener, int client) {
    ASSERT_EQ(::send(client, "x", 1, 0), 1);
    UniqueFd accepted(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(accepted);
    char c = 0;
    EXPECT_EQ(::recv(accepted.get(), &c, 1, 0), 1);
    EXPECT_EQ(c, 'x');
}

TEST_F(RtnetlinkTest, configured_container_reaches_the_host_over_the_bridge) {
    auto bridge = host().ensure_bridge("br-test", 1500);
    ASSERT_TRUE(bridge);
    ASSERT_TRUE(host().add_address(*bridge, prefix("10.200.5.1/24")));
    // An address off the subnet, reached only through the container's default route.
    ASSERT_TRUE(host().add_address(*bridge, prefix("10.201.0.1/32")));

    Namespace container = Namespace::make();
    ASSERT_TRUE(container.nl);
    auto veth = host().create_veth("veth-c", "eth0-tmp", container.fd.get(), 1500);
    ASSERT_TRUE(veth) << veth.error().message;
    ASSERT_TRUE(host().set_link(*veth, LinkChange{.up = true, .master = *bridge}));

    MacAddress mac{0x02, 0x42, 0x0a, 0xc8, 0x05, 0x02};
    auto configured = configure_container_link(*container.nl, "eth0-tmp", "eth0", mac,
                                               prefix("10.200.5.2/24"), address("10.200.5.1"));
    ASSERT_TRUE(configured) << configured.error().message;

    auto eth0 = container.nl->link("eth0");
    ASSERT_TRUE(eth0) << eth0.error().message;
    EXPECT_TRUE(eth0->up);
    EXPECT_EQ(eth0->mac, mac);
    EXPECT_EQ(container.nl->addresses(eth0->index), std::vector{prefix("10.200.5.2/24")});
    auto lo = container.nl->link("lo");
    ASSERT_TRUE(lo);
    EXPECT_TRUE(lo->up);

    for (const char* ip : {"10.200.5.1", "10.201.0.1"}) {
        UniqueFd listener = listen_in(host_.fd.get(), address(ip), 7070);
        auto client = connect_from(container.fd.get(), address(ip), 7070);
        ASSERT_TRUE(client) << client.error().message;
        expect_round_trip(listener.get(), client->get());
    }

    // Configuring again (a retried start) succeeds on a link already named eth0.
    auto again = configure_container_link(*container.nl, "eth0", mac, prefix("10.200.5.2/24"),
                                          address("10.200.5.1"));
    EXPECT_TRUE(again) << again.error().message;
}

TEST_F(RtnetlinkTest, internal_network_container_gets_no_default_route) {
    Namespace container = Namespace::make();
    ASSERT_TRUE(container.nl);
    ASSERT_TRUE(host().create_veth("veth-i", "eth0", container.fd.get(), 1500));
    auto configured = configure_container_link(*container.nl, "eth0", MacAddress{2, 0, 0, 0, 0, 9},
                                               prefix("10.200.6.2/24"), std::nullopt);
    ASSERT_TRUE(configured) << configured.error().message;
    auto routes = container.nl->ipv4_routes();
    ASSERT_TRUE(routes);
    EXPECT_EQ(*routes, std::vector<Ipv4Prefix>{prefix("10.200.6.0/24")});

    auto missing = configure_container_link(*container.nl, "eth9", MacAddress{2, 0, 0, 0, 0, 9},
                                            prefix("10.200.6.2/24"), std::nullopt);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message, "link eth9 not found");
}

double median_ms(std::vector<double> v) {
    std::ranges::sort(v);
    return v.empty() ? 0 : v[v.size() / 2];
}

// Not a benchmark (nothing is asserted on time): prints what a container's network costs on
// this machine, phase by phase, for the report.
TEST_F(RtnetlinkTest, prints_what_a_container_network_costs) {
    auto bridge = host().ensure_bridge("br-time", 1500);
    ASSERT_TRUE(bridge);
    ASSERT_TRUE(host().add_address(*bridge, prefix("10.202.0.1/16")));
    constexpr int runs = 50;
    using clock = std::chrono::steady_clock;
    auto ms = [](clock::time_point a, clock::time_point b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
    };
    std::vector<double> netns, veth, attach, configure, total, remove;
    std::vector<Namespace> kept;  // namespaces die after the loop (their teardown is async)
    for (int i = 0; i < runs; ++i) {
        auto t0 = clock::now();
        Namespace c = Namespace::make();
        ASSERT_TRUE(c.nl);
        auto t1 = clock::now();
        std::string name = "vb" + std::to_string(i);
        auto index = host().create_veth(name, "eth0-tmp", c.fd.get(), 1500);
        ASSERT_TRUE(index) << index.error().message;
        auto t2 = clock::now();
        ASSERT_TRUE(host().set_link(*index, LinkChange{.up = true, .master = *bridge}));
        auto t3 = clock::now();
        Ipv4Prefix ip{{prefix("10.202.0.0/16").address.value + 2 + uint32_t(i)}, 16};
        ASSERT_TRUE(configure_container_link(*c.nl, "eth0-tmp", "eth0", {2, 0x42, 0, 0, 0, 2}, ip,
                                             address("10.202.0.1")));
        auto t4 = clock::now();
        netns.push_back(ms(t0, t1));
        veth.push_back(ms(t1, t2));
        attach.push_back(ms(t2, t3));
        configure.push_back(ms(t3, t4));
        total.push_back(ms(t0, t4));
        if (i % 2 == 1) {
            auto t5 = clock::now();
            ASSERT_TRUE(host().delete_link(*index));
            remove.push_back(ms(t5, clock::now()));
        }
        kept.push_back(std::move(c));
    }
    std::printf(
        "container network, median of %d (ms): create_netns+open_in %.3f, create_veth %.3f, "
        "attach to bridge+up %.3f, configure_container_link %.3f, total %.3f; delete_link %.3f "
        "(median of %zu)\n",
        runs, median_ms(netns), median_ms(veth), median_ms(attach), median_ms(configure),
        median_ms(total), median_ms(remove), remove.size());
}

}  // namespace
}  // namespace berth::kernel
