// berthd's configuration: command-line flags named as dockerd names them, and daemon.json
// with the same keys. A key given both as a flag and in the file is an error, as in dockerd;
// so is a key the file has that berthd does not know.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace berth::daemon {

struct Config {
    std::vector<std::string> hosts;  // "unix:///var/run/berth.sock"
    std::string data_root = "/var/lib/berth";
    std::string exec_root = "/var/run/berth";
    std::string pidfile = "/var/run/berth.pid";
    bool debug = false;
    std::string log_level = "info";
    std::string config_file = "/etc/berth/daemon.json";
    std::string group = "docker";
    std::string storage_driver;  // "", "overlay2" or "vfs"
    std::string cgroup_parent = "berth";
    bool init = false;      // --init: containers run under berth-init unless they say no
    std::string init_path;  // --init-path: "" finds berth-init next to berthd  // containers' cgroups go under it in every hierarchy
    std::vector<std::string> insecure_registries;
    long max_concurrent_downloads = 3;
    // The default logging driver of containers and its options (dockerd's --log-driver,
    // --log-opt; daemon.json log-driver, log-opts), checked at start-up.
    std::string log_driver = "json-file";
    std::map<std::string, std::string> log_opts;
    // The default bridge network (dockerd's -b/--bridge, --bip, --mtu): its interface ("none"
    // for no default bridge network), the bridge's address and prefix, the MTU (0 → 1500).
    std::string bridge = "berth0";
    std::string bip;
    long mtu = 0;
    // berth's own API server limits (dockerd has none of these as flags).
    long api_max_connections = 16384;
    long api_idle_timeout_s = 300;
    long api_request_timeout_s = 60;
    long shutdown_timeout_s = 10;

    // Keys set on the command line (daemon.json names), for conflict detection.
    std::set<std::string> from_flags;
    bool config_file_explicit = false;
};

inline constexpr std::string_view default_socket = "/var/run/berth.sock";

// Parses argv. Returns the config, or sets `exit_code` (0 for --help/--version, 1 for a bad
// flag) after printing what CLI11 prints.
Result<Config> parse_flags(int argc, char** argv, int& exit_code);

// Merges the daemon.json text `json` (read from `path`) into `config`.
Result<> merge_config_file(Config& config, std::string_view json, const std::string& path);

// Reads config.config_file if it exists (it must exist when given explicitly) and merges it.
Result<> load_config_file(Config& config);

// "unix:///run/x.sock" or "/run/x.sock" → "/run/x.sock"; other schemes are refused clearly.
Result<std::string> unix_socket_path(std::string_view host);
// --cgroup-parent as a name under each hierarchy's root ("/berth/" → "berth"); ".." refused.
Result<std::string> cgroup_parent_name(std::string_view parent);

}  // namespace berth::daemon
