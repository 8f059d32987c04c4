// cgroups for containers: the layout (which hierarchies, where), creating and removing
// <parent>/<id> in each, membership, freeze, kill and the Docker rules for HostConfig limits.
// Which file gets which value lives in cgroup_v1.cpp and cgroup_v2.cpp. Only plain file I/O.
#include "kernel/files.hpp"
#include "kernel/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

namespace berth::kernel {

namespace {

// cgroup.procs of a busy cgroup is the largest file read here (a line per process).
constexpr size_t cgroup_file_bytes_max = size_t(1) << 20;
// v1 rmdir answers EBUSY for a moment after the last task was killed.
constexpr int rmdir_busy_wait_ms_max = 100;
constexpr int kill_rounds_max = 100;  // a round per ms while forks race the kills
constexpr int cgroup_depth_max = 32;  // nested cgroups a container made inside its own
// Docker's floor for Memory and MemoryReservation (linuxMinMemory), checked before writing.
constexpr int64_t memory_min_bytes = int64_t(6) << 20;
constexpr uint64_t cpu_shares_min = 2, cpu_shares_max = 262144;  // Docker clamps CpuShares
constexpr uint64_t cpu_period_default_us = 100000;
constexpr std::string_view standard_root = "/sys/fs/cgroup";
// The v1 hierarchies berth writes or joins (devices is not needed: no device cgroup rules).
constexpr std::string_view v1_used[] = {"memory", "cpu",   "cpuacct", "cpuset",
                                        "pids",   "blkio", "freezer"};
// The v2 controllers enabled for containers on a pure v2 host.
const std::vector<std::string> v2_wanted = {"cpuset", "cpu", "io", "memory", "pids"};

bool is_dir(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Names of the subdirectories of `dir` (cgroups, or hierarchies under the root); empty when
// `dir` does not exist.
std::vector<std::string> subdirs(const std::string& dir) {
    std::vector<std::string> out;
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return out;
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        ::close(fd);
        return out;
    }
    while (dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        struct stat st {};
        bool dir_entry =
            e->d_type == DT_DIR ||
            (e->d_type == DT_UNKNOWN && ::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
             S_ISDIR(st.st_mode));
        if (dir_entry) out.emplace_back(name);
    }
    ::closedir(d);
    return out;
}

// One path component: not empty, no '/', not "." or "..".
bool is_component(std::string_view s) {
    return !s.empty() && s.size() <= 255 && s != "." && s != ".." &&
           s.find('/') == std::string_view::npos && s.find('\0') == std::string_view::npos;
}

// "/a/b/" → {"a", "b"}; cgroup-parent may be written absolute, as Docker accepts it.
Result<std::vector<std::string>> parent_components(std::string_view parent) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= parent.size()) {
        size_t end = std::min(parent.find('/', start), parent.size());
        std::string_view piece = parent.substr(start, end - start);
        if (!piece.empty() && !is_component(piece))
            return fail(Error::invalid("invalid cgroup parent: " + std::string(parent)));
        if (!piece.empty()) out.emplace_back(piece);
        start = end + 1;
    }
    if (out.empty())
        return fail(Error::invalid("invalid cgroup parent: \"" + std::string(parent) + "\""));
    return out;
}

// A v1 hierarchy is <root>/<controller> (systemd links "cpu" to "cpu,cpuacct"), or a
// co-mounted "cpu,cpuacct" directory without the links.
std::string find_hierarchy(const std::string& root, std::string_view controller) {
    std::string direct = root + "/" + std::string(controller);
    if (is_dir(direct)) return direct;
    for (const std::string& name : subdirs(root)) {
        std::string_view rest = name;
        while (!rest.empty()) {
            size_t comma = std::min(rest.find(','), rest.size());
            if (rest.substr(0, comma) == controller) return root + "/" + name;
            rest.remove_prefix(std::min(comma + 1, rest.size()));
        }
    }
    return {};
}

// The cgroup2 tree under `root`: the layout names real mount points, `root` stands for
// /sys/fs/cgroup (a fake tree in tests).
std::string v2_dir_under(const std::string& root, const std::string& v2_path) {
    if (v2_path.empty()) return {};
    if (v2_path == standard_root) return root;
    if (v2_path.starts_with(std::string(standard_root) + "/"))
        return root + v2_path.substr(standard_root.size());
    return root == standard_root ? v2_path : root + v2_path;
}

