// The bridge network driver: Linux bridges (the default `berth0` and one per user network),
// a container's interfaces (a veth pair per network, the first from the warm netns pool),
// published ports (a held host socket per port plus an element in the NAT maps), and the NAT
// table rebuilt whole whenever the set of bridges changes. Nothing here outlives berthd but
// the bridges and the NAT table, both rebuilt idempotently at start-up: a container's netns,
// veths and port sockets are fds that die with the process.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "drivers/network/netns_pool.hpp"
#include "kernel/fd.hpp"
#include "kernel/ipv4.hpp"
#include "kernel/nat.hpp"
#include "kernel/port_reservation.hpp"
#include "kernel/rtnetlink.hpp"

namespace berth::drivers::net {

struct BridgeNetwork {
    std::string id;
    std::string bridge;  // interface name
    kernel::Ipv4Prefix subnet;
    kernel::Ipv4Address gateway;
    uint32_t mtu = 1500;
    bool internal = false;
};

// One of a container's endpoints: which network, and the address IPAM gave it.
struct Attachment {
    BridgeNetwork network;
    kernel::Ipv4Address ip;
    kernel::MacAddress mac{};
};

// A port as HostConfig.PortBindings asks: host port 0 → any free one (-P, or HostPort "");
// host_port_last > host_port → the first free one in that range ("8000-8010").
struct PortRequest {
    kernel::Protocol protocol = kernel::Protocol::tcp;
    kernel::Ipv4Address host_ip;  // 0.0.0.0: every host address
    uint16_t host_port = 0;
    uint16_t host_port_last = 0;
    uint16_t container_port = 0;
};

// One container's network: its namespace and what berthd holds for it.
class Sandbox {
  public:
    int netns() const { return netns_.get(); }
    const std::vector<kernel::PortForward>& ports() const { return forwards_; }

  private:
    friend class BridgeDriver;
    struct Link {
        std::string network_id;
        std::string host_link;
        int host_index = 0;
        std::string name;  // eth0, eth1, …
        kernel::Ipv4Address ip;
    };
    kernel::UniqueFd netns_;
    std::vector<Link> links_;
    std::vector<kernel::PortForward> forwards_;
    std::vector<kernel::UniqueFd> reservations_;  // one per forwards_ entry, in its order
    int next_eth_ = 0;
};

class BridgeDriver {
  public:
    struct Config {
        std::string pool_bridge;  // the bridge pooled veths are attached to ("" when none)
        uint32_t mtu = 1500;
        size_t pool_size = 16;
        std::string nat_table = "berth";
    };
    explicit BridgeDriver(Config config);
    ~BridgeDriver();

    // Once the pool's bridge exists: the filler starts preparing namespaces (none without a
    // default bridge: user networks' containers then prepare theirs inline).
    void start_pool();
    // A network created (or found again at start-up) or removed: its bridge with its gateway
    // address, and the NAT table rebuilt around it. A failed add leaves no bridge it made.
    Result<> add_network(const BridgeNetwork& network);
    Result<> remove_network(const std::string& network_id);

    Result<std::unique_ptr<Sandbox>> create_sandbox(const Attachment& first);
    Result<> connect(Sandbox& sandbox, const Attachment& endpoint);
    Result<> disconnect(Sandbox& sandbox, const std::string& network_id);
    // Holds the host ports and adds their DNAT elements (all or none).
    Result<> publish(Sandbox& sandbox, std::span<const PortRequest> ports,
                     kernel::Ipv4Address container_ip);
    // The container is gone: its ports unpublished, its netns set aside for bury().
    void release(Sandbox& sandbox);
    // Closes the namespaces set aside: the kernel then destroys them and their veths in one
    // cleanup run (cleanup_net batches whatever is queued), holding the rtnl lock once rather
    // than once per container, which the starts' netlink requests would otherwise wait on.
    void bury() { graveyard_.clear(); }
    size_t unburied() const { return graveyard_.size(); }

    std::vector<kernel::Ipv4Prefix> host_routes();
    const NetnsPool* pool() const { return pool_.get(); }

  private:
    Result<> make_bridge(const BridgeNetwork& network);
    Result<> rebuild_nat();
    Result<> attach_link(Sandbox& sandbox, const Attachment& endpoint, PreparedNetns prepared);
    const BridgeNetwork* network(const std::string& id) const;
    bool held(kernel::Protocol protocol, kernel::Ipv4Address ip, uint16_t port) const;
    static void forget_flows(std::span<const kernel::PortForward> forwards);

    // berthd's own namespace's netlink socket, opened once (the loop thread's).
    Result<kernel::Rtnetlink*> host_netlink();

    Config config_;
    std::optional<kernel::Rtnetlink> host_nl_;
    std::vector<BridgeNetwork> networks_;
    std::vector<Sandbox*> sandboxes_;  // for the NAT rebuild: every published port
    std::vector<kernel::UniqueFd> graveyard_;
    std::optional<kernel::NatTable> nat_;
    std::unique_ptr<NetnsPool> pool_;
    bool pool_error_logged_ = false;
};

}  // namespace berth::drivers::net
