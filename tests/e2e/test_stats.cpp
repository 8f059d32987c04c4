// docker stats, top and update through the real docker CLI (and the raw API where the CLI hides
// the shape): real numbers from the container's cgroup, ps columns from /proc, limits written
// to the running cgroup (seen from inside the container) and kept in HostConfig.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class StatsTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
    }
    // A daemon stopped gracefully kills what still runs; SIGKILLed, it would leave it running.
    void TearDown() override {
        if (daemon.running()) {
            EXPECT_EQ(daemon.stop(), 0);
    }
    }
    // Polls `docker <args>` until its output holds `want` (a condition, not a timing: gives up
    // after 20 s); returns the last output.
    std::string until_output_has(const std::string& args, const std::string& want) {
        std::string out;
        for (int i = 0; i < 100; ++i) {
            out = d(args).output;
            if (out.find(want) != std::string::npos) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        return out;
    }
};

double percent(const std::string& s) {
    return s.empty() ? -1 : std::atof(s.c_str());
}

}  // namespace

TEST_F(StatsTest, stats_no_stream_shows_cpu_memory_limit_and_pids) {
    ASSERT_EQ(d("run -d --name busy -m 64m busybox sh -c 'busybox sleep 1000 & busybox sleep "
                "1000 & while :; do :; done'")
                  .exit_code,
              0);
    until_output_has("top busy", "sleep 1000\n");  // both children forked (top's last row)
    auto s = d("stats --no-stream --format '{{json .}}' busy");
    ASSERT_EQ(s.exit_code, 0) << s.error;
    EXPECT_EQ(json_field(s.output, "Name"), "busy") << s.output;
    EXPECT_GT(percent(json_field(s.output, "CPUPerc")), 0.0) << s.output;  // a busy loop
    std::string mem = json_field(s.output, "MemUsage");
    EXPECT_TRUE(mem.ends_with(" / 64MiB")) << s.output;
    EXPECT_FALSE(mem.starts_with("0B")) << s.output;
    EXPECT_GT(percent(json_field(s.output, "MemPerc")), 0.0) << s.output;
    EXPECT_EQ(json_field(s.output, "PIDs"), "3") << s.output;
}

TEST_F(StatsTest, without_a_memory_limit_the_limit_is_the_hosts_memory) {
    ASSERT_EQ(d("run -d --name idle busybox sleep 1000").exit_code, 0);
    auto s = d("stats --no-stream --format '{{.MemUsage}}|{{.PIDs}}' idle");
    ASSERT_EQ(s.exit_code, 0) << s.error;
    auto info = d("info --format '{{.MemTotal}}'");
    double total_gib = std::atof(info.output.c_str()) / double(1 << 30);
    std::string limit = s.output.substr(s.output.find(" / ") + 3);
    EXPECT_TRUE(limit.find("GiB") != std::string::npos || limit.find("MiB") != std::string::npos)
        << s.output;
    if (limit.find("GiB") != std::string::npos) {
        EXPECT_NEAR(std::atof(limit.c_str()), total_gib, 0.01) << s.output;
    }
    EXPECT_TRUE(s.output.ends_with("|1\n")) << s.output;
}

TEST_F(StatsTest, a_stopped_container_shows_zeros) {
    ASSERT_EQ(d("create --name idle busybox").exit_code, 0);
    auto s = d("stats --no-stream --format '{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}' idle");
    ASSERT_EQ(s.exit_code, 0) << s.error;
    EXPECT_EQ(s.output, "0.00%|0B / 0B|0\n");
    auto api = http_get(daemon.socket_path(), "/containers/idle/stats?stream=false");
    EXPECT_EQ(api.status, 200);
    EXPECT_NE(api.body.find("\"read\":\"0001-01-01T00:00:00Z\""), std::string::npos) << api.body;
    EXPECT_NE(api.body.find("\"name\":\"/idle\""), std::string::npos) << api.body;
    EXPECT_EQ(http_get(daemon.socket_path(), "/containers/nosuch/stats?stream=0").status, 404);
}

TEST_F(StatsTest, api_one_shot_has_no_precpu_and_the_default_has_a_second_earlier_sample) {
    ASSERT_EQ(d("run -d --name busy busybox sh -c 'while :; do :; done'").exit_code, 0);
    auto one = http_get(daemon.socket_path(), "/containers/busy/stats?stream=false&one-shot=true");
    ASSERT_EQ(one.status, 200) << one.body;
    EXPECT_NE(one.body.find("\"preread\":\"0001-01-01T00:00:00Z\""), std::string::npos) << one.body;
    EXPECT_NE(one.body.find("\"online_cpus\":"), std::string::npos) << one.body;
    auto two = http_get(daemon.socket_path(), "/containers/busy/stats?stream=false");
    ASSERT_EQ(two.status, 200) << two.body;
    EXPECT_EQ(two.body.find("\"preread\":\"0001-01-01T00:00:00Z\""), std::string::npos) << two.body;
    std::string pre = two.body.substr(two.body.find("\"precpu_stats\""));
    EXPECT_NE(json_field(pre, "system_cpu_usage"), "") << two.body;
    EXPECT_NE(json_field(pre, "total_usage"), "0") << two.body;
    EXPECT_NE(two.body.find("\"memory_stats\":{\"usage\":"), std::string::npos) << two.body;
}

