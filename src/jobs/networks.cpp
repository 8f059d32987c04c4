// NetworkService: a network is written to the store first and handed to the driver second; a
// driver error deletes the row again, so nothing is half-made. Addresses live in memory (one
// Ipam per bridge network) and in the endpoint rows; start() rebuilds the first from the
// second. As in dockerd, only running containers' endpoints are active: they block removal and
// show in inspect; a stopped container's row goes with its network.
#include "jobs/networks.hpp"

#include <algorithm>
#include <charconv>

#include "base/json.hpp"
#include "base/log.hpp"
#include "base/time.hpp"
#include "jobs/events.hpp"
#include "kernel/nat.hpp"
#include "kernel/random.hpp"

namespace berth::jobs {

namespace {

using drivers::net::AddressPool;
using drivers::net::Ipam;
using graph::EndpointRecord;
using graph::NetworkRecord;
using kernel::Ipv4Address;
using kernel::Ipv4Prefix;

constexpr std::string_view bridge_name_option = "com.docker.network.bridge.name";
constexpr std::string_view mtu_option = "com.docker.network.driver.mtu";

Error forbidden(std::string m) {
    return Error::make(ErrorKind::forbidden, std::move(m));
}

// A plain Go error in dockerd: the API answers 500 with its text.
Error plain(std::string m) {
    return Error::make(ErrorKind::internal, std::move(m));
}

// moby's multierror.Join under a heading: one error inline, several as a "* " list.
std::string joined(std::string_view heading, const std::vector<std::string>& errs) {
    std::string out(heading);
    if (errs.size() == 1) return out + errs[0];
    for (size_t i = 0; i < errs.size(); ++i) out += (i ? "\n* " : "* ") + errs[i];
    return out;
}

// stringid.GenerateRandomID: 64 hex digits whose first 12 are not all decimal digits.
Result<std::string> random_id() {
    for (;;) {
        auto id = kernel::random_hex(32);
        if (!id) return fail(id.error());
        if (!std::all_of(id->begin(), id->begin() + 12,
                         [](char c) { return c >= '0' && c <= '9'; }))
            return id;
    }
}

bool is_ipv6_text(std::string_view s) {
    return s.find(':') != std::string_view::npos;
}

std::optional<AddressPool> pool_of(const NetworkRecord& n) {
    auto subnet = Ipv4Prefix::parse(n.subnet);
    auto gateway = Ipv4Address::parse(n.gateway);
    if (!subnet || !gateway) return std::nullopt;
    AddressPool p{*subnet, std::nullopt, *gateway};
    if (!n.ip_range.empty()) p.ip_range = Ipv4Prefix::parse(n.ip_range);
    return p;
}

// api/types/network ValidateIPAM for one IPv4 config: every problem, in Docker's words.
std::vector<std::string> ipam_config_errors(const NetworkCreate::IpamConfig& c) {
    std::vector<std::string> errs;
    auto subnet = Ipv4Prefix::parse(c.subnet);
    if (!subnet) return {"invalid subnet " + c.subnet + ": invalid CIDR block notation"};
    if (subnet->network() != subnet->address)
        errs.push_back("invalid subnet " + c.subnet + ": it should be " +
                       Ipv4Prefix{subnet->network(), subnet->length}.text());
    if (!c.ip_range.empty()) {
        auto range = Ipv4Prefix::parse(c.ip_range);
        std::string head = "invalid ip-range " + c.ip_range + ": ";
        if (!range && is_ipv6_text(c.ip_range))
            errs.push_back(head + "parent subnet is an IPv4 block");
        else if (!range)
            errs.push_back(head + "invalid CIDR block notation");
        else {
            if (range->length < subnet->length)
                errs.push_back(head + "CIDR block is bigger than its parent subnet " + c.subnet);
            if (range->network() != range->address)
                errs.push_back(head + "it should be " +
                               Ipv4Prefix{range->network(), range->length}.text());
            if (!subnet->overlaps(*range))
                errs.push_back(head + "parent subnet " + c.subnet + " doesn't contain ip-range");
        }
    }
    auto address_error = [&](const std::string& a) -> std::string {
        auto ip = Ipv4Address::parse(a);
        if (!ip) return is_ipv6_text(a) ? "parent subnet is an IPv4 block" : "invalid address";
        if (!subnet->contains(*ip))
            return "parent subnet " + c.subnet + " doesn't contain this address";
        return {};
    };
    if (!c.gateway.empty())
        if (auto e = address_error(c.gateway); !e.empty())
            errs.push_back("invalid gateway " + c.gateway + ": " + e);
    for (const auto& [name, a] : c.aux_addresses)
        if (auto e = address_error(a); !e.empty())
            errs.push_back("invalid auxiliary address " + name + ": " + e);
    return errs;
}

// The driver-independent checks of dockerd's createNetwork and libnetwork's NewNetwork that
// come before any address is chosen.
Result<> check_request(const NetworkCreate& req, const std::string& driver) {
    if (NetworkService::predefined(req.name))
        return fail(
            forbidden("operation is not permitted on predefined " + req.name + " network "));
    if (driver == "overlay")
        return fail(forbidden(
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm "
            "join\" to connect this node to swarm and try again."));
    std::vector<std::string> errs;
    for (const auto& c : req.ipam)
        if (!is_ipv6_text(c.subnet) || req.enable_ipv6.value_or(false))
            for (auto& e : ipam_config_errors(c)) errs.push_back(std::move(e));
    if (!errs.empty()) return fail(Error::invalid(joined("invalid network config:\n", errs)));
    if (req.enable_ipv6.value_or(false) || !req.enable_ipv4.value_or(true))
        return fail(Error::make(ErrorKind::not_implemented,
                                "berth networks are IPv4 only: EnableIPv6 and EnableIPv4=false "
                                "are not supported"));
    if (req.config_only || !req.config_from.empty())
        return fail(Error::make(ErrorKind::not_implemented,
                                "config-only networks (ConfigOnly, ConfigFrom) are not supported"));
    if (!req.ipam_driver.empty() && req.ipam_driver != "default")
        return fail(Error::not_found("plugin \"" + req.ipam_driver + "\" not found"));
    if (req.name.find_first_not_of(" \t\r\n") == std::string::npos)
        return fail(Error::invalid("invalid name: name is empty"));
    return {};
}

Result<> check_driver(const NetworkCreate& req, const std::string& driver) {
    if (driver == "host" || driver == "null")
        return fail(forbidden("only one instance of \"" + driver + "\" network is allowed"));
    if (driver == "macvlan" || driver == "ipvlan")
        return fail(Error::make(ErrorKind::not_implemented,
                                "network driver " + driver + " is not supported by berth"));
    if (driver != "bridge") return fail(Error::not_found("plugin \"" + driver + "\" not found"));
    if (req.scope == "swarm" || req.scope == "global")
        return fail(forbidden("cannot create a swarm scoped network when swarm is not active"));
    if (req.ingress) return fail(forbidden("Ingress network can only be global scope network"));
    return {};
}

// The bridge driver's options berth reads: the interface name and the MTU.
Result<> apply_bridge_options(NetworkRecord& n) {
    if (auto it = n.options.find(std::string(mtu_option)); it != n.options.end()) {
        const std::string& v = it->second;
        int mtu = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), mtu);
        if (v.empty() || ec != std::errc() || end != v.data() + v.size())
            return fail(Error::invalid("failed to parse " + std::string(mtu_option) +
                                       " value: " + v + " (strconv.Atoi: parsing \"" + v +
                                       "\": invalid syntax)"));
        if (mtu < 0) return fail(Error::invalid("invalid MTU number: " + v));
        n.mtu = mtu;
    }
    if (auto it = n.options.find(std::string(bridge_name_option)); it != n.options.end())
        n.bridge = it->second;
    if (!kernel::valid_interface_name(n.bridge))
        return fail(Error::invalid("invalid bridge name \"" + n.bridge +
                                   "\": 1 to 15 letters, digits, '-', '_' or '.'"));
    return {};
}

