// docker stats, top and update without a container: the cgroup statistics formats (v1 and v2
// samples as the kernel writes them), /proc parsing, the StatsResponse JSON from fake values and
// the CLI's CPU % arithmetic, ps columns, and dockerd's update rules and merge.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "jobs/container_stats.hpp"
#include "jobs/container_top.hpp"
#include "jobs/container_update.hpp"
#include "kernel/cgroup.hpp"
#include "kernel/proc_stat.hpp"

namespace berth {
namespace {

using kernel::BlkioEntry;
using simdjson::dom::element;

TEST(CgroupStatsFormat, memory_stat_and_cpu_stat_keep_the_kernel_order) {
    auto kv = kernel::cgroupfs::flat_keyed(
        "cache 9441280\nrss 6758400\nbad line here\n"
        "total_inactive_file 24576\n");
    ASSERT_EQ(kv.size(), 3u);
    EXPECT_EQ(kv[0], (std::pair<std::string, uint64_t>{"cache", 9441280}));
    EXPECT_EQ(kv[2], (std::pair<std::string, uint64_t>{"total_inactive_file", 24576}));
}

TEST(CgroupStatsFormat, v1_blkio_lines_become_entries_without_the_total) {
    auto e = kernel::cgroupfs::blkio_entries_v1(
        "8:0 Read 4096\n8:0 Write 8192\n8:16 Sync 1\n"
        "Total 12289\n");
    ASSERT_EQ(e.size(), 3u);
    EXPECT_EQ(e[0], (BlkioEntry{8, 0, "Read", 4096}));
    EXPECT_EQ(e[2], (BlkioEntry{8, 16, "Sync", 1}));
    EXPECT_TRUE(kernel::cgroupfs::blkio_entries_v1("Total 0\n").empty());
}

TEST(CgroupStatsFormat, v2_io_stat_gives_read_and_write_entries_per_device) {
    std::vector<BlkioEntry> bytes, ios;
    kernel::cgroupfs::io_stat_entries_v2(
        "254:0 rbytes=1024 wbytes=2048 rios=3 wios=4 dbytes=0 dios=0\n", bytes, ios);
    ASSERT_EQ(bytes.size(), 2u);
    EXPECT_EQ(bytes[0], (BlkioEntry{254, 0, "read", 1024}));
    EXPECT_EQ(bytes[1], (BlkioEntry{254, 0, "write", 2048}));
    EXPECT_EQ(ios[1], (BlkioEntry{254, 0, "write", 4}));
}

TEST(CgroupStatsFormat, percpu_usage_is_a_list_of_numbers) {
    EXPECT_EQ(kernel::cgroupfs::number_list("4734335260372 5340264519144 \n"),
              (std::vector<uint64_t>{4734335260372, 5340264519144}));
}

TEST(ProcStat, system_cpu_sums_seven_fields_in_ns_at_100_hz_and_counts_cpus) {
    auto cpu = kernel::parse_system_cpu(
        "cpu  813427 0 115311 863371 218012 0 1697 478 0 0\n"
        "cpu0 381508 0 52802 484128 86974 0 335 233 0 0\n"
        "cpu1 431918 0 62508 379243 131037 0 1362 244 0 0\nintr 1 2\nbtime 1700000000\n");
    ASSERT_TRUE(cpu);
    uint64_t ticks = 813427 + 0 + 115311 + 863371 + 218012 + 0 + 1697;  // steal left out
    EXPECT_EQ(cpu->usage_ns, ticks * 10000000);
    EXPECT_EQ(cpu->online_cpus, 2u);
    EXPECT_FALSE(kernel::parse_system_cpu("intr 1\n"));
}

TEST(ProcStat, process_stat_with_a_hostile_comm_status_and_cmdline) {
    auto p = kernel::parse_process_stat(
        "22692 (a) b (c) R 22686 22686 11769 34816 -1 4194304 98 0 0 0 250 50 0 0 20 0 1 0 "
        "1045359 3133440 390 18446744073709551615 0 0\n");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->pid, 22692);
    EXPECT_EQ(p->comm, "a) b (c");
    EXPECT_EQ(p->state, 'R');
    EXPECT_EQ(p->ppid, 22686);
    EXPECT_EQ(p->tty_nr, 34816);
    EXPECT_EQ(p->utime_ticks, 250u);
    EXPECT_EQ(p->stime_ticks, 50u);
    EXPECT_EQ(p->start_ticks, 1045359u);
    EXPECT_EQ(p->vsize_bytes, 3133440u);
    EXPECT_EQ(p->rss_pages, 390u);
    kernel::parse_process_status("Name:\tx\nUid:\t1000\t1001\t1000\t1000\n", *p);
    EXPECT_EQ(p->uid, 1001u);  // effective, as ps -ef shows
    EXPECT_EQ(kernel::parse_cmdline(std::string("sh\0-c\0sleep 5\0", 14)),
              (std::vector<std::string>{"sh", "-c", "sleep 5"}));
    EXPECT_FALSE(kernel::parse_process_stat("12 (x) R 1"));
}

jobs::StatsSample v1_sample() {
    jobs::StatsSample s;
    s.read_ns = 1700000001000000000;
    s.system_cpu_ns = 2000000000000;
    s.online_cpus = 2;
    kernel::CgroupStats& c = s.cgroup;
    c.memory_usage = 10 << 20;
    c.memory_max_usage = 12 << 20;
    c.memory_limit = 64 << 20;
    c.memory_failcnt = 3;
    c.memory_stat = {{"cache", 4096}, {"total_inactive_file", 2 << 20}};
    c.cpu_usage_ns = 3000000000;
    c.cpu_user_ns = 2000000000;
    c.cpu_system_ns = 1000000000;
    c.cpu_percpu_ns = {1000000000, 2000000000};
    c.cpu_periods = 10;
    c.cpu_throttled_periods = 2;
    c.cpu_throttled_ns = 5000;
    c.pids_current = 3;
    c.pids_limit = 50;
    c.io_service_bytes = {{8, 0, "Read", 4096}};
    return s;
}

TEST(StatsJson, running_container_has_dockers_shape_and_values) {
    jobs::StatsSample cur = v1_sample(), pre = v1_sample();
    pre.read_ns -= 1000000000;
    pre.cgroup.cpu_usage_ns -= 500000000;
    pre.system_cpu_ns -= 2000000000;
    std::string json = jobs::stats_json("web", "abc", &cur, &pre);
    simdjson::dom::parser parser;
    element doc;
    ASSERT_FALSE(parser.parse(json).get(doc)) << json;
    EXPECT_EQ(std::string_view(doc["read"]), "2023-11-14T22:13:21Z");
    EXPECT_EQ(std::string_view(doc["preread"]), "2023-11-14T22:13:20Z");
    EXPECT_EQ(std::string_view(doc["name"]), "/web");
    EXPECT_EQ(std::string_view(doc["id"]), "abc");
    EXPECT_EQ(uint64_t(doc["pids_stats"]["current"]), 3u);
    EXPECT_EQ(uint64_t(doc["pids_stats"]["limit"]), 50u);
    EXPECT_EQ(uint64_t(doc["num_procs"]), 0u);
    EXPECT_EQ(uint64_t(doc["cpu_stats"]["cpu_usage"]["total_usage"]), 3000000000u);
    EXPECT_EQ(uint64_t(doc["cpu_stats"]["cpu_usage"]["usage_in_kernelmode"]), 1000000000u);
    EXPECT_EQ(uint64_t(doc["cpu_stats"]["cpu_usage"]["usage_in_usermode"]), 2000000000u);
    EXPECT_EQ(simdjson::dom::array(doc["cpu_stats"]["cpu_usage"]["percpu_usage"]).size(), 2u);
    EXPECT_EQ(uint64_t(doc["cpu_stats"]["system_cpu_usage"]), 2000000000000u);
    EXPECT_EQ(uint64_t(doc["cpu_stats"]["online_cpus"]), 2u);
    EXPECT_EQ(uint64_t(doc["cpu_stats"]["throttling_data"]["throttled_periods"]), 2u);
    EXPECT_EQ(uint64_t(doc["precpu_stats"]["cpu_usage"]["total_usage"]), 2500000000u);
    EXPECT_EQ(uint64_t(doc["memory_stats"]["usage"]), uint64_t(10 << 20));
    EXPECT_EQ(uint64_t(doc["memory_stats"]["max_usage"]), uint64_t(12 << 20));
    EXPECT_EQ(uint64_t(doc["memory_stats"]["limit"]), uint64_t(64 << 20));
    EXPECT_EQ(uint64_t(doc["memory_stats"]["failcnt"]), 3u);
    EXPECT_EQ(uint64_t(doc["memory_stats"]["stats"]["total_inactive_file"]), uint64_t(2 << 20));
    element entry = doc["blkio_stats"]["io_service_bytes_recursive"].at(0);
    EXPECT_EQ(std::string_view(entry["op"]), "Read");
    EXPECT_EQ(uint64_t(entry["value"]), 4096u);
    EXPECT_TRUE(doc["blkio_stats"]["io_serviced_recursive"].is_null());
    EXPECT_TRUE(doc["blkio_stats"]["sectors_recursive"].is_null());
    EXPECT_EQ(json.find("networks"), std::string::npos);  // no networking: omitted
}

TEST(StatsJson, read_times_are_rfc3339_and_preread_is_zero_without_a_previous_sample) {
    jobs::StatsSample cur = v1_sample();
    cur.read_ns = 1700000000123456789;
    std::string json = jobs::stats_json("web", "abc", &cur, nullptr);
    EXPECT_NE(json.find("\"read\":\"2023-11-14T22:13:20.123456789Z\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"preread\":\"0001-01-01T00:00:00Z\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":0,"
                        "\"usage_in_kernelmode\":0,\"usage_in_usermode\":0},"
                        "\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,"
                        "\"throttled_time\":0}}"),
              std::string::npos)
        << json;
}

TEST(StatsJson, a_stopped_container_gives_dockers_empty_object) {
    EXPECT_EQ(jobs::stats_json("web", "abc", nullptr, nullptr),
              "{\"read\":\"0001-01-01T00:00:00Z\",\"preread\":\"0001-01-01T00:00:00Z\","
              "\"pids_stats\":{},\"blkio_stats\":{\"io_service_bytes_recursive\":null,"
              "\"io_serviced_recursive\":null,\"io_queue_recursive\":null,"
              "\"io_service_time_recursive\":null,\"io_wait_time_recursive\":null,"
              "\"io_merged_recursive\":null,\"io_time_recursive\":null,"
              "\"sectors_recursive\":null},\"num_procs\":0,\"storage_stats\":{},"
              "\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":0,\"usage_in_kernelmode\":0,"
              "\"usage_in_usermode\":0},\"throttling_data\":{\"periods\":0,"
              "\"throttled_periods\":0,\"throttled_time\":0}},\"precpu_stats\":{\"cpu_usage\":{"
              "\"total_usage\":0,\"usage_in_kernelmode\":0,\"usage_in_usermode\":0},"
              "\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
              "\"memory_stats\":{},\"name\":\"/web\",\"id\":\"abc\"}");
}

TEST(StatsJson, v2_memory_stats_have_no_max_usage) {
    jobs::StatsSample cur = v1_sample();
    cur.cgroup.unified = true;
    cur.cgroup.cpu_percpu_ns.clear();
    std::string json = jobs::stats_json("web", "abc", &cur, nullptr);
    EXPECT_EQ(json.find("max_usage"), std::string::npos) << json;
    EXPECT_EQ(json.find("percpu_usage"), std::string::npos) << json;
}

TEST(StatsCpuPercent, the_clis_formula_on_two_samples) {
    jobs::StatsSample pre = v1_sample(), cur = v1_sample();
    // Half a CPU-second used while the host's two CPUs ran two seconds in all (1 s of wall time).
    cur.cgroup.cpu_usage_ns += 500000000;
    cur.system_cpu_ns += 2000000000;
    EXPECT_DOUBLE_EQ(jobs::cpu_percent(cur, pre), 50.0);
    cur.online_cpus = 0;  // the CLI falls back to the percpu list's length
    EXPECT_DOUBLE_EQ(jobs::cpu_percent(cur, pre), 50.0);
    EXPECT_DOUBLE_EQ(jobs::cpu_percent(pre, pre), 0.0);  // no system delta: 0, never NaN
    EXPECT_DOUBLE_EQ(jobs::cpu_percent(pre, cur), 0.0);
}

TEST(StatsCpuPercent, memory_usage_leaves_out_the_inactive_file_cache) {
    kernel::CgroupStats s = v1_sample().cgroup;
    EXPECT_EQ(jobs::memory_usage_no_cache(s), uint64_t(8 << 20));
    s.memory_stat = {{"inactive_file", 1 << 20}};  // v2's key
    EXPECT_EQ(jobs::memory_usage_no_cache(s), uint64_t(9 << 20));
    s.memory_stat = {{"inactive_file", 11 << 20}};  // more than usage: usage as it is
    EXPECT_EQ(jobs::memory_usage_no_cache(s), uint64_t(10 << 20));
}

jobs::TopHost fixed_host() {
    jobs::TopHost h;
    h.boot_time_s = 1700000000;
    h.now_s = 1700000000 + 1000;  // 1000 s after boot
    h.ticks_per_s = 100;
    h.mem_total_bytes = uint64_t(1) << 30;
    h.page_bytes = 4096;
    h.user_name = [](uid_t uid) { return uid == 0 ? std::string("root") : std::string(); };
    return h;
}

kernel::ProcessInfo process(pid_t pid, uid_t uid, std::vector<std::string> argv) {
    kernel::ProcessInfo p;
    p.pid = pid;
    p.ppid = 1;
    p.uid = uid;
    p.state = 'S';
    p.start_ticks = 900 * 100;  // started 100 s ago
    p.utime_ticks = 2500;       // 25 s of user time + 5 s of system time: 30% of a CPU
    p.stime_ticks = 500;
    p.vsize_bytes = 4 << 20;
    p.rss_pages = 256;
    p.comm = "sh";
    p.argv = std::move(argv);
    return p;
}

TEST(Top, ps_ef_columns_from_proc) {
    setenv("TZ", "UTC", 1);
    tzset();
    auto t = jobs::top_table({process(42, 1234, {"sleep", "60"}), process(7, 0, {"sh"})},
                             jobs::TopFormat::full, fixed_host());
    EXPECT_EQ(t.titles,
              (std::vector<std::string>{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}));
    ASSERT_EQ(t.processes.size(), 2u);
    // Sorted by pid; a uid without a name shows as the number.
    EXPECT_EQ(t.processes[0],
              (std::vector<std::string>{"root", "7", "1", "30", "22:28", "?", "00:00:30", "sh"}));
    EXPECT_EQ(t.processes[1][0], "1234");
    EXPECT_EQ(t.processes[1][7], "sleep 60");
}

TEST(Top, ps_aux_columns_and_kernel_style_names) {
    setenv("TZ", "UTC", 1);
    tzset();
    auto p = process(7, 0, {});
    p.tty_nr = (136 << 8) | 3;  // pts/3
    auto t = jobs::top_table({p}, jobs::TopFormat::bsd, fixed_host());
    ASSERT_EQ(t.titles.size(), 11u);
    EXPECT_EQ(t.processes[0], (std::vector<std::string>{"root", "7", "30.0", "0.0", "4096", "1024",
                                                        "pts/3", "S", "22:28", "0:30", "[sh]"}));
}

TEST(Top, ps_args_berth_understands_and_the_rest_refused) {
    for (const char* a : {"", "-ef", "ef", "-e -f", "-A", "-f"})
        EXPECT_EQ(jobs::top_format(a).value_or(jobs::TopFormat::bsd), jobs::TopFormat::full) << a;
    for (const char* a : {"aux", "-aux", "ux", "a"})
        EXPECT_EQ(jobs::top_format(a).value_or(jobs::TopFormat::full), jobs::TopFormat::bsd) << a;
    auto bad = jobs::top_format("-o pid,comm");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::invalid_parameter);
    EXPECT_NE(bad.error().message.find("is not supported"), std::string::npos);
}