TEST_F(StatsTest, a_stream_sends_an_object_per_interval_and_ends_when_the_container_exits) {
    ASSERT_EQ(d("run -d --name busy busybox sleep 1000").exit_code, 0);
    RawClient c(daemon.socket_path());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /containers/busy/stats HTTP/1.1\r\nHost: berth\r\n\r\n"));
    std::string got;
    for (int i = 0; i < 50; ++i) {
        size_t objects = 0;
        for (size_t at = got.find("\"read\":"); at != std::string::npos;
             at = got.find("\"read\":", at + 1))
            ++objects;
        if (objects >= 2) break;
        got += c.read_some(Millis(500));
    }
    EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos) << got;
    std::string second = got.substr(got.find("\"read\":", got.find("\"read\":") + 1));
    // From the second object on, precpu holds the previous sample.
    EXPECT_EQ(second.find("\"preread\":\"0001-01-01T00:00:00Z\""), std::string::npos) << got;
    ASSERT_EQ(d("kill busy").exit_code, 0);
    std::string rest = c.read_until("\r\n0\r\n\r\n", Millis(10000));
    EXPECT_NE(rest.find("\"read\":\"0001-01-01T00:00:00Z\""), std::string::npos) << rest;
    EXPECT_NE(rest.find("\r\n0\r\n\r\n"), std::string::npos) << rest;  // the stream's end
}

TEST_F(StatsTest, a_client_that_leaves_a_stream_leaves_nothing_behind) {
    ASSERT_EQ(d("run -d --name busy busybox sleep 1000").exit_code, 0);
    for (int i = 0; i < 5; ++i) {
        RawClient c(daemon.socket_path());
        ASSERT_TRUE(c.send("GET /containers/busy/stats HTTP/1.1\r\nHost: berth\r\n\r\n"));
        EXPECT_NE(c.read_until("\"read\":", Millis(5000)).find("\"read\":"), std::string::npos);
        c.close();
    }
    // The daemon keeps serving; the streams' timers went with their clients.
    auto s = d("stats --no-stream --format '{{.PIDs}}' busy");
    EXPECT_EQ(s.output, "1\n") << s.error;
    EXPECT_EQ(d("rm -f busy").exit_code, 0);
    EXPECT_EQ(daemon.stop(), 0);  // a graceful stop with nothing left in flight
}

TEST_F(StatsTest, top_lists_the_containers_processes_with_ps_ef_columns) {
    ASSERT_EQ(
        d("run -d --name tops busybox sh -c 'busybox sleep 1000 & busybox sleep 2000'").exit_code,
        0);
    std::string out = until_output_has("top tops", "sleep 2000");
    auto lines = std::count(out.begin(), out.end(), '\n');
    EXPECT_EQ(lines, 3) << out;  // the title and two processes (sh exec'd the last sleep)
    EXPECT_TRUE(out.starts_with("UID")) << out;
    for (const char* title : {"PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"})
        EXPECT_NE(out.substr(0, out.find('\n')).find(title), std::string::npos) << out;
    std::string pid = d("inspect tops --format '{{.State.Pid}}'").output;
    pid.pop_back();
    EXPECT_NE(out.find("root "), std::string::npos) << out;
    EXPECT_NE(out.find(" " + pid + " "), std::string::npos) << out;  // host pids, as Docker
    auto aux = d("top tops aux");
    ASSERT_EQ(aux.exit_code, 0) << aux.error;
    EXPECT_TRUE(aux.output.starts_with("USER")) << aux.output;
    EXPECT_NE(aux.output.find("%MEM"), std::string::npos) << aux.output;
    auto bad = d("top tops -o pid");
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.error.find("is not supported"), std::string::npos) << bad.error;
}

TEST_F(StatsTest, top_of_a_stopped_container_is_a_409) {
    ASSERT_EQ(d("create --name idle busybox").exit_code, 0);
    auto r = d("top idle");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("is not running"), std::string::npos) << r.error;
    EXPECT_EQ(http_get(daemon.socket_path(), "/containers/idle/top").status, 409);
    EXPECT_EQ(http_get(daemon.socket_path(), "/containers/nosuch/top").status, 404);
}

