// cgroups for containers on both kinds of host: cgroup v2 with delegated controllers, and
// hybrid/v1 hosts (limits through the v1 hierarchies; membership, kill and freeze through the
// v2 tree where it exists). A Cgroup is a guard: dropping it without release() removes what it
// created, so a failed start leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"
#include "kernel/host.hpp"

namespace berth::kernel {

// HostConfig's resource fields, in Docker's units. 0 means "not set".
struct CgroupLimits {
    int64_t memory = 0;              // Memory, bytes
    int64_t memory_swap = 0;         // MemorySwap: memory+swap bytes; -1 unlimited
    int64_t memory_reservation = 0;  // MemoryReservation, bytes (soft limit / memory.low)
    int64_t cpu_quota = 0;           // CpuQuota, µs per period (NanoCpus is converted by callers)
    uint64_t cpu_period = 0;         // CpuPeriod, µs (default 100000 when a quota is set)
    uint64_t cpu_shares = 0;         // CpuShares (v1 shares; converted to cpu.weight on v2)
    std::string cpuset_cpus;         // CpusetCpus "0-1"
    std::string cpuset_mems;         // CpusetMems
    int64_t pids_limit = 0;          // PidsLimit; 0 or -1 unlimited
    uint16_t blkio_weight = 0;       // BlkioWeight 10..1000 (io.weight on v2)
};

// One line of blkio.*_recursive (v1: op "Read", "Write", …) or io.stat (v2: "read", "write"),
// as Docker's BlkioStatEntry.
struct BlkioEntry {
    uint64_t major = 0, minor = 0;
    std::string op;
    uint64_t value = 0;
    bool operator==(const BlkioEntry&) const = default;
};

struct CgroupStats {
    bool unified = false;       // read from cgroup v2 files (Docker shows v2 fields then)
    uint64_t memory_usage = 0;  // bytes
    uint64_t memory_limit = 0;  // bytes (host memory when unlimited)
    uint64_t memory_max_usage = 0;
    uint64_t memory_failcnt = 0;  // v1 memory.failcnt; v2: memory.events "oom", as Docker
    // memory.stat as the kernel lists it (v1 "total_inactive_file", v2 "inactive_file", …).
    std::vector<std::pair<std::string, uint64_t>> memory_stat;
    uint64_t cpu_usage_ns = 0;  // total
    uint64_t cpu_user_ns = 0;
    uint64_t cpu_system_ns = 0;
    std::vector<uint64_t> cpu_percpu_ns;  // v1 cpuacct.usage_percpu; v2 has none
    uint64_t cpu_periods = 0, cpu_throttled_periods = 0, cpu_throttled_ns = 0;  // cpu.stat
    uint64_t pids_current = 0;
    uint64_t pids_limit = 0;
    uint64_t oom_kills = 0;
    std::vector<BlkioEntry> io_service_bytes;  // Docker's io_service_bytes_recursive
    std::vector<BlkioEntry> io_serviced;       // io_serviced_recursive (v1 only)
};

// Internals shared by cgroup.cpp, cgroup_v1.cpp and cgroup_v2.cpp (callers use the classes).
namespace cgroupfs {
// Where one container's cgroup lives: a directory per controller, "" where the host lacks it.
// On a pure v2 host (`unified`) every delegated controller names the one v2 directory.
struct Dirs {
    bool unified = false;
    std::string memory, cpu, cpuacct, cpuset, pids, blkio, freezer;
    std::string v2;  // the cgroup2 directory (membership, kill, freeze), "" on v1 hosts
};
}  // namespace cgroupfs

class Cgroup;

// Moving a task between cgroups (what placing a container in its v1 hierarchies does) takes a
// global rwsem whose writer normally waits for an RCU grace period: ~15 ms spikes at container
// start on these machines. The cgroup root option "favordynmods" keeps that lock in writer-
// friendly mode (forks and exits pay a little instead). Sets it on the host's cgroup2 root (or
// the first v1 hierarchy), keeping the root's other options; returns whether it changed.
Result<bool> favor_dynamic_cgroup_changes(const CgroupInfo& layout);

// Knows the host layout and the parent cgroup ("berth" by default, or cgroup-parent).
class CgroupManager {
  public:
    static Result<std::unique_ptr<CgroupManager>> create(const CgroupInfo& layout,
                                                         std::string parent = "berth",
                                                         std::string root = "/sys/fs/cgroup");
    // Creates <parent>/<id> in every hierarchy in use and writes `limits`. Invalid limits
    // (memory below what the kernel accepts, pids 1 is fine, a bad cpuset) come back as
    // invalid_parameter errors naming the field, and nothing is left behind.
    Result<Cgroup> create(const std::string& id, const CgroupLimits& limits);
    // Removes leftovers of containers that are not in `keep` (start-up reconciliation).
    Result<size_t> remove_stale(const std::vector<std::string>& keep);
    const CgroupInfo& layout() const { return layout_; }
    // True when CLONE_INTO_CGROUP can place a child in every hierarchy that matters (v2 with
    // the controllers delegated); on hybrid hosts the v1 memberships need add_process().
    bool clone_into_cgroup_is_enough() const;

  private:
    friend class Cgroup;
    // One mounted v1 hierarchy berth uses; cpu and cpuacct may share one.
    struct Hierarchy {
        std::string dir;
        std::vector<std::string> controllers;
    };
    Result<> prepare_parent() const;
    Result<> make_dirs(Cgroup& cgroup) const;
    cgroupfs::Dirs dirs_of(const std::string& id) const;

