// NetworkService against a real berth.db in a temporary directory and a fake driver: the
// predefined networks, create with Docker's checks and messages, lookup, remove and prune,
// endpoints and their addresses across connect, start, stop and a restart, inspect's JSON, and
// the list and prune filters.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sqlite3.h>

#include <filesystem>
#include <set>

#include "graph/containers.hpp"
#include "graph/networks.hpp"
#include "graph/store.hpp"
#include "jobs/network_filters.hpp"
#include "jobs/networks.hpp"

using namespace berth;
using graph::EndpointRecord;
using graph::NetworkRecord;
using jobs::EndpointConfig;
using jobs::NetworkCreate;

namespace {

// The driver as the service sees it: records what it is asked, fails when told to.
class FakeHooks : public jobs::NetworkHooks {
  public:
    Result<> network_created(const NetworkRecord& n) override {
        created.push_back(n.name);
        if (fail_create) return fail(Error::sys(EEXIST, "create bridge " + n.bridge));
        return {};
    }
    Result<> network_removed(const NetworkRecord& n) override {
        removed.push_back(n.name);
        return {};
    }
    std::vector<kernel::Ipv4Prefix> host_routes() override { return routes; }
    Result<> connect_running(const std::string& id, const EndpointRecord& e) override {
        connected.push_back(id + " " + e.ip);
        if (fail_connect) return fail(Error::sys(EIO, "move veth"));
        return {};
    }
    Result<> disconnect_running(const std::string& id, const EndpointRecord& e) override {
        disconnected.push_back(id + " " + e.ip);
        return {};
    }
    bool container_running(const std::string& id) override { return running.contains(id); }
    std::string container_name(const std::string& id) override { return "name-" + id.substr(0, 4); }

