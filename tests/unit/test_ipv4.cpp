// kernel::Ipv4Address and Ipv4Prefix: strict dotted-quad parsing (as Go's net.ParseIP and
// ParseCIDR that Docker's checks use), printing, and the prefix arithmetic IPAM relies on.
#include <gtest/gtest.h>

#include <cstring>

#include "kernel/ipv4.hpp"

using berth::kernel::Ipv4Address;
using berth::kernel::Ipv4Prefix;

TEST(Ipv4Address, parses_dotted_quads_into_host_order) {
    auto a = Ipv4Address::parse("172.17.0.1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value, 0xAC110001u);
    EXPECT_EQ(a->text(), "172.17.0.1");
    EXPECT_EQ(Ipv4Address::parse("0.0.0.0")->value, 0u);
    EXPECT_TRUE(Ipv4Address::parse("0.0.0.0")->unspecified());
    EXPECT_EQ(Ipv4Address::parse("255.255.255.255")->value, 0xFFFFFFFFu);
    EXPECT_TRUE(Ipv4Address::parse("127.0.0.53")->loopback());
    EXPECT_FALSE(Ipv4Address::parse("128.0.0.1")->loopback());
}

TEST(Ipv4Address, refuses_what_go_refuses) {
    for (const char* bad :
         {"", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "01.2.3.4", "1.2.3.4 ",
          " 1.2.3.4", "1..3.4", "1.2.3.", "a.b.c.d", "::1", "1.2.3.4/8", "1.2.3.0x1", "1000.1.1.1"})
        EXPECT_FALSE(Ipv4Address::parse(bad)) << bad;
}

TEST(Ipv4Address, network_order_round_trips) {
    auto a = *Ipv4Address::parse("10.1.2.3");
    EXPECT_EQ(Ipv4Address::from_network_order(a.network_order()), a);
    uint32_t be = a.network_order();
    unsigned char b[4];
    std::memcpy(b, &be, 4);  // the first byte on the wire is the first octet
    EXPECT_EQ(b[0], 10);
    EXPECT_EQ(b[3], 3);
}

TEST(Ipv4Prefix, parses_address_and_length_keeping_host_bits) {
    auto p = Ipv4Prefix::parse("10.1.0.1/16");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->address.text(), "10.1.0.1");
    EXPECT_EQ(p->length, 16);
    EXPECT_EQ(p->text(), "10.1.0.1/16");
    EXPECT_EQ(p->network().text(), "10.1.0.0");
    EXPECT_EQ(p->broadcast().text(), "10.1.255.255");
    EXPECT_EQ(p->mask(), 0xFFFF0000u);
    EXPECT_EQ(Ipv4Prefix::parse("0.0.0.0/0")->mask(), 0u);
    EXPECT_EQ(Ipv4Prefix::parse("1.2.3.4/32")->broadcast().text(), "1.2.3.4");
    for (const char* bad : {"10.1.0.0", "10.1.0.0/", "10.1.0.0/33", "10.1.0.0/016", "10.1.0/16",
                            "10.1.0.0/1a", "/16", "10.1.0.0/-1", "10.1.0.0/16/1"})
        EXPECT_FALSE(Ipv4Prefix::parse(bad)) << bad;
}

TEST(Ipv4Prefix, contains_and_overlaps) {
    auto p = *Ipv4Prefix::parse("172.18.0.0/16");
    EXPECT_TRUE(p.contains(*Ipv4Address::parse("172.18.255.254")));
    EXPECT_FALSE(p.contains(*Ipv4Address::parse("172.19.0.1")));
    EXPECT_TRUE(p.overlaps(*Ipv4Prefix::parse("172.18.5.0/24")));
    EXPECT_TRUE(Ipv4Prefix::parse("172.18.5.0/24")->overlaps(p));
    EXPECT_TRUE(p.overlaps(*Ipv4Prefix::parse("172.0.0.0/8")));
    EXPECT_FALSE(p.overlaps(*Ipv4Prefix::parse("172.19.0.0/16")));
    EXPECT_TRUE(Ipv4Prefix::parse("0.0.0.0/0")->overlaps(p));
}
