#include "daemon/config.hpp"

#include <CLI/CLI.hpp>
#include <simdjson.h>

#include <fstream>
#include <sstream>

#include "base/log.hpp"
#include "berth_build.h"

namespace berth::daemon {

Result<Config> parse_flags(int argc, char** argv, int& exit_code) {
    Config c;
    exit_code = -1;
    CLI::App app{"berthd: a Docker Engine-compatible container daemon", "berthd"};
    app.set_version_flag("-v,--version",
                         std::string("berthd version ") + BERTH_VERSION + ", build " +
                             BERTH_GIT_COMMIT);
    struct Flag {
        CLI::Option* opt;
        const char* key;
    };
    std::vector<Flag> flags = {
        {app.add_option("-H,--host", c.hosts, "Daemon socket(s) to connect to (unix:///path)"),
         "hosts"},
        {app.add_option("--data-root", c.data_root, "Root directory of persistent state")
             ->capture_default_str(),
         "data-root"},
        {app.add_option("--exec-root", c.exec_root, "Root directory for execution state files")
             ->capture_default_str(),
         "exec-root"},
        {app.add_option("-p,--pidfile", c.pidfile, "Path to use for daemon PID file")
             ->capture_default_str(),
         "pidfile"},
        {app.add_flag("-D,--debug", c.debug, "Enable debug mode"), "debug"},
        {app.add_option("-l,--log-level", c.log_level,
                        "Set the logging level (debug, info, warn, error, fatal)")
             ->capture_default_str(),
         "log-level"},
        {app.add_option("-G,--group", c.group, "Group for the unix socket")->capture_default_str(),
         "group"},
        {app.add_option("--insecure-registry", c.insecure_registries,
                        "Registries (host:port or CIDR) reached without TLS verification"),
         "insecure-registries"},
        {app.add_option("--max-concurrent-downloads", c.max_concurrent_downloads,
                        "Layers downloaded at once per pull")
             ->capture_default_str(),
         "max-concurrent-downloads"},
        {app.add_option("-s,--storage-driver", c.storage_driver,
                        "Storage driver to use (overlay2, vfs; default: overlay2 if supported)"),
         "storage-driver"},
        {app.add_flag("--init", c.init, "Run an init inside containers to forward signals and reap processes"),
         "init"},
        {app.add_option("--init-path", c.init_path, "Path to the init binary (default: berth-init next to berthd)"),
         "init-path"},
        {app.add_option("--cgroup-parent", c.cgroup_parent, "Parent cgroup for all containers")
             ->capture_default_str(),
         "cgroup-parent"},
        {app.add_option("-b,--bridge", c.bridge,
                        "Attach containers to a network bridge (\"none\": no default bridge "
                        "network)")
             ->capture_default_str(),
         "bridge"},
        {app.add_option("--bip", c.bip, "Specify network bridge IP (address/length)"), "bip"},
        {app.add_option("--mtu", c.mtu, "Set the containers network MTU (0: 1500)"), "mtu"},
        {app.add_option("--api-max-connections", c.api_max_connections,
                        "Open API connections before new ones get 503")
             ->capture_default_str(),
         "api-max-connections"},
        {app.add_option("--api-idle-timeout", c.api_idle_timeout_s,
                        "Seconds a keep-alive connection may sit idle")
             ->capture_default_str(),
         "api-idle-timeout"},
        {app.add_option("--api-request-timeout", c.api_request_timeout_s,
                        "Seconds a client has to send a whole request")
             ->capture_default_str(),
         "api-request-timeout"},
        {app.add_option("--shutdown-timeout", c.shutdown_timeout_s,
                        "Seconds in-flight requests get to finish on SIGTERM")
             ->capture_default_str(),
         "shutdown-timeout"},
    };
    std::vector<std::string> log_opt_flags;
    flags.push_back(
        {app.add_option("--log-driver", c.log_driver, "Default driver for container logs")
             ->capture_default_str(),
         "log-driver"});
    flags.push_back({app.add_option("--log-opt", log_opt_flags,
                                    "Default log driver options for containers (key=value)"),
                     "log-opts"});
    auto* cfg = app.add_option("--config-file", c.config_file, "Daemon configuration file")
                    ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        exit_code = app.exit(e);
        return fail(Error::invalid(e.what()));
    }
    for (const Flag& f : flags)
        if (f.opt->count() > 0) c.from_flags.insert(f.key);
    for (const std::string& o : log_opt_flags) {
        size_t eq = o.find('=');
        if (eq == std::string::npos || eq == 0) {
            exit_code = 1;
            return fail(Error::invalid("invalid key/value pair format in logging opts: " + o));
        }
        c.log_opts[o.substr(0, eq)] = o.substr(eq + 1);
    }
    c.config_file_explicit = cfg->count() > 0;
    return c;
}

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + v[i];
    return s + "]";
}

