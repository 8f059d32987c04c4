// Container networking glue: endpoint rows at create, the sandbox at start (addresses,
// interfaces, ports, DNS), released at exit, and NetworkSettings as dockerd shows them.
#include "jobs/container_networks.hpp"

#include <simdjson.h>

#include <algorithm>
#include <utility>

#include "drivers/network/dns_server.hpp"
#include "drivers/network/ipam.hpp"
#include "jobs/port_bindings.hpp"
#include "kernel/udp_socket.hpp"

namespace berth::jobs {

namespace {

using element = simdjson::dom::element;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string mode_of(std::string_view host_config_json) {
    simdjson::dom::parser parser;
    simdjson::padded_string text(host_config_json);
    std::string_view mode;
    if (parser.parse(text)["NetworkMode"].get(mode)) return "";
    return std::string(mode);
}

bool bridge_mode(std::string_view mode) {
    return mode != "none" && mode != "host" && !mode.starts_with("container:");
}

// HostConfig.Dns: on a user network the container's resolv.conf names 127.0.0.11, and these
// are where the embedded DNS forwards what it does not know (dockerd's ExtDNS); IPv4 only.
std::vector<kernel::SocketAddress> dns_upstreams(std::string_view host_config_json) {
    std::vector<kernel::SocketAddress> out;
    simdjson::dom::parser parser;
    simdjson::padded_string text(host_config_json);
    simdjson::dom::array dns;
    if (parser.parse(text)["Dns"].get(dns)) return out;
    for (element e : dns) {
        std::string_view v;
        if (e.get(v)) continue;
        if (auto ip = kernel::Ipv4Address::parse(v)) out.push_back(kernel::ipv4_socket_address(*ip, 53));
    }
    return out;
}

EndpointConfig endpoint_config(element e) {
    EndpointConfig c;
    std::string_view ip;
    if (!e["IPAMConfig"]["IPv4Address"].get(ip)) c.ipv4_address = std::string(ip);
    simdjson::dom::array aliases;
    if (!e["Aliases"].get(aliases))
        for (element a : aliases) {
            std::string_view s;
            if (!a.get(s)) c.aliases.emplace_back(s);
        }
    return c;
}

}  // namespace

ContainerNetworks::ContainerNetworks(drivers::net::BridgeDriver* driver,
                                     graph::ContainerStore& containers, loop::Loop* loop)
    : driver_(driver), containers_(containers), loop_(loop) {
    bury_timer_.context = this;
    bury_timer_.callback = &ContainerNetworks::on_bury;
}

void ContainerNetworks::arm_bury() {
    if (!driver_ || driver_->unburied() == 0) return;
    if (!loop_) return driver_->bury();
    if (!bury_timer_.in_flight()) loop_->timeout(bury_timer_, bury_every_ns);
}

void ContainerNetworks::on_bury(loop::Completion& c) {
    auto* self = static_cast<ContainerNetworks*>(c.context);
    if (self->driver_) self->driver_->bury();
}

ContainerNetworks::~ContainerNetworks() {
    for (auto& [id, live] : live_)
        if (driver_ && live.sandbox) driver_->release(*live.sandbox);
}

std::string ContainerNetworks::network_of_mode(std::string_view mode) {
    return mode.empty() || mode == "default" ? "bridge" : std::string(mode);
}

Result<> ContainerNetworks::created(const std::string& id, std::string_view host_config_json,
                                    std::string_view networking_config_json) {
    std::string mode = mode_of(host_config_json);
    if (!bridge_mode(mode) || !service_) return {};
    std::string primary = network_of_mode(mode);
    simdjson::dom::parser parser;
    simdjson::padded_string text(networking_config_json.empty() ? std::string_view("{}")
                                                                : networking_config_json);
    simdjson::dom::object endpoints;
    bool have = !parser.parse(text)["EndpointsConfig"].get(endpoints);
    auto undo = [&](Error e) -> Result<> {
        service_->remove_container(id);
        return fail(std::move(e));
    };
    // The default bridge switched off (--bridge none): such containers get no network.
    auto net = service_->find(primary);
    if (!net) {
        if (primary == "bridge") return {};
        return fail(net.error());
    }
    // The CLI names NetworkMode's own entry as it named the mode ("default" included).
    auto is_primary = [&](std::string_view name) {
        return name == mode || name == primary || name == net->id || name == net->name;
    };
    EndpointConfig first;
    if (have)
        for (auto [name, cfg] : endpoints)
            if (is_primary(name)) first = endpoint_config(cfg);
    if (auto r = service_->attach(net->id, id, first); !r) return undo(r.error());
    if (have)
        for (auto [name, cfg] : endpoints) {
            if (is_primary(name)) continue;
            if (auto r = service_->attach(name, id, endpoint_config(cfg)); !r)
                return undo(r.error());
        }
    return {};
}

Result<drivers::net::Attachment> ContainerNetworks::attachment(const graph::EndpointRecord& e) {
    auto n = service_->find(e.network_id);
    if (!n) return fail(n.error());
    auto subnet = kernel::Ipv4Prefix::parse(n->subnet);
    auto gateway = kernel::Ipv4Address::parse(n->gateway);
    auto ip = kernel::Ipv4Address::parse(e.ip);
    if (!subnet || !gateway || !ip)
        return fail(Error::internal("network " + n->name + " has no usable address for " + e.container_id));
    drivers::net::Attachment a;
    a.network = {n->id, n->bridge, *subnet, *gateway, uint32_t(n->mtu ? n->mtu : 1500), n->internal};
    a.ip = *ip;
    a.mac = drivers::net::mac_for(*ip);
    return a;
}

bool ContainerNetworks::on_user_network(const std::vector<graph::EndpointRecord>& endpoints) {
    for (const auto& e : endpoints) {
        auto n = service_->find(e.network_id);
        if (n && n->driver == "bridge" && n->name != "bridge") return true;
    }
    return false;
}

Result<ContainerNetworks::Joined> ContainerNetworks::attach(const std::string& id,
                                                            std::string_view config_json,
                                                            std::string_view host_config_json) {
    Joined j;
    if (!service_ || !driver_) return j;
    // Started again before its last run's teardown (deferred to the reap tick) came round.
    if (live_.contains(id)) detach(id, false);
    std::erase(retired_, id);
    auto rows = service_->endpoints_of_container(id);
    if (!rows) return fail(rows.error());
    std::string mode = network_of_mode(mode_of(host_config_json));
    if (rows->empty()) {
        // No default bridge (--bridge none): an empty namespace, as dockerd. A user network
        // removed since the create: dockerd refuses the start.
        if (mode == "bridge") return j;
        return fail(Error::not_found("network " + mode + " not found"));
    }
    // eth0 is NetworkMode's network (the default route's).
    auto primary = service_->find(mode);
    if (primary)
        std::stable_partition(rows->begin(), rows->end(), [&](const graph::EndpointRecord& e) {
            return e.network_id == primary->id;
        });
    std::vector<drivers::net::Attachment> attachments;
    auto release_all = [&] {
        for (const auto& e : *rows) service_->release_endpoint(e.network_id, id);
    };
    for (const auto& row : *rows) {
        auto e = service_->allocate_endpoint(row);
        if (!e) {
            release_all();
            return fail(e.error());
        }
        auto a = attachment(*e);
        if (!a) {
            release_all();
            return fail(a.error());
        }
        attachments.push_back(std::move(*a));
    }
    auto ports = port_requests(config_json, host_config_json);
    if (!ports) {
        release_all();
        return fail(ports.error());
    }
    auto sandbox = driver_->create_sandbox(attachments[0]);
    if (!sandbox) {
        release_all();
        return fail(sandbox.error());
    }
    Live live;
    live.sandbox = std::move(*sandbox);
    auto undo = [&](Error e) -> Result<Joined> {
        if (live.dns_key && dns_) dns_->remove_listener(live.dns_key);
        dns_keys_.erase(live.dns_key);
        driver_->release(*live.sandbox);
        arm_bury();
        release_all();
        return fail(std::move(e));
    };
    for (size_t i = 1; i < attachments.size(); ++i)
        if (auto r = driver_->connect(*live.sandbox, attachments[i]); !r) return undo(r.error());
    if (auto r = driver_->publish(*live.sandbox, *ports, attachments[0].ip); !r)
        return undo(r.error());
    j.embedded_dns = on_user_network(*rows);
    if (j.embedded_dns && dns_) {
        live.dns_key = next_dns_key_++;
        dns_keys_[live.dns_key] = id;
        if (auto r = dns_->add_listener(live.dns_key, live.sandbox->netns(),
                                        dns_upstreams(host_config_json));
            !r)
            return undo(r.error());
    }
    j.netns_fd = live.sandbox->netns();
    j.ip = attachments[0].ip.text();
    live_[id] = std::move(live);
    names_changed();
    return j;
}

void ContainerNetworks::detach(const std::string& id, bool keep_addresses) {
    auto node = live_.extract(id);
    if (node.empty()) return;
    names_changed();
    Live& live = node.mapped();
    if (live.dns_key && dns_) dns_->remove_listener(live.dns_key);
    dns_keys_.erase(live.dns_key);
    if (driver_ && live.sandbox) driver_->release(*live.sandbox);
    arm_bury();
    if (keep_addresses || !service_) return;
    if (auto rows = service_->endpoints_of_container(id))
        for (const auto& e : *rows) service_->release_endpoint(e.network_id, id);
}

size_t ContainerNetworks::reserve_fds() const {
    if (!driver_) return 0;
    size_t pooled = driver_->pool() ? driver_->pool()->ready() : 0;
    return 2 * pooled + driver_->unburied();
}

void ContainerNetworks::detach_retired() {
    for (const std::string& id : std::exchange(retired_, {})) detach(id, false);
}

void ContainerNetworks::release_stale(const std::vector<std::string>& restarted) {
    if (!service_) return;
    auto all = containers_.list();
    if (!all) return;
    for (const auto& c : *all) {
        if (live_.contains(c.id) ||
            std::find(restarted.begin(), restarted.end(), c.id) != restarted.end())
            continue;
        if (auto rows = service_->endpoints_of_container(c.id))
            for (const auto& e : *rows)
                if (!e.ip.empty()) service_->release_endpoint(e.network_id, c.id);
    }
}

void ContainerNetworks::removed(const std::string& id) {
    // A retired sandbox is closed at the reap tick; its rows (and addresses) go now.
    if (std::find(retired_.begin(), retired_.end(), id) == retired_.end()) detach(id, false);
    if (service_) service_->remove_container(id);
    names_changed();
}

std::vector<kernel::Ipv4Address> ContainerNetworks::resolve(uint64_t key, std::string_view name) {
    std::vector<kernel::Ipv4Address> out;
    auto who = dns_keys_.find(key);
    if (who == dns_keys_.end() || !service_) return out;
    std::string want = lower(name);
    if (want.ends_with('.')) want.pop_back();
    auto member = member_of_.find(who->second);
    if (member == member_of_.end()) {
        std::vector<std::string> nets;
        if (auto mine = service_->endpoints_of_container(who->second))
            for (const auto& e : *mine)
                if (auto n = service_->find(e.network_id); n && n->name != "bridge")
                    nets.push_back(e.network_id);  // the default bridge has no names (Docker)
        member = member_of_.emplace(who->second, std::move(nets)).first;
    }
    for (const std::string& net : member->second) {
        auto names = names_.find(net);
        if (names == names_.end()) {
            std::vector<Name> list;
            if (auto peers = service_->attachments(net))
                for (const auto& p : *peers) {
                    auto ip = kernel::Ipv4Address::parse(p.endpoint.ip);
                    if (!ip) continue;  // not running
                    Name n{lower(p.name), p.endpoint.container_id.substr(0, 12), {}, *ip};
                    for (const auto& a : p.endpoint.aliases) n.aliases.push_back(lower(a));
                    list.push_back(std::move(n));
                }
            names = names_.emplace(net, std::move(list)).first;
        }
        for (const Name& n : names->second) {
            bool match = n.name == want || n.short_id == want;
            for (const auto& a : n.aliases) match = match || a == want;
            if (match) out.push_back(n.ip);
        }
    }
    return out;
}

void ContainerNetworks::write_network_settings(JsonWriter& w, const graph::ContainerRecord& c) {
    auto live = live_.find(c.id);
    bool running = live != live_.end();
    std::vector<graph::EndpointRecord> rows;
    if (service_)
        if (auto r = service_->endpoints_of_container(c.id)) rows = std::move(*r);
    // The legacy top-level fields are the default bridge's (dockerd fills them from it only).
    const graph::EndpointRecord* legacy = nullptr;
    std::string legacy_gateway;
    int legacy_len = 0;
    w.begin_object();
    w.field("Bridge", "").field("SandboxID", running ? c.id : "");
    w.field("SandboxKey", "").field("HairpinMode", false);
    w.field("LinkLocalIPv6Address", "").field("LinkLocalIPv6PrefixLen", 0);
    w.key("Ports");
    if (running) {
        auto keys = port_keys(c.config_json, c.host_config_json);
        write_network_ports(w, keys, live->second.sandbox->ports());
    } else {
        w.begin_object().end_object();
    }
    w.key("SecondaryIPAddresses").null().key("SecondaryIPv6Addresses").null();
    std::string networks;
    JsonWriter nw;
    nw.begin_object();
    for (const auto& e : rows) {
        auto n = service_->find(e.network_id);
        if (!n) continue;
        auto subnet = kernel::Ipv4Prefix::parse(n->subnet);
        bool has_ip = running && !e.ip.empty();
        nw.key(n->name).begin_object();
        nw.key("IPAMConfig");
        if (e.ip_requested.empty()) nw.null();
        else nw.begin_object().field("IPv4Address", e.ip_requested).end_object();
        nw.key("Links").null().key("Aliases");
        if (e.aliases.empty()) {
            nw.null();
        } else {
            nw.begin_array();
            for (const auto& a : e.aliases) nw.value(a);
            nw.end_array();
        }
        nw.field("MacAddress", has_ip ? e.mac : "").key("DriverOpts").null().field("GwPriority", 0);
        nw.field("NetworkID", n->id).field("EndpointID", has_ip ? e.endpoint_id : "");
        nw.field("Gateway", has_ip ? n->gateway : "").field("IPAddress", has_ip ? e.ip : "");
        nw.field("IPPrefixLen", has_ip && subnet ? int(subnet->length) : 0);
        nw.field("IPv6Gateway", "").field("GlobalIPv6Address", "").field("GlobalIPv6PrefixLen", 0);
        nw.key("DNSNames");
        if (n->name == "bridge" || !has_ip) {
            nw.null();
        } else {
            nw.begin_array().value(c.name);
            for (const auto& a : e.aliases) nw.value(a);
            nw.value(c.id.substr(0, 12)).end_array();
        }
        nw.end_object();
        if (n->name == "bridge" && has_ip) {
            legacy = &e;
            legacy_gateway = n->gateway;
            legacy_len = subnet ? subnet->length : 0;
        }
    }
    // host and none: the predefined network named, with no address (as dockerd shows them).
    std::string mode = mode_of(c.host_config_json);
    if (rows.empty() && service_ && (mode == "host" || mode == "none"))
        if (auto n = service_->find(mode)) {
            nw.key(n->name).begin_object().key("IPAMConfig").null().key("Links").null();
            nw.key("Aliases").null().field("MacAddress", "").key("DriverOpts").null();
            nw.field("GwPriority", 0).field("NetworkID", n->id).field("EndpointID", "");
            nw.field("Gateway", "").field("IPAddress", "").field("IPPrefixLen", 0);
            nw.field("IPv6Gateway", "").field("GlobalIPv6Address", "").field("GlobalIPv6PrefixLen", 0);
            nw.key("DNSNames").null().end_object();
        }
    nw.end_object();
    w.field("EndpointID", legacy ? legacy->endpoint_id : "").field("Gateway", legacy_gateway);
    w.field("GlobalIPv6Address", "").field("GlobalIPv6PrefixLen", 0);
    w.field("IPAddress", legacy ? legacy->ip : "").field("IPPrefixLen", legacy_len);
    w.field("IPv6Gateway", "").field("MacAddress", legacy ? legacy->mac : "");
    w.key("Networks").raw(nw.str());
    w.end_object();
}

void ContainerNetworks::write_list_ports(JsonWriter& w, const graph::ContainerRecord& c) {
    auto live = live_.find(c.id);
    if (live == live_.end()) {
        w.begin_array().end_array();
        return;
    }
    auto keys = port_keys(c.config_json, c.host_config_json);
    jobs::write_list_ports(w, keys, live->second.sandbox->ports());
}

void ContainerNetworks::write_list_networks(JsonWriter& w, const graph::ContainerRecord& c) {
    bool running = live_.contains(c.id);
    w.begin_object();
    if (service_)
        if (auto rows = service_->endpoints_of_container(c.id))
            for (const auto& e : *rows) {
                auto n = service_->find(e.network_id);
                if (!n) continue;
                bool has_ip = running && !e.ip.empty();
                auto subnet = kernel::Ipv4Prefix::parse(n->subnet);
                w.key(n->name).begin_object().field("NetworkID", n->id);
                w.field("EndpointID", has_ip ? e.endpoint_id : "");
                w.field("Gateway", has_ip ? n->gateway : "").field("IPAddress", has_ip ? e.ip : "");
                w.field("IPPrefixLen", has_ip && subnet ? int(subnet->length) : 0);
                w.field("MacAddress", has_ip ? e.mac : "").end_object();
            }
    w.end_object();
}

std::vector<std::pair<std::string, std::string>> ContainerNetworks::networks_of(
    const std::string& id) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!service_) return out;
    if (auto rows = service_->endpoints_of_container(id))
        for (const auto& e : *rows)
            if (auto n = service_->find(e.network_id)) out.emplace_back(n->name, n->id);
    // host and none have no endpoint rows: the mode names the network.
    if (out.empty())
        if (auto c = containers_.get(id)) {
            std::string mode = mode_of(c->host_config_json);
            if (mode == "host" || mode == "none")
                if (auto n = service_->find(mode)) out.emplace_back(n->name, n->id);
        }
    return out;
}