Error active_endpoints(const NetworkRecord& n, const std::vector<Attachment>& active) {
    std::string list;
    for (const auto& a : active)
        list += (list.empty() ? "" : ", ") + std::string("name:\"") + a.name + "\" id:\"" +
                a.endpoint.endpoint_id.substr(0, 12) + "\"";
    return forbidden("error while removing network: network " + n.name + " has active endpoints (" +
                     list + ")");
}

}  // namespace

NetworkService::NetworkService(graph::NetworkStore& store, NetworkHooks& hooks, EventBus* events)
    : store_(store), hooks_(hooks), events_(events) {}

NetworkService::~NetworkService() = default;

bool NetworkService::predefined(std::string_view name) {
    return name == "bridge" || name == "host" || name == "none";
}

void NetworkService::publish(const NetworkRecord& n, const std::string& action,
                             const std::string& container_id) {
    if (!events_) return;
    Event e;
    e.type = "network";
    e.action = action;
    e.actor_id = n.id;
    if (!container_id.empty()) e.attributes.emplace_back("container", container_id);
    e.attributes.emplace_back("name", n.name);
    e.attributes.emplace_back("type", n.driver);
    events_->publish(std::move(e));
}

Ipam* NetworkService::ipam_of(const std::string& network_id) {
    auto it = ipams_.find(network_id);
    return it == ipams_.end() ? nullptr : &it->second;
}