    CgroupInfo layout_;
    std::string parent_;
    std::string root_;
    std::vector<Hierarchy> v1_;  // the v1 hierarchies berth uses, deduplicated
    std::string v2_;             // the cgroup2 tree's directory, "" without one
};

class Cgroup {
  public:
    Cgroup() = default;
    Cgroup(Cgroup&&) noexcept;
    Cgroup& operator=(Cgroup&&) noexcept;
    ~Cgroup();  // destroy() unless released

    // An O_DIRECTORY fd of the v2 cgroup for clone3's CLONE_INTO_CGROUP, or -1 without a v2 tree.
    int v2_fd() const { return v2_fd_.get(); }
    // Once the first process is placed the directory fd has served (CLONE_INTO_CGROUP): a
    // running container keeps one fd fewer.
    void close_v2_fd() { v2_fd_.reset(); }
    // Adds `pid` to every hierarchy (all v1 ones, and v2 unless it was placed by clone3).
    Result<> add_process(pid_t pid, bool v2_done = false);
    // cgroup.procs of every hierarchy (but v2 when clone3 places the child there), opened for
    // writing: the spawn child writes "0" to each to move itself in before it does anything
    // else, so the parent never waits for it.
    Result<std::vector<UniqueFd>> open_procs(bool skip_v2) const;
    Result<> update(const CgroupLimits& limits);
    Result<> freeze();
    Result<> thaw();
    // SIGKILL to every process in the cgroup (cgroup.kill on v2, else walking cgroup.procs).
    Result<> kill_all();
    Result<CgroupStats> stats() const;
    // True if the kernel OOM-killed something in this cgroup.
    bool oom_killed() const;
    std::vector<pid_t> pids() const;
    // Kills what is left and removes the directories; idempotent. May wait (bounded) for a
    // busy directory: not for the reactor's hot path.
    Result<> destroy();
    // One non-blocking attempt for the reactor: rmdir what can go now (no kill, no waiting);
    // true when nothing is left. A v1 memory cgroup can stay busy for a moment after its last
    // task was reaped; the caller retries later.
    Result<bool> remove_once();
    // Keep the cgroup when this guard is dropped (a running container owns it now).
    void release() { released_ = true; }
    const std::string& id() const { return id_; }

  private:
    friend class CgroupManager;
    const CgroupManager* manager_ = nullptr;
    std::string id_;
    std::vector<std::string> dirs_;  // every directory created, v1 hierarchies and v2
    cgroupfs::Dirs at_;              // the same directories by controller
    UniqueFd v2_fd_;
    bool released_ = false;
};

namespace cgroupfs {
// File I/O on cgroupfs; every error names the path (and the value written).
Result<std::string> read(const std::string& path);
Result<> write(const std::string& path, std::string_view value);
// A limit: a value the kernel refuses (EINVAL, ERANGE, EBUSY, …) becomes an invalid_parameter
// error naming the HostConfig `field` and the value as the user gave it (`shown`).
Result<> write_limit(const std::string& path, std::string_view value, std::string_view field,
                     std::string_view shown);
bool exists(const std::string& path);
// A limit for a controller the host does not provide is refused rather than dropped silently.
Result<> require_controller(const std::string& dir, std::string_view field,
                            std::string_view controller);
// Limits whose files are the same on v1 and v2: cpuset.cpus/mems (a v2 child with empty ones
// uses its parent's; v1 copies are done at creation) and pids.max.
Result<> write_cpuset(const std::string& dir, const CgroupLimits& l);
Result<> write_pids(const std::string& dir, const CgroupLimits& l);
std::optional<uint64_t> read_u64(const std::string& path);          // "max" or missing: nullopt
uint64_t keyed_value(std::string_view text, std::string_view key);  // "key N" lines
uint64_t host_memory_bytes();                                       // MemTotal
std::string_view trim(std::string_view s);
void sleep_ms(int ms);
// How long freeze() waits for every task to stop before it thaws and gives up.
constexpr int freeze_wait_ms_max = 1000;

// cgroup_stats.cpp: the statistics files' formats, parsed without touching the kernel.
// "key value" lines (memory.stat, cpu.stat) in the kernel's order.
std::vector<std::pair<std::string, uint64_t>> flat_keyed(std::string_view text);
// v1 blkio.*_recursive: "8:0 Read 4096" lines; the closing "Total N" line is left out.
std::vector<BlkioEntry> blkio_entries_v1(std::string_view text);
// v2 io.stat: "8:0 rbytes=… wbytes=… rios=… wios=…" → read/write byte entries (what Docker
// reports as io_service_bytes_recursive) and read/write operation entries.
void io_stat_entries_v2(std::string_view text, std::vector<BlkioEntry>& bytes,
                        std::vector<BlkioEntry>& ios);
// cpuacct.usage_percpu: space-separated ns per CPU.
std::vector<uint64_t> number_list(std::string_view text);

// cgroup_v1.cpp
Result<> write_limits_v1(const Dirs& dirs, const CgroupLimits& limits);
Result<> copy_cpuset_v1(const std::string& parent, const std::string& dir);
CgroupStats stats_v1(const Dirs& dirs);
Result<> freeze_v1(const std::string& freezer_dir, bool frozen);

// cgroup_v2.cpp
Result<> enable_controllers_v2(const std::string& dir, const std::vector<std::string>& wanted);
Result<> write_limits_v2(const Dirs& dirs, const CgroupLimits& limits);
CgroupStats stats_v2(const Dirs& dirs);
Result<> freeze_v2(const std::string& dir, bool frozen);
}  // namespace cgroupfs

}  // namespace berth::kernel