std::string* slot_of(cgroupfs::Dirs& d, std::string_view controller) {
    if (controller == "memory") return &d.memory;
    if (controller == "cpu") return &d.cpu;
    if (controller == "cpuacct") return &d.cpuacct;
    if (controller == "cpuset") return &d.cpuset;
    if (controller == "pids") return &d.pids;
    if (controller == "blkio") return &d.blkio;
    if (controller == "freezer") return &d.freezer;
    return nullptr;
}

// The checks dockerd makes itself before any cgroup is touched (daemon_unix.go), with its
// messages, so a client sees the same 400.
Result<> check_docker_rules(const CgroupLimits& l) {
    if (l.memory > 0 && l.memory < memory_min_bytes)
        return fail(Error::invalid("Minimum memory limit allowed is 6MB"));
    if (l.memory_swap > 0 && l.memory <= 0)
        return fail(Error::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage"));
    if (l.memory_swap > 0 && l.memory_swap < l.memory)
        return fail(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage"));
    if (l.memory_reservation > 0 && l.memory_reservation < memory_min_bytes)
        return fail(Error::invalid("Minimum memory reservation allowed is 6MB"));
    if (l.memory > 0 && l.memory_reservation > l.memory)
        return fail(
            Error::invalid("Minimum memory limit can not be less than memory "
                           "reservation limit, see usage"));
    if (l.cpu_period != 0 && (l.cpu_period < 1000 || l.cpu_period > 1000000))
        return fail(
            Error::invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or "
                           "larger than 1s (i.e. 1000000)"));
    if (l.cpu_quota > 0 && l.cpu_quota < 1000)
        return fail(Error::invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    if (l.blkio_weight != 0 && (l.blkio_weight < 10 || l.blkio_weight > 1000))
        return fail(Error::invalid("Range of blkio weight is from 10 to 1000"));
    return {};
}

// Docker's defaults filled in, so cgroup_v1.cpp and cgroup_v2.cpp only map values to files:
// MemorySwap 0 with a Memory limit means memory+swap = 2×memory; Memory -1 (update to
// unlimited) frees swap too; CpuShares is clamped; a quota gets the default period.
CgroupLimits with_docker_defaults(CgroupLimits l) {
    if (l.memory > 0 && l.memory_swap == 0) l.memory_swap = 2 * l.memory;
    if (l.memory == -1 && l.memory_swap == 0) l.memory_swap = -1;
    if (l.memory_swap < -1) l.memory_swap = -1;
    if (l.cpu_shares != 0) l.cpu_shares = std::clamp(l.cpu_shares, cpu_shares_min, cpu_shares_max);
    if (l.cpu_quota > 0 && l.cpu_period == 0) l.cpu_period = cpu_period_default_us;
    if (l.pids_limit < -1) l.pids_limit = -1;
    return l;
}

Result<> write_limits(const cgroupfs::Dirs& at, const CgroupLimits& limits) {
    CgroupLimits l = with_docker_defaults(limits);
    return at.unified ? cgroupfs::write_limits_v2(at, l) : cgroupfs::write_limits_v1(at, l);
}

// pids listed in cgroup.procs of `dir` and the cgroups below it.
void collect_procs(const std::string& dir, int depth, std::vector<pid_t>& out) {
    if (auto text = cgroupfs::read(dir + "/cgroup.procs")) {
        std::string_view rest = *text;
        while (!rest.empty()) {
            size_t nl = std::min(rest.find('\n'), rest.size());
            pid_t pid = 0;
            std::string_view line = rest.substr(0, nl);
            auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
            if (ec == std::errc{} && pid > 0) out.push_back(pid);
            rest.remove_prefix(std::min(nl + 1, rest.size()));
        }
    }
    if (depth >= cgroup_depth_max) return;
    for (const std::string& sub : subdirs(dir)) collect_procs(dir + "/" + sub, depth + 1, out);
}

// rmdir `dir` and, if it holds cgroups of its own, those first. EBUSY right after a kill
// means tasks are still exiting: retry for a bounded while.
Result<> remove_tree(const std::string& dir, int depth) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY) return fail(Error::last_sys("rmdir " + dir));
    if (depth < cgroup_depth_max) {
        for (const std::string& sub : subdirs(dir)) {
            if (auto ok = remove_tree(dir + "/" + sub, depth + 1); !ok) return ok;
        }
    }
    for (int waited = 0;; ++waited) {
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
        if (errno != EBUSY || waited >= rmdir_busy_wait_ms_max)
            return fail(Error::last_sys("rmdir " + dir));
        cgroupfs::sleep_ms(1);
    }
}

}  // namespace

