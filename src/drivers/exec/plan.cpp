#include "drivers/exec/plan.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "kernel/files.hpp"
#include "kernel/security.hpp"
#include "kernel/user.hpp"

namespace berth::drivers {

using kernel::MountKind;
using kernel::MountSpec;

const std::vector<std::string>& docker_masked_paths() {
    static const std::vector<std::string> paths = {
        "/proc/asound",        "/proc/acpi",        "/proc/kcore",       "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list",  "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi",          "/sys/firmware",     "/sys/devices/virtual/powercap"};
    return paths;
}

const std::vector<std::string>& docker_readonly_paths() {
    static const std::vector<std::string> paths = {"/proc/bus", "/proc/fs", "/proc/irq",
                                                   "/proc/sys", "/proc/sysrq-trigger"};
    return paths;
}

namespace {

// The container's own copy of a small file (hosts, hostname, resolv.conf), rewritten at every
// start. Unlink-then-create rather than rename-over or O_TRUNC: ext4 flushes data to disk on
// both of those (auto_da_alloc), which cost ~0.1 ms per file on the start path.
Result<> write_file(const std::string& path, const std::string& content) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return fail(Error::last_sys("unlink " + path));
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return fail(Error::last_sys("create " + path));
    ssize_t n = write(fd, content.data(), content.size());
    int err = errno;
    close(fd);
    if (n != ssize_t(content.size())) return fail(Error::sys(n < 0 ? err : EIO, "write " + path));
    return {};
}

}  // namespace

Result<> remove_container_files(const std::string& dir, const std::string& id) {
    for (std::string f : {std::string("hostname"), std::string("hosts"), std::string("resolv.conf"),
                          id + "-json.log"}) {
        if (auto r = kernel::remove_file(dir + "/" + f); !r) return r;
    }
    return {};
}

