// drivers::net IPAM without a daemon: which address comes next (libnetwork's local-network
// order), what is never handed out, reservations and their errors, Docker's MAC addresses and
// the subnet a network gets without --subnet.
#include <gtest/gtest.h>

#include <vector>

#include "drivers/network/ipam.hpp"

using namespace berth;
using namespace berth::drivers::net;
using kernel::Ipv4Address;
using kernel::Ipv4Prefix;

namespace {

Ipv4Address ip(const char* s) {
    return *Ipv4Address::parse(s);
}
Ipv4Prefix prefix(const char* s) {
    return *Ipv4Prefix::parse(s);
}

Ipam pool(const char* subnet, const char* gateway, const char* range = nullptr) {
    AddressPool p{prefix(subnet), std::nullopt, ip(gateway)};
    if (range) p.ip_range = prefix(range);
    return Ipam(p);
}

std::string next(Ipam& ipam) {
    auto a = ipam.allocate();
    return a ? a->text() : "error: " + a.error().message;
}

}  // namespace

TEST(Ipam, hands_out_addresses_after_the_gateway_in_order) {
    auto ipam = pool("172.18.0.0/16", "172.18.0.1");
    EXPECT_EQ(next(ipam), "172.18.0.2");
    EXPECT_EQ(next(ipam), "172.18.0.3");
    EXPECT_EQ(ipam.allocated(), 2u);
    EXPECT_TRUE(ipam.in_use(ip("172.18.0.1")));  // the gateway
    EXPECT_TRUE(ipam.in_use(ip("172.18.0.0")));  // the network address
    EXPECT_FALSE(ipam.in_use(ip("172.18.0.4")));
}

TEST(Ipam, a_released_address_comes_back_only_after_the_range_wraps) {
    // A stopped container's namespace (with that address and its MAC) is destroyed by the
    // kernel in the background: handing the address out again at once would put two ports
    // with one MAC on the bridge for a while.
    auto ipam = pool("10.0.0.0/29", "10.0.0.1");
    EXPECT_EQ(next(ipam), "10.0.0.2");
    EXPECT_EQ(next(ipam), "10.0.0.3");
    EXPECT_EQ(next(ipam), "10.0.0.4");
    ipam.release(ip("10.0.0.3"));
    EXPECT_FALSE(ipam.in_use(ip("10.0.0.3")));
    EXPECT_EQ(next(ipam), "10.0.0.5");
    EXPECT_EQ(next(ipam), "10.0.0.6");
    EXPECT_EQ(next(ipam), "10.0.0.3");  // wrapped
    EXPECT_EQ(next(ipam), "error: no available addresses on this pool");
}

TEST(Ipam, the_gateway_network_and_broadcast_addresses_are_never_handed_out) {
    auto ipam = pool("10.0.0.0/29", "10.0.0.3");
    std::vector<std::string> got;
    for (int i = 0; i < 5; ++i) got.push_back(next(ipam));
    EXPECT_EQ(got, (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5",
                                             "10.0.0.6"}));
    EXPECT_EQ(next(ipam), "error: no available addresses on this pool");
    EXPECT_EQ(ipam.allocate().error().kind, ErrorKind::unavailable);
    ipam.release(ip("10.0.0.3"));  // the gateway stays taken
    ipam.release(ip("10.0.0.7"));  // so does the broadcast address
    EXPECT_EQ(next(ipam), "error: no available addresses on this pool");
}

TEST(Ipam, allocates_inside_the_ip_range_only) {
    // libnetwork reserves only the subnet's own network/broadcast, so a range's first address
    // is handed out.
    auto ipam = pool("10.10.0.0/24", "10.10.0.254", "10.10.0.128/25");
    EXPECT_EQ(next(ipam), "10.10.0.128");
    int more = 0;
    while (ipam.allocate()) ++more;
    EXPECT_EQ(more, 128 - 1 - 2);  // less the first, the gateway (.254) and broadcast (.255)
    EXPECT_FALSE(ipam.in_use(ip("10.10.0.5")));
    // Outside the range but inside the subnet: --ip may still have it.
    EXPECT_TRUE(ipam.reserve(ip("10.10.0.5")));
}

