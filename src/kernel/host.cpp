// Reads what /info reports about the host from /proc, /sys and /etc under a root prefix, so the
// same code serves the real host ("") and fake trees in tests. Only /proc/meminfo and
// /proc/self/mountinfo are essential; any other missing file leaves its field empty or false.
#include "kernel/host.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

namespace berth::kernel {

namespace {

// mountinfo on a host with thousands of mounts stays far below this; anything bigger is not
// a procfs or sysfs file we meant to read.
constexpr size_t host_file_bytes_max = size_t(16) << 20;

struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
};

// Whole contents of a small file. procfs reports size 0, so read until EOF.
Result<std::string> read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(Error::last_sys("read " + path));
    FdCloser closer{fd};
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::last_sys("read " + path));
        if (n == 0) return out;
        out.append(buf, size_t(n));
        if (out.size() > host_file_bytes_max) return fail(Error::sys(EFBIG, "read " + path));
    }
}

std::string_view trim(std::string_view s) {
    constexpr std::string_view ws = " \t\r\n";
    size_t begin = s.find_first_not_of(ws);
    if (begin == std::string_view::npos) return {};
    return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

// A one-value file (a sysctl, the hostname), trimmed; "" when it is missing.
std::string read_value(const std::string& path) {
    auto text = read_file(path);
    return text ? std::string(trim(*text)) : std::string();
}

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// Non-empty pieces of `s` between `sep`s.
std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
        size_t end = s.find(sep);
        std::string_view piece = s.substr(0, end);
        if (!piece.empty()) out.push_back(piece);
        if (end == std::string_view::npos) break;
        s.remove_prefix(end + 1);
    }
    return out;
}

// ---- cgroups ----

struct CgroupMount {
    std::string mount_point;               // as the host's mount table names it (no root prefix)
    bool v2 = false;                       // cgroup2, else a v1 hierarchy
    std::vector<std::string> controllers;  // v1 only: the controllers bound to the hierarchy
};