    std::vector<kernel::Ipv4Prefix> routes;
    std::set<std::string> running;
    bool fail_create = false, fail_connect = false;
    std::vector<std::string> created, removed, connected, disconnected;
};

class NetworksTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-networks-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        open();
    }
    void TearDown() override {
        service.reset();
        nstore.reset();
        cstore.reset();
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    // (Re)opens the store and a fresh service on it, as a berthd start does.
    void open(jobs::DefaultBridgeConfig cfg = {}) {
        service.reset();
        nstore.reset();
        cstore.reset();
        store.reset();
        auto s = graph::Store::open(dir_ + "/data");
        ASSERT_TRUE(s) << s.error().message;
        store = std::move(*s);
        cstore = std::make_unique<graph::ContainerStore>(*store);
        nstore = std::make_unique<graph::NetworkStore>(*store);
        // Containers need an image row (their foreign key).
        ASSERT_EQ(sqlite3_exec(store->db(),
                               "INSERT OR IGNORE INTO images (id, config_json, created, created_at)"
                               " VALUES ('sha256:img', '{}', 0, 0)",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        service = std::make_unique<jobs::NetworkService>(*nstore, hooks);
        auto r = service->start(cfg);
        ASSERT_TRUE(r) << r.error().message;
    }
    // A container record: 64 hex digits starting with `tag`.
    std::string container(const std::string& tag) {
        graph::ContainerRecord c;
        c.id = tag + std::string(64 - tag.size(), '0');
        c.name = "c" + tag;
        c.image_id = "sha256:img";
        c.config_json = "{}";
        c.host_config_json = "{}";
        c.created_ns = ++created_;
        EXPECT_TRUE(cstore->insert(c));
        return c.id;
    }
    NetworkRecord make(NetworkCreate req) {
        auto n = service->create(req);
        EXPECT_TRUE(n) << (n ? "" : n.error().message);
        return n ? *n : NetworkRecord{};
    }
    NetworkCreate named(std::string name, std::string subnet = "", std::string gateway = "",
                        std::string range = "") {
        NetworkCreate req;
        req.name = std::move(name);
        if (!subnet.empty()) req.ipam.push_back({subnet, range, gateway, {}});
        return req;
    }
    Error create_error(const NetworkCreate& req) {
        auto n = service->create(req);
        EXPECT_FALSE(n) << req.name;
        return n ? Error{} : n.error();
    }
    std::string ip_of(const std::string& net, const std::string& cid) {
        auto e = service->allocate_endpoint(net, cid);
        return e ? e->ip : "error: " + e.error().message;
    }

    std::string dir_;
    int64_t created_ = 0;
    FakeHooks hooks;
    std::unique_ptr<graph::Store> store;
    std::unique_ptr<graph::ContainerStore> cstore;
    std::unique_ptr<graph::NetworkStore> nstore;
    std::unique_ptr<jobs::NetworkService> service;
};

}  // namespace

TEST_F(NetworksTest, start_makes_the_predefined_networks) {
    auto all = service->list();
    ASSERT_TRUE(all);
    std::map<std::string, NetworkRecord> by;
    for (auto& n : *all) by[n.name] = n;
    ASSERT_EQ(by.size(), 3u);
    EXPECT_EQ(by["host"].driver, "host");
    EXPECT_EQ(by["none"].driver, "null");
    const NetworkRecord& b = by["bridge"];
    EXPECT_EQ(b.driver, "bridge");
    EXPECT_EQ(b.subnet, "172.17.0.0/16");
    EXPECT_EQ(b.gateway, "172.17.0.1");
    EXPECT_EQ(b.bridge, "berth0");
    EXPECT_EQ(b.mtu, 1500);
    EXPECT_EQ(b.options.at("com.docker.network.bridge.name"), "berth0");
    EXPECT_EQ(b.id.size(), 64u);
    EXPECT_EQ(hooks.created, std::vector<std::string>{"bridge"});
}

TEST_F(NetworksTest, the_default_bridge_avoids_a_host_route_and_follows_bip) {
    // A fresh data root, this time with a host route on 172.17.0.0/16.
    hooks.routes = {*kernel::Ipv4Prefix::parse("172.17.0.0/16")};
    service.reset();
    std::filesystem::remove_all(dir_ + "/data");
    open();
    EXPECT_EQ(service->find("bridge")->subnet, "172.18.0.0/16");
    jobs::DefaultBridgeConfig cfg;
    cfg.bip = "10.55.0.1/24";
    cfg.bridge = "br-test";
    cfg.mtu = 1400;
    std::string id = service->find("bridge")->id;
    open(cfg);
    auto b = service->find("bridge");
    EXPECT_EQ(b->id, id);  // the same network, brought up to date
    EXPECT_EQ(b->subnet, "10.55.0.0/24");
    EXPECT_EQ(b->gateway, "10.55.0.1");
    EXPECT_EQ(b->bridge, "br-test");
    EXPECT_EQ(b->mtu, 1400);
    EXPECT_EQ(b->options.at("com.docker.network.driver.mtu"), "1400");
    for (const char* bad : {"10.55.0.0/24", "10.55.0.1", "10.55.0.1/31", "nonsense"}) {
        cfg.bip = bad;
        auto s = jobs::NetworkService(*nstore, hooks).start(cfg);
        EXPECT_FALSE(s) << bad;
    }
}

TEST_F(NetworksTest, bridge_none_means_no_default_bridge_network) {
    jobs::DefaultBridgeConfig cfg;
    cfg.bridge = "none";
    open(cfg);
    EXPECT_EQ(service->find("bridge").error().kind, ErrorKind::not_found);
    EXPECT_TRUE(service->find("host"));
    EXPECT_EQ(hooks.removed, std::vector<std::string>{"bridge"});
}

TEST_F(NetworksTest, networks_and_their_ids_survive_a_restart) {
    auto mine = make(named("mine"));
    std::string bridge = service->find("bridge")->id;
    open();
    EXPECT_EQ(service->find("bridge")->id, bridge);
    auto again = service->find("mine");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->id, mine.id);
    EXPECT_EQ(again->subnet, mine.subnet);
    EXPECT_EQ(service->list()->size(), 4u);
    // The driver is asked for every bridge again (idempotently).
    EXPECT_EQ(std::count(hooks.created.begin(), hooks.created.end(), "mine"), 2);
}

TEST_F(NetworksTest, create_without_subnet_takes_the_next_default_pool) {
    auto n = make(named("one"));
    EXPECT_EQ(n.subnet, "172.18.0.0/16");
    EXPECT_EQ(n.gateway, "172.18.0.1");
    EXPECT_EQ(n.ip_range, "");
    EXPECT_FALSE(n.subnet_given);
    EXPECT_EQ(n.bridge, "br-" + n.id.substr(0, 12));
    EXPECT_EQ(n.mtu, 1500);
    EXPECT_EQ(make(named("two")).subnet, "172.19.0.0/16");
    hooks.routes = {*kernel::Ipv4Prefix::parse("172.20.1.0/24")};
    EXPECT_EQ(make(named("three")).subnet, "172.21.0.0/16");
}