Result<NetworkRecord> NetworkService::check_create(const NetworkCreate& req) {
    std::string driver = req.driver.empty() ? "bridge" : req.driver;
    if (auto r = check_request(req, driver); !r) return fail(r.error());
    if (auto existing = store_.get_by_name(req.name); existing)
        return fail(Error::conflict("network with name " + req.name + " already exists"));
    else if (existing.error().kind != ErrorKind::not_found)
        return fail(existing.error());
    if (auto r = check_driver(req, driver); !r) return fail(r.error());
    NetworkRecord n;
    auto id = random_id();
    if (!id) return fail(id.error());
    n.id = *id;
    n.name = req.name;
    n.driver = driver;
    n.created_ns = wall_clock_ns();
    n.internal = req.internal;
    n.attachable = req.attachable;
    n.labels = req.labels;
    n.options = req.options;
    n.bridge = "br-" + n.id.substr(0, 12);
    n.mtu = default_mtu;
    if (auto r = apply_bridge_options(n); !r) return fail(r.error());
    if (auto r = check_pool(n, req); !r) return fail(r.error());
    return n;
}

// The subnet (given, or the first free default pool), ip-range and gateway; then the bridge
// driver's conflicts with other networks (same bridge name).
Result<> NetworkService::check_pool(NetworkRecord& n, const NetworkCreate& req) {
    auto all = store_.list();
    if (!all) return fail(all.error());
    std::vector<Ipv4Prefix> taken;
    for (const auto& o : *all)
        if (auto p = Ipv4Prefix::parse(o.subnet)) taken.push_back(*p);
    const NetworkCreate::IpamConfig* v4 = nullptr;
    for (const auto& c : req.ipam) {
        if (is_ipv6_text(c.subnet)) continue;
        if (v4)
            return fail(Error::make(ErrorKind::not_implemented,
                                    "berth networks have one IPv4 subnet: several IPAM.Config "
                                    "entries are not supported"));
        v4 = &c;
    }
    if (v4 && !v4->aux_addresses.empty())
        return fail(Error::make(ErrorKind::not_implemented,
                                "IPAM AuxiliaryAddresses are not supported by berth"));
    Ipv4Prefix subnet;
    if (v4) {
        subnet = *Ipv4Prefix::parse(v4->subnet);  // checked by ipam_config_errors
        for (const auto& t : taken)
            if (t.overlaps(subnet))
                return fail(forbidden(
                    "invalid pool request: Pool overlaps with other one on this address space"));
    } else {
        auto routes = hooks_.host_routes();
        auto chosen = drivers::net::choose_subnet(taken, routes);
        if (!chosen) return fail(chosen.error());
        subnet = *chosen;
    }
    std::optional<Ipv4Prefix> range;
    if (v4 && !v4->ip_range.empty()) range = Ipv4Prefix::parse(v4->ip_range);
    Ipv4Address gateway = drivers::net::default_gateway(subnet, range);
    if (v4 && !v4->gateway.empty()) {
        gateway = *Ipv4Address::parse(v4->gateway);
        // libnetwork reserves the gateway in the pool, where these two are taken already.
        if (subnet.length <= 30 && (gateway == subnet.network() || gateway == subnet.broadcast()))
            return fail(
                plain("failed to allocate gateway (" + v4->gateway + "): Address already in use"));
    }
    n.subnet = subnet.text();
    n.ip_range = range ? range->text() : "";
    n.gateway = gateway.text();
    n.subnet_given = v4 != nullptr;
    for (const auto& o : *all)
        if (o.bridge == n.bridge)
            return fail(forbidden("cannot create network " + n.id + " (" + n.bridge +
                                  "): conflicts with network " + o.id + " (" + o.bridge +
                                  "): networks have same bridge name"));
    return {};
}