// ---- update ----

constexpr int64_t mib = int64_t(1) << 20;

TEST(Update, resources_merge_into_the_stored_host_config_and_become_limits) {
    std::string stored = R"({"NetworkMode":"default","Memory":67108864,"PidsLimit":null})";
    auto m = jobs::merge_update(
        stored, R"({"Memory":104857600,"MemorySwap":0,"NanoCpus":500000000,"PidsLimit":50,
                   "CpuShares":0,"CpusetCpus":"","BlkioWeightDevice":null,"Ulimits":null,
                   "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}})",
        "c1", 2);
    ASSERT_TRUE(m) << m.error().message;
    simdjson::dom::parser parser;
    element hc;
    ASSERT_FALSE(parser.parse(m->host_config_json).get(hc)) << m->host_config_json;
    EXPECT_EQ(std::string_view(hc["NetworkMode"]), "default");  // untouched fields stay
    EXPECT_EQ(int64_t(hc["Memory"]), 100 * mib);
    EXPECT_EQ(int64_t(hc["MemorySwap"]), 128 * mib);  // what dockerd stored at create (2×64m)
    EXPECT_EQ(int64_t(hc["NanoCpus"]), 500000000);
    EXPECT_EQ(int64_t(hc["PidsLimit"]), 50);
    EXPECT_EQ(std::string_view(hc["RestartPolicy"]["Name"]), "on-failure");
    EXPECT_EQ(int64_t(hc["RestartPolicy"]["MaximumRetryCount"]), 3);
    EXPECT_EQ(m->limits.memory, 100 * mib);
    EXPECT_EQ(m->limits.memory_swap, 128 * mib);
    EXPECT_EQ(m->limits.cpu_quota, 50000);
    EXPECT_EQ(m->limits.cpu_period, 100000u);
    EXPECT_EQ(m->limits.pids_limit, 50);
    EXPECT_TRUE(m->warnings.empty());
}