Result<std::string> get_string(simdjson::dom::element v, std::string_view key) {
    std::string_view s;
    if (v.get(s)) return fail(Error::invalid(std::string(key) + " must be a string"));
    return std::string(s);
}

Result<long> get_long(simdjson::dom::element v, std::string_view key) {
    int64_t n;
    if (v.get(n)) return fail(Error::invalid(std::string(key) + " must be a number"));
    return long(n);
}

std::string log_opts_text(const std::map<std::string, std::string>& opts) {
    std::string s = "map[";
    for (auto it = opts.begin(); it != opts.end(); ++it)
        s += (it == opts.begin() ? "" : " ") + it->first + ":" + it->second;
    return s + "]";
}

// Applies one key; returns the value as text for the conflict message, or an error.
Result<std::string> apply(Config& c, std::string_view key, simdjson::dom::element v) {
    auto str = [&](std::string& field) -> Result<std::string> {
        auto s = get_string(v, key);
        if (!s) return fail(s.error());
        field = *s;
        return *s;
    };
    auto num = [&](long& field) -> Result<std::string> {
        auto n = get_long(v, key);
        if (!n) return fail(n.error());
        field = *n;
        return std::to_string(*n);
    };
    if (key == "insecure-registries") {
        simdjson::dom::array arr;
        if (v.get(arr)) return fail(Error::invalid("insecure-registries must be an array"));
        c.insecure_registries.clear();
        for (auto item : arr) {
            std::string_view s;
            if (item.get(s)) return fail(Error::invalid("insecure-registries must hold strings"));
            c.insecure_registries.emplace_back(s);
        }
        return join(c.insecure_registries);
    }
    if (key == "max-concurrent-downloads") return num(c.max_concurrent_downloads);
    if (key == "log-driver") return str(c.log_driver);
    if (key == "log-opts") {
        simdjson::dom::object obj;
        if (v.get(obj)) return fail(Error::invalid("log-opts must be an object of strings"));
        c.log_opts.clear();
        for (auto [k, item] : obj) {
            std::string_view s;
            if (item.get(s)) return fail(Error::invalid("log-opts must be an object of strings"));
            c.log_opts[std::string(k)] = std::string(s);
        }
        return log_opts_text(c.log_opts);
    }
    if (key == "hosts") {
        simdjson::dom::array arr;
        if (v.get(arr)) return fail(Error::invalid("hosts must be an array of strings"));
        c.hosts.clear();
        for (auto item : arr) {
            std::string_view s;
            if (item.get(s)) return fail(Error::invalid("hosts must be an array of strings"));
            c.hosts.emplace_back(s);
        }
        return join(c.hosts);
    }
    if (key == "data-root") return str(c.data_root);
    if (key == "exec-root") return str(c.exec_root);
    if (key == "pidfile") return str(c.pidfile);
    if (key == "log-level") return str(c.log_level);
    if (key == "group") return str(c.group);
    if (key == "storage-driver") return str(c.storage_driver);
    if (key == "cgroup-parent") return str(c.cgroup_parent);
    if (key == "init-path") return str(c.init_path);
    if (key == "bridge") return str(c.bridge);
    if (key == "bip") return str(c.bip);
    if (key == "mtu") return num(c.mtu);
    if (key == "init") {
        bool b;
        if (v.get(b)) return fail(Error::invalid("init must be true or false"));
        c.init = b;
        return std::string(b ? "true" : "false");
    }
    if (key == "debug") {
        bool b;
        if (v.get(b)) return fail(Error::invalid("debug must be true or false"));
        c.debug = b;
        return std::string(b ? "true" : "false");
    }
    if (key == "api-max-connections") return num(c.api_max_connections);
    if (key == "api-idle-timeout") return num(c.api_idle_timeout_s);
    if (key == "api-request-timeout") return num(c.api_request_timeout_s);
    if (key == "shutdown-timeout") return num(c.shutdown_timeout_s);
    return fail(Error::not_found(std::string(key)));
}

