// What /info and /version report about the host, read from the kernel: CPUs, memory, kernel
// and OS release, cgroup layout (v2, v1, hybrid) and which controllers and limits work.
// All reads go through a root path so tests can point them at a fake /proc and /sys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace berth::kernel {

enum class CgroupMode : unsigned char {
    v2,      // unified: only cgroup2 at /sys/fs/cgroup
    hybrid,  // v1 controllers plus a cgroup2 tree (at /sys/fs/cgroup/unified or without controllers)
    v1,      // legacy: v1 controllers only
};

struct CgroupInfo {
    CgroupMode mode = CgroupMode::v2;
    std::string v2_path;                      // mount point of the cgroup2 tree, if any
    std::vector<std::string> v2_controllers;  // cgroup.controllers of the v2 root
    std::vector<std::string> v1_controllers;  // v1 hierarchies mounted (memory, cpu, pids, …)
    // What the limits in HostConfig can use, as dockerd's sysinfo reports them.
    bool memory_limit = false;
    bool swap_limit = false;
    bool cpu_cfs_period = false;
    bool cpu_cfs_quota = false;
    bool cpu_shares = false;
    bool cpuset = false;
    bool pids_limit = false;
    bool freezer = false;
    bool oom_kill_disable = false;
    // "1" or "2", as /info's CgroupVersion.
    std::string version_string() const;
};

struct HostInfo {
    std::string hostname;
    std::string kernel_version;    // uname -r
    std::string operating_system;  // PRETTY_NAME from os-release
    std::string os_version;        // VERSION_ID from os-release
    std::string architecture;      // uname -m (x86_64)
    int ncpu = 0;                  // CPUs this process may run on
    int64_t mem_total = 0;         // bytes, from /proc/meminfo
    bool ipv4_forwarding = false;  // /proc/sys/net/ipv4/ip_forward
    bool bridge_nf_iptables = false;
    bool bridge_nf_ip6tables = false;
    CgroupInfo cgroup;
};

// Reads everything from the real host. `root` prefixes every path ("" for the host itself,
// a directory with proc/, sys/, etc/ for tests).
Result<HostInfo> read_host_info(const std::string& root = "");
// The cgroup layout alone (used at start-up to pick the cgroup driver).
Result<CgroupInfo> detect_cgroups(const std::string& root = "");

}  // namespace berth::kernel
