// docker stats: a sample of a running container's cgroup with the host's CPU time, and the JSON
// of Docker's StatsResponse built from two samples. The numbers come from kernel::Cgroup::stats();
// this file only shapes them, so the shape and the CLI's arithmetic are tested on fake values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "kernel/cgroup.hpp"

namespace berth::jobs {

struct StatsSample {
    int64_t read_ns = 0;  // wall clock when sampled
    kernel::CgroupStats cgroup;
    uint64_t system_cpu_ns = 0;  // /proc/stat as Docker sums it
    uint32_t online_cpus = 0;
};

// Reads the cgroup and /proc/stat now (a few small files: cheap enough for the loop).
Result<StatsSample> take_stats_sample(const kernel::Cgroup& cgroup, int64_t now_ns);

// One StatsResponse object (no trailing newline). `name` is without the leading '/'.
// `cur` null: the container is not running, and the object is Docker's empty one (zero times
// and counters). `pre` null: precpu_stats are zero and preread is the zero time, as in a
// stream's first object or a one-shot answer.
std::string stats_json(std::string_view name, std::string_view id, const StatsSample* cur,
                       const StatsSample* pre);

// The docker CLI's CPU %: Δcontainer / Δsystem × online CPUs × 100; 0 unless both deltas are
// positive. What `docker stats` will show for these two samples.
double cpu_percent(const StatsSample& cur, const StatsSample& pre);
// The CLI's MEM USAGE: usage minus the inactive page cache (v1 total_inactive_file, v2
// inactive_file), when that is smaller than usage.
uint64_t memory_usage_no_cache(const kernel::CgroupStats& s);

}  // namespace berth::jobs
