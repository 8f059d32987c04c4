// NetworkStore: network records in berth.db (`networks`, schema 5) and the containers'
// endpoints on them (`endpoints`). Only metadata: addresses are handed out by
// jobs::NetworkService, bridges and rules made by the network driver.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "graph/store.hpp"

namespace berth::graph {

struct NetworkRecord {
    std::string id;  // 64 hex digits
    std::string name;
    std::string driver = "bridge";  // bridge, host or null
    int64_t created_ns = 0;
    std::string subnet, gateway, ip_range;  // "172.18.0.0/16", "172.18.0.1", "" (none)
    bool subnet_given = false;              // from IPAM.Config rather than the default pools
    bool internal = false, attachable = false;
    std::string bridge;  // the bridge interface ("berth0", "br-" + id[:12])
    int mtu = 0;
    std::map<std::string, std::string> labels, options;  // Labels, Options as inspect shows
};

// A container's attachment to a network (Docker's endpoint; its name is the container's).
struct EndpointRecord {
    std::string network_id, container_id;
    std::string endpoint_id;  // 64 hex digits
    std::string ip, mac;      // "172.18.0.2", "02:42:ac:12:00:02"; "" until allocated
    std::vector<std::string> aliases;
    std::string ip_requested;  // IPAMConfig.IPv4Address (--ip), "" for any
};

class NetworkStore {
  public:
    explicit NetworkStore(Store& store) : store_(store) {}

    // 409 "network with name X already exists" when the name is taken.
    Result<> create(const NetworkRecord& n);
    // Every column but id and name (the default bridge follows --bip/--bridge/--mtu).
    Result<> update(const NetworkRecord& n);
    // 404 "network X not found".
    Result<NetworkRecord> get(std::string_view id);
    Result<NetworkRecord> get_by_name(std::string_view name);
    // The networks whose ID starts with `prefix` (any number of them).
    Result<std::vector<NetworkRecord>> find_by_id_prefix(std::string_view prefix);
    // By name.
    Result<std::vector<NetworkRecord>> list();
    // 403 "network X has active endpoints" while a container is attached.
    Result<> remove(std::string_view id);

    Result<std::vector<EndpointRecord>> endpoints_of_network(std::string_view network_id);
    Result<std::vector<EndpointRecord>> endpoints_of_container(std::string_view container_id);
    // Insert or replace the (network, container) row; the container must exist.
    Result<> put_endpoint(const EndpointRecord& e);
    Result<> remove_endpoint(std::string_view network_id, std::string_view container_id);
    Result<> remove_endpoints_of_container(std::string_view container_id);

  private:
    Result<std::vector<NetworkRecord>> networks(std::string_view where, std::string_view arg);
    Result<std::vector<EndpointRecord>> endpoints(std::string_view where, std::string_view arg);
    Store& store_;
};

}  // namespace berth::graph
