// cgroup v1 (legacy and hybrid hosts): which file of which hierarchy gets which HostConfig
// value, the cpuset copy a new cpuset cgroup needs, freezer.state, and the v1 statistics.
// Limits arrive with Docker's defaults already applied (cgroup.cpp).
#include <unistd.h>

#include <cerrno>
#include <string>

#include "kernel/cgroup.hpp"

namespace berth::kernel::cgroupfs {

namespace {

std::string num(int64_t v) {
    return std::to_string(v);
}

// memory.memsw.limit_in_bytes only exists with swap accounting; without it dockerd drops
// MemorySwap with a warning, and so does berth. The kernel keeps memory <= memory+swap at
// every step, so the order of the two writes depends on the current limit (as runc does).
Result<> write_memory(const std::string& dir, const CgroupLimits& l) {
    if (l.memory == 0 && l.memory_swap == 0 && l.memory_reservation == 0) return {};
    if (auto ok = require_controller(dir, "Memory", "memory"); !ok) return ok;
    std::string limit_file = dir + "/memory.limit_in_bytes";
    std::string swap_file = dir + "/memory.memsw.limit_in_bytes";
    bool swap = l.memory_swap != 0 && exists(swap_file);
    auto set_memory = [&]() -> Result<> {
        if (l.memory == 0) return {};
        return write_limit(limit_file, num(l.memory), "Memory", num(l.memory));
    };
    auto set_swap = [&]() -> Result<> {
        if (!swap) return {};
        return write_limit(swap_file, num(l.memory_swap), "MemorySwap", num(l.memory_swap));
    };
    bool swap_first = false;
    if (swap && l.memory != 0) {
        auto current = read_u64(limit_file);
        swap_first = l.memory_swap == -1 || (current && *current < uint64_t(l.memory_swap));
    }
    if (auto ok = swap_first ? set_swap() : set_memory(); !ok) return ok;
    if (auto ok = swap_first ? set_memory() : set_swap(); !ok) return ok;
    if (l.memory_reservation == 0) return {};
    return write_limit(dir + "/memory.soft_limit_in_bytes", num(l.memory_reservation),
                       "MemoryReservation", num(l.memory_reservation));
}

// The kernel checks a quota against the current period; when a new period is refused
// against the old quota, the quota goes first (runc's order).
Result<> write_cpu(const std::string& dir, const CgroupLimits& l) {
    if (l.cpu_shares == 0 && l.cpu_quota == 0 && l.cpu_period == 0) return {};
    std::string_view field = l.cpu_shares ? "CpuShares" : l.cpu_quota ? "CpuQuota" : "CpuPeriod";
    if (auto ok = require_controller(dir, field, "cpu"); !ok) return ok;
    if (l.cpu_shares != 0) {
        std::string v = std::to_string(l.cpu_shares);
        if (auto ok = write_limit(dir + "/cpu.shares", v, "CpuShares", v); !ok) return ok;
    }
    auto set_quota = [&]() -> Result<> {
        if (l.cpu_quota == 0) return {};
        return write_limit(dir + "/cpu.cfs_quota_us", num(l.cpu_quota), "CpuQuota",
                           num(l.cpu_quota));
    };
    if (l.cpu_period != 0) {
        std::string v = std::to_string(l.cpu_period);
        auto ok = write_limit(dir + "/cpu.cfs_period_us", v, "CpuPeriod", v);
        if (!ok && l.cpu_quota != 0 && ok.error().sys_errno == EINVAL) {
            if (auto q = set_quota(); !q) return q;
            return write_limit(dir + "/cpu.cfs_period_us", v, "CpuPeriod", v);
        }
        if (!ok) return ok;
    }
    return set_quota();
}

// blkio.weight belonged to CFQ (gone since 5.0); BFQ offers blkio.bfq.weight, same range.
Result<> write_blkio(const std::string& dir, const CgroupLimits& l) {
    if (l.blkio_weight == 0) return {};
    if (auto ok = require_controller(dir, "BlkioWeight", "blkio"); !ok) return ok;
    std::string v = std::to_string(l.blkio_weight);
    for (const char* file : {"/blkio.weight", "/blkio.bfq.weight"}) {
        if (exists(dir + file)) return write_limit(dir + file, v, "BlkioWeight", v);
    }
    return fail(
        Error::invalid("BlkioWeight needs blkio.weight or blkio.bfq.weight, which this "
                       "host does not provide (is the BFQ scheduler in use?)"));
}

uint64_t ns_per_tick() {
    long hz = ::sysconf(_SC_CLK_TCK);  // cpuacct.stat counts USER_HZ ticks
    return hz > 0 ? 1000000000ULL / uint64_t(hz) : 10000000ULL;
}

// CFQ's blkio.io_service_bytes_recursive is empty (or gone) on multi-queue kernels; the
// throttle files count every request, as runc falls back to them.
void stats_blkio_v1(const std::string& dir, CgroupStats& s) {
    auto entries = [&](const char* name) {
        std::vector<BlkioEntry> out;
        if (auto text = read(dir + "/blkio." + name)) out = blkio_entries_v1(*text);
        if (out.empty()) {
            if (auto text = read(dir + "/blkio.throttle." + name)) out = blkio_entries_v1(*text);
        }
        return out;
    };
    s.io_service_bytes = entries("io_service_bytes_recursive");
    s.io_serviced = entries("io_serviced_recursive");
}

}  // namespace

Result<> write_limits_v1(const Dirs& dirs, const CgroupLimits& limits) {
    if (auto ok = write_memory(dirs.memory, limits); !ok) return ok;
    if (auto ok = write_cpu(dirs.cpu, limits); !ok) return ok;
    if (auto ok = write_cpuset(dirs.cpuset, limits); !ok) return ok;
    if (auto ok = write_pids(dirs.pids, limits); !ok) return ok;
    return write_blkio(dirs.blkio, limits);
}

// A new v1 cpuset cgroup has empty cpuset.cpus and cpuset.mems, and a task cannot join it
// (ENOSPC) until both are set: give `dir` its parent's where it has none.
Result<> copy_cpuset_v1(const std::string& parent, const std::string& dir) {
    for (const char* file : {"/cpuset.cpus", "/cpuset.mems"}) {
        auto own = read(dir + file);
        if (!own) return fail(std::move(own.error()));
        if (!trim(*own).empty()) continue;
        auto inherited = read(parent + file);
        if (!inherited) return fail(std::move(inherited.error()));
        std::string_view value = trim(*inherited);
        if (value.empty()) continue;  // the parent has none either: nothing to copy
        if (auto ok = write(dir + file, value); !ok) return ok;
    }
    return {};
}

CgroupStats stats_v1(const Dirs& d) {
    CgroupStats s;
    if (!d.memory.empty()) {
        s.memory_usage = read_u64(d.memory + "/memory.usage_in_bytes").value_or(0);
        s.memory_max_usage = read_u64(d.memory + "/memory.max_usage_in_bytes").value_or(0);
        s.memory_failcnt = read_u64(d.memory + "/memory.failcnt").value_or(0);
        // "Unlimited" reads as a huge page-rounded number; Docker reports the host's memory.
        uint64_t host = host_memory_bytes();
        auto limit = read_u64(d.memory + "/memory.limit_in_bytes");
        s.memory_limit = (!limit || (host != 0 && *limit > host)) ? host : *limit;
        if (auto oom = read(d.memory + "/memory.oom_control"))
            s.oom_kills = keyed_value(*oom, "oom_kill");
        if (auto stat = read(d.memory + "/memory.stat")) s.memory_stat = flat_keyed(*stat);
    }
    if (!d.cpuacct.empty()) {
        s.cpu_usage_ns = read_u64(d.cpuacct + "/cpuacct.usage").value_or(0);
        if (auto stat = read(d.cpuacct + "/cpuacct.stat")) {
            s.cpu_user_ns = keyed_value(*stat, "user") * ns_per_tick();
            s.cpu_system_ns = keyed_value(*stat, "system") * ns_per_tick();
        }
        if (auto percpu = read(d.cpuacct + "/cpuacct.usage_percpu"))
            s.cpu_percpu_ns = number_list(*percpu);
    }
    if (!d.cpu.empty()) {
        if (auto stat = read(d.cpu + "/cpu.stat")) {  // throttled_time is in ns on v1
            s.cpu_periods = keyed_value(*stat, "nr_periods");
            s.cpu_throttled_periods = keyed_value(*stat, "nr_throttled");
            s.cpu_throttled_ns = keyed_value(*stat, "throttled_time");
        }
    }
    if (!d.pids.empty()) {
        s.pids_current = read_u64(d.pids + "/pids.current").value_or(0);
        s.pids_limit = read_u64(d.pids + "/pids.max").value_or(0);  // "max": 0, no limit
    }
    if (!d.blkio.empty()) stats_blkio_v1(d.blkio, s);
    return s;
}

// Writing FROZEN starts freezing; the state reads FREEZING until every task stopped.
// Writing FROZEN again retries a freeze that stalled (cgroup-v1/freezer-subsystem.rst).
Result<> freeze_v1(const std::string& dir, bool frozen) {
    std::string file = dir + "/freezer.state";
    if (!frozen) return write(file, "THAWED");
    for (int waited = 0;; ++waited) {
        if (auto ok = write(file, "FROZEN"); !ok) return ok;
        auto state = read(file);
        if (!state) return fail(std::move(state.error()));
        if (trim(*state) == "FROZEN") return {};
        if (waited >= freeze_wait_ms_max) {
            (void)write(file, "THAWED");
            return fail(
                Error::sys(ETIMEDOUT, "freeze " + dir + ": still " + std::string(trim(*state))));
        }
        sleep_ms(1);
    }
}

}  // namespace berth::kernel::cgroupfs