TEST_F(NetworksTest, create_keeps_subnet_range_gateway_labels_and_options) {
    NetworkCreate req = named("full", "10.10.0.0/24", "10.10.0.254", "10.10.0.128/25");
    req.internal = true;
    req.attachable = true;
    req.labels = {{"env", "prod"}};
    req.options = {{"com.docker.network.bridge.name", "brfull"},
                   {"com.docker.network.driver.mtu", "1400"}};
    auto n = make(req);
    auto got = service->find("full");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->subnet, "10.10.0.0/24");
    EXPECT_EQ(got->gateway, "10.10.0.254");
    EXPECT_EQ(got->ip_range, "10.10.0.128/25");
    EXPECT_TRUE(got->subnet_given);
    EXPECT_TRUE(got->internal);
    EXPECT_TRUE(got->attachable);
    EXPECT_EQ(got->labels, req.labels);
    EXPECT_EQ(got->options, req.options);
    EXPECT_EQ(got->bridge, "brfull");
    EXPECT_EQ(got->mtu, 1400);
    // Without a gateway, libnetwork takes the range's first address.
    EXPECT_EQ(make(named("ranged", "10.20.0.0/16", "", "10.20.5.0/24")).gateway, "10.20.5.0");
}

TEST_F(NetworksTest, create_refuses_with_dockers_errors) {
    make(named("taken", "10.30.0.0/16"));
    auto dup = create_error(named("taken"));
    EXPECT_EQ(dup.kind, ErrorKind::conflict);
    EXPECT_EQ(dup.message, "network with name taken already exists");
    auto pre = create_error(named("bridge"));
    EXPECT_EQ(pre.kind, ErrorKind::forbidden);
    EXPECT_EQ(pre.message, "operation is not permitted on predefined bridge network ");
    auto overlap = create_error(named("ov", "10.30.5.0/24"));
    EXPECT_EQ(overlap.kind, ErrorKind::forbidden);
    EXPECT_EQ(overlap.message,
              "invalid pool request: Pool overlaps with other one on this address space");
    EXPECT_EQ(create_error(named("ov2", "172.17.0.0/24")).kind, ErrorKind::forbidden);
    auto gw = create_error(named("gw", "10.40.0.0/16", "10.41.0.1"));
    EXPECT_EQ(gw.kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(gw.message,
              "invalid network config:\ninvalid gateway 10.41.0.1: parent subnet 10.40.0.0/16 "
              "doesn't contain this address");
    auto many = create_error(named("many", "10.40.0.1/16", "bogus", "10.50.0.0/8"));
    EXPECT_EQ(many.message,
              "invalid network config:\n"
              "* invalid subnet 10.40.0.1/16: it should be 10.40.0.0/16\n"
              "* invalid ip-range 10.50.0.0/8: CIDR block is bigger than its parent subnet "
              "10.40.0.1/16\n"
              "* invalid ip-range 10.50.0.0/8: it should be 10.0.0.0/8\n"
              "* invalid gateway bogus: invalid address");
    EXPECT_EQ(create_error(named("sub", "10.1.0.0")).message,
              "invalid network config:\ninvalid subnet 10.1.0.0: invalid CIDR block notation");
    auto net_gw = create_error(named("netgw", "10.60.0.0/24", "10.60.0.0"));
    EXPECT_EQ(net_gw.message, "failed to allocate gateway (10.60.0.0): Address already in use");
    EXPECT_EQ(create_error(named(" ")).message, "invalid name: name is empty");
    NetworkCreate plugin = named("p");
    plugin.driver = "foo";
    auto nf = create_error(plugin);
    EXPECT_EQ(nf.kind, ErrorKind::not_found);
    EXPECT_EQ(nf.message, "plugin \"foo\" not found");
    plugin.driver = "host";
    EXPECT_EQ(create_error(plugin).message, "only one instance of \"host\" network is allowed");
    plugin.driver = "overlay";
    EXPECT_EQ(create_error(plugin).kind, ErrorKind::forbidden);
    NetworkCreate mtu = named("m");
    mtu.options = {{"com.docker.network.driver.mtu", "abc"}};
    EXPECT_EQ(create_error(mtu).message,
              "failed to parse com.docker.network.driver.mtu value: abc (strconv.Atoi: parsing "
              "\"abc\": invalid syntax)");
    NetworkCreate same_bridge = named("sb");
    same_bridge.options = {{"com.docker.network.bridge.name", "berth0"}};
    auto sb = create_error(same_bridge);
    EXPECT_EQ(sb.kind, ErrorKind::forbidden);
    EXPECT_NE(sb.message.find("networks have same bridge name"), std::string::npos);
    NetworkCreate v6 = named("v6");
    v6.enable_ipv6 = true;
    EXPECT_EQ(create_error(v6).kind, ErrorKind::not_implemented);
    // Nothing of the refused ones was kept.
    EXPECT_EQ(service->list()->size(), 4u);
}

TEST_F(NetworksTest, a_driver_failure_undoes_the_create) {
    hooks.fail_create = true;
    auto r = service->create(named("broken", "10.70.0.0/16"));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("File exists"), std::string::npos);
    EXPECT_EQ(service->find("broken").error().kind, ErrorKind::not_found);
    hooks.fail_create = false;
    EXPECT_EQ(make(named("broken", "10.70.0.0/16")).subnet, "10.70.0.0/16");  // pool was freed
}

