// Published ports as the API states them: PortBindings (ranges, host IPs, udp), -P over
// ExposedPorts, Docker's errors, and the NetworkSettings.Ports / `docker ps` Ports shapes that
// `docker port` and `docker ps` print from.
#include <gtest/gtest.h>

#include "jobs/port_bindings.hpp"

using namespace berth;

namespace {

kernel::Ipv4Address ip(const char* s) { return *kernel::Ipv4Address::parse(s); }

}  // namespace

TEST(PortBindings, bindings_become_requests_in_port_order) {
    auto r = jobs::port_requests(
        "{}", R"({"PortBindings":{"81/tcp":[{"HostIp":"","HostPort":"9001"}],)"
              R"("80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"},{"HostIp":"","HostPort":""}],)"
              R"("53/udp":[{"HostIp":"","HostPort":"5353"}]}})");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0].container_port, 53);
    EXPECT_EQ((*r)[0].protocol, kernel::Protocol::udp);
    EXPECT_EQ((*r)[0].host_port, 5353);
    EXPECT_EQ((*r)[1].container_port, 80);
    EXPECT_EQ((*r)[1].host_ip, ip("127.0.0.1"));
    EXPECT_EQ((*r)[1].host_port, 8080);
    EXPECT_EQ((*r)[2].host_port, 0);  // HostPort "": any free port
    EXPECT_EQ((*r)[3].container_port, 81);
}

TEST(PortBindings, host_port_range_and_publish_all) {
    auto r = jobs::port_requests(
        R"({"ExposedPorts":{"80/tcp":{},"7000/tcp":{},"9/udp":{}}})",
        R"({"PublishAllPorts":true,"PortBindings":{"80/tcp":[{"HostPort":"8000-8010"}]}})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[0].container_port, 9);
    EXPECT_EQ((*r)[0].host_port, 0);
    EXPECT_EQ((*r)[1].container_port, 80);
    EXPECT_EQ((*r)[1].host_port, 8000);
    EXPECT_EQ((*r)[1].host_port_last, 8010);
    EXPECT_EQ((*r)[2].container_port, 7000);
    // Exposed without -P: nothing published.
    auto none = jobs::port_requests(R"({"ExposedPorts":{"80/tcp":{}}})", "{}");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
}

TEST(PortBindings, bad_bindings_get_dockers_errors) {
    auto bad_ip = jobs::port_requests("{}", R"({"PortBindings":{"80/tcp":[{"HostIp":"1.2.3","HostPort":"1"}]}})");
    ASSERT_FALSE(bad_ip);
    EXPECT_EQ(bad_ip.error().message, "invalid IP address in PortBindings: 1.2.3");
    auto bad_port = jobs::port_requests("{}", R"({"PortBindings":{"80/tcp":[{"HostPort":"70000"}]}})");
    ASSERT_FALSE(bad_port);
    EXPECT_EQ(bad_port.error().message, "invalid port specification: \"70000\"");
    auto bad_proto = jobs::port_requests("{}", R"({"PortBindings":{"80/sctpx":[{"HostPort":"1"}]}})");
    ASSERT_FALSE(bad_proto);
    EXPECT_EQ(bad_proto.error().message, "invalid proto: sctpx");
}

TEST(PortBindings, network_settings_ports_and_ps_rows) {
    auto keys = jobs::port_keys(R"({"ExposedPorts":{"443/tcp":{}}})",
                                R"({"PortBindings":{"80/tcp":[{"HostPort":"8080"}]}})");
    ASSERT_EQ(keys, (std::vector<std::string>{"80/tcp", "443/tcp"}));
    std::vector<kernel::PortForward> published = {
        {kernel::Protocol::tcp, ip("0.0.0.0"), 8080, ip("172.17.0.2"), 80}};
    JsonWriter w;
    jobs::write_network_ports(w, keys, published);
    EXPECT_EQ(w.str(), R"({"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"443/tcp":null})");
    JsonWriter l;
    jobs::write_list_ports(l, keys, published);
    EXPECT_EQ(l.str(), R"([{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},)"
                       R"({"PrivatePort":443,"Type":"tcp"}])");
}
