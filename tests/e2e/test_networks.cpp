// Networks through the docker CLI and the raw API: the predefined networks, create with and
// without --subnet, Docker's errors (duplicate name, overlapping subnet, gateway outside the
// subnet, predefined and missing networks), rm by name and ID prefix, ls filters, prune,
// connect/disconnect of a stopped container, --bip/--mtu, and networks kept across a restart.
// The daemon's network driver is still a placeholder: nothing here makes an interface.
#include <gtest/gtest.h>
#include <unistd.h>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"

using namespace berth::e2e;

namespace {

class NetworksE2e : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(daemon.start()); }
    CommandResult d(const std::string& args) { return docker(daemon, args + " </dev/null"); }
    // Creates a network and returns its ID (the CLI's output).
    std::string create(const std::string& args) {
        auto r = d("network create " + args);
        EXPECT_EQ(r.exit_code, 0) << args << ": " << r.error;
        return r.output.empty() ? std::string() : r.output.substr(0, r.output.size() - 1);
    }
    std::string names(const std::string& filter_args = "") {
        return d("network ls " + filter_args + " --format '{{.Name}}'").output;
    }
    BerthDaemon daemon;
};

}  // namespace

TEST_F(NetworksE2e, ls_shows_bridge_host_and_none) {
    auto ls = d("network ls --format '{{.Name}} {{.Driver}} {{.Scope}}'");
    ASSERT_EQ(ls.exit_code, 0) << ls.error;
    EXPECT_EQ(ls.output, "bridge bridge local\nhost host local\nnone null local\n");
    auto bridge =
        d("network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} "
          "{{index .Options \"com.docker.network.bridge.name\"}}'");
    EXPECT_EQ(bridge.output, "172.17.0.0/16 172.17.0.1 berth0\n");
}

TEST_F(NetworksE2e, create_without_subnet_takes_the_next_default_pool) {
    std::string id = create("plain");
    EXPECT_EQ(id.size(), 64u);
    auto i =
        d("network inspect plain --format '{{.Id}} {{.Driver}} {{.Scope}} "
          "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Internal}}'");
    ASSERT_EQ(i.exit_code, 0) << i.error;
    EXPECT_EQ(i.output, id + " bridge local 172.18.0.0/16 172.18.0.1 false\n");
    create("second");
    EXPECT_EQ(
        d("network inspect second --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}'").output,
        "172.19.0.0/16\n");
}

TEST_F(NetworksE2e, create_with_subnet_gateway_range_labels_and_internal) {
    create(
        "--subnet 10.123.0.0/24 --gateway 10.123.0.254 --ip-range 10.123.0.128/25 "
        "--label env=test --label team=net --internal -o com.docker.network.driver.mtu=1400 "
        "custom");
    auto i =
        d("network inspect custom --format '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} "
          "{{.IPRange}}{{end}} {{.Labels.env}} {{.Labels.team}} {{.Internal}} "
          "{{index .Options \"com.docker.network.driver.mtu\"}}'");
    ASSERT_EQ(i.exit_code, 0) << i.error;
    EXPECT_EQ(i.output, "10.123.0.0/24 10.123.0.254 10.123.0.128/25 test net true 1400\n");
    auto json = d("network inspect custom");
    EXPECT_NE(json.output.find("\"Containers\": {}"), std::string::npos) << json.output;
    EXPECT_NE(json.output.find("\"EnableIPv6\": false"), std::string::npos);
}

TEST_F(NetworksE2e, a_duplicate_name_fails_with_dockers_message) {
    create("dup");
    auto again = d("network create dup");
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_EQ(again.error, "Error response from daemon: network with name dup already exists\n");
    auto pre = d("network create bridge");
    EXPECT_NE(pre.exit_code, 0);
    EXPECT_NE(pre.error.find("operation is not permitted on predefined bridge network"),
              std::string::npos)
        << pre.error;
}

TEST_F(NetworksE2e, an_overlapping_subnet_fails) {
    create("--subnet 10.124.0.0/16 first");
    auto r = d("network create --subnet 10.124.8.0/24 second");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.error,
              "Error response from daemon: invalid pool request: Pool overlaps with other one on "
              "this address space\n");
    auto bridge = d("network create --subnet 172.17.5.0/24 third");
    EXPECT_NE(bridge.error.find("Pool overlaps"), std::string::npos) << bridge.error;
    EXPECT_EQ(names(), "bridge\nfirst\nhost\nnone\n");
}