TEST_F(NetworksTest, find_by_id_name_and_unique_prefix) {
    auto n = make(named("findme"));
    EXPECT_EQ(service->find(n.id)->name, "findme");
    EXPECT_EQ(service->find("findme")->id, n.id);
    EXPECT_EQ(service->find(n.id.substr(0, 5))->id, n.id);
    auto missing = service->find("nosuch");
    EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
    EXPECT_EQ(missing.error().message, "network nosuch not found");
    EXPECT_EQ(service->find("").error().kind, ErrorKind::not_found);
    // Two IDs sharing a prefix: ambiguous (400), as dockerd says it.
    for (const char* id : {"abc1", "abc2"}) {
        NetworkRecord r;
        r.id = std::string(id) + std::string(60, '0');
        r.name = std::string("n") + id;
        r.driver = "null";
        ASSERT_TRUE(nstore->create(r));
    }
    auto amb = service->find("abc");
    EXPECT_EQ(amb.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(amb.error().message, "network abc is ambiguous (2 matches found based on ID prefix)");
    EXPECT_EQ(service->find("abc1")->name, "nabc1");
}

TEST_F(NetworksTest, remove_refuses_predefined_and_used_networks) {
    auto pre = service->remove("bridge");
    EXPECT_EQ(pre.error().kind, ErrorKind::forbidden);
    EXPECT_EQ(pre.error().message, "bridge is a pre-defined network and cannot be removed");
    auto n = make(named("used"));
    std::string c = container("aa");
    auto ep = service->attach("used", c, {});
    ASSERT_TRUE(ep);
    hooks.running.insert(c);
    auto busy = service->remove("used");
    ASSERT_FALSE(busy);
    EXPECT_EQ(busy.error().kind, ErrorKind::forbidden);
    EXPECT_EQ(busy.error().message,
              "error while removing network: network used has active endpoints (name:\"name-aa00\" "
              "id:\"" +
                  ep->endpoint_id.substr(0, 12) + "\")");
    // A stopped container does not hold the network (dockerd has no endpoint for it); its row
    // goes with the network.
    hooks.running.clear();
    ASSERT_TRUE(service->remove(n.id.substr(0, 8)));
    EXPECT_EQ(service->endpoints_of_container(c)->size(), 0u);
    EXPECT_EQ(hooks.removed, std::vector<std::string>{"used"});
    EXPECT_EQ(service->find("used").error().kind, ErrorKind::not_found);
}

TEST_F(NetworksTest, prune_removes_unused_user_networks_that_match) {
    NetworkCreate keep = named("keep");
    keep.labels = {{"keep", "yes"}};
    make(keep);
    make(named("gone1"));
    make(named("busy"));
    std::string c = container("bb");
    ASSERT_TRUE(service->attach("busy", c, {}));
    hooks.running.insert(c);
    auto f = jobs::NetworkPruneFilter::parse(R"({"label!":["keep"]})", 0);
    ASSERT_TRUE(f);
    auto pruned = service->prune([&](const NetworkRecord& n) { return f->matches(n); });
    ASSERT_TRUE(pruned);
    EXPECT_EQ(*pruned, std::vector<std::string>{"gone1"});
    std::set<std::string> left;
    auto all = service->list();
    for (auto& n : *all) left.insert(n.name);
    EXPECT_EQ(left, (std::set<std::string>{"bridge", "busy", "host", "keep", "none"}));
}

TEST_F(NetworksTest, endpoints_get_addresses_at_start_and_give_them_back_at_stop) {
    auto n = make(named("apps"));
    std::string a = container("a1"), b = container("b2"), c = container("c3");
    for (auto& id : {a, b, c}) ASSERT_TRUE(service->attach("apps", id, {}));
    EXPECT_EQ(service->endpoints_of_container(a)->front().ip, "");  // created, not started
    EXPECT_EQ(ip_of(n.id, a), "172.18.0.2");
    EXPECT_EQ(ip_of(n.id, b), "172.18.0.3");
    EXPECT_EQ(ip_of(n.id, a), "172.18.0.2");  // idempotent while held
    auto ep = service->endpoints_of_container(a)->front();
    EXPECT_EQ(ep.mac, "02:42:ac:12:00:02");
    EXPECT_EQ(ep.endpoint_id.size(), 64u);
    service->release_endpoint(n.id, a);
    auto released = service->endpoints_of_container(a);
    ASSERT_EQ(released->size(), 1u);  // the row stays for the next start
    EXPECT_EQ(released->front().ip, "");
    EXPECT_EQ(ip_of(n.id, c), "172.18.0.4");  // a freed address waits for the range to wrap
    EXPECT_EQ(ip_of(n.id, a), "172.18.0.5");
    service->remove_container(b);
    EXPECT_EQ(service->endpoints_of_container(b)->size(), 0u);
    EXPECT_EQ(ip_of(n.id, container("d4")),
              "error: container d4" + std::string(62, '0') + " has no endpoint on network " + n.id);
    ASSERT_TRUE(service->attach("apps", container("e5"), {}));
    EXPECT_EQ(ip_of(n.id, "e5" + std::string(62, '0')), "172.18.0.6");  // the next, not b's
}

TEST_F(NetworksTest, requested_addresses_and_endpoint_settings_are_checked) {
    auto fixed = make(named("fixed", "10.20.0.0/24"));
    std::string a = container("a1"), b = container("b2");
    ASSERT_TRUE(service->attach("fixed", a, {"10.20.0.50", {"web"}}));
    EXPECT_EQ(ip_of(fixed.id, a), "10.20.0.50");
    EXPECT_EQ(service->endpoints_of_container(a)->front().aliases, std::vector<std::string>{"web"});
    ASSERT_TRUE(service->attach("fixed", b, {"10.20.0.50", {}}));
    EXPECT_EQ(ip_of(fixed.id, b), "error: Address already in use");
    auto check = [&](const char* net, EndpointConfig cfg) {
        auto n = service->find(net);
        auto r = service->validate_endpoint(*n, cfg);
        return r ? std::string("ok") : r.error().message;
    };
    EXPECT_EQ(check("fixed", {"10.21.0.5", {}}),
              "invalid endpoint settings:\nno configured subnet or ip-range contain the IP "
              "address 10.21.0.5");
    EXPECT_EQ(check("fixed", {"10.20.0.300", {}}),
              "invalid endpoint settings:\ninvalid IPv4 address: 10.20.0.300");
    make(named("dynamic"));
    EXPECT_EQ(check("dynamic", {"172.18.0.9", {}}),
              "invalid endpoint settings:\nuser specified IP address is supported only when "
              "connecting to networks with user configured subnets");
    EXPECT_EQ(check("bridge", {"172.17.0.9", {"x"}}),
              "invalid endpoint settings:\n"
              "* user specified IP address is supported on user defined networks only\n"
              "* network-scoped alias is supported only for containers in user defined networks");
    EXPECT_EQ(check("dynamic", {"", {"alias"}}), "ok");
}

TEST_F(NetworksTest, an_exhausted_network_says_which_one) {
    auto tiny = make(named("tiny", "10.90.0.0/30"));
    std::string a = container("a1"), b = container("b2");
    ASSERT_TRUE(service->attach("tiny", a, {}));
    ASSERT_TRUE(service->attach("tiny", b, {}));
    EXPECT_EQ(ip_of(tiny.id, a), "10.90.0.2");
    EXPECT_EQ(ip_of(tiny.id, b),
              "error: no available IPv4 addresses on this network's address pools: tiny (" +
                  tiny.id + ")");
}

TEST_F(NetworksTest, connect_a_running_container_allocates_and_asks_the_driver) {
    auto n = make(named("live"));
    std::string c = container("c1");
    hooks.running.insert(c);
    ASSERT_TRUE(service->connect("live", c, {}));
    EXPECT_EQ(hooks.connected, std::vector<std::string>{c + " 172.18.0.2"});
    auto again = service->connect("live", c, {});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind, ErrorKind::forbidden);
    EXPECT_EQ(again.error().message, "endpoint with name name-c100 already exists in network live");
    // The driver fails: no row, and the address is free again.
    std::string d = container("d1");
    hooks.running.insert(d);
    hooks.fail_connect = true;
    EXPECT_FALSE(service->connect(n.id, d, {}));
    EXPECT_EQ(service->endpoints_of_container(d)->size(), 0u);
    hooks.fail_connect = false;
    ASSERT_TRUE(service->connect(n.id, d, {}));
    EXPECT_EQ(service->endpoints_of_container(d)->front().ip, "172.18.0.4");  // .3 went to the failed try
}