Result<NetworkRecord> NetworkService::create(const NetworkCreate& req) {
    found_.clear();
    auto n = check_create(req);
    if (!n) return n;
    if (auto r = store_.create(*n); !r) return fail(r.error());
    ipams_.emplace(n->id, Ipam(*pool_of(*n)));
    if (auto r = hooks_.network_created(*n); !r) {
        ipams_.erase(n->id);
        if (auto undo = store_.remove(n->id); !undo)
            log::warn("undo network create " + n->name + ": " + undo.error().message);
        return fail(r.error());
    }
    publish(*n, "create");
    return n;
}

Result<NetworkRecord> NetworkService::find(std::string_view ref) {
    // Records change only through this service (which clears the cache): a container's start
    // looks its networks up several times without going to the store.
    if (auto it = found_.find(ref); it != found_.end()) return it->second;
    if (auto byid = store_.get(ref); byid || byid.error().kind != ErrorKind::not_found) {
        if (byid) found_.emplace(std::string(ref), *byid);
        return byid;
    }
    if (auto byname = store_.get_by_name(ref);
        byname || byname.error().kind != ErrorKind::not_found) {
        if (byname) found_.emplace(std::string(ref), *byname);
        return byname;
    }
    auto prefixed =
        ref.empty() ? Result<std::vector<NetworkRecord>>{} : store_.find_by_id_prefix(ref);
    if (!prefixed) return fail(prefixed.error());
    if (prefixed->size() == 1) return std::move(prefixed->front());
    if (prefixed->size() > 1)
        return fail(Error::invalid("network " + std::string(ref) + " is ambiguous (" +
                                   std::to_string(prefixed->size()) +
                                   " matches found based on ID prefix)"));
    return fail(Error::not_found("network " + std::string(ref) + " not found"));
}

Result<std::vector<NetworkRecord>> NetworkService::list() {
    return store_.list();
}

Result<std::vector<Attachment>> NetworkService::attachments(const std::string& network_id) {
    auto eps = store_.endpoints_of_network(network_id);
    if (!eps) return fail(eps.error());
    std::vector<Attachment> out;
    for (auto& e : *eps)
        if (hooks_.container_running(e.container_id)) {
            std::string name = hooks_.container_name(e.container_id);
            out.push_back(Attachment{std::move(e), std::move(name)});
        }
    return out;
}

Result<> NetworkService::remove(std::string_view ref) {
    found_.clear();
    auto n = find(ref);
    if (!n) return fail(n.error());
    if (predefined(n->name))
        return fail(forbidden(n->name + " is a pre-defined network and cannot be removed"));
    auto active = attachments(n->id);
    if (!active) return fail(active.error());
    if (!active->empty()) return fail(active_endpoints(*n, *active));
    if (auto r = hooks_.network_removed(*n); !r)
        return fail(std::move(r.error()).wrap("error while removing network"));
    // Stopped containers' rows go with the network, as their endpoint settings do in dockerd
    // (starting such a container then fails: its network is gone).
    auto stale = store_.endpoints_of_network(n->id);
    if (!stale) return fail(stale.error());
    for (const auto& e : *stale)
        if (auto r = store_.remove_endpoint(e.network_id, e.container_id); !r) return r;
    if (auto r = store_.remove(n->id); !r) return r;
    found_.clear();
    ipams_.erase(n->id);
    publish(*n, "destroy");
    return {};
}

Result<std::vector<std::string>> NetworkService::prune(
    const std::function<bool(const NetworkRecord&)>& selected) {
    auto all = store_.list();
    if (!all) return fail(all.error());
    std::vector<std::string> names;
    for (const auto& n : *all) {
        if (predefined(n.name) || !selected(n)) continue;
        auto active = attachments(n.id);
        if (!active || !active->empty()) continue;
        if (auto r = remove(n.id); !r) {
            log::warn("could not remove local network " + n.name + ": " + r.error().message);
            continue;
        }
        names.push_back(n.name);
    }
    if (events_) {
        Event e;
        e.type = "network";
        e.action = "prune";
        e.attributes.emplace_back("reclaimed", "0");
        events_->publish(std::move(e));
    }
    return names;
}

