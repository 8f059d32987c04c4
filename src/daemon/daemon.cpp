#include "daemon/daemon.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>

#include "base/log.hpp"
#include "base/time.hpp"
#include "berth_build.h"
#include "drivers/storage/storage_driver.hpp"
#include "drivers/exec/exec_driver.hpp"
#include "graph/containers.hpp"
#include "drivers/logs/log_options.hpp"
#include "jobs/container_engine.hpp"
#include "kernel/cgroup.hpp"
#include "graph/images.hpp"
#include "drivers/network/bridge_driver.hpp"
#include "drivers/network/dns_server.hpp"
#include "graph/networks.hpp"
#include "graph/spool.hpp"
#include "graph/store.hpp"
#include "graph/volumes.hpp"
#include "http/api/api.hpp"
#include "http/server.hpp"
#include "jobs/events.hpp"
#include "jobs/container_networks.hpp"
#include "jobs/networks.hpp"
#include "jobs/volumes.hpp"
#include "kernel/host.hpp"
#include "kernel/lock_file.hpp"
#include "kernel/process.hpp"
#include "kernel/unix_socket.hpp"
#include "loop/loop.hpp"
#include "loop/signals.hpp"
#include "registry/client.hpp"

namespace berth::daemon {

namespace {

std::string go_arch(const std::string& machine) {
    if (machine == "x86_64") return "amd64";
    if (machine == "aarch64") return "arm64";
    if (machine == "armv7l") return "arm";
    return machine;
}

// dockerd's server-side warnings for limits the host cannot enforce.
std::vector<std::string> limit_warnings(const kernel::CgroupInfo& c) {
    std::vector<std::string> w;
    if (!c.memory_limit) w.push_back("WARNING: No memory limit support");
    if (c.memory_limit && !c.swap_limit) w.push_back("WARNING: No swap limit support");
    if (!c.cpu_cfs_quota) w.push_back("WARNING: No cpu cfs quota support");
    if (!c.cpu_cfs_period) w.push_back("WARNING: No cpu cfs period support");
    if (!c.cpu_shares) w.push_back("WARNING: No cpu shares support");
    if (!c.cpuset) w.push_back("WARNING: No cpuset support");
    return w;
}

http::SystemInfo system_info(const Config& cfg, const kernel::HostInfo& host,
                             std::string engine_id) {
    http::SystemInfo s;
    s.engine_id = std::move(engine_id);
    s.name = host.hostname;
    s.data_root = cfg.data_root;
    s.exec_root = cfg.exec_root;
    s.version = BERTH_VERSION;
    s.git_commit = BERTH_GIT_COMMIT;
    s.build_time = std::string(__DATE__) + " " + __TIME__;
    s.compiler = "g++ " __VERSION__;
    s.kernel_version = host.kernel_version;
    s.operating_system = host.operating_system;
    s.os_version = host.os_version;
    s.arch = go_arch(host.architecture);
    s.ncpu = host.ncpu;
    s.mem_total = host.mem_total;
    s.cgroup_driver = "cgroupfs";
    s.cgroup_version = host.cgroup.version_string();
    const kernel::CgroupInfo& c = host.cgroup;
    s.memory_limit = c.memory_limit;
    s.swap_limit = c.swap_limit;
    s.cpu_cfs_period = c.cpu_cfs_period;
    s.cpu_cfs_quota = c.cpu_cfs_quota;
    s.cpu_shares = c.cpu_shares;
    s.cpuset = c.cpuset;
    s.pids_limit = c.pids_limit;
    s.oom_kill_disable = c.oom_kill_disable;
    s.ipv4_forwarding = host.ipv4_forwarding;
    s.bridge_nf_iptables = host.bridge_nf_iptables;
    s.bridge_nf_ip6tables = host.bridge_nf_ip6tables;
    s.debug = cfg.debug;
    s.storage_driver = "";
    s.logging_driver = "json-file";
    s.default_runtime = "berth";
    s.warnings = limit_warnings(c);
    return s;
}


struct Daemon {
    Config cfg;
    kernel::UniqueFd data_root_lock, pid_lock;
    std::unique_ptr<loop::Loop> loop;
    std::unique_ptr<graph::Store> store;
    std::unique_ptr<drivers::StorageDriver> storage;
    std::unique_ptr<graph::ImageStore> images;
    std::unique_ptr<graph::ContainerStore> containers;
    std::unique_ptr<kernel::CgroupManager> cgroups;
    std::unique_ptr<drivers::ExecDriver> exec;
    std::unique_ptr<jobs::ContainerEngine> engine;
    std::unique_ptr<graph::VolumeStore> volume_store;
    std::unique_ptr<jobs::VolumeService> volumes;
    std::unique_ptr<graph::NetworkStore> network_store;
    std::unique_ptr<drivers::net::BridgeDriver> bridge_driver;
    std::unique_ptr<jobs::ContainerNetworks> container_networks;
    std::unique_ptr<jobs::NetworkService> networks;
    std::unique_ptr<drivers::net::DnsServer> dns;
    std::unique_ptr<registry::RegistryClient> registry;
    jobs::EventBus events;
    http::Router router;
    http::ApiContext api;
    std::unique_ptr<http::Server> server;
    std::unique_ptr<loop::SignalWatcher> signals;
    std::vector<kernel::UnixListener> listeners;
    bool stopping = false;