// ---- CgroupManager ----

Result<std::unique_ptr<CgroupManager>> CgroupManager::create(const CgroupInfo& layout,
                                                             std::string parent, std::string root) {
    auto components = parent_components(parent);
    if (!components) return fail(std::move(components.error()));
    auto m = std::unique_ptr<CgroupManager>(new CgroupManager());
    m->layout_ = layout;
    m->parent_.clear();
    for (const std::string& c : *components) m->parent_ += (m->parent_.empty() ? "" : "/") + c;
    m->root_ = std::move(root);
    if (layout.mode != CgroupMode::v1) m->v2_ = v2_dir_under(m->root_, layout.v2_path);
    if (layout.mode != CgroupMode::v2) {
        std::vector<std::pair<dev_t, ino_t>> seen;  // co-mounted controllers share a hierarchy
        for (std::string_view c : v1_used) {
            if (std::ranges::find(layout.v1_controllers, c) == layout.v1_controllers.end())
                continue;
            std::string dir = find_hierarchy(m->root_, c);
            struct stat st {};
            if (dir.empty() || ::stat(dir.c_str(), &st) != 0)
                return fail(Error::sys(
                    ENOENT, "find cgroup hierarchy " + std::string(c) + " under " + m->root_));
            auto it = std::ranges::find(seen, std::pair{st.st_dev, st.st_ino});
            if (it != seen.end()) {
                m->v1_[size_t(it - seen.begin())].controllers.emplace_back(c);
                continue;
            }
            seen.emplace_back(st.st_dev, st.st_ino);
            m->v1_.push_back(Hierarchy{dir, {std::string(c)}});
        }
    }
    if (auto ok = m->prepare_parent(); !ok) return fail(std::move(ok.error()));
    return m;
}

bool CgroupManager::clone_into_cgroup_is_enough() const {
    return layout_.mode == CgroupMode::v2 && !v2_.empty();
}

// Creates <parent> (each level of it) in every hierarchy. A v1 cpuset cgroup starts with no
// CPUs and no memory nodes, so each level copies its parent's before anything can join it;
// on v2 each level enables the controllers for the next.
Result<> CgroupManager::prepare_parent() const {
    std::vector<std::string> bases;
    for (const Hierarchy& h : v1_) bases.push_back(h.dir);
    if (!v2_.empty()) bases.push_back(v2_);
    for (size_t i = 0; i < bases.size(); ++i) {
        bool cpuset = i < v1_.size() &&
                      std::ranges::find(v1_[i].controllers, "cpuset") != v1_[i].controllers.end();
        bool unified = i == v1_.size() && layout_.mode == CgroupMode::v2;
        std::string dir = bases[i];
        size_t start = 0;
        while (start < parent_.size()) {
            size_t end = std::min(parent_.find('/', start), parent_.size());
            std::string above = dir;
            if (unified) {
                if (auto ok = cgroupfs::enable_controllers_v2(above, v2_wanted); !ok) return ok;
            }
            dir += "/" + parent_.substr(start, end - start);
            if (auto ok = make_dir(dir, 0755); !ok) return ok;
            if (cpuset) {
                if (auto ok = cgroupfs::copy_cpuset_v1(above, dir); !ok) return ok;
            }
            start = end + 1;
        }
        if (unified) {
            if (auto ok = cgroupfs::enable_controllers_v2(dir, v2_wanted); !ok) return ok;
        }
    }
    return {};
}