std::vector<kernel::PortForward> ContainerNetworks::published(const std::string& id) const {
    auto live = live_.find(id);
    if (live == live_.end()) return {};
    return live->second.sandbox->ports();
}

Result<> ContainerNetworks::network_created(const graph::NetworkRecord& r) {
    if (!driver_ || r.driver != "bridge") return {};
    auto subnet = kernel::Ipv4Prefix::parse(r.subnet);
    auto gateway = kernel::Ipv4Address::parse(r.gateway);
    if (!subnet || !gateway) return fail(Error::internal("network " + r.name + " has no subnet"));
    return driver_->add_network(
        {r.id, r.bridge, *subnet, *gateway, uint32_t(r.mtu ? r.mtu : 1500), r.internal});
}

Result<> ContainerNetworks::network_removed(const graph::NetworkRecord& r) {
    if (!driver_ || r.driver != "bridge") return {};
    return driver_->remove_network(r.id);
}

std::vector<kernel::Ipv4Prefix> ContainerNetworks::host_routes() {
    return driver_ ? driver_->host_routes() : std::vector<kernel::Ipv4Prefix>{};
}

Result<> ContainerNetworks::connect_running(const std::string& id,
                                            const graph::EndpointRecord& e) {
    auto live = live_.find(id);
    if (live == live_.end() || !driver_)
        return fail(Error::conflict("container " + id + " is not running with a network of its own"));
    auto a = attachment(e);
    if (!a) return fail(a.error());
    if (auto r = driver_->connect(*live->second.sandbox, *a); !r) return r;
    names_changed();
    auto n = service_->find(e.network_id);
    if (dns_ && !live->second.dns_key && n && n->name != "bridge") {
        uint64_t key = next_dns_key_++;
        auto c = containers_.get(id);
        auto upstreams = c ? dns_upstreams(c->host_config_json) : std::vector<kernel::SocketAddress>{};
        if (auto r = dns_->add_listener(key, live->second.sandbox->netns(), std::move(upstreams));
            !r) {
            (void)driver_->disconnect(*live->second.sandbox, e.network_id);
            return r;
        }
        live->second.dns_key = key;
        dns_keys_[key] = id;
    }
    return {};
}

Result<> ContainerNetworks::disconnect_running(const std::string& id,
                                               const graph::EndpointRecord& e) {
    auto live = live_.find(id);
    if (live == live_.end() || !driver_) return {};
    names_changed();
    return driver_->disconnect(*live->second.sandbox, e.network_id);
}

bool ContainerNetworks::container_running(const std::string& id) {
    return running_ ? running_(id) : live_.contains(id);
}

std::string ContainerNetworks::container_name(const std::string& id) {
    auto c = containers_.get(id);
    return c ? c->name : id.substr(0, 12);
}

}  // namespace berth::jobs