namespace {

std::string host_resolv_conf() {
    std::ifstream in("/etc/resolv.conf");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Docker's /etc/resolv.conf: the host's, with loopback nameservers dropped for containers not
// on the host network (they cannot reach them), falling back to Google's DNS when none remain;
// --dns, --dns-search and --dns-opt replace the respective lines.
std::string resolv_conf(const ContainerSpec& s) {
    std::string host = host_resolv_conf();
    std::vector<std::string> ns, search, options;
    std::istringstream in(host);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string key, value;
        words >> key;
        if (key == "nameserver" && words >> value) {
            bool loopback = value.starts_with("127.") || value == "::1";
            if (s.network == NetworkMode::host || !loopback) ns.push_back(value);
        } else if (key == "search" || key == "domain") {
            search.clear();
            while (words >> value) search.push_back(value);
        } else if (key == "options") {
            while (words >> value) options.push_back(value);
        }
    }
    if (!s.dns.empty()) ns = s.dns;
    if (!s.dns_search.empty()) search = s.dns_search;
    if (!s.dns_options.empty()) options = s.dns_options;
    if (ns.empty() && s.network != NetworkMode::host) ns = {"8.8.8.8", "8.8.4.4"};
    // User-defined networks: the embedded DNS answers (container names, aliases) and forwards
    // the rest; as dockerd, ndots:0 unless the user set ndots.
    if (s.embedded_dns) {
        ns = {"127.0.0.11"};
        bool ndots = std::any_of(options.begin(), options.end(),
                                 [](const std::string& o) { return o.starts_with("ndots:"); });
        if (!ndots) options.push_back("ndots:0");
    }
    std::string out;
    auto line_of = [&](const char* key, const std::vector<std::string>& v) {
        if (v.empty()) return;
        out += key;
        for (const auto& x : v) out += " " + x;
        out += "\n";
    };
    for (const auto& n : ns) out += "nameserver " + n + "\n";
    line_of("search", search);
    line_of("options", options);
    return out;
}

std::string hosts_file(const ContainerSpec& s, const std::string& hostname) {
    std::string out =
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n";
    for (const std::string& h : s.extra_hosts) {
        size_t colon = h.find(':');
        if (colon == std::string::npos) continue;
        out += h.substr(colon + 1) + "\t" + h.substr(0, colon) + "\n";
    }
    // As dockerd: the container's own address names its hostname (and domain name).
    if (!s.ip_address.empty()) {
        out += s.ip_address + "\t" + hostname;
        if (!s.domainname.empty()) out += "." + s.domainname + " " + hostname;
        out += "\n";
    }
    return out;
}

uint64_t propagation_flags(const std::string& p) {
    if (p == "private") return MS_PRIVATE;
    if (p == "rprivate") return MS_PRIVATE | MS_REC;
    if (p == "slave") return MS_SLAVE;
    if (p == "rslave") return MS_SLAVE | MS_REC;
    if (p == "shared") return MS_SHARED;
    if (p == "rshared") return MS_SHARED | MS_REC;
    return 0;
}

void add_system_mounts(kernel::PlanStorage& st, const ContainerSpec& s,
                       const kernel::CgroupInfo& cg) {
    auto sys = [&](MountKind kind, const char* target, const char* data, bool ro) {
        MountSpec m;
        m.kind = kind;
        m.target = target;
        m.data = data ? st.str(data) : nullptr;
        m.readonly = ro;
        m.nosuid = true;
        // Device nodes must open on /dev and /dev/pts (ptmx): no nodev there, as runc.
        m.nodev = kind != MountKind::dev && kind != MountKind::devpts;
        m.noexec = kind != MountKind::dev;
        m.refuse_symlink = true;
        st.mounts.push_back(m);
    };
    sys(MountKind::proc, "/proc", nullptr, false);
    sys(MountKind::dev, "/dev", nullptr, false);
    sys(MountKind::devpts, "/dev/pts", "newinstance,ptmxmode=0666,mode=0620,gid=5", false);
    sys(MountKind::tmpfs, "/dev/shm",
        ("mode=1777,size=" + std::to_string(s.shm_size)).c_str(), false);
    sys(MountKind::mqueue, "/dev/mqueue", nullptr, false);
    sys(MountKind::sysfs, "/sys", nullptr, !s.privileged);
    MountSpec c;
    c.kind = MountKind::cgroup;
    c.target = "/sys/fs/cgroup";
    c.readonly = !s.privileged;
    c.nosuid = c.nodev = c.noexec = true;
    c.refuse_symlink = true;
    if (cg.mode == kernel::CgroupMode::v2) {
        c.source = "cgroup2";
    } else {
        // The v1 hierarchies under a tmpfs, each mounted inside the container's cgroup namespace.
        std::string list;
        for (const auto& ctl : cg.v1_controllers) list += (list.empty() ? "" : ";") + ctl;
        c.source = "cgroup-v1";
        c.data = st.str(list);
    }
    st.mounts.push_back(c);
}

Result<> add_etc_files(kernel::PlanStorage& st, const ContainerSpec& s,
                       const std::string& hostname) {
    struct File {
        const char* name;
        std::string content;
    } files[] = {{"hostname", hostname + "\n"},
                 {"hosts", hosts_file(s, hostname)},
                 {"resolv.conf", resolv_conf(s)}};
    for (auto& f : files) {
        std::string path = s.container_dir + "/" + f.name;
        if (auto r = write_file(path, f.content); !r) return r;
        MountSpec m;
        m.kind = MountKind::bind;
        m.source = st.str(path);
        m.target = st.str(std::string("/etc/") + f.name);
        m.target_is_file = true;
        m.recursive = false;
        m.readonly = s.readonly_rootfs;
        st.mounts.push_back(m);
    }
    return {};
}

Result<> add_user_mounts(kernel::PlanStorage& st, const ContainerSpec& s) {
    for (const BindMount& b : s.binds) {
        if (b.target.empty() || b.target[0] != '/')
            return fail(Error::invalid("invalid mount config: mount path must be absolute: " +
                                       b.target));
        if (access(b.source.c_str(), F_OK) != 0)
            return fail(Error::invalid("invalid mount config for type \"bind\": bind source path "
                                       "does not exist: " + b.source));
        MountSpec m;
        m.kind = MountKind::bind;
        m.source = st.str(b.source);
        m.target = st.str(b.target);
        m.readonly = b.readonly;
        m.propagation = propagation_flags(b.propagation);
        m.target_is_file = access((b.source + "/.").c_str(), F_OK) != 0;
        st.mounts.push_back(m);
    }
    for (const TmpfsMount& t : s.tmpfs) {
        if (t.target.empty() || t.target[0] != '/')
            return fail(Error::invalid("invalid mount config: mount path must be absolute: " +
                                       t.target));
        MountSpec m;
        m.kind = MountKind::tmpfs;
        m.target = st.str(t.target);
        m.data = st.str(t.options.empty() ? "mode=1777" : t.options);
        m.nosuid = m.nodev = true;
        st.mounts.push_back(m);
    }
    return {};
}

Result<> add_rlimits(kernel::PlanStorage& st, const ContainerSpec& s) {
    static const std::map<std::string, int> names = {
        {"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},         {"data", RLIMIT_DATA},
        {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},     {"memlock", RLIMIT_MEMLOCK},
        {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},     {"nofile", RLIMIT_NOFILE},
        {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},         {"rtprio", RLIMIT_RTPRIO},
        {"rttime", RLIMIT_RTTIME},   {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK}};
    for (const Ulimit& u : s.ulimits) {
        auto it = names.find(u.name);
        if (it == names.end()) return fail(Error::invalid("invalid ulimit type: " + u.name));
        if (u.soft > u.hard)
            return fail(Error::invalid("ulimit soft limit must be less than or equal to hard "
                                       "limit: " + std::to_string(u.soft) + " > " +
                                       std::to_string(u.hard)));
        auto lim = [](int64_t v) { return v < 0 ? RLIM_INFINITY : rlim_t(v); };
        st.rlimits.push_back({it->second, lim(u.soft), lim(u.hard)});
    }
    return {};
}

// execvp's search, decided here: full paths to try in order.
std::vector<std::string> exec_candidates(const std::string& arg0,
                                         const std::vector<std::string>& env) {
    if (arg0.find('/') != std::string::npos) return {arg0};
    std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const auto& e : env)
        if (e.starts_with("PATH=")) path = e.substr(5);
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= path.size()) {
        size_t colon = path.find(':', start);
        std::string dir = path.substr(start, colon - start);
        if (dir.empty()) dir = ".";
        out.push_back(dir + "/" + arg0);
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    return out;
}

Result<const kernel::SeccompProgram*> seccomp_program(const ContainerSpec& s, uint64_t caps) {
    // Compiling the default profile costs milliseconds: do it once per capability set.
    static std::map<uint64_t, kernel::SeccompProgram> cache;
    if (s.seccomp == SeccompMode::unconfined || s.privileged) return nullptr;
    if (s.seccomp == SeccompMode::custom) {
        static std::map<std::string, kernel::SeccompProgram> custom;
        auto it = custom.find(s.seccomp_profile);
        if (it == custom.end()) {
            auto p = kernel::seccomp_from_json(s.seccomp_profile, caps);
            if (!p) return fail(p.error());
            it = custom.emplace(s.seccomp_profile, std::move(*p)).first;
        }
        return &it->second;
    }
    auto it = cache.find(caps);
    if (it == cache.end()) {
        auto p = kernel::seccomp_docker_default(caps);
        if (!p) return fail(p.error());
        it = cache.emplace(caps, std::move(*p)).first;
    }
    return &it->second;
}

}  // namespace