TEST_F(StatsTest, update_writes_the_running_cgroup_and_inspect_shows_it) {
    // The container prints its own cgroup files (v1 paths, else v2) every 0.2 s.
    std::string script =
        "while :; do "
        "m=$(busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
        "busybox cat /sys/fs/cgroup/memory.max); "
        "p=$(busybox cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
        "busybox cat /sys/fs/cgroup/pids.max); "
        "c=$(busybox cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || "
        "busybox cat /sys/fs/cgroup/cpu.max); "
        "echo \"M=$m P=$p C=$c\"; busybox sleep 0.2; done";
    ASSERT_EQ(d("run -d --name upd -m 64m busybox sh -c '" + script + "'").exit_code, 0);
    EXPECT_NE(until_output_has("logs --tail 1 upd", "M=67108864 P=max").find("M=67108864"),
              std::string::npos);
    auto u = d("update --memory 100m --cpus 0.5 --pids-limit 50 upd");
    ASSERT_EQ(u.exit_code, 0) << u.error;
    EXPECT_EQ(u.output, "upd\n");
    auto i =
        d("inspect upd --format '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} "
          "{{.HostConfig.PidsLimit}} {{.HostConfig.MemorySwap}}'");
    EXPECT_EQ(i.output, "104857600 500000000 50 134217728\n");
    std::string seen = until_output_has("logs --tail 1 upd", "M=104857600 P=50 C=50000");
    EXPECT_NE(seen.find("M=104857600 P=50 C=50000"), std::string::npos) << seen;
    auto s = d("stats --no-stream --format '{{.MemUsage}}' upd");
    EXPECT_TRUE(s.output.ends_with(" / 100MiB\n")) << s.output;
}

TEST_F(StatsTest, update_of_a_stopped_container_applies_at_the_next_start) {
    std::string script =
        "busybox cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
        "busybox cat /sys/fs/cgroup/pids.max";
    ASSERT_EQ(d("create --name later busybox sh -c '" + script + "'").exit_code, 0);
    auto u = d("update --pids-limit 20 --restart on-failure:2 later");
    ASSERT_EQ(u.exit_code, 0) << u.error;
    EXPECT_EQ(
        d("inspect later --format '{{.HostConfig.PidsLimit}} "
          "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}'")
            .output,
        "20 on-failure 2\n");
    auto r = d("start -a later");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, "20\n");
}

TEST_F(StatsTest, update_errors_are_dockers) {
    ASSERT_EQ(d("run -d --name upd busybox sleep 1000").exit_code, 0);
    auto tiny = d("update --memory 1m upd");
    EXPECT_NE(tiny.exit_code, 0);
    EXPECT_NE(tiny.error.find("Minimum memory limit allowed is 6MB"), std::string::npos)
        << tiny.error;
    auto swap = d("update --memory 100m upd");  // no limit before: dockerd wants --memory-swap
    EXPECT_NE(swap.exit_code, 0);
    EXPECT_NE(swap.error.find("update the memoryswap at the same time"), std::string::npos)
        << swap.error;
    auto none = d("update --memory 100m nosuch");
    EXPECT_NE(none.exit_code, 0);
    EXPECT_NE(none.error.find("No such container"), std::string::npos) << none.error;
    auto cpus = d("update --cpus 1000 upd");
    EXPECT_NE(cpus.exit_code, 0);
    EXPECT_NE(cpus.error.find("range of CPUs is from 0.01"), std::string::npos) << cpus.error;
    EXPECT_EQ(d("inspect upd --format '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}'").output,
              "0 0\n");  // nothing stored from refused updates
}

TEST_F(StatsTest, memory_below_current_usage_is_refused_and_the_old_limit_kept) {
    // 40 MiB in a tmpfs file is charged to the container and cannot be reclaimed (no swap
    // here; with swap it could be pushed out, and the update would be allowed).
    std::ifstream swaps("/proc/swaps");
    std::string header, device;
    std::getline(swaps, header);
    if (std::getline(swaps, device) && !device.empty()) GTEST_SKIP() << "the host has swap";
    ASSERT_EQ(d("run -d --name full -m 128m --memory-swap 128m busybox sh -c 'busybox dd "
                "if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; echo filled; "
                "busybox sleep 1000'")
                  .exit_code,
              0);
    until_output_has("logs full", "filled");
    auto u = d("update --memory 16m --memory-swap 16m full");
    EXPECT_NE(u.exit_code, 0);
    EXPECT_NE(u.error.find("Cannot update container"), std::string::npos) << u.error;
    EXPECT_EQ(d("inspect full --format '{{.HostConfig.Memory}}'").output, "134217728\n");
    auto s = d("stats --no-stream --format '{{.MemUsage}}' full");
    EXPECT_TRUE(s.output.ends_with(" / 128MiB\n"))
        << s.output << s.error << u.error << d("inspect full --format '{{json .State}}'").output
        << d("logs full").output;
}