// mountinfo writes space, tab, newline and backslash in paths as \ooo.
std::string unescape_mount_path(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned code = 0;
        if (s[i] == '\\' && i + 3 < s.size() &&
            std::from_chars(s.data() + i + 1, s.data() + i + 4, code, 8).ptr == s.data() + i + 4) {
            out += char(code);
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

// The super options of a v1 hierarchy name its controllers, mixed with flags the kernel prints
// back (rw, name=systemd, release_agent=…, noprefix, …) that are not controllers.
bool is_v1_controller(std::string_view option) {
    static constexpr std::string_view flags[] = {
        "rw",    "ro",           "relatime", "noatime",        "nosuid",
        "nodev", "noexec",       "noprefix", "clone_children", "cpuset_v2_mode",
        "xattr", "favordynmods", "all",      "none",
    };
    return option.find('=') == std::string_view::npos &&
           std::ranges::find(flags, option) == std::end(flags);
}

// "36 35 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory":
// optional fields end at "-", then come the filesystem type, the source and the super options.
std::optional<CgroupMount> parse_cgroup_mount(std::string_view line) {
    std::vector<std::string_view> f = split(line, ' ');
    if (f.size() < 10) return std::nullopt;
    auto dash = std::find(f.begin() + 6, f.end(), std::string_view("-"));
    if (f.end() - dash < 4) return std::nullopt;
    std::string_view fstype = dash[1];
    if (fstype != "cgroup" && fstype != "cgroup2") return std::nullopt;
    CgroupMount mount{unescape_mount_path(f[4]), fstype == "cgroup2", {}};
    for (std::string_view option : split(mount.v2 ? "" : dash[3], ',')) {
        if (is_v1_controller(option)) mount.controllers.emplace_back(option);
    }
    return mount;
}

// Several cgroup2 mounts can appear (bind mounts, nested containers): the one at the standard
// place wins, then systemd's hybrid place, then the first.
std::string pick_v2_path(const std::vector<CgroupMount>& mounts) {
    std::string chosen;
    int chosen_rank = 0;
    for (const CgroupMount& m : mounts) {
        if (!m.v2) continue;
        int rank = m.mount_point == "/sys/fs/cgroup"           ? 3
                   : m.mount_point == "/sys/fs/cgroup/unified" ? 2
                                                               : 1;
        if (rank > chosen_rank) chosen = m.mount_point, chosen_rank = rank;
    }
    return chosen;
}

// As dockerd's sysinfo on cgroup v2: a limit needs its controller in the root's
// cgroup.controllers; swap follows memory (memory.swap.max only shows in non-root cgroups),
// every v2 cgroup has cgroup.freeze, and v2 has no oom_kill_disable.
void apply_v2_limits(CgroupInfo& info) {
    auto has = [&](std::string_view c) {
        return std::ranges::find(info.v2_controllers, c) != info.v2_controllers.end();
    };
    info.memory_limit = info.swap_limit = has("memory");
    info.cpu_cfs_period = info.cpu_cfs_quota = info.cpu_shares = has("cpu");
    info.cpuset = has("cpuset");
    info.pids_limit = has("pids");
    info.freezer = true;
    info.oom_kill_disable = false;
}

// As dockerd's sysinfo on cgroup v1: a mounted hierarchy enables its limit, and the optional
// knobs (memsw needs swap accounting, CFS needs CONFIG_CFS_BANDWIDTH) must exist as files.
void apply_v1_limits(CgroupInfo& info, const std::string& root,
                     const std::map<std::string, std::string, std::less<>>& mount_of) {
    auto has_file = [&](std::string_view controller, std::string_view file) {
        auto it = mount_of.find(controller);
        return it != mount_of.end() && file_exists(root + it->second + "/" + std::string(file));
    };
    info.memory_limit = mount_of.contains("memory");
    info.swap_limit = has_file("memory", "memory.memsw.limit_in_bytes");
    info.oom_kill_disable = has_file("memory", "memory.oom_control");
    info.cpu_cfs_period = has_file("cpu", "cpu.cfs_period_us");
    info.cpu_cfs_quota = has_file("cpu", "cpu.cfs_quota_us");
    info.cpu_shares = has_file("cpu", "cpu.shares");
    info.cpuset = mount_of.contains("cpuset");
    info.pids_limit = mount_of.contains("pids");
    info.freezer = mount_of.contains("freezer");
}

// ---- the rest of /info ----

utsname uname_or_empty() {
    utsname u{};
    if (::uname(&u) != 0) u = utsname{};
    return u;
}

std::string read_hostname(const std::string& root) {
    std::string name = read_value(root + "/proc/sys/kernel/hostname");
    if (!name.empty() || !root.empty()) return name;
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return {};
    return buf;
}

// Fake roots may say it in proc/sys/kernel/arch (the real sysctl); otherwise x86_64.
std::string read_architecture(const std::string& root) {
    if (root.empty()) return uname_or_empty().machine;
    std::string arch = read_value(root + "/proc/sys/kernel/arch");
    return arch.empty() ? "x86_64" : arch;
}

int online_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);  // more CPUs than a cpu_set_t holds
    return n > 0 ? int(n) : 1;
}

int count_cpuinfo_processors(const std::string& root) {
    auto text = read_file(root + "/proc/cpuinfo");
    if (!text) return 0;
    int n = 0;
    for (std::string_view line : split(*text, '\n')) {
        size_t colon = line.find(':');
        if (colon != std::string_view::npos && trim(line.substr(0, colon)) == "processor") ++n;
    }
    return n;
}

Result<int64_t> read_mem_total(const std::string& root) {
    std::string path = root + "/proc/meminfo";
    auto text = read_file(path);
    if (!text) return fail(std::move(text.error()));
    constexpr std::string_view key = "MemTotal:";
    for (std::string_view line : split(*text, '\n')) {
        if (!line.starts_with(key)) continue;
        std::string_view digits = trim(line.substr(key.size()));
        int64_t kib = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), kib);
        if (ec != std::errc{}) break;
        return kib * 1024;  // meminfo counts in kB, which means KiB
    }
    return fail(Error::sys(ENODATA, "read MemTotal from " + path));
}