cgroupfs::Dirs CgroupManager::dirs_of(const std::string& id) const {
    cgroupfs::Dirs d;
    std::string rel = "/" + parent_ + "/" + id;
    if (!v2_.empty()) d.v2 = v2_ + rel;
    if (layout_.mode == CgroupMode::v2) {
        auto has = [&](std::string_view c) {
            return std::ranges::find(layout_.v2_controllers, c) != layout_.v2_controllers.end();
        };
        d.unified = true;
        if (has("memory")) d.memory = d.v2;
        if (has("cpu")) d.cpu = d.v2;
        d.cpuacct = d.v2;  // cpu.stat is in every v2 cgroup, with or without the cpu controller
        if (has("cpuset")) d.cpuset = d.v2;
        if (has("pids")) d.pids = d.v2;
        if (has("io")) d.blkio = d.v2;
        return d;
    }
    for (const Hierarchy& h : v1_) {
        for (const std::string& c : h.controllers) {
            if (std::string* slot = slot_of(d, c)) *slot = h.dir + rel;
        }
    }
    return d;
}

// mkdir <parent>/<id> in each hierarchy (v1 first, the v2 tree last), recording each one in
// the guard as soon as it exists. An existing directory is adopted, as runc does.
Result<> CgroupManager::make_dirs(Cgroup& cg) const {
    cg.dirs_.clear();
    std::string rel = "/" + parent_ + "/" + cg.id_;
    for (const Hierarchy& h : v1_) {
        std::string dir = h.dir + rel;
        if (auto ok = make_dir(dir, 0755); !ok) return ok;
        cg.dirs_.push_back(dir);
        if (dir == cg.at_.cpuset) {
            if (auto ok = cgroupfs::copy_cpuset_v1(h.dir + "/" + parent_, dir); !ok) return ok;
        }
    }
    if (!cg.at_.v2.empty()) {
        if (auto ok = make_dir(cg.at_.v2, 0755); !ok) return ok;
        cg.dirs_.push_back(cg.at_.v2);
    }
    return {};
}

Result<Cgroup> CgroupManager::create(const std::string& id, const CgroupLimits& limits) {
    if (!is_component(id)) return fail(Error::invalid("invalid cgroup name: \"" + id + "\""));
    if (auto ok = check_docker_rules(limits); !ok) return fail(std::move(ok.error()));
    Cgroup cg;  // a guard from here on: a failed step removes what was made
    cg.manager_ = this;
    cg.id_ = id;
    cg.at_ = dirs_of(id);
    auto made = make_dirs(cg);
    if (!made && made.error().sys_errno == ENOENT) {  // the parent was removed under us
        if (auto ok = prepare_parent(); !ok) return fail(std::move(ok.error()));
        made = make_dirs(cg);
    }
    if (!made) return fail(std::move(made.error()));
    if (auto ok = write_limits(cg.at_, limits); !ok) return fail(std::move(ok.error()));
    if (!cg.at_.v2.empty()) {
        cg.v2_fd_.reset(::open(cg.at_.v2.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!cg.v2_fd_) return fail(Error::last_sys("open " + cg.at_.v2));
    }
    return cg;
}

Result<size_t> CgroupManager::remove_stale(const std::vector<std::string>& keep) {
    std::vector<std::string> bases;
    for (const Hierarchy& h : v1_) bases.push_back(h.dir);
    if (!v2_.empty()) bases.push_back(v2_);
    std::set<std::string> stale;
    for (const std::string& base : bases) {
        for (std::string& name : subdirs(base + "/" + parent_)) {
            if (std::ranges::find(keep, name) == keep.end()) stale.insert(std::move(name));
        }
    }
    size_t removed = 0;
    Result<> first_error;
    for (const std::string& name : stale) {
        Cgroup cg;
        cg.manager_ = this;
        cg.id_ = name;
        cg.at_ = dirs_of(name);
        for (const std::string& base : bases) {
            std::string dir = base + "/" + parent_ + "/" + name;
            if (is_dir(dir)) cg.dirs_.push_back(dir);
        }
        auto ok = cg.destroy();
        cg.release();
        if (ok) ++removed;
        if (!ok && first_error)
            first_error = fail(std::move(ok.error()).wrap("remove stale cgroup"));
    }
    if (!first_error) return fail(std::move(first_error.error()));
    return removed;
}

// ---- Cgroup ----

Cgroup::Cgroup(Cgroup&& o) noexcept
    : manager_(std::exchange(o.manager_, nullptr)),
      id_(std::move(o.id_)),
      dirs_(std::exchange(o.dirs_, {})),
      at_(std::exchange(o.at_, {})),
      v2_fd_(std::move(o.v2_fd_)),
      released_(std::exchange(o.released_, false)) {}

Cgroup& Cgroup::operator=(Cgroup&& o) noexcept {
    if (this == &o) return *this;
    if (!released_) (void)destroy();
    manager_ = std::exchange(o.manager_, nullptr);
    id_ = std::move(o.id_);
    dirs_ = std::exchange(o.dirs_, {});
    at_ = std::exchange(o.at_, {});
    v2_fd_ = std::move(o.v2_fd_);
    released_ = std::exchange(o.released_, false);
    return *this;
}

Cgroup::~Cgroup() {
    if (!released_) (void)destroy();  // best effort: a destructor has no one to report to
}

Result<> Cgroup::add_process(pid_t pid, bool v2_done) {
    std::string value = std::to_string(pid);
    for (const std::string& dir : dirs_) {
        if (v2_done && dir == at_.v2) continue;
        if (auto ok = cgroupfs::write(dir + "/cgroup.procs", value); !ok) return ok;
    }
    return {};
}

Result<std::vector<UniqueFd>> Cgroup::open_procs(bool skip_v2) const {
    std::vector<UniqueFd> out;
    for (const std::string& dir : dirs_) {
        if (skip_v2 && dir == at_.v2) continue;
        std::string path = dir + "/cgroup.procs";
        UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) return fail(Error::last_sys("open " + path));
        out.push_back(std::move(fd));
    }
    return out;
}

