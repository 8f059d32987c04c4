// The Docker API handlers' view of the daemon: what they may read and call. The composition
// root (daemon/) fills it; handlers stay thin and never reach around it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "http/router.hpp"

namespace berth::graph {
class Store;
class ImageStore;
class ContainerStore;
}
namespace berth::drivers {
class StorageDriver;
}
namespace berth::registry {
class RegistryClient;
}
namespace berth::jobs {
class EventBus;
class ContainerEngine;
class VolumeService;
class NetworkService;
class ContainerNetworks;
}
namespace berth::loop {
class Loop;
}

namespace berth::http {

class Server;

// Host and daemon facts for /version and /info, read once at start-up.
struct SystemInfo {
    std::string engine_id;
    std::string name;  // host name
    std::string data_root;
    std::string exec_root;
    std::string version;     // berth's version
    std::string git_commit;
    std::string build_time;
    std::string compiler;    // shown where Docker shows its Go version
    std::string kernel_version;
    std::string operating_system;
    std::string os_version;
    std::string arch;        // Go's names: amd64, arm64
    int ncpu = 0;
    int64_t mem_total = 0;
    std::string cgroup_driver;   // cgroupfs
    std::string cgroup_version;  // "1" or "2"
    bool memory_limit = false, swap_limit = false, cpu_cfs_period = false, cpu_cfs_quota = false,
         cpu_shares = false, cpuset = false, pids_limit = false, oom_kill_disable = false;
    bool ipv4_forwarding = false, bridge_nf_iptables = false, bridge_nf_ip6tables = false;
    bool debug = false;
    std::string storage_driver;
    std::vector<std::pair<std::string, std::string>> storage_status;
    std::string logging_driver;
    std::string default_runtime;
    std::vector<std::string> security_options;
    std::vector<std::string> insecure_registries;  // --insecure-registry: CIDRs and host:port
    std::vector<std::string> warnings;
};

struct ApiContext {
    loop::Loop* loop = nullptr;
    graph::Store* store = nullptr;
    graph::ImageStore* images = nullptr;
    graph::ContainerStore* containers = nullptr;
    jobs::ContainerEngine* engine = nullptr;
    jobs::VolumeService* volumes = nullptr;
    jobs::ContainerNetworks* container_networks = nullptr;
    jobs::NetworkService* networks = nullptr;
    drivers::StorageDriver* storage = nullptr;
    registry::RegistryClient* registry = nullptr;
    size_t max_concurrent_downloads = 3;
    jobs::EventBus* events = nullptr;
    Server* server = nullptr;
    SystemInfo system;
    int (*count_open_fds)() = nullptr;
    size_t events_listeners = 0;  // open /events streams
    // daemon.json `log-driver` / `log-opts`: what a container without its own LogConfig gets.
    std::string log_driver = "json-file";
    std::map<std::string, std::string> log_opts;

    // An image event for /events: `id` the image ID, `name` the reference it concerns.
    void publish_image_event(std::string_view action, std::string_view id, std::string_view name);
};

void register_system_routes(Router& router, ApiContext& ctx);
void register_event_routes(Router& router, ApiContext& ctx);
// GET /containers/{id}/stats, GET /containers/{id}/top, POST /containers/{id}/update (stats.cpp).
void register_stats_routes(Router& router, ApiContext& ctx);
void register_image_routes(Router& router, ApiContext& ctx);
// /volumes… (volumes.cpp).
void register_volume_routes(Router& router, ApiContext& ctx);
// /networks… (networks.cpp).
void register_network_routes(Router& router, ApiContext& ctx);
void register_container_routes(Router& router, ApiContext& ctx);
void register_exec_routes(Router& router, ApiContext& ctx);
// docker cp and docker export (archive.cpp).
void register_archive_routes(Router& router, ApiContext& ctx);
// POST /images/create?fromImage=… and POST /images/{name}/push (pull.cpp).
void pull_image(ApiContext& ctx, Exchange& ex);
void push_image(ApiContext& ctx, Exchange& ex);
// GET /containers/json with Docker's filters, limit and size (container_list.cpp).
void list_containers(ApiContext& ctx, Exchange& ex);
// GET /containers/{id}/logs across rotated json-file logs, following (container_logs.cpp).
void container_logs(ApiContext& ctx, Exchange& ex);
// A created container's HostConfig with LogConfig merged with the daemon's default and checked
// as dockerd checks it (400 with dockerd's words).
Result<std::string> container_log_config(const ApiContext& ctx, std::string_view host_config_json);

}  // namespace berth::http