TEST_F(NetworksTest, connect_a_stopped_container_only_records_it) {
    make(named("later"));
    std::string c = container("c1");
    ASSERT_TRUE(service->connect("later", c, {"", {"db"}}));
    ASSERT_TRUE(service->connect("later", c, {}));  // dockerd: no duplicate config, no error
    auto eps = service->endpoints_of_container(c);
    ASSERT_EQ(eps->size(), 1u);
    EXPECT_EQ(eps->front().ip, "");
    EXPECT_EQ(eps->front().aliases, std::vector<std::string>{"db"});
    EXPECT_TRUE(hooks.connected.empty());
}

TEST_F(NetworksTest, host_and_none_do_not_mix_with_other_networks) {
    make(named("user"));
    std::string h = container("a1"), z = container("b1"), u = container("c1");
    ASSERT_TRUE(service->attach("host", h, {}));
    ASSERT_TRUE(service->attach("none", z, {}));
    ASSERT_TRUE(service->attach("user", u, {}));
    EXPECT_EQ(service->connect("user", h, {}).error().message,
              "container sharing network namespace with another container or host cannot be "
              "connected to any other network");
    EXPECT_EQ(service->connect("user", z, {}).error().message,
              "container cannot be connected to multiple networks with one of the networks in "
              "private (none) mode");
    EXPECT_EQ(service->connect("host", u, {}).error().message,
              "cannot connect container to host network - container must be created in host "
              "network mode");
    EXPECT_EQ(ip_of(service->find("host")->id, h), "");  // host endpoints have no address
}