Result<> Cgroup::update(const CgroupLimits& limits) {
    if (dirs_.empty()) return fail(Error::not_found("cgroup " + id_ + " was removed"));
    if (auto ok = check_docker_rules(limits); !ok) return ok;
    return write_limits(at_, limits);
}

Result<> Cgroup::freeze() {
    if (!dirs_.empty() && !at_.v2.empty() && cgroupfs::exists(at_.v2 + "/cgroup.freeze"))
        return cgroupfs::freeze_v2(at_.v2, true);
    if (!dirs_.empty() && !at_.freezer.empty()) return cgroupfs::freeze_v1(at_.freezer, true);
    return fail(Error::sys(ENOTSUP, "freeze cgroup " + id_ + ": no freezer on this host"));
}

Result<> Cgroup::thaw() {
    if (!dirs_.empty() && !at_.v2.empty() && cgroupfs::exists(at_.v2 + "/cgroup.freeze"))
        return cgroupfs::freeze_v2(at_.v2, false);
    if (!dirs_.empty() && !at_.freezer.empty()) return cgroupfs::freeze_v1(at_.freezer, false);
    return fail(Error::sys(ENOTSUP, "thaw cgroup " + id_ + ": no freezer on this host"));
}

// cgroup.kill (v2, 5.14+) kills the whole subtree at once in the kernel. Without it, kill
// what cgroup.procs lists, again, until nothing is left: forks race the reads.
Result<> Cgroup::kill_all() {
    if (dirs_.empty()) return {};
    if (!at_.v2.empty() && cgroupfs::exists(at_.v2 + "/cgroup.kill"))
        return cgroupfs::write(at_.v2 + "/cgroup.kill", "1");
    for (int round = 0; round < kill_rounds_max; ++round) {
        std::vector<pid_t> live;
        collect_procs(dirs_.front(), 0, live);
        if (live.empty()) return {};
        for (pid_t pid : live) {
            if (::kill(pid, SIGKILL) != 0 && errno != ESRCH)
                return fail(
                    Error::last_sys("kill " + std::to_string(pid) + " in " + dirs_.front()));
        }
        cgroupfs::sleep_ms(1);
    }
    return fail(Error::sys(EBUSY, "kill processes in " + dirs_.front()));
}

