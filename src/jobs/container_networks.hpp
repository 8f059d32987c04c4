// A container's networking as the engine sees it: the endpoint rows made at create (from
// HostConfig.NetworkMode and NetworkingConfig), the sandbox taken at start (addresses from
// NetworkService, interfaces and published ports from the bridge driver, the embedded DNS
// listener on user networks), released at exit, and what inspect and `docker ps` show of it.
// It is also the NetworkHooks the NetworkService calls for bridges and for connect/disconnect
// of running containers. The reactor thread owns all of it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/json.hpp"
#include "drivers/network/bridge_driver.hpp"
#include "graph/containers.hpp"
#include "jobs/networks.hpp"
#include "loop/loop.hpp"

namespace berth::drivers::net {
class DnsServer;
}

namespace berth::jobs {

class ContainerNetworks final : public NetworkHooks {
  public:
    // `loop` times the batched close of exited containers' namespaces (null: closed at once).
    ContainerNetworks(drivers::net::BridgeDriver* driver, graph::ContainerStore& containers,
                      loop::Loop* loop = nullptr);
    static constexpr int64_t bury_every_ns = 100'000'000;
    ~ContainerNetworks() override;

    void set_service(NetworkService* service) { service_ = service; }
    void set_dns(drivers::net::DnsServer* dns) { dns_ = dns; }
    // Whether the engine has the container running (for connect/disconnect).
    void set_running_check(std::function<bool(const std::string&)> f) { running_ = std::move(f); }

    // The network of HostConfig.NetworkMode: "" and "default" are the default bridge.
    static std::string network_of_mode(std::string_view mode);
    // docker create: a row per network (NetworkMode's and NetworkingConfig.EndpointsConfig's),
    // each checked as dockerd does. On error nothing is left.
    Result<> created(const std::string& id, std::string_view host_config_json,
                     std::string_view networking_config_json);

    struct Joined {
        int netns_fd = -1;
        std::string ip;
        bool embedded_dns = false;
    };
    // Container start on bridge networks: addresses, the namespace with its interfaces, the
    // published ports, the DNS listener. All or nothing.
    Result<Joined> attach(const std::string& id, std::string_view config_json,
                          std::string_view host_config_json);
    // Container exit: ports unpublished, namespace closed, addresses freed (kept when
    // `keep_addresses`: berthd is going down and restarts the container on its next start).
    void detach(const std::string& id, bool keep_addresses);
    // Container exit on the way to its replies: detached by detach_retired() on a later tick
    // (the engine's reap), unless it starts again first (attach detaches it then).
    void retire(const std::string& id) { retired_.push_back(id); }
    void detach_retired();
    // After start-up's restarts: addresses still held by containers that are not coming back
    // (`restarted`: the ones start-up is starting again, whose addresses stay theirs).
    void release_stale(const std::vector<std::string>& restarted);
    // Container removal: its rows.
    void removed(const std::string& id);
    bool attached(const std::string& id) const { return live_.contains(id); }
    // Fds held ahead of or behind containers: pooled namespaces (and their netlink sockets) and
    // exited ones waiting for the batched close.
    size_t reserve_fds() const;

    // inspect's NetworkSettings, and `docker ps`'s Ports and NetworkSettings.
    void write_network_settings(JsonWriter& w, const graph::ContainerRecord& c);
    void write_list_ports(JsonWriter& w, const graph::ContainerRecord& c);
    void write_list_networks(JsonWriter& w, const graph::ContainerRecord& c);
    // For `docker ps` filters: its networks (name, ID) and the host ports it publishes now.
    std::vector<std::pair<std::string, std::string>> networks_of(const std::string& id);
    std::vector<kernel::PortForward> published(const std::string& id) const;

    // The embedded DNS: names on the networks the asking container shares. Answered from
    // memory (built from the store on first use after a change), so a container that floods
    // 127.0.0.11 costs the loop no store reads.
    std::vector<kernel::Ipv4Address> resolve(uint64_t key, std::string_view name);
    // A container's name changed (docker rename): the DNS names are read again.
    void names_changed() {
        names_.clear();
        member_of_.clear();
    }

    // NetworkHooks
    Result<> network_created(const graph::NetworkRecord& record) override;
    Result<> network_removed(const graph::NetworkRecord& record) override;
    std::vector<kernel::Ipv4Prefix> host_routes() override;
    Result<> connect_running(const std::string& container_id,
                             const graph::EndpointRecord& endpoint) override;
    Result<> disconnect_running(const std::string& container_id,
                                const graph::EndpointRecord& endpoint) override;
    bool container_running(const std::string& container_id) override;
    std::string container_name(const std::string& container_id) override;

  private:
    struct Live {
        std::unique_ptr<drivers::net::Sandbox> sandbox;
        uint64_t dns_key = 0;
    };
    Result<drivers::net::Attachment> attachment(const graph::EndpointRecord& e);
    bool on_user_network(const std::vector<graph::EndpointRecord>& endpoints);

    void arm_bury();
    static void on_bury(loop::Completion& c);

    drivers::net::BridgeDriver* driver_;
    graph::ContainerStore& containers_;
    loop::Loop* loop_;
    loop::Completion bury_timer_;
    NetworkService* service_ = nullptr;
    drivers::net::DnsServer* dns_ = nullptr;
    std::function<bool(const std::string&)> running_;
    std::map<std::string, Live> live_;
    std::map<uint64_t, std::string> dns_keys_;  // listener key → container id
    std::vector<std::string> retired_;          // exited, not yet detached
    struct Name {
        std::string name, short_id;  // lower case
        std::vector<std::string> aliases;
        kernel::Ipv4Address ip;
    };
    std::map<std::string, std::vector<Name>> names_;             // user network → its names
    std::map<std::string, std::vector<std::string>> member_of_;  // container → user networks
    uint64_t next_dns_key_ = 1;
};

}  // namespace berth::jobs