TEST_F(NetworksTest, disconnect_releases_the_address_and_the_row) {
    auto n = make(named("net"));
    std::string c = container("c1");
    hooks.running.insert(c);
    ASSERT_TRUE(service->connect("net", c, {}));
    ASSERT_TRUE(service->disconnect("net", c, false));
    EXPECT_EQ(hooks.disconnected, std::vector<std::string>{c + " 172.18.0.2"});
    EXPECT_EQ(service->endpoints_of_container(c)->size(), 0u);
    auto not_on = service->disconnect("net", c, false);
    EXPECT_EQ(not_on.error().message, "container " + c + " is not connected to network net");
    hooks.running.clear();
    EXPECT_EQ(service->disconnect("net", c, false).error().message,
              "container " + c + " is not connected to the network net");
    std::string d = container("d1");
    hooks.running.insert(d);
    ASSERT_TRUE(service->connect("net", d, {}));
    EXPECT_EQ(service->endpoints_of_container(d)->front().ip, "172.18.0.3");  // not reused at once
}

TEST_F(NetworksTest, a_restart_keeps_held_addresses_and_drops_foreign_ones) {
    auto n = make(named("keep"));
    std::string a = container("a1"), b = container("b1");
    ASSERT_TRUE(service->attach("keep", a, {}));
    ASSERT_TRUE(service->attach("bridge", b, {}));
    EXPECT_EQ(ip_of(n.id, a), "172.18.0.2");
    std::string bridge = service->find("bridge")->id;
    EXPECT_EQ(ip_of(bridge, b), "172.17.0.2");
    jobs::DefaultBridgeConfig moved;
    moved.bip = "10.99.0.1/24";
    open(moved);
    EXPECT_EQ(ip_of(n.id, a), "172.18.0.2");  // still its own
    std::string c = container("c1");
    ASSERT_TRUE(service->attach("keep", c, {}));
    EXPECT_EQ(ip_of(n.id, c), "172.18.0.3");  // a's is held
    // b's address left the default bridge's new subnet: it gets a new one at its next start.
    EXPECT_EQ(service->endpoints_of_container(b)->front().ip, "");
    EXPECT_EQ(ip_of(bridge, b), "10.99.0.2");
}