TEST(Update, pids_limit_zero_or_negative_means_unlimited) {
    auto m = jobs::merge_update(R"({"PidsLimit":50})", R"({"PidsLimit":-1})", "c1", 2);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_NE(m->host_config_json.find("\"PidsLimit\":0"), std::string::npos);
    EXPECT_EQ(m->limits.pids_limit, -1);  // "max" in pids.max
}

TEST(Update, dockerds_checks_of_the_request_are_400s) {
    auto msg = [](const char* update, int cpus = 2) {
        auto m = jobs::merge_update("{}", update, "c1", cpus);
        EXPECT_FALSE(m) << update;
        if (m) return std::string();
        EXPECT_EQ(m.error().kind, ErrorKind::invalid_parameter) << update;
        return m.error().message;
    };
    EXPECT_EQ(msg(R"({"Memory":1048576})"), "Minimum memory limit allowed is 6MB");
    EXPECT_EQ(msg(R"({"Memory":104857600,"MemorySwap":52428800})"),
              "Minimum memoryswap limit should be larger than memory limit, see usage");
    EXPECT_EQ(msg(R"({"NanoCpus":500000000,"CpuQuota":50000})"),
              "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    EXPECT_EQ(msg(R"({"NanoCpus":3000000000})"),
              "range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    EXPECT_EQ(
        msg(R"({"CpuPeriod":10})"),
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    EXPECT_EQ(msg(R"({"BlkioWeight":5})"), "Range of blkio weight is from 10 to 1000");
    EXPECT_NE(msg(R"({"RestartPolicy":{"Name":"sometimes"}})").find("unknown policy 'sometimes'"),
              std::string::npos);
    EXPECT_NE(msg(R"({"Memory":"lots"})").find("Memory"), std::string::npos);
    EXPECT_NE(msg("[1]").find("invalid JSON"), std::string::npos);
    EXPECT_NE(msg(R"({"Ulimits":[{"Name":"nofile","Soft":1,"Hard":1}]})").find("Ulimits"),
              std::string::npos);
}

TEST(Update, conflicts_with_the_stored_config_are_409s_naming_the_container) {
    auto msg = [](const char* stored, const char* update) {
        auto m = jobs::merge_update(stored, update, "c1", 2);
        EXPECT_FALSE(m) << update;
        if (m) return std::string();
        EXPECT_EQ(m.error().kind, ErrorKind::conflict) << update;
        return m.error().message;
    };
    EXPECT_EQ(msg(R"({"NanoCpus":500000000})", R"({"CpuQuota":20000})"),
              "Cannot update container c1: Conflicting options: CPU Quota cannot be updated as "
              "NanoCPUs has already been set");
    EXPECT_EQ(msg(R"({"CpuPeriod":50000})", R"({"NanoCpus":500000000})"),
              "Cannot update container c1: Conflicting options: Nano CPUs cannot be updated as "
              "CPU Period has already been set");
    // No memory limit, so no swap limit: dockerd wants MemorySwap with the new Memory.
    EXPECT_EQ(msg("{}", R"({"Memory":104857600})"),
              "Cannot update container c1: Memory limit should be smaller than already set "
              "memoryswap limit, update the memoryswap at the same time");
    EXPECT_EQ(msg(R"({"AutoRemove":true})", R"({"RestartPolicy":{"Name":"always"}})"),
              "Cannot update container c1: Restart policy cannot be updated because AutoRemove "
              "is enabled for the container");
    // With the swap given too, the same update is fine.
    EXPECT_TRUE(jobs::merge_update("{}", R"({"Memory":104857600,"MemorySwap":-1})", "c1", 2));
}

TEST(Update, an_empty_update_changes_nothing) {
    auto m = jobs::merge_update(R"({"Memory":67108864,"Binds":["/a:/b"]})", "", "c1", 2);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->host_config_json, R"({"Memory":67108864,"Binds":["/a:/b"]})");
}

}  // namespace
}  // namespace berth
