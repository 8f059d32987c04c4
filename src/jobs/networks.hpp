// NetworkService: Docker's networks as the engine keeps them: the predefined bridge, host and
// none networks, user bridge networks (create, inspect, list, remove, prune) with Docker's
// checks and messages, containers' endpoints (connect, disconnect) and their IPv4 addresses
// (one drivers::net::Ipam per bridge network, rebuilt from the store at start-up). What touches
// the kernel (bridges, veths, NAT) is the driver's, reached through NetworkHooks.
// The reactor thread owns all of it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "drivers/network/ipam.hpp"
#include "graph/networks.hpp"
#include "kernel/ipv4.hpp"

namespace berth::jobs {

class EventBus;

// What the network driver does for the service. Every call comes from the reactor thread.
class NetworkHooks {
  public:
    virtual ~NetworkHooks() = default;
    // Make the bridge (record.bridge, gateway/subnet length as its address, record.mtu) and
    // its NAT (none when record.internal). Also called at start-up for every stored bridge
    // network, so it must accept what already exists. An error undoes the create.
    virtual Result<> network_created(const graph::NetworkRecord& record) = 0;
    virtual Result<> network_removed(const graph::NetworkRecord& record) = 0;
    // The host's IPv4 routes (from rtnetlink): subnets chosen without --subnet avoid them.
    virtual std::vector<kernel::Ipv4Prefix> host_routes() = 0;
    // docker network connect/disconnect of a running container: the endpoint has its address.
    virtual Result<> connect_running(const std::string& container_id,
                                     const graph::EndpointRecord& endpoint) = 0;
    virtual Result<> disconnect_running(const std::string& container_id,
                                        const graph::EndpointRecord& endpoint) = 0;
    virtual bool container_running(const std::string& container_id) = 0;
    // Without the leading '/': the endpoint's name in inspect and in Docker's messages.
    virtual std::string container_name(const std::string& container_id) = 0;
};

// dockerd's --bridge, --bip and --mtu (daemon.json "bridge", "bip", "mtu").
struct DefaultBridgeConfig {
    std::string bip;                // "172.17.0.1/16": the bridge's address; "" → kept or chosen
    std::string bridge = "berth0";  // the interface; "none" means no default bridge network
    int mtu = 0;                    // 0 → 1500
};

// POST /networks/create's body (moby api/types/network CreateRequest), IPv4 only.
struct NetworkCreate {
    struct IpamConfig {
        std::string subnet, ip_range, gateway;
        std::map<std::string, std::string> aux_addresses;  // AuxiliaryAddresses
    };
    std::string name;
    std::string driver;       // "" → bridge
    std::string scope;        // "" or local
    std::string ipam_driver;  // "" or default
    std::vector<IpamConfig> ipam;
    std::optional<bool> enable_ipv4, enable_ipv6;
    bool internal = false, attachable = false, ingress = false, config_only = false;
    std::string config_from;
    std::map<std::string, std::string> options, labels;
};

// A container's settings for one network (EndpointSettings): --ip, --network-alias.
struct EndpointConfig {
    std::string ipv4_address;
    std::vector<std::string> aliases;
};

// One container on a network as inspect shows it (Containers{}).
struct Attachment {
    graph::EndpointRecord endpoint;
    std::string name;  // the container's
};

class NetworkService {
  public:
    static constexpr int default_mtu = 1500;

    NetworkService(graph::NetworkStore& store, NetworkHooks& hooks, EventBus* events = nullptr);
    ~NetworkService();

    // Start-up: rebuilds every bridge network's addresses from the stored endpoints, makes the
    // predefined networks (bridge unless --bridge none, host, none), and asks the driver for
    // the bridges again.
    Result<> start(const DefaultBridgeConfig& config);

    // bridge, host and none: never created or removed by users.
    static bool predefined(std::string_view name);

    // POST /networks/create with Docker's checks, in dockerd's order.
    Result<graph::NetworkRecord> create(const NetworkCreate& req);
    // Docker's lookup: full ID, then exact name, then unique ID prefix; 404 "network X not
    // found", 400 when a prefix is ambiguous.
    Result<graph::NetworkRecord> find(std::string_view ref);
    Result<std::vector<graph::NetworkRecord>> list();
    Result<std::vector<Attachment>> attachments(const std::string& network_id);
    // 403 for a predefined network or one with endpoints.
    Result<> remove(std::string_view ref);
    // User networks without endpoints that `selected` picks; their names.
    Result<std::vector<std::string>> prune(
        const std::function<bool(const graph::NetworkRecord&)>& selected);

    // EndpointSettings checked against the network as dockerd does (400 "invalid endpoint
    // settings:\n…"): --ip and aliases only on user networks, --ip inside a given subnet.
    Result<> validate_endpoint(const graph::NetworkRecord& network,
                               const EndpointConfig& config) const;
    // docker create --network / connect of a stopped container: the endpoint row (no address
    // yet). A container already on the network keeps its row (dockerd: no duplicate config).
    Result<graph::EndpointRecord> attach(std::string_view network_ref,
                                         const std::string& container_id,
                                         const EndpointConfig& config);
    // docker network connect: attach, and for a running container an address and the
    // driver's connect_running (undone on failure). 403 when a running container is there.
    Result<> connect(std::string_view network_ref, const std::string& container_id,
                     const EndpointConfig& config);
    // docker network disconnect (`force` tolerates a missing network).
    Result<> disconnect(std::string_view network_ref, const std::string& container_id, bool force);

    // Container start: the row's address (its ip_requested or the next free one) and MAC,
    // written to the store. Idempotent while the address is held. Networks other than bridge
    // ones give the row as it is.
    Result<graph::EndpointRecord> allocate_endpoint(const std::string& network_id,
                                                    const std::string& container_id);
    // The same for a row the caller has just read (the start path reads them once).
    Result<graph::EndpointRecord> allocate_endpoint(graph::EndpointRecord row);
    // Container stop: the address is free again; the row stays with ip "".
    void release_endpoint(const std::string& network_id, const std::string& container_id);
    // Container removal: its addresses and rows.
    void remove_container(const std::string& container_id);
    Result<std::vector<graph::EndpointRecord>> endpoints_of_container(
        const std::string& container_id);

    // GET /networks/{id} (with Containers) and GET /networks items (Containers {}): Docker's
    // NetworkResource.
    std::string inspect_json(const graph::NetworkRecord& network, bool with_containers);

  private:
    Result<graph::NetworkRecord> check_create(const NetworkCreate& req);
    Result<> check_pool(graph::NetworkRecord& n, const NetworkCreate& req);
    Result<graph::NetworkRecord> default_bridge(const DefaultBridgeConfig& config,
                                                const std::vector<graph::NetworkRecord>& all);
    Result<> ensure_predefined(const DefaultBridgeConfig& config);
    void restore_addresses(const graph::NetworkRecord& n);
    Result<> connect_conflicts(const graph::NetworkRecord& n,
                               const std::vector<graph::EndpointRecord>& current);
    drivers::net::Ipam* ipam_of(const std::string& network_id);
    void publish(const graph::NetworkRecord& n, const std::string& action,
                 const std::string& container_id = {});

    graph::NetworkStore& store_;
    NetworkHooks& hooks_;
    EventBus* events_;
    std::map<std::string, drivers::net::Ipam> ipams_;  // network id → its addresses
    std::map<std::string, graph::NetworkRecord, std::less<>> found_;  // find() by exact ID or name
};

}  // namespace berth::jobs