Result<CgroupStats> Cgroup::stats() const {
    if (dirs_.empty()) return fail(Error::not_found("cgroup " + id_ + " was removed"));
    return at_.unified ? cgroupfs::stats_v2(at_) : cgroupfs::stats_v1(at_);
}

// Read on every container exit: one file, not the whole of stats().
bool Cgroup::oom_killed() const {
    if (dirs_.empty() || at_.memory.empty()) return false;
    auto text =
        cgroupfs::read(at_.memory + (at_.unified ? "/memory.events" : "/memory.oom_control"));
    return text && cgroupfs::keyed_value(*text, "oom_kill") > 0;
}

std::vector<pid_t> Cgroup::pids() const {
    std::vector<pid_t> out;
    if (dirs_.empty()) return out;
    // The v2 directory holds every member on both kinds of host that have one.
    bool v2 = !at_.v2.empty() && std::ranges::find(dirs_, at_.v2) != dirs_.end();
    collect_procs(v2 ? at_.v2 : dirs_.front(), 0, out);
    return out;
}

Result<> Cgroup::destroy() {
    Result<> killed;
    if (!dirs_.empty() && !pids().empty()) killed = kill_all();
    Result<> removed;
    std::vector<std::string> left;
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
        auto ok = remove_tree(*it, 0);
        if (ok) continue;
        left.insert(left.begin(), *it);
        if (removed) removed = std::move(ok);
    }
    dirs_ = std::move(left);
    if (!dirs_.empty()) return !killed ? killed : removed;  // the kill explains a busy rmdir
    v2_fd_.reset();
    return {};
}

namespace {

// The mount point and super options of the cgroup root to reconfigure.
std::pair<std::string, std::vector<std::string>> cgroup_root_options(const CgroupInfo& layout) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::vector<std::string> w;
        for (std::string x; f >> x;) w.push_back(x);
        auto dash = std::find(w.begin(), w.end(), "-");
        if (w.size() < 5 || w.end() - dash < 4) continue;
        bool v2 = dash[1] == "cgroup2";
        if (!(v2 && w[4] == layout.v2_path) && !(!v2 && dash[1] == "cgroup" && layout.v2_path.empty()))
            continue;
        std::vector<std::string> opts;
        std::istringstream o(dash[3]);
        for (std::string x; std::getline(o, x, ',');)
            if (x != "rw" && x != "ro") opts.push_back(x);
        return {w[4], opts};
    }
    return {};
}

}  // namespace

Result<bool> favor_dynamic_cgroup_changes(const CgroupInfo& layout) {
    auto [path, opts] = cgroup_root_options(layout);
    if (path.empty()) return false;
    if (std::ranges::find(opts, "favordynmods") != opts.end()) return false;
    UniqueFd fs(fspick(AT_FDCWD, path.c_str(), FSPICK_CLOEXEC));
    if (!fs) return fail(Error::last_sys("fspick " + path));
    opts.push_back("favordynmods");
    for (const std::string& o : opts) {
        size_t eq = o.find('=');
        int rc = eq == std::string::npos
                     ? fsconfig(fs.get(), FSCONFIG_SET_FLAG, o.c_str(), nullptr, 0)
                     : fsconfig(fs.get(), FSCONFIG_SET_STRING, o.substr(0, eq).c_str(),
                                o.substr(eq + 1).c_str(), 0);
        if (rc != 0) return fail(Error::last_sys("cgroup root option " + o + " on " + path));
    }
    if (fsconfig(fs.get(), FSCONFIG_CMD_RECONFIGURE, nullptr, nullptr, 0) != 0)
        return fail(Error::last_sys("reconfigure " + path + " with favordynmods"));
    return true;
}

Result<bool> Cgroup::remove_once() {
    std::vector<std::string> left;
    Result<bool> out = true;
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
        if (::rmdir(it->c_str()) == 0 || errno == ENOENT) continue;
        if (errno != EBUSY && out) out = fail(Error::last_sys("rmdir " + *it));
        left.insert(left.begin(), *it);
    }
    dirs_ = std::move(left);
    if (!out) return out;
    if (dirs_.empty()) v2_fd_.reset();
    return dirs_.empty();
}

// ---- file I/O shared by the v1 and v2 halves ----