namespace {

// The process half of a plan, shared by a container's first process and docker exec: identity,
// environment as Docker builds it, argv and the PATH search, capabilities, seccomp, rlimits.
Result<> fill_process(kernel::PlanStorage& st, kernel::SpawnPlan& p, const ContainerSpec& s,
                      const std::string& hostname) {
    auto caps = kernel::resolve_capabilities(s.cap_add, s.cap_drop, s.privileged);
    if (!caps) return fail(caps.error());
    auto user = kernel::resolve_user_in_root(s.rootfs, s.user, s.group_add);
    if (!user) return fail(user.error());
    auto sc = seccomp_program(s, *caps);
    if (!sc) return fail(sc.error());
    if (auto r = add_rlimits(st, s); !r) return fail(r.error());

    p.uid = user->uid;
    p.gid = user->gid;
    st.groups = user->groups;
    p.groups = st.groups.data();
    p.group_count = st.groups.size();

    std::vector<std::string> env = s.env;
    bool has_home = false, has_path = false, has_hostname = false;
    for (const auto& e : env) {
        has_home |= e.starts_with("HOME=");
        has_path |= e.starts_with("PATH=");
        has_hostname |= e.starts_with("HOSTNAME=");
    }
    if (!has_path) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if (!has_hostname) env.insert(env.begin(), "HOSTNAME=" + hostname);
    if (!has_home) env.push_back("HOME=" + user->home);
    if (s.tty) env.push_back("TERM=xterm");
    p.cwd = st.str(s.working_dir.empty() ? "/" : s.working_dir);
    p.argv = st.strv(s.args);
    p.envp = st.strv(env);
    auto candidates = exec_candidates(s.args[0], env);
    p.exec_candidates = st.strv(candidates);
    p.exec_candidate_count = candidates.size();

    p.capabilities = *caps;
    p.no_new_privs = s.no_new_privileges;
    if (*sc) {
        p.seccomp_filter = (*sc)->filter.data();
        p.seccomp_len = static_cast<unsigned short>((*sc)->filter.size());
    }
    p.rlimits = st.rlimits.data();
    p.rlimit_count = st.rlimits.size();
    if (s.oom_score_adj) {
        if (*s.oom_score_adj < -1000 || *s.oom_score_adj > 1000)
            return fail(Error::invalid("Invalid value " + std::to_string(*s.oom_score_adj) +
                                       ", range for oom score adj is [-1000, 1000]"));
        p.set_oom_score_adj = true;
        p.oom_score_adj = *s.oom_score_adj;
    }
    for (int i = 0; i < 3; ++i) p.stdio[i] = s.stdio[i];
    return {};
}

}  // namespace

