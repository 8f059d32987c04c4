// GET/HEAD /_ping, GET /version, GET /info: what `docker version`, `docker info` and every
// client's version negotiation read first. Shapes follow moby's api/swagger.yaml (API 1.51).
#include <string>

#include "base/json.hpp"
#include "base/time.hpp"
#include "graph/store.hpp"
#include "http/api/api.hpp"
#include "jobs/container_networks.hpp"
#include "http/exchange.hpp"

namespace berth::http {

namespace {

void ping(ApiContext&, Exchange& ex) {
    // The CLI reads Api-Version (set on every response), OSType, Docker-Experimental and
    // Builder-Version from these headers; "1" = the classic builder, as berth has no BuildKit.
    ex.add_header("Builder-Version", "1");
    ex.add_header("Swarm", "inactive");
    ex.add_header("Cache-Control", "no-cache, no-store, must-revalidate");
    ex.add_header("Pragma", "no-cache");
    ex.respond(200, "text/plain; charset=utf-8", "OK");
}

// The same facts appear twice: as the Engine component's Details (a map of strings) and at the
// top level (where Experimental is a bool).
void write_version_details(JsonWriter& w, const SystemInfo& s, bool details) {
    w.field("ApiVersion", api_version_current.str())
        .field("Arch", s.arch)
        .field("BuildTime", s.build_time);
    if (details) w.field("Experimental", "false");
    else w.field("Experimental", false);
    w
        .field("GitCommit", s.git_commit)
        .field("GoVersion", s.compiler)
        .field("KernelVersion", s.kernel_version)
        .field("MinAPIVersion", api_version_min.str())
        .field("Os", "linux");
}

void version(ApiContext& ctx, Exchange& ex) {
    const SystemInfo& s = ctx.system;
    JsonWriter w;
    w.begin_object();
    w.key("Platform").begin_object().field("Name", "berth " + s.version).end_object();
    w.key("Components").begin_array().begin_object();
    w.field("Name", "Engine").field("Version", s.version);
    w.key("Details").begin_object();
    write_version_details(w, s, true);
    w.end_object().end_object().end_array();
    w.field("Version", s.version);
    write_version_details(w, s, false);
    w.end_object();
    ex.respond_json(200, w.str());
}

void string_array(JsonWriter& w, std::string_view key, const std::vector<std::string>& items) {
    w.key(key).begin_array();
    for (const auto& i : items) w.value(i);
    w.end_array();
}

void write_registry_config(JsonWriter& w, const SystemInfo& s) {
    // dockerd's shape: loopback and --insecure-registry CIDRs are insecure ranges, named
    // insecure registries are index entries with Secure false, Docker Hub the official index.
    w.key("RegistryConfig").begin_object();
    w.key("AllowNondistributableArtifactsCIDRs").begin_array().end_array();
    w.key("AllowNondistributableArtifactsHostnames").begin_array().end_array();
    w.key("InsecureRegistryCIDRs").begin_array().value("::1/128").value("127.0.0.0/8");
    for (const auto& r : s.insecure_registries)
        if (r.find('/') != std::string::npos) w.value(r);
    w.end_array();
    w.key("IndexConfigs").begin_object().key("docker.io").begin_object();
    w.field("Name", "docker.io").key("Mirrors").begin_array().end_array();
    w.field("Secure", true).field("Official", true);
    w.end_object();
    for (const auto& r : s.insecure_registries) {
        if (r.find('/') != std::string::npos) continue;
        w.key(r).begin_object().field("Name", r).key("Mirrors").begin_array().end_array();
        w.field("Secure", false).field("Official", false).end_object();
    }
    w.end_object();
    w.key("Mirrors").begin_array().end_array();
    w.end_object();
}

void write_limits(JsonWriter& w, const SystemInfo& s) {
    w.field("MemoryLimit", s.memory_limit)
        .field("SwapLimit", s.swap_limit)
        .field("KernelMemory", false)
        .field("KernelMemoryTCP", false)
        .field("CpuCfsPeriod", s.cpu_cfs_period)
        .field("CpuCfsQuota", s.cpu_cfs_quota)
        .field("CPUShares", s.cpu_shares)
        .field("CPUSet", s.cpuset)
        .field("PidsLimit", s.pids_limit)
        .field("OomKillDisable", s.oom_kill_disable)
        .field("IPv4Forwarding", s.ipv4_forwarding)
        .field("BridgeNfIptables", s.bridge_nf_iptables)
        .field("BridgeNfIp6tables", s.bridge_nf_ip6tables);
}

void info(ApiContext& ctx, Exchange& ex) {
    const SystemInfo& s = ctx.system;
    auto counts = ctx.store->counts();
    if (!counts) {
        ex.respond_error(counts.error());
        return;
    }
    JsonWriter w;
    w.begin_object();
    w.field("ID", s.engine_id)
        .field("Containers", counts->containers)
        .field("ContainersRunning", counts->containers_running)
        .field("ContainersPaused", counts->containers_paused)
        .field("ContainersStopped", counts->containers_stopped)
        .field("Images", counts->images)
        .field("Driver", s.storage_driver);
    w.key("DriverStatus").begin_array();
    for (const auto& [k, v] : s.storage_status) w.begin_array().value(k).value(v).end_array();
    w.end_array();
    w.key("Plugins").begin_object();
    string_array(w, "Volume", {"local"});
    string_array(w, "Network", {"bridge", "host", "null"});
    w.field_null("Authorization");
    string_array(w, "Log", {"json-file"});
    w.end_object();
    write_limits(w, s);
    w.field("Debug", s.debug)
        .field("NFd", ctx.count_open_fds ? ctx.count_open_fds() : 0)
        // berth's own: of NFd, the fds the warm netns pool and the namespaces waiting for their
        // batched close hold (they come and go with starts, not with leaks).
        .field("BerthNetworkReserveFds",
               ctx.container_networks ? ctx.container_networks->reserve_fds() : 0)
        .field("NGoroutines", 1)  // one reactor thread
        .field("SystemTime", rfc3339_nano(wall_clock_ns()))
        .field("LoggingDriver", s.logging_driver)
        .field("CgroupDriver", s.cgroup_driver)
        .field("CgroupVersion", s.cgroup_version)
        .field("NEventsListener", ctx.events_listeners)
        .field("KernelVersion", s.kernel_version)
        .field("OperatingSystem", s.operating_system)
        .field("OSVersion", s.os_version)
        .field("OSType", "linux")
        .field("Architecture", s.arch == "amd64" ? "x86_64" : s.arch)
        .field("IndexServerAddress", "https://index.docker.io/v1/");
    write_registry_config(w, s);
    w.field("NCPU", s.ncpu).field("MemTotal", s.mem_total).field_null("GenericResources");
    w.field("DockerRootDir", s.data_root)
        .field("HttpProxy", "")
        .field("HttpsProxy", "")
        .field("NoProxy", "")
        .field("Name", s.name);
    w.key("Labels").begin_array().end_array();
    w.field("ExperimentalBuild", false).field("ServerVersion", s.version);
    w.key("Runtimes").begin_object().key(s.default_runtime).begin_object();
    w.field("path", "berthd").end_object().end_object();
    w.field("DefaultRuntime", s.default_runtime);
    w.key("Swarm").begin_object();
    w.field("NodeID", "").field("NodeAddr", "").field("LocalNodeState", "inactive");
    w.field("ControlAvailable", false).field("Error", "").field_null("RemoteManagers");
    w.end_object();
    w.field("LiveRestoreEnabled", false).field("Isolation", "").field("InitBinary", "");
    for (const char* k : {"ContainerdCommit", "RuncCommit", "InitCommit"})
        w.key(k).begin_object().field("ID", "").end_object();
    string_array(w, "SecurityOptions", s.security_options);
    w.key("CDISpecDirs").begin_array().end_array();
    string_array(w, "Warnings", s.warnings);
    w.end_object();
    ex.respond_json(200, w.str());
}

}  // namespace

void register_system_routes(Router& router, ApiContext& ctx) {
    router.add("GET", "/_ping", [&ctx](Exchange& ex) { ping(ctx, ex); });
    router.add("HEAD", "/_ping", [&ctx](Exchange& ex) { ping(ctx, ex); });
    router.add("GET", "/version", [&ctx](Exchange& ex) { version(ctx, ex); });
    router.add("GET", "/info", [&ctx](Exchange& ex) { info(ctx, ex); });
}

}  // namespace berth::http