    Result<> start();
    Result<> open_images();
    Result<> open_networks();
    void open_engine(const kernel::CgroupInfo& layout);
    void stop(int signo);
    void cleanup();
};

Result<> Daemon::start() {
    kernel::ignore_sigpipe();
    if (auto r = kernel::raise_open_file_limit(); !r) log::warn(r.error().message);
    if (auto r = kernel::make_dirs(cfg.data_root, 0710); !r)
        return fail(std::move(r.error()).wrap("create data root"));
    if (auto r = kernel::make_dirs(cfg.exec_root, 0700); !r)
        return fail(std::move(r.error()).wrap("create exec root"));
    auto lock = kernel::lock_exclusive(cfg.data_root + "/berth.lock", "data root " + cfg.data_root);
    if (!lock) return fail(lock.error());
    data_root_lock = std::move(*lock);
    auto pid = kernel::write_pid_file(cfg.pidfile);
    if (!pid) return fail(pid.error());
    pid_lock = std::move(*pid);

    // The containers' default log driver and options are checked once, as dockerd does.
    if (auto r = drivers::log_settings({cfg.log_driver, cfg.log_opts}); !r)
        return fail(Error::invalid("failed to set log opts: " + r.error().message));
    auto l = loop::Loop::create();
    if (!l) return fail(l.error());
    loop = std::move(*l);
    auto st = graph::Store::open(cfg.data_root);
    if (!st) return fail(st.error());
    store = std::move(*st);
    auto id = store->engine_id();
    if (!id) return fail(id.error());
    auto host = kernel::read_host_info();
    if (!host) return fail(std::move(host.error()).wrap("read host information"));
    if (auto r = open_images(); !r) return r;

    registry::RegistryOptions ro;
    ro.insecure_registries = cfg.insecure_registries;
    ro.certs_dirs.push_back("/etc/berth/certs.d");
    ro.user_agent = std::string("berth/") + BERTH_VERSION;
    registry = std::make_unique<registry::RegistryClient>(*loop, ro);

    api.loop = loop.get();
    api.registry = registry.get();
    api.max_concurrent_downloads = size_t(std::max(1L, cfg.max_concurrent_downloads));
    api.store = store.get();
    api.images = images.get();
    containers = std::make_unique<graph::ContainerStore>(*store);
    api.containers = containers.get();
    if (auto r = open_networks(); !r) return r;
    open_engine(host->cgroup);
    api.engine = engine.get();
    // Volumes: what a crash left half-done is settled before any container starts.
    volume_store = std::make_unique<graph::VolumeStore>(*store);
    volumes = std::make_unique<jobs::VolumeService>(*loop, *volume_store, events, cfg.data_root);
    if (auto r = volumes->reconcile(); !r) return fail(std::move(r.error()).wrap("volumes"));
    engine->use_volumes(volumes.get());
    api.volumes = volumes.get();
    engine->use_networks(container_networks.get());
    container_networks->set_running_check(
        [e = engine.get()](const std::string& cid) { return e->running(cid); });
    // Restart policies once volumes and networks are wired; addresses not coming back are freed.
    container_networks->release_stale(engine->start_on_boot());
    api.storage = storage.get();
    api.events = &events;
    api.system = system_info(cfg, *host, *id);
    api.system.storage_driver = std::string(storage->name());
    api.system.insecure_registries = cfg.insecure_registries;
    api.system.storage_status = storage->status();
    api.system.logging_driver = cfg.log_driver;
    api.log_driver = cfg.log_driver;
    api.log_opts = cfg.log_opts;
    api.count_open_fds = &kernel::count_open_fds;
    http::register_system_routes(router, api);
    http::register_event_routes(router, api);
    http::register_stats_routes(router, api);
    http::register_image_routes(router, api);
    http::register_volume_routes(router, api);
    http::register_network_routes(router, api);
    http::register_container_routes(router, api);
    http::register_exec_routes(router, api);
    http::register_archive_routes(router, api);

    http::ServerLimits limits;
    limits.connections_max = size_t(cfg.api_max_connections);
    limits.idle_timeout_ns = cfg.api_idle_timeout_s * 1'000'000'000LL;
    limits.request_timeout_ns = cfg.api_request_timeout_s * 1'000'000'000LL;
    limits.shutdown_grace_ns = cfg.shutdown_timeout_s * 1'000'000'000LL;
    http::ServerIdentity identity;
    identity.server = std::string("berth/") + BERTH_VERSION + " (linux)";
    identity.api_version = http::api_version_current.str();
    server = std::make_unique<http::Server>(*loop, router, limits, identity);
    api.server = server.get();

    if (cfg.hosts.empty()) cfg.hosts.push_back("unix://" + std::string(default_socket));
    for (const std::string& h : cfg.hosts) {
        auto path = unix_socket_path(h);
        if (!path) return fail(path.error());
        auto ls = kernel::listen_unix(*path, cfg.group);
        if (!ls) return fail(ls.error());
        if (!ls->group_warning.empty()) log::debug(ls->group_warning);
        server->add_listener(ls->fd.release());
        listeners.push_back(std::move(*ls));
    }

    auto sw = loop::SignalWatcher::create(
        *loop, {SIGTERM, SIGINT},
        [](void* ctx, int signo) { static_cast<Daemon*>(ctx)->stop(signo); }, this);
    if (!sw) return fail(sw.error());
    signals = std::move(*sw);

    for (const auto& ls : listeners) {
        log::info("API listen on " + ls.path);
        std::printf("berthd %s is up: API on %s\nexport DOCKER_HOST=unix://%s\n", BERTH_VERSION,
                    ls.path.c_str(), ls.path.c_str());
    }
    std::fflush(stdout);
    log::info("Daemon has completed initialization (engine id " + *id + ")");
    return {};
}

// The storage driver (overlay2 where the data root's filesystem carries it, else vfs) and the
// image graph on top of it; then what a crash may have left half-done is swept.
Result<> Daemon::open_images() {
    std::string note;
    auto driver = drivers::open_storage_driver(cfg.data_root, cfg.storage_driver, note);
    if (!driver) return fail(std::move(driver.error()).wrap("storage driver"));
    storage = std::move(*driver);
    if (!note.empty()) log::warn(note);
    graph::LayerFiles files;
    files.list = [this] { return storage->list_layers(); };
    files.remove = [this](std::string_view chain) { return storage->remove_layer(chain); };
    auto im = graph::ImageStore::open(*store, std::move(files));
    if (!im) return fail(im.error());
    images = std::move(*im);
    // Spools of loads and imports a crash interrupted.
    if (auto r = graph::clear_tmp(cfg.data_root + "/tmp"); !r) log::warn(r.error().message);
    auto swept = images->reconcile();
    if (!swept) return fail(std::move(swept.error()).wrap("reconcile images"));
    if (swept->pending_layers || swept->orphan_layers || !swept->removed_layer_files.empty())
        log::info("removed " + std::to_string(swept->pending_layers) +
                  " half-written layers and " + std::to_string(swept->orphan_layers) +
                  " unused ones left by an earlier run");
    // Storage of containers the store knows stays; anything else is a crash's leftover.
    std::set<std::string> keep;
    if (auto known = graph::ContainerStore(*store).list())
        for (const auto& c : *known) keep.insert(c.id);
    auto stale = storage->cleanup_stale(keep);
    if (!stale) log::warn("storage clean-up: " + stale.error().message);
    log::info(std::string("storage driver: ") + std::string(storage->name()));
    return {};
}

// Networks before any container starts: the predefined ones (bridge as --bridge/--bip/--mtu
// say), the stored user networks and their endpoints' addresses.
Result<> Daemon::open_networks() {
    network_store = std::make_unique<graph::NetworkStore>(*store);
    drivers::net::BridgeDriver::Config dc;
    dc.pool_bridge = cfg.bridge == "none" ? "" : cfg.bridge;
    dc.mtu = cfg.mtu > 0 ? uint32_t(cfg.mtu) : 1500;
    bridge_driver = std::make_unique<drivers::net::BridgeDriver>(dc);
    container_networks =
        std::make_unique<jobs::ContainerNetworks>(bridge_driver.get(), *containers, loop.get());
    networks = std::make_unique<jobs::NetworkService>(*network_store, *container_networks, &events);
    container_networks->set_service(networks.get());
    jobs::DefaultBridgeConfig bridge;
    bridge.bridge = cfg.bridge;
    bridge.bip = cfg.bip;
    bridge.mtu = int(cfg.mtu);
    if (auto r = networks->start(bridge); !r) return r;
    // The warm pool fills once the default bridge is there (none with --bridge none).
    bridge_driver->start_pool();
    // The embedded DNS for user networks, forwarding to the host's resolvers.
    std::ifstream resolv("/etc/resolv.conf");
    std::string text((std::istreambuf_iterator<char>(resolv)), {});
    auto* cn = container_networks.get();
    dns = std::make_unique<drivers::net::DnsServer>(
        *loop, [cn](uint64_t key, std::string_view name) { return cn->resolve(key, name); },
        drivers::net::DnsServer::upstreams_from_resolv_conf(text));
    container_networks->set_dns(dns.get());
    api.networks = networks.get();
    api.container_networks = container_networks.get();
    return {};
}

// berth-init for --init: the path given, else the one installed next to berthd (as dockerd
// finds docker-init); "" when there is none (a container asking for it then gets an error).
std::string init_binary(const std::string& configured) {
    std::error_code ec;
    std::filesystem::path p = configured;
    if (p.empty()) p = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "berth-init";
    if (ec || !std::filesystem::is_regular_file(p, ec)) {
        if (!configured.empty()) log::warn("--init-path " + configured + " is not a file");
        return {};
    }
    return std::filesystem::absolute(p, ec).string();
}

// Containers: cgroups under --cgroup-parent (with favordynmods on the cgroup root, see
// kernel/cgroup.hpp), the exec driver and the lifecycle engine. Containers the store says were
// running when berthd last stopped are exited now (what a crash left running is killed with
// its cgroup).
void Daemon::open_engine(const kernel::CgroupInfo& layout) {
    if (auto f = kernel::favor_dynamic_cgroup_changes(layout); !f)
        log::warn("cgroup favordynmods: " + f.error().message);
    auto cg = kernel::CgroupManager::create(layout, cfg.cgroup_parent);
    if (cg) cgroups = std::move(*cg);
    else log::warn("cgroups unavailable, containers run without limits: " + cg.error().message);
    // Nothing runs yet (berth has no live restore): every cgroup under our parent is a leftover,
    // and a crashed berthd's containers may still have processes in theirs. Destroying them
    // kills those, so the records below can say "exited" truthfully and unmount.
    if (cgroups) (void)cgroups->remove_stale({});
    if (auto cs = containers->list())
        for (auto c : *cs)
            if (c.state == "running" || c.state == "paused" || c.state == "restarting") {
                c.state = "exited";
                c.exit_code = 255;
                c.finished_ns = wall_clock_ns();
                c.pid = 0;
                (void)containers->update_state(c);
                (void)storage->unmount(c.id);
            }
    exec = std::make_unique<drivers::ExecDriver>(*loop, cgroups.get(), layout);
    engine = std::make_unique<jobs::ContainerEngine>(*loop, *exec, *storage, *containers, *images,
                                                    events);
    engine->set_init(init_binary(cfg.init_path), cfg.init);
}

void Daemon::stop(int signo) {
    if (stopping) {
        log::warn("second signal received; shutdown is already in progress");
        return;
    }
    stopping = true;
    log::info(std::string("Processing signal '") + strsignal(signo) + "'; shutting down");
    // Running containers are killed (berth has no live restore yet), then the API server goes.
    engine->shutdown([this] {
        server->shutdown([](void* ctx) { static_cast<Daemon*>(ctx)->loop->stop(); }, this);
    });
}

void Daemon::cleanup() {
    for (const auto& ls : listeners) unlink(ls.path.c_str());
    if (pid_lock) unlink(cfg.pidfile.c_str());
}

}  // namespace

int run(Config config) {
    log::Level level;
    if (!log::parse_level(config.log_level, level)) {
        log::error("invalid --log-level: " + config.log_level);
        return 1;
    }
    log::set_level(config.debug ? log::Level::debug : level);
    auto parent = cgroup_parent_name(config.cgroup_parent);
    if (!parent) {
        log::error(parent.error().message);
        return 1;
    }
    config.cgroup_parent = *parent;
    auto d = std::make_unique<Daemon>();
    d->cfg = std::move(config);
    if (auto r = d->start(); !r) {
        log::error("failed to start daemon: " + r.error().message);
        d->cleanup();
        return 1;
    }
    auto r = d->loop->run();
    if (d->signals) d->signals->stop();
    if (d->registry) d->registry->shutdown();
    if (d->dns) d->dns->shutdown();
    for (int i = 0; d->dns && d->dns->in_flight() > 0 && i < 100; ++i)
        if (!d->loop->tick(10'000'000)) break;
    for (int i = 0; d->registry && !d->registry->quiescent() && i < 100; ++i)
        if (!d->loop->tick(10'000'000)) break;
    // Let the cancelled signal read come back before the loop goes away.
    while (d->loop->in_flight() > 0)
        if (!d->loop->tick(100'000'000)) break;
    if (d->bridge_driver && d->bridge_driver->pool()) {
        const auto* pool = d->bridge_driver->pool();
        log::info("netns pool: " + std::to_string(pool->hits()) + " starts from the pool, " +
                  std::to_string(pool->misses()) + " prepared inline");
    }
    d->cleanup();
    if (!r) {
        log::error("event loop: " + r.error().message);
        return 1;
    }
    log::info("Daemon shutdown complete");
    return 0;
}

}  // namespace berth::daemon