// ---- start-up ----

// The default bridge network as --bip, --bridge and --mtu say: the stored record brought up to
// date, or a new one (172.17.0.0/16 unless a host route or another network has it).
Result<NetworkRecord> NetworkService::default_bridge(const DefaultBridgeConfig& config,
                                                     const std::vector<NetworkRecord>& all) {
    auto existing = std::find_if(all.begin(), all.end(),
                                 [](const NetworkRecord& n) { return n.name == "bridge"; });
    NetworkRecord n;
    if (existing != all.end()) n = *existing;
    if (config.mtu < 0)
        return fail(Error::invalid("invalid MTU number: " + std::to_string(config.mtu)));
    n.bridge = config.bridge;
    n.mtu = config.mtu > 0 ? config.mtu : default_mtu;
    n.options = {{"com.docker.network.bridge.default_bridge", "true"},
                 {"com.docker.network.bridge.enable_icc", "true"},
                 {"com.docker.network.bridge.enable_ip_masquerade", "true"},
                 {"com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"},
                 {std::string(bridge_name_option), n.bridge},
                 {std::string(mtu_option), std::to_string(n.mtu)}};
    if (auto r = apply_bridge_options(n); !r) return fail(std::move(r.error()).wrap("--bridge"));
    std::vector<Ipv4Prefix> taken;
    for (const auto& o : all)
        if (o.name != "bridge")
            if (auto p = Ipv4Prefix::parse(o.subnet)) taken.push_back(*p);
    if (!config.bip.empty()) {
        auto bip = Ipv4Prefix::parse(config.bip);
        if (!bip || bip->length > 30 || bip->address == bip->network() ||
            bip->address == bip->broadcast())
            return fail(
                Error::invalid("invalid --bip " + config.bip +
                               ": the bridge's address and prefix length, as 172.17.0.1/16"));
        Ipv4Prefix subnet{bip->network(), bip->length};
        for (const auto& t : taken)
            if (t.overlaps(subnet))
                return fail(forbidden("--bip " + config.bip +
                                      ": invalid pool request: Pool overlaps with other one on "
                                      "this address space"));
        n.subnet = subnet.text();
        n.gateway = bip->address.text();
    } else if (n.subnet.empty()) {
        // The first default pool is 172.17.0.0/16: dockerd's docker0 unless something has it.
        auto routes = hooks_.host_routes();
        auto chosen = drivers::net::choose_subnet(taken, routes);
        if (!chosen) return fail(std::move(chosen.error()).wrap("default bridge network"));
        n.subnet = chosen->text();
        n.gateway = drivers::net::default_gateway(*chosen, std::nullopt).text();
    }
    if (existing != all.end()) {
        if (auto r = store_.update(n); !r) return fail(r.error());
        found_.clear();
        return n;
    }
    auto id = random_id();
    if (!id) return fail(id.error());
    n.id = *id;
    n.name = "bridge";
    n.driver = "bridge";
    n.created_ns = wall_clock_ns();
    if (auto r = store_.create(n); !r) return fail(r.error());
    found_.clear();
    return n;
}

// host and none always; bridge unless --bridge none (then a stored one is taken down, and its
// stopped containers' rows with it).
Result<> NetworkService::ensure_predefined(const DefaultBridgeConfig& config) {
    auto all = store_.list();
    if (!all) return fail(all.error());
    auto stored = [&](const char* name) {
        return std::find_if(all->begin(), all->end(),
                            [&](const NetworkRecord& n) { return n.name == name; });
    };
    for (auto [name, driver] : {std::pair{"host", "host"}, std::pair{"none", "null"}}) {
        if (stored(name) != all->end()) continue;
        NetworkRecord n;
        auto id = random_id();
        if (!id) return fail(id.error());
        n.id = *id;
        n.name = name;
        n.driver = driver;
        n.created_ns = wall_clock_ns();
        if (auto r = store_.create(n); !r) return r;
        found_.clear();
    }
    if (config.bridge != "none") {
        auto bridge = default_bridge(config, *all);
        if (!bridge) return fail(bridge.error());
        return {};
    }
    auto bridge = stored("bridge");
    if (bridge == all->end()) return {};
    if (auto r = hooks_.network_removed(*bridge); !r)
        log::warn("take down the default bridge network: " + r.error().message);
    if (auto eps = store_.endpoints_of_network(bridge->id))
        for (const auto& e : *eps) (void)store_.remove_endpoint(e.network_id, e.container_id);
    found_.clear();
    return store_.remove(bridge->id);
}