TEST_F(NetworksE2e, a_gateway_outside_the_subnet_fails) {
    // The CLI checks this itself; the daemon says it in ValidateIPAM's words.
    auto cli = d("network create --subnet 10.125.0.0/16 --gateway 10.126.0.1 gw");
    EXPECT_NE(cli.exit_code, 0);
    EXPECT_NE(cli.error.find("10.126.0.1"), std::string::npos) << cli.error;
    auto api = http_post_json(
        daemon.socket_path(), "/v1.51/networks/create",
        R"({"Name":"gw","IPAM":{"Config":[{"Subnet":"10.125.0.0/16","Gateway":"10.126.0.1"}]}})");
    EXPECT_EQ(api.status, 400);
    EXPECT_NE(api.body.find("invalid network config:\\ninvalid gateway 10.126.0.1: parent subnet "
                            "10.125.0.0/16 doesn't contain this address"),
              std::string::npos)
        << api.body;
    auto host_bits = d("network create --subnet 10.125.0.1/16 hb");
    EXPECT_NE(host_bits.error.find("invalid subnet 10.125.0.1/16: it should be 10.125.0.0/16"),
              std::string::npos)
        << host_bits.error;
    EXPECT_EQ(names(), "bridge\nhost\nnone\n");
}

TEST_F(NetworksE2e, rm_by_name_and_by_id_prefix) {
    create("byname");
    std::string id = create("byid");
    auto rm = d("network rm byname");
    EXPECT_EQ(rm.exit_code, 0) << rm.error;
    EXPECT_EQ(rm.output, "byname\n");
    auto rm2 = d("network rm " + id.substr(0, 6));
    EXPECT_EQ(rm2.exit_code, 0) << rm2.error;
    EXPECT_EQ(names(), "bridge\nhost\nnone\n");
    auto api = http_request(daemon.socket_path(), "DELETE", "/networks/nosuch");
    EXPECT_EQ(api.status, 404);
}

TEST_F(NetworksE2e, rm_of_a_predefined_network_fails) {
    for (const char* n : {"bridge", "host", "none"}) {
        auto r = d(std::string("network rm ") + n);
        EXPECT_NE(r.exit_code, 0) << n;
        EXPECT_NE(r.error.find(std::string("Error response from daemon: ") + n +
                               " is a pre-defined network and cannot be removed"),
                  std::string::npos)
            << r.error;
    }
    auto api = http_request(daemon.socket_path(), "DELETE", "/v1.51/networks/bridge");
    EXPECT_EQ(api.status, 403);
}

TEST_F(NetworksE2e, ls_filters_by_label_name_driver_and_type) {
    create("--label tier=web web1");
    create("--label tier=db db1");
    create("--label tier=web --label keep web2");
    EXPECT_EQ(names("--filter label=tier=web"), "web1\nweb2\n");
    EXPECT_EQ(names("--filter label=keep"), "web2\n");
    EXPECT_EQ(names("--filter name=web"), "web1\nweb2\n");
    EXPECT_EQ(names("--filter driver=null"), "none\n");
    EXPECT_EQ(names("--filter type=custom"), "db1\nweb1\nweb2\n");
    EXPECT_EQ(names("--filter type=builtin"), "bridge\nhost\nnone\n");
    EXPECT_EQ(names("--filter dangling=true"), "db1\nweb1\nweb2\n");
    auto bad = d("network ls --filter color=red");
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.error.find("invalid filter 'color'"), std::string::npos) << bad.error;
}

TEST_F(NetworksE2e, prune_removes_unused_networks) {
    create("--label keep=yes kept");
    create("gone1");
    create("gone2");
    auto labelled = d("network prune -f --filter label=nothing");
    EXPECT_EQ(labelled.exit_code, 0) << labelled.error;
    EXPECT_EQ(names(), "bridge\ngone1\ngone2\nhost\nkept\nnone\n");
    auto p = d("network prune -f --filter label!=keep");
    EXPECT_EQ(p.exit_code, 0) << p.error;
    EXPECT_EQ(p.output, "Deleted Networks:\ngone1\ngone2\n\n");
    EXPECT_EQ(names(), "bridge\nhost\nkept\nnone\n");
    auto all = d("network prune -f");
    EXPECT_EQ(all.output, "Deleted Networks:\nkept\n\n");
    EXPECT_EQ(names(), "bridge\nhost\nnone\n");
}