TEST(Ipam, point_to_point_and_host_prefixes_use_every_address) {
    auto p31 = pool("10.0.0.0/31", "10.0.0.0");
    EXPECT_EQ(next(p31), "10.0.0.1");
    EXPECT_FALSE(p31.allocate());
    auto p32 = pool("10.0.0.9/32", "10.0.0.1");  // gateway outside: nothing else reserved
    EXPECT_EQ(next(p32), "10.0.0.9");
    EXPECT_FALSE(p32.allocate());
}

TEST(Ipam, reserve_refuses_taken_and_foreign_addresses_with_dockers_words) {
    auto ipam = pool("172.20.0.0/16", "172.20.0.1");
    ASSERT_TRUE(ipam.reserve(ip("172.20.0.2")));
    auto again = ipam.reserve(ip("172.20.0.2"));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind, ErrorKind::forbidden);
    EXPECT_EQ(again.error().message, "Address already in use");
    EXPECT_EQ(ipam.reserve(ip("172.20.0.1")).error().message, "Address already in use");
    EXPECT_EQ(ipam.reserve(ip("172.20.255.255")).error().message, "Address already in use");
    auto outside = ipam.reserve(ip("172.21.0.2"));
    ASSERT_FALSE(outside);
    EXPECT_EQ(outside.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(outside.error().message,
              "no configured subnet or ip-range contain the IP address 172.21.0.2");
    EXPECT_EQ(next(ipam), "172.20.0.3");  // the reserved one is skipped
}

TEST(Ipam, default_gateway_is_the_first_address_libnetwork_hands_out) {
    EXPECT_EQ(default_gateway(prefix("172.18.0.0/16"), std::nullopt).text(), "172.18.0.1");
    EXPECT_EQ(default_gateway(prefix("10.1.0.0/16"), prefix("10.1.5.0/24")).text(), "10.1.5.0");
    EXPECT_EQ(default_gateway(prefix("10.1.0.0/16"), prefix("10.1.0.0/24")).text(), "10.1.0.1");
    EXPECT_EQ(default_gateway(prefix("10.0.0.0/31"), std::nullopt).text(), "10.0.0.0");
}

TEST(Ipam, macs_are_02_42_and_the_address) {
    EXPECT_EQ(mac_text(mac_for(ip("172.17.0.2"))), "02:42:ac:11:00:02");
    EXPECT_EQ(mac_text(mac_for(ip("10.255.0.171"))), "02:42:0a:ff:00:ab");
    kernel::MacAddress m = mac_for(ip("1.2.3.4"));
    EXPECT_EQ(m[0], 0x02);
    EXPECT_EQ(m[5], 0x04);
}

TEST(ChooseSubnet, takes_the_first_default_pool_nothing_overlaps) {
    std::vector<Ipv4Prefix> none;
    EXPECT_EQ(choose_subnet(none, none)->text(), "172.17.0.0/16");
    std::vector<Ipv4Prefix> taken{prefix("172.17.0.0/16")};
    EXPECT_EQ(choose_subnet(taken, none)->text(), "172.18.0.0/16");
    std::vector<Ipv4Prefix> routes{prefix("172.18.3.0/24"), prefix("0.0.0.0/0")};
    EXPECT_EQ(choose_subnet(taken, routes)->text(), "172.19.0.0/16");  // default route ignored
    std::vector<Ipv4Prefix> wide{prefix("172.16.0.0/12")};
    EXPECT_EQ(choose_subnet(wide, none)->text(), "192.168.0.0/20");
    wide.push_back(prefix("192.168.0.0/19"));
    EXPECT_EQ(choose_subnet(wide, none)->text(), "192.168.32.0/20");
}

TEST(ChooseSubnet, says_so_when_every_pool_is_taken) {
    std::vector<Ipv4Prefix> taken{prefix("172.16.0.0/12"), prefix("192.168.0.0/16")};
    auto r = choose_subnet(taken, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(r.error().message, "all predefined address pools have been fully subnetted");
}
