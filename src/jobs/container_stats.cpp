// StatsResponse as dockerd encodes it: Go's field order, its omitempty rules (percpu_usage,
// system_cpu_usage, online_cpus, the memory fields, pids), nulls for the blkio lists a host
// does not give, and the zero time "0001-01-01T00:00:00Z" for an absent read/preread.
#include "jobs/container_stats.hpp"

#include <optional>

#include "base/json.hpp"
#include "base/time.hpp"
#include "kernel/proc_stat.hpp"

namespace berth::jobs {

namespace {

constexpr std::string_view zero_time = "0001-01-01T00:00:00Z";

std::string time_or_zero(const StatsSample* s) {
    return s ? rfc3339_nano(s->read_ns) : std::string(zero_time);
}

void blkio_list(JsonWriter& w, std::string_view key, const std::vector<kernel::BlkioEntry>& l) {
    w.key(key);
    if (l.empty()) {
        w.null();
        return;
    }
    w.begin_array();
    for (const kernel::BlkioEntry& e : l) {
        w.begin_object().field("major", e.major).field("minor", e.minor).field("op", e.op);
        w.field("value", e.value).end_object();
    }
    w.end_array();
}

void blkio_stats(JsonWriter& w, const StatsSample* s) {
    static const std::vector<kernel::BlkioEntry> none;
    w.key("blkio_stats").begin_object();
    blkio_list(w, "io_service_bytes_recursive", s ? s->cgroup.io_service_bytes : none);
    blkio_list(w, "io_serviced_recursive", s ? s->cgroup.io_serviced : none);
    for (std::string_view k :
         {"io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive",
          "io_merged_recursive", "io_time_recursive", "sectors_recursive"})
        w.field_null(k);
    w.end_object();
}

void cpu_stats(JsonWriter& w, std::string_view key, const StatsSample* s) {
    const kernel::CgroupStats empty;
    const kernel::CgroupStats& c = s ? s->cgroup : empty;
    w.key(key).begin_object().key("cpu_usage").begin_object();
    w.field("total_usage", c.cpu_usage_ns);
    if (!c.cpu_percpu_ns.empty()) {
        w.key("percpu_usage").begin_array();
        for (uint64_t v : c.cpu_percpu_ns) w.value(v);
        w.end_array();
    }
    w.field("usage_in_kernelmode", c.cpu_system_ns).field("usage_in_usermode", c.cpu_user_ns);
    w.end_object();
    if (s && s->system_cpu_ns) w.field("system_cpu_usage", s->system_cpu_ns);
    if (s && s->online_cpus) w.field("online_cpus", s->online_cpus);
    w.key("throttling_data").begin_object().field("periods", c.cpu_periods);
    w.field("throttled_periods", c.cpu_throttled_periods);
    w.field("throttled_time", c.cpu_throttled_ns).end_object();
    w.end_object();
}

void memory_stats(JsonWriter& w, const StatsSample* s) {
    w.key("memory_stats").begin_object();
    if (s) {
        const kernel::CgroupStats& c = s->cgroup;
        w.field("usage", c.memory_usage);
        if (c.memory_max_usage && !c.unified) w.field("max_usage", c.memory_max_usage);
        w.key("stats").begin_object();
        for (const auto& [k, v] : c.memory_stat) w.field(k, v);
        w.end_object();
        if (c.memory_failcnt) w.field("failcnt", c.memory_failcnt);
        w.field("limit", c.memory_limit);
    }
    w.end_object();
}

}  // namespace

Result<StatsSample> take_stats_sample(const kernel::Cgroup& cgroup, int64_t now_ns) {
    StatsSample s;
    s.read_ns = now_ns;
    auto cg = cgroup.stats();
    if (!cg) return fail(std::move(cg.error()));
    s.cgroup = std::move(*cg);
    // Sampled right after the cgroup, as dockerd does, so the two deltas cover the same time.
    auto cpu = kernel::system_cpu();
    if (!cpu) return fail(std::move(cpu.error()));
    s.system_cpu_ns = cpu->usage_ns;
    s.online_cpus = cpu->online_cpus;
    return s;
}

std::string stats_json(std::string_view name, std::string_view id, const StatsSample* cur,
                       const StatsSample* pre) {
    JsonWriter w;
    w.begin_object().field("read", time_or_zero(cur));
    w.field("preread", cur ? time_or_zero(pre) : std::string(zero_time));
    w.key("pids_stats").begin_object();
    if (cur) {
        w.field("current", cur->cgroup.pids_current);
        if (cur->cgroup.pids_limit) w.field("limit", cur->cgroup.pids_limit);
    }
    w.end_object();
    blkio_stats(w, cur);
    w.field("num_procs", 0).key("storage_stats").begin_object().end_object();
    cpu_stats(w, "cpu_stats", cur);
    cpu_stats(w, "precpu_stats", cur ? pre : nullptr);
    memory_stats(w, cur);
    w.field("name", "/" + std::string(name)).field("id", id);
    w.end_object();
    return w.take();
}

double cpu_percent(const StatsSample& cur, const StatsSample& pre) {
    if (cur.cgroup.cpu_usage_ns <= pre.cgroup.cpu_usage_ns) return 0;
    if (cur.system_cpu_ns <= pre.system_cpu_ns) return 0;
    double cpu_delta = double(cur.cgroup.cpu_usage_ns - pre.cgroup.cpu_usage_ns);
    double system_delta = double(cur.system_cpu_ns - pre.system_cpu_ns);
    double cpus = cur.online_cpus ? cur.online_cpus : double(cur.cgroup.cpu_percpu_ns.size());
    return cpu_delta / system_delta * cpus * 100.0;
}

uint64_t memory_usage_no_cache(const kernel::CgroupStats& s) {
    auto find = [&](std::string_view key) -> std::optional<uint64_t> {
        for (const auto& [k, v] : s.memory_stat)
            if (k == key) return v;
        return std::nullopt;
    };
    if (auto v = find("total_inactive_file"); v && *v < s.memory_usage) return s.memory_usage - *v;
    if (auto v = find("inactive_file"); v && *v < s.memory_usage) return s.memory_usage - *v;
    return s.memory_usage;
}

}  // namespace berth::jobs
