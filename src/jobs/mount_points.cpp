// Mount specs as dockerd's linux parser reads them (volume/mounts/linux_parser.go): the error
// messages are Docker's, since the CLI shows them as they come.
#include "jobs/mount_points.hpp"

#include <simdjson.h>

#include <algorithm>
#include <set>

namespace berth::jobs {

namespace {

using simdjson::dom::element;

bool absolute(std::string_view p) {
    return !p.empty() && p[0] == '/';
}

// "/data/" → "/data": destinations compare as the container sees them.
std::string clean(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
}

bool propagation_mode(std::string_view m) {
    static const std::set<std::string_view> modes = {"private", "rprivate", "slave",
                                                     "rslave",  "shared",   "rshared"};
    return modes.contains(m);
}

// The mode list of a bind: rw/ro, z/Z, nocopy, a propagation; each at most once.
Result<> apply_mode(MountPoint& m, const std::string& mode, const std::string& spec) {
    std::set<std::string> seen;
    size_t start = 0;
    while (start <= mode.size()) {
        size_t comma = mode.find(',', start);
        std::string o = mode.substr(start, comma == std::string::npos ? comma : comma - start);
        start = comma == std::string::npos ? mode.size() + 1 : comma + 1;
        bool rw = o == "rw" || o == "ro";
        std::string group = rw ? "rw" : propagation_mode(o) ? "propagation" : o;
        if (!(rw || o == "z" || o == "Z" || o == "nocopy" || propagation_mode(o)) ||
            !seen.insert(group).second)
            return fail(Error::invalid("invalid mode: " + mode));
        if (o == "ro") m.rw = false;
        if (o == "nocopy") m.copy_data = false;
        if (propagation_mode(o)) m.propagation = o;
    }
    if (m.type == "volume" && !m.propagation.empty())
        return fail(Error::invalid("invalid volume specification: '" + spec +
                                   "': propagation is not supported for volumes"));
    if (m.type == "bind" && !m.copy_data)
        return fail(Error::invalid("invalid volume specification: '" + spec +
                                   "': nocopy is not supported for binds"));
    return {};
}

std::string str(element obj, const char* key) {
    std::string_view s;
    return obj[key].get(s) ? std::string() : std::string(s);
}

bool flag(element obj, const char* key) {
    bool b = false;
    return !obj[key].get(b) && b;
}

std::map<std::string, std::string> string_map(element obj, const char* key) {
    std::map<std::string, std::string> out;
    simdjson::dom::object m;
    if (obj[key].get(m)) return out;
    for (auto [k, v] : m) {
        std::string_view s;
        if (!v.get(s)) out.emplace(std::string(k), std::string(s));
    }
    return out;
}

// tmpfs options from --mount's TmpfsOptions: size and mode as mount(8) takes them.
std::string tmpfs_options(element m) {
    element o;
    if (m["TmpfsOptions"].get(o)) return "";
    std::string opts;
    int64_t size = 0, mode = 0;
    if (!o["SizeBytes"].get(size) && size > 0) opts = "size=" + std::to_string(size);
    if (!o["Mode"].get(mode) && mode > 0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%o", unsigned(mode));
        opts += (opts.empty() ? "mode=" : ",mode=") + std::string(buf);
    }
    return opts;
}

// One HostConfig.Mounts entry (--mount type=…,src=…,dst=…).
Result<MountPoint> parse_mount(element e) {
    MountPoint m;
    m.type = str(e, "Type");
    m.source = str(e, "Source");
    m.destination = str(e, "Target");
    m.rw = !flag(e, "ReadOnly");
    std::string what = "invalid mount config for type \"" + m.type + "\": ";
    if (m.destination.empty()) return fail(Error::invalid(what + "field Target must not be empty"));
    if (!absolute(m.destination))
        return fail(Error::invalid(what + "invalid mount path: '" + m.destination +
                                   "' mount path must be absolute"));
    if (m.type == "bind") {
        if (m.source.empty()) return fail(Error::invalid(what + "field Source must not be empty"));
        if (!absolute(m.source))
            return fail(Error::invalid(what + "invalid mount path: '" + m.source +
                                       "' mount path must be absolute"));
        element b;
        if (!e["BindOptions"].get(b)) m.propagation = str(b, "Propagation");
        if (m.propagation.empty()) m.propagation = "rprivate";
    } else if (m.type == "volume") {
        if (!m.source.empty() && !valid_volume_name(m.source))
            return fail(invalid_volume_name(m.source));
        element v;
        if (!e["VolumeOptions"].get(v)) {
            m.copy_data = !flag(v, "NoCopy");
            m.volume_labels = string_map(v, "Labels");
            element d;
            if (!v["DriverConfig"].get(d)) {
                if (!str(d, "Name").empty()) m.driver = str(d, "Name");
                m.driver_opts = string_map(d, "Options");
            }
        }
        m.mode = "z";
    } else if (m.type == "tmpfs") {
        if (!m.source.empty())
            return fail(Error::invalid(what + "field Source must not be specified"));
        m.tmpfs_options = tmpfs_options(e);
    } else {
        return fail(Error::invalid("invalid mount config: mount type unknown: \"" + m.type + "\""));
    }
    m.destination = clean(m.destination);
    return m;
}

}  // namespace

bool valid_volume_name(std::string_view n) {
    auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    if (n.size() < 2 || !alnum(n[0])) return false;
    return std::all_of(n.begin() + 1, n.end(),
                       [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

Error invalid_volume_name(const std::string& name) {
    return Error::invalid("create " + name + ": \"" + name +
                          "\" includes invalid characters for a local volume name, only "
                          "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a "
                          "host directory, use absolute path");
}

Result<MountPoint> parse_bind_spec(const std::string& spec) {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
        size_t colon = spec.find(':', start);
        parts.push_back(spec.substr(start, colon == std::string::npos ? colon : colon - start));
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
        return fail(Error::invalid("invalid volume specification: '" + spec + "'"));
    MountPoint m;
    m.from_binds = true;
    m.source = parts[0];
    m.destination = parts[1];
    m.type = absolute(m.source) ? "bind" : "volume";
    if (!absolute(m.destination))
        return fail(Error::invalid("invalid volume specification: '" + spec +
                                   "': invalid mount config for type \"" + m.type +
                                   "\": invalid mount path: '" + m.destination +
                                   "' mount path must be absolute"));
    if (m.type == "volume" && !valid_volume_name(m.source))
        return fail(invalid_volume_name(m.source));
    if (parts.size() == 3)
        if (auto r = apply_mode(m, parts[2], spec); !r) return fail(r.error());
    m.mode = parts.size() == 3 ? parts[2] : "";
    if (m.type == "volume" && m.mode.empty()) m.mode = "z";  // dockerd's setBindModeIfNull
    if (m.type == "bind" && m.propagation.empty()) m.propagation = "rprivate";
    m.destination = clean(m.destination);
    return m;
}

Result<std::vector<MountPoint>> container_mount_points(std::string_view config_json,
                                                       std::string_view host_config_json) {
    simdjson::dom::parser cp, hp;
    simdjson::padded_string cj(config_json.empty() ? std::string_view("{}") : config_json);
    simdjson::padded_string hj(host_config_json.empty() ? std::string_view("{}")
                                                        : host_config_json);
    element cfg, hc;
    if (cp.parse(cj).get(cfg) || hp.parse(hj).get(hc))
        return fail(Error::invalid("invalid container configuration"));
    std::vector<MountPoint> out;
    std::set<std::string> taken;
    auto add = [&](MountPoint m) -> Result<> {
        if (!taken.insert(m.destination).second)
            return fail(Error::invalid("Duplicate mount point: " + m.destination));
        out.push_back(std::move(m));
        return {};
    };
    simdjson::dom::array arr;
    if (!hc["Binds"].get(arr))
        for (element e : arr) {
            std::string_view s;
            if (e.get(s)) continue;
            auto m = parse_bind_spec(std::string(s));
            if (!m) return fail(m.error());
            if (auto r = add(std::move(*m)); !r) return fail(r.error());
        }
    if (!hc["Mounts"].get(arr))
        for (element e : arr) {
            auto m = parse_mount(e);
            if (!m) return fail(m.error());
            if (auto r = add(std::move(*m)); !r) return fail(r.error());
        }
    simdjson::dom::object tmpfs;
    if (!hc["Tmpfs"].get(tmpfs))
        for (auto [k, v] : tmpfs) {
            MountPoint m;
            m.type = "tmpfs";
            m.from_binds = true;
            m.destination = clean(std::string(k));
            std::string_view opts;
            if (!v.get(opts)) m.tmpfs_options = std::string(opts);
            if (auto r = add(std::move(m)); !r) return fail(r.error());
        }
    simdjson::dom::object volumes;
    if (!cfg["Volumes"].get(volumes))
        for (auto [k, v] : volumes) {
            std::string dst = clean(std::string(k));
            if (!absolute(dst))
                return fail(
                    Error::invalid("invalid mount config: mount path must be absolute: " + dst));
            if (taken.contains(dst)) continue;  // a bind or named volume covers it
            MountPoint m;
            m.type = "volume";
            m.destination = dst;
            if (auto r = add(std::move(m)); !r) return fail(r.error());
        }
    return out;
}

}  // namespace berth::jobs
