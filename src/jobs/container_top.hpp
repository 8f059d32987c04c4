// docker top: the processes of a container's cgroup as a ps table (Titles + Processes), built
// from /proc by berth itself: no `ps` binary and no child process. dockerd passes ps_args to the
// host's ps; berth understands the forms people use (see top_format) and refuses the rest.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "kernel/cgroup.hpp"
#include "kernel/proc_stat.hpp"

namespace berth::jobs {

enum class TopFormat : unsigned char {
    full,  // ps -ef: UID PID PPID C STIME TTY TIME CMD (dockerd's default "-ef")
    bsd,   // ps aux: USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND
};
// "" or any mix of -e/-f/-A (and "ef") → full; "aux", "-aux", "au", "ux", "a", "x" … → bsd.
// Anything else is invalid_parameter, naming what berth supports.
Result<TopFormat> top_format(std::string_view ps_args);

// What the rows need besides the processes: the clock, the host, and uid → user name.
struct TopHost {
    int64_t now_s = 0;         // unix seconds
    uint64_t boot_time_s = 0;  // btime
    uint64_t ticks_per_s = 100;
    uint64_t mem_total_bytes = 0;
    uint64_t page_bytes = 4096;
    std::function<std::string(uid_t)> user_name;  // "" when unknown: the number is shown
};

struct TopTable {
    std::vector<std::string> titles;
    std::vector<std::vector<std::string>> processes;
};

TopTable top_table(const std::vector<kernel::ProcessInfo>& procs, TopFormat format,
                   const TopHost& host);
// The host's facts and its passwd names, read now.
TopHost current_top_host();
// docker top: the processes of `cgroup` read from /proc (one that exits meanwhile is left out).
Result<TopTable> top_of(const kernel::Cgroup& cgroup, TopFormat format);

}  // namespace berth::jobs
