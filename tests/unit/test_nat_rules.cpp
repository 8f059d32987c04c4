// The nft text berth sends for its NAT table (the kernel tests check what it does).
#include <gtest/gtest.h>

#include "kernel/nat.hpp"

using namespace berth::kernel;

namespace {

Ipv4Address ip(const char* text) {
    return *Ipv4Address::parse(text);
}

const std::vector<NatBridge> bridges = {{"berth0", *Ipv4Prefix::parse("172.17.0.1/16"), false},
                                        {"br-1", *Ipv4Prefix::parse("172.18.0.1/16"), true}};

}  // namespace

TEST(NatRules, rebuild_replaces_the_table_in_one_transaction) {
    std::string t = nat_rebuild_commands("berth", bridges, {});
    EXPECT_TRUE(t.starts_with("add table ip berth\ndelete table ip berth\ntable ip berth {\n"))
        << t;
    EXPECT_EQ(t.find("add element"), std::string::npos);
    // Loopback addresses only through lo, whatever route_localnet lets in.
    EXPECT_NE(t.find("type filter hook prerouting priority raw; policy accept;\n\t\tiifname != "
                     "\"lo\" ip daddr 127.0.0.0/8 drop"),
              std::string::npos)
        << t;
}

TEST(NatRules, internal_bridge_gets_no_outbound_masquerade_and_is_fenced) {
    std::string t = nat_rebuild_commands("berth", bridges, {});
    EXPECT_NE(t.find("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"), std::string::npos);
    EXPECT_EQ(t.find("ip saddr 172.18.0.0/16 oifname != \"br-1\" masquerade"), std::string::npos);
    EXPECT_NE(t.find("iifname \"br-1\" oifname != \"br-1\" drop"), std::string::npos);
    EXPECT_NE(t.find("iifname . oifname { \"berth0\" . \"br-1\", \"br-1\" . \"berth0\" } drop"),
              std::string::npos)
        << t;
}

TEST(NatRules, forwards_go_to_the_map_of_their_protocol_and_host_address) {
    std::vector<PortForward> f = {{Protocol::tcp, {}, 8080, ip("172.17.0.2"), 80},
                                  {Protocol::tcp, ip("127.0.0.1"), 8081, ip("172.17.0.2"), 80},
                                  {Protocol::udp, {}, 53, ip("172.17.0.3"), 5353}};
    EXPECT_EQ(nat_add_commands("berth", f),
              "add element ip berth tcp_any { 8080 : 172.17.0.2 . 80 }\n"
              "add element ip berth tcp_ip { 127.0.0.1 . 8081 : 172.17.0.2 . 80 }\n"
              "add element ip berth udp_any { 53 : 172.17.0.3 . 5353 }\n");
    // Removal adds first so that deleting an element already gone is no error.
    EXPECT_EQ(nat_remove_commands("t", std::span(f).subspan(0, 1)),
              "add element ip t tcp_any { 8080 : 172.17.0.2 . 80 }\n"
              "delete element ip t tcp_any { 8080 }\n");
    EXPECT_EQ(nat_add_commands("berth", {}), "");
}