// os-release(5) values are shell-like: bare, 'single' or "double" quoted with \-escapes.
std::string unquote(std::string_view v) {
    if (v.empty() || (v.front() != '"' && v.front() != '\'')) return std::string(v);
    char quote = v.front();
    std::string out;
    for (size_t i = 1; i < v.size() && v[i] != quote; ++i) {
        if (quote == '"' && v[i] == '\\' && i + 1 < v.size()) ++i;
        out += v[i];
    }
    return out;
}

void read_os_release(const std::string& root, HostInfo& info) {
    auto text = read_file(root + "/etc/os-release");
    if (!text) text = read_file(root + "/usr/lib/os-release");
    if (!text) return;  // left empty: the /info handler says "<unknown>" as dockerd does
    for (std::string_view line : split(*text, '\n')) {
        size_t eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view key = trim(line.substr(0, eq));
        if (key == "PRETTY_NAME") info.operating_system = unquote(trim(line.substr(eq + 1)));
        if (key == "VERSION_ID") info.os_version = unquote(trim(line.substr(eq + 1)));
    }
    if (info.operating_system.empty()) info.operating_system = "Linux";  // os-release(5) default
}

bool sysctl_on(const std::string& root, const char* path) {
    return read_value(root + path) == "1";
}

}  // namespace

std::string CgroupInfo::version_string() const {
    // dockerd says "1" on hybrid hosts: its limits go through the v1 hierarchies.
    return mode == CgroupMode::v2 ? "2" : "1";
}

Result<CgroupInfo> detect_cgroups(const std::string& root) {
    auto text = read_file(root + "/proc/self/mountinfo");
    if (!text) return fail(std::move(text.error()));
    std::vector<CgroupMount> mounts;
    for (std::string_view line : split(*text, '\n')) {
        if (auto m = parse_cgroup_mount(line)) mounts.push_back(std::move(*m));
    }
    CgroupInfo info;
    std::map<std::string, std::string, std::less<>> mount_of;  // v1 controller → first mount
    for (const CgroupMount& m : mounts) {
        for (const std::string& c : m.controllers) {
            if (mount_of.emplace(c, m.mount_point).second) info.v1_controllers.push_back(c);
        }
    }
    info.v2_path = pick_v2_path(mounts);
    if (!info.v2_path.empty()) {
        std::string listed = read_value(root + info.v2_path + "/cgroup.controllers");
        for (std::string_view c : split(listed, ' ')) info.v2_controllers.emplace_back(c);
    }
    // No v1 controllers: the cgroup2 tree (wherever mounted) is all there is. With v1
    // controllers, a cgroup2 tree beside them (systemd's "unified", or a bare one with
    // nothing delegated) makes the host hybrid.
    if (mount_of.empty()) {
        info.mode = info.v2_path.empty() ? CgroupMode::v1 : CgroupMode::v2;
    } else {
        info.mode = info.v2_path.empty() ? CgroupMode::v1 : CgroupMode::hybrid;
    }
    if (info.mode == CgroupMode::v2)
        apply_v2_limits(info);
    else
        apply_v1_limits(info, root, mount_of);
    return info;
}

Result<HostInfo> read_host_info(const std::string& root) {
    HostInfo info;
    info.hostname = read_hostname(root);
    info.kernel_version = read_value(root + "/proc/sys/kernel/osrelease");
    if (info.kernel_version.empty() && root.empty()) info.kernel_version = uname_or_empty().release;
    info.architecture = read_architecture(root);
    read_os_release(root, info);
    info.ncpu = root.empty() ? online_cpus() : count_cpuinfo_processors(root);
    auto mem = read_mem_total(root);
    if (!mem) return fail(std::move(mem.error()));
    info.mem_total = *mem;
    info.ipv4_forwarding = sysctl_on(root, "/proc/sys/net/ipv4/ip_forward");
    info.bridge_nf_iptables = sysctl_on(root, "/proc/sys/net/bridge/bridge-nf-call-iptables");
    info.bridge_nf_ip6tables = sysctl_on(root, "/proc/sys/net/bridge/bridge-nf-call-ip6tables");
    auto cgroup = detect_cgroups(root);
    if (!cgroup) return fail(std::move(cgroup.error()));
    info.cgroup = std::move(*cgroup);
    return info;
}

}  // namespace berth::kernel
