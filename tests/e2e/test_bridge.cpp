// Container networking through the docker CLI: the default bridge (addresses, gateway,
// /etc/hosts and resolv.conf), published ports from the daemon's host namespace and from other
// containers (tcp, udp, ranges, -P), user networks with names and aliases through the embedded
// DNS, --ip, isolation between networks, --internal, connect/disconnect, a berthd restart, and
// the bad input of the networking issue with nothing left half-made. Every daemon here runs in
// a network namespace of its own (BerthDaemon's default): nothing touches the host's network.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"

using namespace berth::e2e;

namespace {

class BridgeTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
        if (access("/usr/bin/nsenter", X_OK) != 0) GTEST_SKIP() << "needs nsenter (util-linux)";
    }
    std::string inspect(const std::string& ref, const std::string& format) {
        auto r = d("inspect " + ref + " --format '" + format + "'");
        return r.output.empty() ? r.output : r.output.substr(0, r.output.size() - 1);
    }
    // A busybox httpd answering `body` on port 80, detached.
    CommandResult web(const std::string& name, const std::string& flags,
                      const std::string& body = "hello") {
        return d("run -d --name " + name + " " + flags + " busybox sh -c 'mkdir -p /www && echo " +
                 body + " > /www/index.html && exec busybox httpd -f -p 80 -h /www'");
    }
    // `cmd` in the daemon's network namespace (its "host").
    CommandResult host(const std::string& cmd) { return run_command(daemon.in_netns(cmd)); }
    // wget from the daemon's host namespace, retried while a just-started server comes up.
    std::string host_fetch(const std::string& url) {
        std::string out;
        eventually(
            [&] {
                out = host("curl -s -m 2 " + url).output;
                return !out.empty();
            },
            Millis(5000));
        return out;
    }
    // GET / from a new container on `flags`' network: names are looked up with busybox's own
    // nslookup (the image's static busybox has no NSS for getaddrinfo, and its wget crashes),
    // then fetched with nc; prints the body only.
    std::string container_fetch(const std::string& flags, const std::string& url) {
        std::string rest = url.substr(url.find("//") + 2);
        std::string host = rest.substr(0, rest.find_first_of(":/"));
        std::string port = "80";
        if (size_t colon = rest.find(':'); colon != std::string::npos)
            port = rest.substr(colon + 1, rest.find('/', colon) - colon - 1);
        std::string script =
            "h=" + host +
            "; case $h in *[a-z]*) h=$(busybox nslookup $h 2>/dev/null | busybox awk "
            "'/^Address: /{print $2}' | busybox tail -n 1);; esac; "
            "[ -n \"$h\" ] && printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 $h " + port +
            " | busybox sed '1,/^\\r$/d'";
        std::string quoted = "'";
        for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return d("run --rm " + flags + " busybox sh -c " + quoted + "' 2>&1").output;
    }
};

}  // namespace