TEST_F(NetworksE2e, inspect_of_a_missing_network_says_not_found) {
    auto r = d("network inspect nosuch");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.error.find("Error response from daemon: network nosuch not found"),
              std::string::npos)
        << r.error;
    auto api = http_get(daemon.socket_path(), "/v1.51/networks/nosuch");
    EXPECT_EQ(api.status, 404);
    EXPECT_EQ(json_field(api.body, "message"), "network nosuch not found");
}

TEST_F(NetworksE2e, networks_survive_a_restart) {
    std::string id = create("--subnet 10.127.0.0/24 --label a=b kept");
    std::string bridge = d("network inspect bridge --format '{{.Id}}'").output;
    ASSERT_EQ(daemon.stop(), 0);
    ASSERT_TRUE(daemon.start());
    auto i =
        d("network inspect kept --format '{{.Id}} {{range .IPAM.Config}}{{.Subnet}}{{end}} "
          "{{.Labels.a}}'");
    ASSERT_EQ(i.exit_code, 0) << i.error;
    EXPECT_EQ(i.output, id + " 10.127.0.0/24 b\n");
    EXPECT_EQ(d("network inspect bridge --format '{{.Id}}'").output, bridge);
    EXPECT_EQ(names(), "bridge\nhost\nkept\nnone\n");
    // The pool is still taken after the restart.
    EXPECT_NE(d("network create --subnet 10.127.0.0/25 clash").exit_code, 0);
}

TEST_F(NetworksE2e, bip_and_mtu_shape_the_default_bridge) {
    ASSERT_EQ(daemon.stop(), 0);
    daemon.set_extra_args({"--bip", "10.201.0.1/24", "--mtu", "1400"});
    ASSERT_TRUE(daemon.start());
    auto i =
        d("network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}} "
          "{{.Gateway}}{{end}} {{index .Options \"com.docker.network.driver.mtu\"}}'");
    ASSERT_EQ(i.exit_code, 0) << i.error;
    EXPECT_EQ(i.output, "10.201.0.0/24 10.201.0.1 1400\n");
    ASSERT_EQ(daemon.stop(), 0);
    daemon.set_extra_args({"--bridge", "none"});
    ASSERT_TRUE(daemon.start());
    EXPECT_EQ(names(), "host\nnone\n");
}

class NetworkConnectE2e : public BusyboxDaemonTest {};

TEST_F(NetworkConnectE2e, connect_and_disconnect_a_stopped_container) {
    ASSERT_EQ(d("network create --subnet 10.128.0.0/24 app").exit_code, 0);
    auto c = d("create --name web busybox true");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    std::string cid = c.output.substr(0, 64);
    auto conn = d("network connect --alias www --ip 10.128.0.9 app web");
    EXPECT_EQ(conn.exit_code, 0) << conn.error;
    EXPECT_EQ(d("network connect app web").exit_code, 0);  // again: no error, as dockerd
    auto bad_ip = d("network connect --ip 10.129.0.9 app " + cid.substr(0, 8));
    EXPECT_NE(bad_ip.exit_code, 0);
    EXPECT_NE(bad_ip.error.find("invalid endpoint settings:\nno configured subnet or ip-range "
                                "contain the IP address 10.129.0.9"),
              std::string::npos)
        << bad_ip.error;
    auto missing = d("network connect app nosuchcontainer");
    EXPECT_NE(missing.error.find("No such container"), std::string::npos) << missing.error;
    // A stopped container is no active endpoint: inspect lists none.
    EXPECT_EQ(d("network inspect app --format '{{len .Containers}}'").output, "0\n");
    auto dis = d("network disconnect app web");
    EXPECT_EQ(dis.exit_code, 0) << dis.error;
    auto again = d("network disconnect app web");
    EXPECT_NE(again.exit_code, 0);
    EXPECT_NE(again.error.find("container " + cid + " is not connected to the network app"),
              std::string::npos)
        << again.error;
    ASSERT_EQ(d("network connect app web").exit_code, 0);
    EXPECT_EQ(d("network rm app").exit_code, 0);  // its only container is stopped
}