// The current value of `key` as text, for the conflict message.
std::string value_text(const Config& c, std::string_view key) {
    if (key == "hosts") return join(c.hosts);
    if (key == "data-root") return c.data_root;
    if (key == "exec-root") return c.exec_root;
    if (key == "pidfile") return c.pidfile;
    if (key == "log-level") return c.log_level;
    if (key == "group") return c.group;
    if (key == "storage-driver") return c.storage_driver;
    if (key == "cgroup-parent") return c.cgroup_parent;
    if (key == "init-path") return c.init_path;
    if (key == "bridge") return c.bridge;
    if (key == "bip") return c.bip;
    if (key == "mtu") return std::to_string(c.mtu);
    if (key == "init") return c.init ? "true" : "false";
    if (key == "insecure-registries") return join(c.insecure_registries);
    if (key == "max-concurrent-downloads") return std::to_string(c.max_concurrent_downloads);
    if (key == "log-driver") return c.log_driver;
    if (key == "log-opts") return log_opts_text(c.log_opts);
    if (key == "debug") return c.debug ? "true" : "false";
    if (key == "api-max-connections") return std::to_string(c.api_max_connections);
    if (key == "api-idle-timeout") return std::to_string(c.api_idle_timeout_s);
    if (key == "api-request-timeout") return std::to_string(c.api_request_timeout_s);
    if (key == "shutdown-timeout") return std::to_string(c.shutdown_timeout_s);
    return {};
}

}  // namespace

Result<> merge_config_file(Config& c, std::string_view json, const std::string& path) {
    const std::string prefix = "unable to configure the berth daemon with file " + path + ": ";
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc))
        return fail(Error::invalid(prefix + "invalid JSON: " + simdjson::error_message(err)));
    simdjson::dom::object obj;
    if (doc.get(obj)) return fail(Error::invalid(prefix + "the file must hold a JSON object"));

    std::vector<std::string> unknown, conflicts;
    for (auto [k, v] : obj) {
        std::string key(k);
        Config scratch = c;
        auto applied = apply(scratch, key, v);
        if (!applied) {
            if (applied.error().kind == ErrorKind::not_found) {
                unknown.push_back(key);
                continue;
            }
            return fail(Error::invalid(prefix + applied.error().message));
        }
        if (c.from_flags.contains(key)) {
            std::string from_flag = value_text(c, key);
            conflicts.push_back(key + ": (from flag: " + from_flag + ", from file: " + *applied +
                                ")");
            continue;
        }
        c = std::move(scratch);
    }
    if (!unknown.empty()) {
        std::string m = prefix + "the following directives don't match any configuration option: ";
        for (size_t i = 0; i < unknown.size(); ++i) m += (i ? ", " : "") + unknown[i];
        return fail(Error::invalid(m));
    }
    if (!conflicts.empty()) {
        std::string m = prefix +
                        "the following directives are specified both as a flag and in the "
                        "configuration file: ";
        for (size_t i = 0; i < conflicts.size(); ++i) m += (i ? ", " : "") + conflicts[i];
        return fail(Error::invalid(m));
    }
    return {};
}

Result<> load_config_file(Config& c) {
    std::ifstream in(c.config_file);
    if (!in) {
        if (!c.config_file_explicit && errno == ENOENT) return {};
        return fail(Error::last_sys("open config file " + c.config_file));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return merge_config_file(c, ss.str(), c.config_file);
}

Result<std::string> unix_socket_path(std::string_view host) {
    if (host.starts_with("unix://")) host.remove_prefix(7);
    else if (host.find("://") != std::string_view::npos)
        return fail(Error::invalid("host " + std::string(host) +
                                   ": only unix:// sockets are supported"));
    if (host.empty()) return std::string(default_socket);
    if (host[0] != '/')
        return fail(Error::invalid("host unix://" + std::string(host) +
                                   ": the socket path must be absolute"));
    return std::string(host);
}

Result<std::string> cgroup_parent_name(std::string_view parent) {
    while (parent.starts_with('/')) parent.remove_prefix(1);
    while (parent.ends_with('/')) parent.remove_suffix(1);
    bool bad = parent.empty() || parent == ".." || parent.starts_with("../") ||
               parent.ends_with("/..") || parent.find("/../") != std::string_view::npos;
    if (bad)
        return fail(Error::invalid("invalid --cgroup-parent \"" + std::string(parent) +
                                   "\": a cgroup name under the hierarchy's root is needed"));
    return std::string(parent);
}

}  // namespace berth::daemon