TEST_F(NetworksTest, inspect_json_is_dockers_network_resource) {
    NetworkCreate req = named("shown", "10.10.0.0/24", "10.10.0.1", "10.10.0.0/25");
    req.labels = {{"a", "b"}};
    auto n = make(req);
    std::string c = container("c1");
    ASSERT_TRUE(service->attach("shown", c, {}));
    hooks.running.insert(c);
    auto ep = service->allocate_endpoint(n.id, c);
    ASSERT_TRUE(ep);
    simdjson::dom::parser p;
    simdjson::padded_string text(service->inspect_json(n, true));
    simdjson::dom::element doc;
    ASSERT_FALSE(p.parse(text).get(doc)) << text;
    EXPECT_EQ(std::string_view(doc["Name"]), "shown");
    EXPECT_EQ(std::string_view(doc["Id"]), n.id);
    EXPECT_EQ(std::string_view(doc["Scope"]), "local");
    EXPECT_EQ(std::string_view(doc["Driver"]), "bridge");
    EXPECT_TRUE(bool(doc["EnableIPv4"]));
    EXPECT_FALSE(bool(doc["EnableIPv6"]));
    EXPECT_EQ(std::string_view(doc["IPAM"]["Driver"]), "default");
    EXPECT_TRUE(doc["IPAM"]["Options"].is_null());
    EXPECT_EQ(std::string_view(doc["IPAM"]["Config"].at(0)["Subnet"]), "10.10.0.0/24");
    EXPECT_EQ(std::string_view(doc["IPAM"]["Config"].at(0)["IPRange"]), "10.10.0.0/25");
    EXPECT_EQ(std::string_view(doc["IPAM"]["Config"].at(0)["Gateway"]), "10.10.0.1");
    EXPECT_FALSE(bool(doc["Internal"]));
    EXPECT_FALSE(bool(doc["Ingress"]));
    EXPECT_EQ(std::string_view(doc["ConfigFrom"]["Network"]), "");
    EXPECT_FALSE(bool(doc["ConfigOnly"]));
    auto entry = doc["Containers"][c];
    EXPECT_EQ(std::string_view(entry["Name"]), "name-c100");
    EXPECT_EQ(std::string_view(entry["EndpointID"]), ep->endpoint_id);
    EXPECT_EQ(std::string_view(entry["MacAddress"]), "02:42:0a:0a:00:02");
    EXPECT_EQ(std::string_view(entry["IPv4Address"]), "10.10.0.2/24");
    EXPECT_EQ(std::string_view(entry["IPv6Address"]), "");
    EXPECT_EQ(std::string_view(doc["Labels"]["a"]), "b");
    EXPECT_EQ(simdjson::dom::object(doc["Options"]).size(), 0u);
    std::string_view created = doc["Created"];
    EXPECT_EQ(created.back(), 'Z');
    // The list shape has no containers; host and none have no IPAM config.
    simdjson::padded_string listed(service->inspect_json(n, false));
    EXPECT_EQ(simdjson::dom::object(p.parse(listed)["Containers"]).size(), 0u);
    simdjson::padded_string host(service->inspect_json(*service->find("host"), true));
    EXPECT_EQ(simdjson::dom::array(p.parse(host)["IPAM"]["Config"]).size(), 0u);
}

