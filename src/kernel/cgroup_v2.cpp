// cgroup v2 (the unified hierarchy, Documentation/admin-guide/cgroup-v2.rst): enabling
// controllers down the tree, which file gets which HostConfig value (with runc's and crun's
// conversions), cgroup.freeze, and the v2 statistics. Limits arrive with Docker's defaults.
#include <cerrno>
#include <string>

#include "kernel/cgroup.hpp"

namespace berth::kernel::cgroupfs {

namespace {

std::string num(int64_t v) {
    return std::to_string(v);
}

// -1 is Docker's "unlimited"; v2 spells it "max".
std::string max_or(int64_t v) {
    return v < 0 ? "max" : num(v);
}

bool has_word(std::string_view text, std::string_view word) {
    while (!text.empty()) {
        size_t end = std::min(text.find_first_of(" \n"), text.size());
        if (text.substr(0, end) == word) return true;
        text.remove_prefix(std::min(end + 1, text.size()));
    }
    return false;
}

// memory.swap.max counts swap alone, Docker's MemorySwap counts memory+swap. The file only
// exists with swap accounting; without it dockerd drops MemorySwap with a warning.
Result<> write_memory(const std::string& dir, const CgroupLimits& l) {
    if (l.memory == 0 && l.memory_swap == 0 && l.memory_reservation == 0) return {};
    if (auto ok = require_controller(dir, "Memory", "memory"); !ok) return ok;
    if (l.memory != 0) {
        auto ok = write_limit(dir + "/memory.max", max_or(l.memory), "Memory", num(l.memory));
        if (!ok) return ok;
    }
    std::string swap_file = dir + "/memory.swap.max";
    if (l.memory_swap != 0 && exists(swap_file)) {
        std::string v = l.memory_swap < 0 ? "max" : num(l.memory_swap - l.memory);
        auto ok = write_limit(swap_file, v, "MemorySwap", num(l.memory_swap));
        if (!ok) return ok;
    }
    if (l.memory_reservation == 0) return {};
    return write_limit(dir + "/memory.low", max_or(l.memory_reservation), "MemoryReservation",
                       num(l.memory_reservation));
}

// cpu.weight (1..10000) from CpuShares (2..262144), the conversion runc and crun share, so
// 1024 shares (the default) become 39 and 2 become 1.
uint64_t weight_of_shares(uint64_t shares) {
    return 1 + ((shares - 2) * 9999) / 262142;
}

// cpu.max is "$QUOTA $PERIOD", "max" for no quota; a period alone keeps the kernel's.
Result<> write_cpu(const std::string& dir, const CgroupLimits& l) {
    if (l.cpu_shares == 0 && l.cpu_quota == 0 && l.cpu_period == 0) return {};
    std::string_view field = l.cpu_shares ? "CpuShares" : l.cpu_quota ? "CpuQuota" : "CpuPeriod";
    if (auto ok = require_controller(dir, field, "cpu"); !ok) return ok;
    if (l.cpu_shares != 0) {
        std::string v = std::to_string(weight_of_shares(l.cpu_shares));
        auto ok = write_limit(dir + "/cpu.weight", v, "CpuShares", std::to_string(l.cpu_shares));
        if (!ok) return ok;
    }
    if (l.cpu_quota == 0 && l.cpu_period == 0) return {};
    std::string v = l.cpu_quota > 0 ? num(l.cpu_quota) : "max";
    if (l.cpu_period != 0) v += " " + std::to_string(l.cpu_period);
    return write_limit(dir + "/cpu.max", v, l.cpu_quota ? "CpuQuota" : "CpuPeriod", v);
}

// BFQ's io.bfq.weight takes BlkioWeight's own 1..1000 range and is what schedules on most
// disks; without BFQ, io.weight (1..10000, iocost) gets runc's linear conversion.
Result<> write_io(const std::string& dir, const CgroupLimits& l) {
    if (l.blkio_weight == 0) return {};
    if (auto ok = require_controller(dir, "BlkioWeight", "io"); !ok) return ok;
    std::string shown = std::to_string(l.blkio_weight);
    if (exists(dir + "/io.bfq.weight"))
        return write_limit(dir + "/io.bfq.weight", shown, "BlkioWeight", shown);
    if (exists(dir + "/io.weight")) {
        uint64_t weight = 1 + (uint64_t(l.blkio_weight) - 10) * 9999 / 990;
        return write_limit(dir + "/io.weight", "default " + std::to_string(weight), "BlkioWeight",
                           shown);
    }
    return fail(
        Error::invalid("BlkioWeight needs io.bfq.weight or io.weight, which this host "
                       "does not provide"));
}

}  // namespace

// Controllers reach a cgroup only through its parent's cgroup.subtree_control. Enable what
// `dir` offers and has not enabled yet, in one write (the kernel applies a list at once).
Result<> enable_controllers_v2(const std::string& dir, const std::vector<std::string>& wanted) {
    auto offered = read(dir + "/cgroup.controllers");
    if (!offered) return fail(std::move(offered.error()));
    auto enabled = read(dir + "/cgroup.subtree_control");
    if (!enabled) return fail(std::move(enabled.error()));
    std::string change;
    for (const std::string& c : wanted) {
        if (!has_word(*offered, c) || has_word(*enabled, c)) continue;
        change += (change.empty() ? "+" : " +") + c;
    }
    if (change.empty()) return {};
    return write(dir + "/cgroup.subtree_control", change);
}

Result<> write_limits_v2(const Dirs& dirs, const CgroupLimits& limits) {
    if (auto ok = write_memory(dirs.memory, limits); !ok) return ok;
    if (auto ok = write_cpu(dirs.cpu, limits); !ok) return ok;
    if (auto ok = write_cpuset(dirs.cpuset, limits); !ok) return ok;
    if (auto ok = write_pids(dirs.pids, limits); !ok) return ok;
    return write_io(dirs.blkio, limits);
}

CgroupStats stats_v2(const Dirs& d) {
    CgroupStats s;
    s.unified = true;
    if (!d.memory.empty()) {
        s.memory_usage = read_u64(d.memory + "/memory.current").value_or(0);
        s.memory_max_usage = read_u64(d.memory + "/memory.peak").value_or(0);  // 5.19+
        uint64_t host = host_memory_bytes();
        auto limit = read_u64(d.memory + "/memory.max");  // "max": the host's memory
        s.memory_limit = (!limit || (host != 0 && *limit > host)) ? host : *limit;
        if (auto events = read(d.memory + "/memory.events")) {
            s.oom_kills = keyed_value(*events, "oom_kill");
            s.memory_failcnt = keyed_value(*events, "oom");  // what Docker shows as failcnt
        }
        if (auto stat = read(d.memory + "/memory.stat")) s.memory_stat = flat_keyed(*stat);
    }
    if (!d.cpuacct.empty()) {
        if (auto stat = read(d.cpuacct + "/cpu.stat")) {
            s.cpu_usage_ns = keyed_value(*stat, "usage_usec") * 1000;
            s.cpu_user_ns = keyed_value(*stat, "user_usec") * 1000;
            s.cpu_system_ns = keyed_value(*stat, "system_usec") * 1000;
            s.cpu_periods = keyed_value(*stat, "nr_periods");  // with the cpu controller
            s.cpu_throttled_periods = keyed_value(*stat, "nr_throttled");
            s.cpu_throttled_ns = keyed_value(*stat, "throttled_usec") * 1000;
        }
    }
    if (!d.pids.empty()) {
        s.pids_current = read_u64(d.pids + "/pids.current").value_or(0);
        s.pids_limit = read_u64(d.pids + "/pids.max").value_or(0);  // "max": 0, no limit
    }
    if (!d.blkio.empty()) {
        if (auto io = read(d.blkio + "/io.stat"))
            io_stat_entries_v2(*io, s.io_service_bytes, s.io_serviced);
    }
    return s;
}

// cgroup.freeze asks; cgroup.events says "frozen 1" once every task has stopped.
Result<> freeze_v2(const std::string& dir, bool frozen) {
    if (auto ok = write(dir + "/cgroup.freeze", frozen ? "1" : "0"); !ok) return ok;
    std::string events = dir + "/cgroup.events";
    for (int waited = 0;; ++waited) {
        auto text = read(events);
        if (!text) return fail(std::move(text.error()));
        if (keyed_value(*text, "frozen") == (frozen ? 1u : 0u)) return {};
        if (waited >= freeze_wait_ms_max) {
            if (frozen) (void)write(dir + "/cgroup.freeze", "0");
            return fail(Error::sys(ETIMEDOUT, std::string(frozen ? "freeze " : "thaw ") + dir));
        }
        sleep_ms(1);
    }
}

}  // namespace berth::kernel::cgroupfs
