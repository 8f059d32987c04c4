// The host's CPU time and its processes as /proc shows them: system_cpu_usage and online CPUs
// for `docker stats`, one process's row for `docker top`. Parsing is separate from reading so
// the formats are tested on samples; reading never follows a pid into another namespace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace berth::kernel {

// The "cpu" line of /proc/stat as Docker sums it (user, nice, system, idle, iowait, irq,
// softirq) in ns at Docker's fixed 100 ticks per second, and the number of "cpuN" lines.
struct SystemCpu {
    uint64_t usage_ns = 0;
    uint32_t online_cpus = 0;
};
std::optional<SystemCpu> parse_system_cpu(std::string_view proc_stat);
Result<SystemCpu> system_cpu(const std::string& proc_root = "/proc");

// One process: /proc/<pid>/stat, the effective uid from status, argv from cmdline.
struct ProcessInfo {
    pid_t pid = 0, ppid = 0;
    uid_t uid = 0;
    char state = '?';
    int tty_nr = 0;  // major/minor as the kernel packs them; 0: none
    uint64_t utime_ticks = 0, stime_ticks = 0;
    uint64_t start_ticks = 0;  // since boot, in clock ticks
    uint64_t vsize_bytes = 0, rss_pages = 0;
    std::string comm;
    std::vector<std::string> argv;  // empty for kernel threads and zombies
};
// /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
std::optional<ProcessInfo> parse_process_stat(std::string_view stat);
// Adds the effective uid from /proc/<pid>/status ("Uid: real effective …").
void parse_process_status(std::string_view status, ProcessInfo& p);
// NUL-separated argv.
std::vector<std::string> parse_cmdline(std::string_view cmdline);
// A process that is gone by the time it is read is not_found.
Result<ProcessInfo> read_process(pid_t pid, const std::string& proc_root = "/proc");

// btime from /proc/stat: the boot time, unix seconds.
uint64_t boot_time_s(const std::string& proc_root = "/proc");
uint64_t clock_ticks_per_s();
uint64_t page_bytes();
// The host's name for `uid` (its passwd database, as the host's ps shows it); "" if none.
std::string host_user_name(uid_t uid);

}  // namespace berth::kernel