TEST_F(BridgeTest, default_bridge_gives_an_address_a_gateway_and_docker_files) {
    auto r = d("run --rm --name addr busybox sh -c 'busybox ip -4 addr show eth0; busybox ip route; cat "
               "/etc/hosts; hostname'");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_NE(r.output.find("inet 172.17.0."), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("/16"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("default via 172.17.0.1 dev eth0"), std::string::npos) << r.output;
    // /etc/hosts ends with "<ip>\t<hostname>" as dockerd writes it.
    EXPECT_NE(r.output.find("\t" + r.output.substr(r.output.rfind('\n', r.output.size() - 2) + 1,
                                                      12)),
              std::string::npos)
        << r.output;
    // The bridge and its gateway address are in the daemon's namespace.
    auto link = host("ip -4 addr show berth0");
    EXPECT_NE(link.output.find("inet 172.17.0.1/16"), std::string::npos) << link.output;
    auto net = d("network inspect bridge --format '{{(index .IPAM.Config 0).Subnet}} "
                 "{{(index .IPAM.Config 0).Gateway}}'");
    EXPECT_EQ(net.output, "172.17.0.0/16 172.17.0.1\n") << net.error;
    // host and none containers name their predefined network, with no address.
    ASSERT_EQ(d("create --name onhost --network host busybox true").exit_code, 0);
    EXPECT_EQ(inspect("onhost", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}"),
              "host");
    EXPECT_EQ(d("ps -a --filter network=host --format '{{.Names}}'").output, "onhost\n");
}

TEST_F(BridgeTest, containers_reach_each_other_by_ip_and_inspect_shows_it) {
    ASSERT_EQ(web("srv", "").exit_code, 0);
    std::string ip = inspect("srv", "{{.NetworkSettings.IPAddress}}");
    ASSERT_TRUE(ip.starts_with("172.17.0.")) << ip;
    EXPECT_EQ(inspect("srv", "{{.NetworkSettings.Networks.bridge.IPAddress}}"), ip);
    EXPECT_EQ(inspect("srv", "{{.NetworkSettings.Gateway}}"), "172.17.0.1");
    EXPECT_EQ(inspect("srv", "{{.NetworkSettings.IPPrefixLen}}"), "16");
    // Docker's MAC: 02:42 and the address's bytes.
    EXPECT_TRUE(inspect("srv", "{{.NetworkSettings.MacAddress}}").starts_with("02:42:ac:11:00:"));
    std::string out;
    eventually([&] { return (out = container_fetch("", "http://" + ip + "/")) == "hello\n"; },
               Millis(5000));
    EXPECT_EQ(out, "hello\n");
    // The bridge network's inspect lists the container.
    EXPECT_NE(d("network inspect bridge").output.find("\"Name\": \"srv\""), std::string::npos);
}

TEST_F(BridgeTest, published_tcp_port_reaches_the_container_from_host_and_containers) {
    ASSERT_EQ(web("pub", "-p 8080:80").exit_code, 0);
    EXPECT_EQ(host_fetch("http://127.0.0.1:8080/"), "hello\n");
    EXPECT_EQ(host_fetch("http://172.17.0.1:8080/"), "hello\n");
    // From another container through the host's address (hairpin through the bridge).
    EXPECT_EQ(container_fetch("", "http://172.17.0.1:8080/"), "hello\n");
    EXPECT_EQ(d("port pub").output, "80/tcp -> 0.0.0.0:8080\n");
    auto ps = d("ps --format '{{.Ports}}'");
    EXPECT_EQ(ps.output, "0.0.0.0:8080->80/tcp\n");
    EXPECT_EQ(d("ps --filter publish=8080 --format '{{.Names}}'").output, "pub\n");
    EXPECT_EQ(d("ps --filter publish=8081 --format '{{.Names}}'").output, "");
    EXPECT_EQ(d("ps --filter network=bridge --format '{{.Names}} {{.Networks}}'").output,
              "pub bridge\n");
    // Stopped: the rule is gone and the port is free again.
    ASSERT_EQ(d("rm -f pub").exit_code, 0);
    auto gone = host("curl -s -m 2 http://127.0.0.1:8080/");
    EXPECT_NE(gone.exit_code, 0) << gone.output;
    auto rules = host("nft list table ip berth");
    EXPECT_EQ(rules.output.find("8080"), std::string::npos) << rules.output;
}

TEST_F(BridgeTest, published_udp_port_and_port_ranges_and_publish_all) {
    ASSERT_EQ(d(std::string("run -d --name udp -p 5353:53/udp -v ") + UDP_ECHO_PATH +
                ":/udp_echo:ro busybox /udp_echo 53")
                  .exit_code,
              0);
    // A datagram from the daemon's host to the published port, and the container's answer.
    std::string answer;
    eventually(
        [&] {
            answer = host("python3 -c \"import socket; s=socket.socket(socket.AF_INET, "
                          "socket.SOCK_DGRAM); s.settimeout(0.5); s.sendto(b'ping-over-udp', "
                          "('127.0.0.1', 5353)); print(s.recv(100).decode())\" 2>/dev/null")
                         .output;
            return !answer.empty();
        },
        Millis(5000));
    EXPECT_EQ(answer, "echo:ping-over-udp\n");
    EXPECT_NE(d("logs udp").output.find("ping-over-udp"), std::string::npos);
    auto range = d("run -d --name rng -p 9000-9001:80-81 busybox sleep 100");
    ASSERT_EQ(range.exit_code, 0) << range.error;
    EXPECT_EQ(d("port rng").output, "80/tcp -> 0.0.0.0:9000\n81/tcp -> 0.0.0.0:9001\n");
    ASSERT_EQ(d("run -d --name all --expose 7000 -P busybox sleep 100").exit_code, 0);
    std::string port = d("port all 7000").output;
    EXPECT_TRUE(port.starts_with("0.0.0.0:")) << port;
    EXPECT_NE(port, "0.0.0.0:0\n");
    // A host-address-specific binding.
    ASSERT_EQ(web("lo", "-p 127.0.0.1:8081:80").exit_code, 0);
    EXPECT_EQ(host_fetch("http://127.0.0.1:8081/"), "hello\n");
    EXPECT_EQ(d("port lo").output, "80/tcp -> 127.0.0.1:8081\n");
}

TEST_F(BridgeTest, a_udp_client_reaches_the_container_that_publishes_the_port_now) {
    // One client address and port throughout: its flow's DNAT is decided at its first datagram
    // and kept while datagrams come, so the old container's flow must be forgotten.
    auto ask = [&](const std::string& word) {
        return host("python3 -c \"import socket; s=socket.socket(socket.AF_INET, "
                    "socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                    "s.bind(('127.0.0.1', 40001)); s.settimeout(0.5); s.sendto(b'" +
                    word + "', ('127.0.0.1', 5354)); print(s.recv(100).decode())\" 2>/dev/null")
            .output;
    };
    auto echo = [&](const std::string& name) {
        return d("run -d --name " + name + " -p 5354:53/udp -v " + std::string(UDP_ECHO_PATH) +
                 ":/udp_echo:ro busybox /udp_echo 53")
            .exit_code;
    };
    ASSERT_EQ(echo("u1"), 0);
    std::string answer;
    eventually([&] { return (answer = ask("one")) == "echo:one\n"; }, Millis(5000));
    ASSERT_EQ(answer, "echo:one\n");
    ASSERT_EQ(d("rm -f u1").exit_code, 0);
    ASSERT_EQ(echo("u2"), 0);
    eventually([&] { return (answer = ask("two")) == "echo:two\n"; }, Millis(5000));
    EXPECT_EQ(answer, "echo:two\n");
    EXPECT_NE(d("logs u2").output.find("two"), std::string::npos);
}

TEST_F(BridgeTest, user_network_names_and_aliases_resolve_through_embedded_dns) {
    ASSERT_EQ(d("network create appnet").exit_code, 0);
    ASSERT_EQ(web("api", "--network appnet --network-alias backend").exit_code, 0);
    std::string out;
    eventually([&] { return (out = container_fetch("--network appnet", "http://api/")) == "hello\n"; },
               Millis(5000));
    EXPECT_EQ(out, "hello\n");
    EXPECT_EQ(container_fetch("--network appnet", "http://backend/"), "hello\n");
    auto resolv = d("run --rm --network appnet busybox cat /etc/resolv.conf");
    EXPECT_NE(resolv.output.find("nameserver 127.0.0.11"), std::string::npos) << resolv.output;
    auto look = d("run --rm --network appnet busybox busybox nslookup api 127.0.0.11");
    EXPECT_NE(look.output.find(inspect("api", "{{.NetworkSettings.Networks.appnet.IPAddress}}")),
              std::string::npos)
        << look.output << look.error;
    // A rename is seen by the embedded DNS at once.
    ASSERT_EQ(d("rename api api2").exit_code, 0);
    EXPECT_EQ(container_fetch("--network appnet", "http://api2/"), "hello\n");
    // The default bridge has no names (as Docker).
    EXPECT_NE(container_fetch("", "http://api2/"), "hello\n");
}

// A DNS server on the daemon's host loopback that answers every A question with 10.9.9.9.
constexpr const char* fake_upstream = R"(import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 53))
while True:
    q, peer = s.recvfrom(512)
    end = 12
    while q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    answer = b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04' + bytes([10, 9, 9, 9])
    s.sendto(q[:2] + b'\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00' + question + answer, peer)
)";

TEST_F(BridgeTest, names_berth_does_not_know_go_to_the_containers_dns_servers) {
    std::ofstream(daemon.dir() + "/upstream.py") << fake_upstream;
    auto server = host("timeout 30 python3 " + daemon.dir() + "/upstream.py >/dev/null 2>&1 & echo $!");
    ASSERT_EQ(server.exit_code, 0);
    ASSERT_EQ(d("network create ext").exit_code, 0);
    std::string out;
    eventually(
        [&] {
            out = d("run --rm --network ext --dns 127.0.0.1 busybox busybox nslookup "
                    "somewhere.example 2>&1")
                      .output;
            return out.find("10.9.9.9") != std::string::npos;
        },
        Millis(8000));
    EXPECT_NE(out.find("10.9.9.9"), std::string::npos) << out;
    // resolv.conf still names the embedded server.
    auto resolv = d("run --rm --network ext --dns 127.0.0.1 busybox cat /etc/resolv.conf");
    EXPECT_NE(resolv.output.find("nameserver 127.0.0.11"), std::string::npos) << resolv.output;
    run_command("kill " + server.output);
}

TEST_F(BridgeTest, static_ip_and_isolation_between_networks) {
    ASSERT_EQ(d("network create --subnet 10.77.0.0/24 --gateway 10.77.0.254 neta").exit_code, 0);
    ASSERT_EQ(d("network create --subnet 10.78.0.0/24 netb").exit_code, 0);
    ASSERT_EQ(web("fixed", "--network neta --ip 10.77.0.50").exit_code, 0);
    EXPECT_EQ(inspect("fixed", "{{.NetworkSettings.Networks.neta.IPAddress}}"), "10.77.0.50");
    EXPECT_EQ(inspect("fixed", "{{.NetworkSettings.Networks.neta.Gateway}}"), "10.77.0.254");
    std::string out;
    eventually([&] { return (out = container_fetch("--network neta", "http://10.77.0.50/")) == "hello\n"; },
               Millis(5000));
    EXPECT_EQ(out, "hello\n");
    // Another network cannot reach it, by address or by name.
    EXPECT_NE(container_fetch("--network netb", "http://10.77.0.50/"), "hello\n");
    EXPECT_NE(container_fetch("--network netb", "http://fixed/"), "hello\n");
    EXPECT_NE(container_fetch("", "http://10.77.0.50/"), "hello\n");
}

TEST_F(BridgeTest, internal_network_has_no_way_out) {
    ASSERT_EQ(d("network create --internal sealed").exit_code, 0);
    auto r = d("run --rm --network sealed busybox busybox ip route");
    EXPECT_EQ(r.output.find("default"), std::string::npos) << r.output;
    ASSERT_EQ(web("outside", "").exit_code, 0);
    std::string ip = inspect("outside", "{{.NetworkSettings.IPAddress}}");
    EXPECT_NE(container_fetch("--network sealed", "http://" + ip + "/"), "hello\n");
}

TEST_F(BridgeTest, connect_and_disconnect_a_running_container) {
    ASSERT_EQ(d("network create side").exit_code, 0);
    ASSERT_EQ(web("multi", "").exit_code, 0);
    ASSERT_EQ(d("network connect --alias other side multi").exit_code, 0);
    std::string out;
    eventually([&] { return (out = container_fetch("--network side", "http://other/")) == "hello\n"; },
               Millis(5000));
    EXPECT_EQ(out, "hello\n");
    EXPECT_NE(d("exec multi busybox ip -4 addr show eth1").output.find("inet "), std::string::npos);
    ASSERT_EQ(d("network disconnect side multi").exit_code, 0);
    EXPECT_EQ(d("exec multi busybox ip addr").output.find("eth1"), std::string::npos);
    EXPECT_NE(container_fetch("--network side", "http://multi/"), "hello\n");
    EXPECT_EQ(d("network rm side").exit_code, 0);
}

TEST_F(BridgeTest, berthd_restart_keeps_addresses_and_published_ports) {
    ASSERT_EQ(web("kept", "--restart always -p 8090:80").exit_code, 0);
    ASSERT_EQ(d("network create keepnet").exit_code, 0);
    ASSERT_EQ(web("kept2", "--restart always --network keepnet").exit_code, 0);
    std::string ip = inspect("kept", "{{.NetworkSettings.IPAddress}}");
    std::string ip2 = inspect("kept2", "{{.NetworkSettings.Networks.keepnet.IPAddress}}");
    EXPECT_EQ(host_fetch("http://127.0.0.1:8090/"), "hello\n");
    ASSERT_EQ(daemon.stop(), 0);
    ASSERT_TRUE(daemon.start());
    EXPECT_TRUE(eventually([&] { return inspect("kept", "{{.State.Status}}") == "running"; },
                           Millis(10000)));
    EXPECT_EQ(inspect("kept", "{{.NetworkSettings.IPAddress}}"), ip);
    EXPECT_EQ(inspect("kept2", "{{.NetworkSettings.Networks.keepnet.IPAddress}}"), ip2);
    EXPECT_EQ(host_fetch("http://127.0.0.1:8090/"), "hello\n");
    // Rebuilt, not doubled: one berth table with one element for the port.
    auto rules = host("nft list table ip berth");
    EXPECT_EQ(rules.output.find("8090"), rules.output.rfind("8090")) << rules.output;
}

TEST_F(BridgeTest, port_in_use_leaves_nothing_half_made) {
    // Something on the host holds 8085 already.
    auto holder = run_command(daemon.in_netns("busybox nc -l -p 8085 >/dev/null 2>&1 & echo $!"));
    ASSERT_EQ(holder.exit_code, 0);
    usleep(200000);
    auto r = web("busy", "-p 8085:80");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("8085"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("address already in use"), std::string::npos) << r.error;
    EXPECT_EQ(inspect("busy", "{{.State.Status}}"), "created");
    run_command("kill " + holder.output);
    // Two containers cannot have the same host port.
    ASSERT_EQ(web("first", "-p 8086:80").exit_code, 0);
    auto second = web("second", "-p 8086:80");
    EXPECT_NE(second.exit_code, 0);
    auto rules = host("nft list table ip berth");
    EXPECT_EQ(rules.output.find("8085"), std::string::npos) << rules.output;
    EXPECT_EQ(rules.output.find("8086"), rules.output.rfind("8086")) << rules.output;
    // The failed containers hold no address: their endpoint shows none.
    EXPECT_EQ(inspect("second", "{{.NetworkSettings.IPAddress}}"), "");
}

TEST_F(BridgeTest, bad_network_input_gets_docker_errors) {
    ASSERT_EQ(d("network create --subnet 10.90.0.0/16 first").exit_code, 0);
    auto overlap = d("network create --subnet 10.90.1.0/24 second");
    EXPECT_NE(overlap.exit_code, 0);
    EXPECT_NE(overlap.error.find("overlaps"), std::string::npos) << overlap.error;
    auto dup = d("network create first");
    EXPECT_NE(dup.error.find("already exists"), std::string::npos) << dup.error;
    auto outside = d("run --rm --network first --ip 10.91.0.5 busybox true");
    EXPECT_NE(outside.exit_code, 0);
    auto bridge_ip = d("run --rm --ip 172.17.0.77 busybox true");
    EXPECT_NE(bridge_ip.error.find("user specified IP address is supported on user defined "
                                   "networks only"),
              std::string::npos)
        << bridge_ip.error;
    // A /30 has one address besides its gateway.
    ASSERT_EQ(d("network create --subnet 10.92.0.0/30 tiny").exit_code, 0);
    ASSERT_EQ(d("run -d --name t1 --network tiny busybox sleep 100").exit_code, 0);
    auto full = d("run -d --name t2 --network tiny busybox sleep 100");
    EXPECT_NE(full.exit_code, 0);
    EXPECT_NE(full.error.find("no available IPv4 addresses"), std::string::npos) << full.error;
    // In use: refused, and the network stays.
    auto busy = d("network rm tiny");
    EXPECT_NE(busy.exit_code, 0);
    EXPECT_NE(busy.error.find("active endpoints"), std::string::npos) << busy.error;
    ASSERT_EQ(d("rm -f t1 t2").exit_code, 0);
    EXPECT_EQ(d("network rm tiny").exit_code, 0);
    // Nothing of it left in the daemon's namespace.
    std::string first = d("network inspect first --format '{{.Id}}'").output.substr(0, 12);
    auto links = host("ip -o link show type bridge | grep -o 'br-[0-9a-f]*'");
    EXPECT_EQ(links.output, "br-" + first + "\n");
}
