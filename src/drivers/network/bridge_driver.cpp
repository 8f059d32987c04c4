// The bridge driver: bridges with their gateway addresses, a container's veths (from the pool
// or made on connect), published ports held and NAT'ed, and the NAT table rebuilt whole.
#include "drivers/network/bridge_driver.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "kernel/conntrack.hpp"
#include "kernel/netns.hpp"
#include "kernel/rtnetlink.hpp"

namespace berth::drivers::net {

BridgeDriver::BridgeDriver(Config config) : config_(std::move(config)) {}

BridgeDriver::~BridgeDriver() = default;

const BridgeNetwork* BridgeDriver::network(const std::string& id) const {
    for (const auto& n : networks_)
        if (n.id == id) return &n;
    return nullptr;
}

// The bridge up with its gateway address; route_localnet so that DNAT'ed 127.0.0.1 traffic
// may leave through it (localhost access to published ports).
Result<> BridgeDriver::make_bridge(const BridgeNetwork& n) {
    auto nl = host_netlink();
    if (!nl) return fail(nl.error());
    auto index = (*nl)->ensure_bridge(n.bridge, n.mtu);
    if (!index) return fail(index.error());
    kernel::Ipv4Prefix gw{n.gateway, n.subnet.length};
    if (auto r = (*nl)->add_address(*index, gw); !r) return r;
    kernel::LinkChange up;
    up.up = true;
    if (auto r = (*nl)->set_link(*index, up); !r) return r;
    return kernel::enable_route_localnet(n.bridge);
}

// The NAT table and forwarding are made with the first bridge: a berthd without any bridge
// network (--bridge none and no user network) leaves the host's netfilter and sysctls alone.
Result<> BridgeDriver::rebuild_nat() {
    if (!nat_) {
        if (networks_.empty()) return {};
        auto nat = kernel::NatTable::open(config_.nat_table);
        if (!nat) return fail(nat.error());
        nat_ = std::move(*nat);
        if (auto r = kernel::enable_forwarding(); !r) return r;
    }
    std::vector<kernel::NatBridge> bridges;
    for (const auto& n : networks_) bridges.push_back({n.bridge, n.subnet, n.internal});
    std::vector<kernel::PortForward> forwards;
    for (const Sandbox* s : sandboxes_)
        forwards.insert(forwards.end(), s->forwards_.begin(), s->forwards_.end());
    return nat_->rebuild(bridges, forwards);
}

void BridgeDriver::start_pool() {
    if (pool_ || config_.pool_bridge.empty()) return;
    pool_ = std::make_unique<NetnsPool>(config_.pool_bridge, config_.mtu, config_.pool_size);
    pool_->start();
}

Result<> BridgeDriver::add_network(const BridgeNetwork& n) {
    std::erase_if(networks_, [&](const BridgeNetwork& have) { return have.id == n.id; });
    auto nl = host_netlink();
    bool existed = nl && (*nl)->link_index(n.bridge).has_value();
    networks_.push_back(n);
    auto made = make_bridge(n);
    if (made) made = rebuild_nat();
    if (made) return {};
    networks_.pop_back();
    if (!existed && nl)
        if (auto index = (*nl)->link_index(n.bridge)) (void)(*nl)->delete_link(*index);
    (void)rebuild_nat();
    return made;
}

Result<> BridgeDriver::remove_network(const std::string& id) {
    auto it = std::find_if(networks_.begin(), networks_.end(),
                           [&](const BridgeNetwork& n) { return n.id == id; });
    if (it == networks_.end()) return {};
    std::string bridge = it->bridge;
    networks_.erase(it);
    if (auto r = rebuild_nat(); !r) return r;
    // Only a bridge berth named (br-<id>) is deleted: one given by name
    // (com.docker.network.bridge.name, --bridge) may be the host's own.
    if (bridge != "br-" + id.substr(0, 12)) return {};
    auto nl = host_netlink();
    if (!nl) return fail(nl.error());
    auto index = (*nl)->link_index(bridge);
    if (!index) return {};
    return (*nl)->delete_link(*index);
}

// A published UDP port's flows keep their DNAT while datagrams come: forgotten with the port,
// so that a client of a restarted service reaches the new container.
void BridgeDriver::forget_flows(std::span<const kernel::PortForward> forwards) {
    if (auto r = kernel::forget_udp_flows(forwards); !r)
        log::debug("conntrack: " + r.error().message);
}

Result<kernel::Rtnetlink*> BridgeDriver::host_netlink() {
    if (!host_nl_) {
        auto nl = kernel::Rtnetlink::open();
        if (!nl) return fail(nl.error());
        host_nl_ = std::move(*nl);
    }
    return &*host_nl_;
}

// Host end on the network's bridge (hairpin on, so a container reaches its own published
// ports), container end named, addressed and routed. A pooled namespace comes with the host
// end on the default bridge, hairpin on, and a netlink socket inside: then it is one batch.
Result<> BridgeDriver::attach_link(Sandbox& s, const Attachment& e, PreparedNetns p) {
    auto host = host_netlink();
    if (!host) return fail(host.error());
    std::string name = "eth" + std::to_string(s.next_eth_);
    bool moved = p.bridge != e.network.bridge || e.network.mtu != config_.mtu;
    if (moved) {
        auto master = (*host)->link_index(e.network.bridge);
        if (!master) return fail(master.error());
        kernel::LinkChange change;
        change.master = *master;
        change.mtu = e.network.mtu;
        change.up = true;
        if (auto r = (*host)->set_link(p.host_index, change); !r) return r;
    }
    if (moved || !p.hairpin)
        if (auto r = (*host)->set_bridge_port_hairpin(p.host_index, true); !r) return r;
    auto inside = p.inside ? Result<kernel::Rtnetlink>(std::move(*p.inside))
                           : kernel::Rtnetlink::open_in(s.netns_.get());
    if (!inside) return fail(inside.error());
    if (e.network.mtu != config_.mtu) {
        auto index = inside->link_index(name);
        if (!index) return fail(index.error());
        kernel::LinkChange mtu;
        mtu.mtu = e.network.mtu;
        if (auto r = inside->set_link(*index, mtu); !r) return r;
    }
    std::optional<kernel::Ipv4Address> gateway;
    if (s.next_eth_ == 0 && !e.network.internal) gateway = e.network.gateway;
    auto r = kernel::configure_container_link(*inside, name, e.mac, {e.ip, e.network.subnet.length},
                                              gateway);
    if (!r) return r;
    s.links_.push_back({e.network.id, p.host_link, p.host_index, name, e.ip});
    ++s.next_eth_;
    return {};
}

Result<std::unique_ptr<Sandbox>> BridgeDriver::create_sandbox(const Attachment& first) {
    std::optional<PreparedNetns> p;
    if (pool_) p = pool_->take();
    if (!p && pool_ && !pool_error_logged_ && !pool_->last_error().empty()) {
        log::warn("netns pool: " + pool_->last_error() + " (starts prepare their own)");
        pool_error_logged_ = true;
    }
    if (!p) {
        auto made = prepare_netns(config_.pool_bridge, config_.mtu);
        if (!made) return fail(made.error());
        p = std::move(*made);
    }
    auto s = std::make_unique<Sandbox>();
    s->netns_ = std::move(p->netns);
    if (auto r = attach_link(*s, first, std::move(*p)); !r) return fail(r.error());
    sandboxes_.push_back(s.get());
    return s;
}

Result<> BridgeDriver::connect(Sandbox& s, const Attachment& e) {
    auto host = host_netlink();
    if (!host) return fail(host.error());
    std::string name = "eth" + std::to_string(s.next_eth_);
    auto p = add_veth(**host, s.netns_.get(), name, e.network.bridge, e.network.mtu);
    if (!p) return fail(p.error());
    int index = p->host_index;
    uint32_t mtu = config_.mtu;
    config_.mtu = e.network.mtu;  // made with the network's MTU already
    auto r = attach_link(s, e, std::move(*p));
    config_.mtu = mtu;
    if (!r) (void)(*host)->delete_link(index);
    return r;
}

Result<> BridgeDriver::disconnect(Sandbox& s, const std::string& network_id) {
    auto it = std::find_if(s.links_.begin(), s.links_.end(),
                           [&](const Sandbox::Link& l) { return l.network_id == network_id; });
    if (it == s.links_.end()) return {};
    // Ports published on that address go with it (its address is free for others now).
    std::vector<kernel::PortForward> gone;
    for (size_t i = s.forwards_.size(); i-- > 0;)
        if (s.forwards_[i].container_ip == it->ip) {
            gone.push_back(s.forwards_[i]);
            s.forwards_.erase(s.forwards_.begin() + long(i));
            s.reservations_.erase(s.reservations_.begin() + long(i));
        }
    if (!gone.empty() && nat_) (void)nat_->remove(gone);
    forget_flows(gone);
    auto host = host_netlink();
    if (!host) return fail(host.error());
    auto r = (*host)->delete_link(it->host_index);  // takes the container end with it
    s.links_.erase(it);
    return r;
}

// Whether a published port of a running container already covers this one (dockerd's own
// allocator answers "port is already allocated" before any bind is tried).
bool BridgeDriver::held(kernel::Protocol protocol, kernel::Ipv4Address ip, uint16_t port) const {
    for (const Sandbox* s : sandboxes_)
        for (const auto& f : s->forwards_)
            if (f.protocol == protocol && f.host_port == port &&
                (f.host_ip == ip || f.host_ip.unspecified() || ip.unspecified()))
                return true;
    return false;
}

Result<> BridgeDriver::publish(Sandbox& s, std::span<const PortRequest> ports,
                               kernel::Ipv4Address container_ip) {
    std::vector<kernel::PortForward> added;
    std::vector<kernel::UniqueFd> held_fds;
    for (const PortRequest& p : ports) {
        kernel::PortForward f{p.protocol, p.host_ip, p.host_port, container_ip, p.container_port};
        Result<kernel::PortReservation> got = fail(Error::internal("no port"));
        uint16_t last = std::max(p.host_port_last, p.host_port);
        for (uint32_t port = p.host_port; port <= last; ++port) {
            f.host_port = uint16_t(port);
            if (port != 0 && held(p.protocol, p.host_ip, f.host_port)) {
                got = fail(kernel::port_already_allocated(p.host_ip, f.host_port));
                continue;
            }
            got = kernel::reserve_port(f);
            if (got || port == 0) break;
        }
        if (!got) return fail(got.error());
        f.host_port = got->port;
        added.push_back(f);
        held_fds.push_back(std::move(got->fd));
    }
    if (added.empty()) return {};
    if (!nat_) return fail(Error::internal("no NAT table: no bridge network exists"));
    if (auto r = nat_->add(added); !r) return r;
    s.forwards_.insert(s.forwards_.end(), added.begin(), added.end());
    for (auto& fd : held_fds) s.reservations_.push_back(std::move(fd));
    return {};
}

void BridgeDriver::release(Sandbox& s) {
    if (!s.forwards_.empty() && nat_) (void)nat_->remove(s.forwards_);
    forget_flows(s.forwards_);
    s.forwards_.clear();
    s.reservations_.clear();
    if (s.netns_) graveyard_.push_back(std::move(s.netns_));
    std::erase(sandboxes_, &s);
}

std::vector<kernel::Ipv4Prefix> BridgeDriver::host_routes() {
    auto nl = host_netlink();
    if (!nl) return {};
    auto routes = (*nl)->ipv4_routes();
    if (!routes) return {};
    // Our own bridges' routes are not collisions.
    std::erase_if(*routes, [&](const kernel::Ipv4Prefix& r) {
        return std::any_of(networks_.begin(), networks_.end(), [&](const BridgeNetwork& n) {
            return n.subnet.network() == r.network() && n.subnet.length == r.length;
        });
    });
    return *routes;
}

}  // namespace berth::drivers::net