TEST(NetworkStore, endpoints_need_their_container_and_hold_their_network) {
    char tmpl[] = "/tmp/berth-netstore-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    {
        auto store = graph::Store::open(dir + "/data");
        ASSERT_TRUE(store);
        graph::NetworkStore nets(**store);
        graph::ContainerStore containers(**store);
        NetworkRecord n;
        n.id = std::string(64, 'a');
        n.name = "n";
        n.labels = {{"k", "v"}};
        ASSERT_TRUE(nets.create(n));
        EndpointRecord e;
        e.network_id = n.id;
        e.container_id = std::string(64, 'c');
        e.endpoint_id = std::string(64, 'e');
        EXPECT_EQ(nets.put_endpoint(e).error().kind, ErrorKind::not_found);  // no such container
        ASSERT_EQ(sqlite3_exec((*store)->db(),
                               "INSERT INTO images (id, config_json, created, created_at)"
                               " VALUES ('sha256:img', '{}', 0, 0)",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        graph::ContainerRecord c;
        c.id = e.container_id;
        c.image_id = "sha256:img";
        c.name = "c";
        c.config_json = c.host_config_json = "{}";
        ASSERT_TRUE(containers.insert(c));
        ASSERT_TRUE(nets.put_endpoint(e));
        e.ip = "10.0.0.2";
        ASSERT_TRUE(nets.put_endpoint(e));  // upsert
        EXPECT_EQ(nets.endpoints_of_network(n.id)->front().ip, "10.0.0.2");
        EXPECT_EQ(nets.remove(n.id).error().kind, ErrorKind::forbidden);
        ASSERT_TRUE(containers.remove(c.id));  // the container's rows go with it
        EXPECT_EQ(nets.endpoints_of_network(n.id)->size(), 0u);
        ASSERT_TRUE(nets.remove(n.id));
        EXPECT_EQ(nets.get(n.id).error().message, "network " + n.id + " not found");
    }
    std::filesystem::remove_all(dir);
}

TEST(NetworkFilters, list_filters_as_dockerd_applies_them) {
    NetworkRecord user;
    user.id = "0123456789ab" + std::string(52, '0');
    user.name = "frontend";
    user.driver = "bridge";
    user.labels = {{"env", "prod"}};
    NetworkRecord host;
    host.id = std::string(64, 'f');
    host.name = "host";
    host.driver = "host";
    auto matches = [](const char* json, const NetworkRecord& n, bool used = false) {
        auto f = jobs::NetworkListFilter::parse(json);
        EXPECT_TRUE(f) << json;
        return f && f->matches(n, used);
    };
    EXPECT_TRUE(matches("", user));
    EXPECT_TRUE(matches(R"({"name":["front"]})", user));
    EXPECT_TRUE(matches(R"({"name":["^front.*d$"]})", user));
    EXPECT_FALSE(matches(R"({"name":["back"]})", user));
    EXPECT_TRUE(matches(R"({"id":["0123"]})", user));
    EXPECT_TRUE(matches(R"({"label":["env=prod"]})", user));
    EXPECT_FALSE(matches(R"({"label":["env=dev"]})", user));
    EXPECT_TRUE(matches(R"({"driver":["host"]})", host));
    EXPECT_FALSE(matches(R"({"driver":["bridge"]})", host));
    EXPECT_TRUE(matches(R"({"type":["custom"]})", user));
    EXPECT_FALSE(matches(R"({"type":["custom"]})", host));
    EXPECT_TRUE(matches(R"({"type":["builtin"]})", host));
    EXPECT_TRUE(matches(R"({"scope":["local"]})", user));
    EXPECT_FALSE(matches(R"({"scope":["swarm"]})", user));
    EXPECT_TRUE(matches(R"({"dangling":["true"]})", user));
    EXPECT_FALSE(matches(R"({"dangling":["true"]})", user, true));
    EXPECT_FALSE(matches(R"({"dangling":["true"]})", host));
    EXPECT_TRUE(matches(R"({"dangling":["false"]})", host));
    EXPECT_EQ(jobs::NetworkListFilter::parse(R"({"type":["bad"]})").error().message,
              "invalid filter: 'type'='bad'");
    EXPECT_EQ(jobs::NetworkListFilter::parse(R"({"color":["x"]})").error().message,
              "invalid filter 'color'");
    EXPECT_EQ(jobs::NetworkListFilter::parse(R"({"dangling":["true","false"]})").error().message,
              "got more than one value for filter key \"dangling\"");
}

TEST(NetworkFilters, prune_filters_take_labels_and_until) {
    NetworkRecord n;
    n.name = "old";
    n.created_ns = 1'000'000'000'000'000'000;
    n.labels = {{"tier", "web"}};
    auto f = jobs::NetworkPruneFilter::parse(R"({"until":["1000000000"]})", 0);
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->matches(n));
    f = jobs::NetworkPruneFilter::parse(R"({"until":["999999999"]})", 0);
    EXPECT_FALSE(f->matches(n));
    EXPECT_TRUE(jobs::NetworkPruneFilter::parse(R"({"label":["tier=web"]})", 0)->matches(n));
    EXPECT_FALSE(jobs::NetworkPruneFilter::parse(R"({"label!":["tier"]})", 0)->matches(n));
    EXPECT_FALSE(jobs::NetworkPruneFilter::parse(R"({"until":["soon"]})", 0));
    EXPECT_FALSE(jobs::NetworkPruneFilter::parse(R"({"name":["x"]})", 0));
}