// The addresses of `n`'s endpoints taken again; an address the network no longer holds (a
// changed --bip) or holds twice is dropped from its row.
void NetworkService::restore_addresses(const NetworkRecord& n) {
    auto pool = pool_of(n);
    if (!pool) {
        log::warn("network " + n.name + " has no usable subnet (" + n.subnet + ")");
        return;
    }
    Ipam& ipam = ipams_.insert_or_assign(n.id, Ipam(*pool)).first->second;
    auto eps = store_.endpoints_of_network(n.id);
    if (!eps) {
        log::warn("read endpoints of network " + n.name + ": " + eps.error().message);
        return;
    }
    for (auto& e : *eps) {
        if (e.ip.empty()) continue;
        auto ip = Ipv4Address::parse(e.ip);
        auto r = ip ? ipam.reserve(*ip) : Result<>(fail(Error::invalid("unreadable address")));
        if (r) continue;
        log::warn("endpoint of container " + e.container_id.substr(0, 12) + " on network " +
                  n.name + " loses address " + e.ip + ": " + r.error().message);
        e.ip.clear();
        e.mac.clear();
        (void)store_.put_endpoint(e);
    }
}

Result<> NetworkService::start(const DefaultBridgeConfig& config) {
    found_.clear();
    if (auto r = ensure_predefined(config); !r) return fail(std::move(r.error()).wrap("networks"));
    auto all = store_.list();
    if (!all) return fail(all.error());
    ipams_.clear();
    for (const auto& n : *all) {
        if (n.driver != "bridge") continue;
        restore_addresses(n);
        auto made = hooks_.network_created(n);
        if (made) continue;
        // dockerd does not start without its default bridge; a user network waits for a fix.
        if (n.name == "bridge")
            return fail(std::move(made.error()).wrap("default bridge network " + n.bridge));
        log::warn("network " + n.name + " (" + n.bridge + "): " + made.error().message);
    }
    return {};
}

// ---- inspect ----

std::string NetworkService::inspect_json(const NetworkRecord& n, bool with_containers) {
    JsonWriter w;
    w.begin_object().field("Name", n.name).field("Id", n.id);
    w.field("Created", rfc3339_nano(n.created_ns)).field("Scope", "local");
    w.field("Driver", n.driver).field("EnableIPv4", true).field("EnableIPv6", false);
    w.key("IPAM").begin_object().field("Driver", "default").field_null("Options");
    w.key("Config").begin_array();
    if (!n.subnet.empty()) {
        w.begin_object().field("Subnet", n.subnet);
        if (!n.ip_range.empty()) w.field("IPRange", n.ip_range);
        if (!n.gateway.empty()) w.field("Gateway", n.gateway);
        w.end_object();
    }
    w.end_array().end_object();
    w.field("Internal", n.internal).field("Attachable", n.attachable).field("Ingress", false);
    w.key("ConfigFrom").begin_object().field("Network", "").end_object();
    w.field("ConfigOnly", false);
    w.key("Containers").begin_object();
    if (with_containers) {
        std::string length = "/" + n.subnet.substr(n.subnet.find('/') + 1);
        auto attached = attachments(n.id);
        for (const auto& a : attached ? *attached : std::vector<Attachment>{}) {
            w.key(a.endpoint.container_id).begin_object().field("Name", a.name);
            w.field("EndpointID", a.endpoint.endpoint_id).field("MacAddress", a.endpoint.mac);
            w.field("IPv4Address", a.endpoint.ip.empty() ? "" : a.endpoint.ip + length);
            w.field("IPv6Address", "").end_object();
        }
    }
    w.end_object();
    w.key("Options").begin_object();
    for (const auto& [k, v] : n.options) w.field(k, v);
    w.end_object().key("Labels").begin_object();
    for (const auto& [k, v] : n.labels) w.field(k, v);
    w.end_object().end_object();
    return w.take();
}

// ---- endpoints ----