namespace cgroupfs {

Result<std::string> read(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Error::last_sys("read " + path));
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::last_sys("read " + path));
        if (n == 0) return out;
        out.append(buf, size_t(n));
        if (out.size() > cgroup_file_bytes_max) return fail(Error::sys(EFBIG, "read " + path));
    }
}

// cgroupfs takes a value in one write(2); O_TRUNC matters only for plain files (test trees).
Result<> write(const std::string& path, std::string_view value) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    ssize_t n = -1;
    if (fd) {
        do n = ::write(fd.get(), value.data(), value.size());
        while (n < 0 && errno == EINTR);
    }
    if (n == ssize_t(value.size())) return {};
    int err = n < 0 ? errno : EIO;  // saved before the message allocates
    return fail(Error::sys(err, "write " + path + " " + std::string(value)));
}

Result<> write_limit(const std::string& path, std::string_view value, std::string_view field,
                     std::string_view shown) {
    auto ok = write(path, value);
    if (ok) return {};
    int err = ok.error().sys_errno;
    if (err != EINVAL && err != ERANGE && err != EBUSY && err != EBADF && err != EOVERFLOW)
        return ok;
    std::string m = "invalid value for " + std::string(field) + ": " + std::string(shown) + " (" +
                    ok.error().message + ")";
    return fail(Error{ErrorKind::invalid_parameter, err, std::move(m)});
}

Result<> require_controller(const std::string& dir, std::string_view field,
                            std::string_view controller) {
    if (!dir.empty()) return {};
    return fail(Error::invalid(std::string(field) + " needs the " + std::string(controller) +
                               " cgroup controller, which this host does not provide"));
}

Result<> write_cpuset(const std::string& dir, const CgroupLimits& l) {
    if (l.cpuset_cpus.empty() && l.cpuset_mems.empty()) return {};
    auto ok = require_controller(dir, l.cpuset_cpus.empty() ? "CpusetMems" : "CpusetCpus",
                                 "cpuset");
    if (!ok) return ok;
    if (!l.cpuset_cpus.empty()) {
        ok = write_limit(dir + "/cpuset.cpus", l.cpuset_cpus, "CpusetCpus", l.cpuset_cpus);
        if (!ok) return ok;
    }
    if (l.cpuset_mems.empty()) return {};
    return write_limit(dir + "/cpuset.mems", l.cpuset_mems, "CpusetMems", l.cpuset_mems);
}

Result<> write_pids(const std::string& dir, const CgroupLimits& l) {
    if (l.pids_limit == 0) return {};
    if (auto ok = require_controller(dir, "PidsLimit", "pids"); !ok) return ok;
    std::string shown = std::to_string(l.pids_limit);
    return write_limit(dir + "/pids.max", l.pids_limit < 0 ? "max" : shown, "PidsLimit", shown);
}

bool exists(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

std::string_view trim(std::string_view s) {
    constexpr std::string_view ws = " \t\r\n";
    size_t begin = s.find_first_not_of(ws);
    if (begin == std::string_view::npos) return {};
    return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

std::optional<uint64_t> read_u64(const std::string& path) {
    auto text = read(path);
    if (!text) return std::nullopt;
    std::string_view v = trim(*text);
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size()) return std::nullopt;  // "max", "-1"
    return n;
}

uint64_t keyed_value(std::string_view text, std::string_view key) {
    while (!text.empty()) {
        size_t nl = std::min(text.find('\n'), text.size());
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(std::min(nl + 1, text.size()));
        if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ' ')
            continue;
        std::string_view v = trim(line.substr(key.size()));
        uint64_t n = 0;
        std::from_chars(v.data(), v.data() + v.size(), n);
        return n;
    }
    return 0;
}

uint64_t host_memory_bytes() {
    static const uint64_t total = [] {
        auto text = read("/proc/meminfo");
        return text ? keyed_value(*text, "MemTotal:") * 1024 : 0;  // "kB" means KiB
    }();
    return total;
}

void sleep_ms(int ms) {
    timespec ts{ms / 1000, long(ms % 1000) * 1000000L};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

}  // namespace cgroupfs

}  // namespace berth::kernel