Result<std::unique_ptr<PreparedPlan>> build_plan(const ContainerSpec& s,
                                                 const kernel::CgroupInfo& cgroups) {
    if (s.args.empty()) return fail(Error::invalid("no command specified"));
    auto out = std::make_unique<PreparedPlan>();
    kernel::PlanStorage& st = out->storage;
    kernel::SpawnPlan& p = out->plan;

    std::string hostname = s.hostname.empty() ? s.id.substr(0, 12) : s.hostname;
    add_system_mounts(st, s, cgroups);
    if (auto r = add_etc_files(st, s, hostname); !r) return fail(r.error());
    if (auto r = add_user_mounts(st, s); !r) return fail(r.error());
    const ContainerSpec* process = &s;
    ContainerSpec with_init;
    if (!s.init_path.empty()) {
        MountSpec m;
        m.kind = MountKind::bind;
        m.source = st.str(s.init_path);
        m.target = st.str(docker_init_path);
        m.readonly = m.nosuid = m.nodev = true;
        m.target_is_file = true;
        st.mounts.push_back(m);
        with_init = s;
        with_init.args = {docker_init_path, "--"};
        with_init.args.insert(with_init.args.end(), s.args.begin(), s.args.end());
        process = &with_init;
    }

    p.clone_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    if (s.network == NetworkMode::none) p.clone_flags |= CLONE_NEWNET;
    if (s.network == NetworkMode::container || s.network == NetworkMode::bridge)
        p.join_netns_fd = s.join_netns_fd;
    p.rootfs = st.str(s.rootfs);
    p.readonly_rootfs = s.readonly_rootfs;
    p.mounts = st.mounts.data();
    p.mount_count = st.mounts.size();
    if (!s.privileged) {
        p.masked_paths = st.strv(docker_masked_paths());
        p.masked_count = docker_masked_paths().size();
        p.readonly_paths = st.strv(docker_readonly_paths());
        p.readonly_count = docker_readonly_paths().size();
    }
    // Docker's UTS namespace always gets a hostname; with host networking it is the host's.
    if (s.network != NetworkMode::host) p.hostname = st.str(hostname);
    if (!s.domainname.empty()) p.domainname = st.str(s.domainname);
    if (auto r = fill_process(st, p, *process, hostname); !r) return fail(r.error());
    return out;
}

Result<std::unique_ptr<PreparedPlan>> build_exec_plan(const ContainerSpec& s, int container_pidfd) {
    if (s.args.empty()) return fail(Error::invalid("No exec command specified"));
    auto out = std::make_unique<PreparedPlan>();
    kernel::PlanStorage& st = out->storage;
    kernel::SpawnPlan& p = out->plan;
    // Everything but the user namespace (berth makes none): the root, /proc and /dev the
    // container sees, its hostname, its network, its cgroup view.
    p.join_pidfd = container_pidfd;
    p.join_ns_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                      CLONE_NEWCGROUP;
    p.new_cgroupns = false;
    std::string hostname = s.hostname.empty() ? s.id.substr(0, 12) : s.hostname;
    if (auto r = fill_process(st, p, s, hostname); !r) return fail(r.error());
    // The daemon's own score must not leak into the container: the container's, or 0.
    p.set_oom_score_adj = true;
    p.oom_score_adj = s.oom_score_adj.value_or(0);
    return out;
}

}  // namespace berth::drivers