Result<> NetworkService::validate_endpoint(const NetworkRecord& n,
                                           const EndpointConfig& config) const {
    std::vector<std::string> errs;
    const std::string& ip = config.ipv4_address;
    if (predefined(n.name)) {
        if (!ip.empty())
            errs.push_back("user specified IP address is supported on user defined networks only");
        if (!config.aliases.empty())
            errs.push_back(
                "network-scoped alias is supported only for containers in user defined networks");
    }
    auto parsed = Ipv4Address::parse(ip);
    if (!ip.empty() && (!parsed || parsed->unspecified()))
        errs.push_back("invalid IPv4 address: " + ip);
    else if (parsed && !predefined(n.name)) {
        auto subnet = Ipv4Prefix::parse(n.subnet);
        if (!n.subnet_given || !subnet)
            errs.push_back(
                "user specified IP address is supported only when connecting to networks with "
                "user configured subnets");
        else if (!subnet->contains(*parsed))
            errs.push_back("no configured subnet or ip-range contain the IP address " + ip);
    }
    if (errs.empty()) return {};
    return fail(Error::invalid(joined("invalid endpoint settings:\n", errs)));
}

// dockerd's updateNetworkSettings: host and none networks cannot be combined with others, and
// only a container created on the host network is on it. A container's first network (its
// NetworkMode, attached at create) meets no such rule.
Result<> NetworkService::connect_conflicts(const NetworkRecord& n,
                                           const std::vector<EndpointRecord>& current) {
    if (current.empty()) return {};
    bool on_host = false;
    std::vector<NetworkRecord> others;
    for (const auto& e : current)
        if (auto o = store_.get(e.network_id)) {
            on_host = on_host || o->driver == "host";
            others.push_back(std::move(*o));
        }
    if (n.driver == "host" && !on_host)
        return fail(Error::invalid(
            "cannot connect container to host network - container must be created in host "
            "network mode"));
    for (const auto& o : others) {
        if (o.driver == "host" || n.driver == "host")
            return fail(Error::invalid(
                "container sharing network namespace with another container or host cannot be "
                "connected to any other network"));
        if (o.driver == "null" || n.driver == "null")
            return fail(Error::invalid(
                "container cannot be connected to multiple networks with one of the networks in "
                "private (none) mode"));
    }
    return {};
}

Result<EndpointRecord> NetworkService::attach(std::string_view network_ref,
                                              const std::string& container_id,
                                              const EndpointConfig& config) {
    auto n = find(network_ref);
    if (!n) return fail(n.error());
    // dockerd's order: the settings are checked before a duplicate is let pass.
    if (auto r = validate_endpoint(*n, config); !r) return fail(r.error());
    auto current = store_.endpoints_of_container(container_id);
    if (!current) return fail(current.error());
    for (const auto& e : *current)
        if (e.network_id == n->id) return e;
    if (auto r = connect_conflicts(*n, *current); !r) return fail(r.error());
    EndpointRecord e;
    auto id = random_id();
    if (!id) return fail(id.error());
    e.network_id = n->id;
    e.container_id = container_id;
    e.endpoint_id = *id;
    e.aliases = config.aliases;
    e.ip_requested = config.ipv4_address;
    if (auto r = store_.put_endpoint(e); !r) return fail(r.error());
    return e;
}

Result<> NetworkService::connect(std::string_view network_ref, const std::string& container_id,
                                 const EndpointConfig& config) {
    auto n = find(network_ref);
    if (!n) return fail(n.error());
    if (!hooks_.container_running(container_id)) {
        auto e = attach(n->id, container_id, config);
        if (!e) return fail(e.error());
        return {};
    }
    auto current = store_.endpoints_of_container(container_id);
    if (!current) return fail(current.error());
    for (const auto& e : *current)
        if (e.network_id == n->id)
            return fail(forbidden("endpoint with name " + hooks_.container_name(container_id) +
                                  " already exists in network " + n->name));
    auto e = attach(n->id, container_id, config);
    if (!e) return fail(e.error());
    auto ep = allocate_endpoint(n->id, container_id);
    auto joined_ok = ep ? hooks_.connect_running(container_id, *ep) : Result<>(fail(ep.error()));
    if (!joined_ok) {
        if (ep) release_endpoint(n->id, container_id);
        (void)store_.remove_endpoint(n->id, container_id);
        return fail(joined_ok.error());
    }
    publish(*n, "connect", container_id);
    return {};
}

Result<> NetworkService::disconnect(std::string_view network_ref, const std::string& container_id,
                                    bool force) {
    auto n = find(network_ref);
    if (!n) return fail(n.error());
    (void)force;  // a missing network has no rows here: nothing for force to clean up
    bool running = hooks_.container_running(container_id);
    auto current = store_.endpoints_of_container(container_id);
    if (!current) return fail(current.error());
    auto e = std::find_if(current->begin(), current->end(),
                          [&](const EndpointRecord& r) { return r.network_id == n->id; });
    if (e == current->end())
        return fail(plain("container " + container_id + " is not connected to " +
                          (running ? "network " : "the network ") + n->name));
    if (running) {
        if (n->driver == "host")
            return fail(Error::invalid(
                "cannot disconnect container from host network - container was created in host "
                "network mode"));
        if (auto r = hooks_.disconnect_running(container_id, *e); !r)
            return fail(plain("container " + container_id + " failed to leave network " + n->name +
                              ": " + r.error().message));
    }
    if (!e->ip.empty())
        if (auto* ipam = ipam_of(n->id))
            if (auto ip = Ipv4Address::parse(e->ip)) ipam->release(*ip);
    if (auto r = store_.remove_endpoint(n->id, container_id); !r) return r;
    if (running) publish(*n, "disconnect", container_id);
    return {};
}

Result<EndpointRecord> NetworkService::allocate_endpoint(const std::string& network_id,
                                                         const std::string& container_id) {
    auto current = store_.endpoints_of_container(container_id);
    if (!current) return fail(current.error());
    auto e = std::find_if(current->begin(), current->end(),
                          [&](const EndpointRecord& r) { return r.network_id == network_id; });
    if (e == current->end())
        return fail(Error::not_found("container " + container_id + " has no endpoint on network " +
                                     network_id));
    return allocate_endpoint(std::move(*e));
}

Result<EndpointRecord> NetworkService::allocate_endpoint(EndpointRecord row) {
    const std::string& network_id = row.network_id;
    auto n = find(network_id);
    if (!n) return fail(n.error());
    Ipam* ipam = ipam_of(network_id);
    if (n->driver != "bridge" || !ipam) return row;
    if (auto held = Ipv4Address::parse(row.ip); held && ipam->in_use(*held)) return row;
    std::optional<Ipv4Address> ip;
    if (!row.ip_requested.empty()) {
        ip = Ipv4Address::parse(row.ip_requested);
        if (!ip) return fail(Error::invalid("invalid IPv4 address: " + row.ip_requested));
        if (auto r = ipam->reserve(*ip); !r) return fail(r.error());
    } else if (auto any = ipam->allocate()) {
        ip = *any;
    } else {
        return fail(Error::make(ErrorKind::unavailable,
                                "no available IPv4 addresses on this network's address pools: " +
                                    n->name + " (" + n->id + ")"));
    }
    row.ip = ip->text();
    row.mac = drivers::net::mac_text(drivers::net::mac_for(*ip));
    if (auto r = store_.put_endpoint(row); !r) {
        ipam->release(*ip);
        return fail(r.error());
    }
    return row;
}

void NetworkService::release_endpoint(const std::string& network_id,
                                      const std::string& container_id) {
    auto current = store_.endpoints_of_container(container_id);
    if (!current) {
        log::warn("release endpoint: " + current.error().message);
        return;
    }
    for (auto& e : *current) {
        if (e.network_id != network_id || e.ip.empty()) continue;
        if (auto* ipam = ipam_of(network_id))
            if (auto ip = Ipv4Address::parse(e.ip)) ipam->release(*ip);
        e.ip.clear();
        e.mac.clear();
        if (auto r = store_.put_endpoint(e); !r)
            log::warn("release endpoint: " + r.error().message);
    }
}

void NetworkService::remove_container(const std::string& container_id) {
    auto current = store_.endpoints_of_container(container_id);
    if (current)
        for (const auto& e : *current) release_endpoint(e.network_id, container_id);
    if (auto r = store_.remove_endpoints_of_container(container_id); !r)
        log::warn("remove endpoints of container: " + r.error().message);
}

Result<std::vector<EndpointRecord>> NetworkService::endpoints_of_container(
    const std::string& container_id) {
    return store_.endpoints_of_container(container_id);
}

}  // namespace berth::jobs
