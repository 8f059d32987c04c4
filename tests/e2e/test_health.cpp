// Healthchecks through the CLI: --health-cmd probes run in the container, State.Health moves
// starting → healthy / unhealthy as dockerd's does, timeouts, events, Docker's refusals.
#include <gtest/gtest.h>
#include <unistd.h>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class HealthTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
    }
    std::string inspect(const std::string& name, const std::string& format) {
        return d("inspect " + name + " --format '" + format + "'").output;
    }
    bool eventually(const std::string& name, const std::string& format, const std::string& want) {
        for (int i = 0; i < 100; ++i) {
            if (inspect(name, format) == want) return true;
            usleep(100000);
        }
        return false;
    }
};

}  // namespace

TEST_F(HealthTest, a_passing_check_makes_the_container_healthy) {
    auto since = run_command("date +%s").output;
    since.pop_back();
    ASSERT_EQ(d("run -d --name ok --health-cmd 'echo fine; test -d /proc/1' "
                "--health-interval 100ms busybox sleep 1000")
                  .exit_code,
              0);
    EXPECT_EQ(inspect("ok", "{{json .Config.Healthcheck.Test}}"),
              "[\"CMD-SHELL\",\"echo fine; test -d /proc/1\"]\n");
    EXPECT_TRUE(eventually("ok", "{{.State.Health.Status}}", "healthy\n"))
        << inspect("ok", "{{json .State.Health}}");
    auto last =
        inspect("ok", "{{with (index .State.Health.Log 0)}}{{.ExitCode}} {{.Output}}{{end}}");
    EXPECT_EQ(last, "0 fine\n\n");
    // The log keeps the last five; the probes are not the container's ExecIDs.
    usleep(800000);
    EXPECT_EQ(inspect("ok", "{{len .State.Health.Log}} {{.State.Health.FailingStreak}}"), "5 0\n");
    EXPECT_EQ(inspect("ok", "{{len .ExecIDs}}"), "0\n");
    // docker ps shows it and filters by it.
    auto ps = d("ps --filter health=healthy --format '{{.Names}} {{.Status}}'");
    EXPECT_TRUE(ps.output.starts_with("ok Up ")) << ps.output;
    EXPECT_NE(ps.output.find(" (healthy)\n"), std::string::npos) << ps.output;
    EXPECT_EQ(d("ps -q --filter health=unhealthy").output, "");
    auto ev = d("events --since " + since +
                " --until $(($(date +%s)+1)) --filter container=ok "
                "--format '{{.Action}}'");
    EXPECT_NE(ev.output.find("health_status: healthy\n"), std::string::npos) << ev.output;
    ASSERT_EQ(d("rm -f ok").exit_code, 0);
}

TEST_F(HealthTest, failing_checks_make_it_unhealthy_after_the_retries) {
    ASSERT_EQ(d("run -d --name bad --health-cmd 'echo broken >&2; exit 1' --health-interval 100ms "
                "--health-retries 3 busybox sleep 1000")
                  .exit_code,
              0);
    EXPECT_TRUE(eventually("bad", "{{.State.Health.Status}}", "unhealthy\n"))
        << inspect("bad", "{{json .State.Health}}");
    EXPECT_NE(inspect("bad", "{{.State.Health.FailingStreak}}"), "0\n");
    EXPECT_EQ(
        inspect("bad", "{{with (index .State.Health.Log 0)}}{{.ExitCode}} {{.Output}}{{end}}"),
        "1 broken\n\n");
    // The container itself is untouched: Docker only reports.
    EXPECT_EQ(inspect("bad", "{{.State.Status}}"), "running\n");
    ASSERT_EQ(d("rm -f bad").exit_code, 0);
}

TEST_F(HealthTest, a_probe_past_its_timeout_is_killed_and_counts_as_a_failure) {
    ASSERT_EQ(d("run -d --name slow --health-cmd 'sleep 37' --health-timeout 200ms "
                "--health-interval 100ms --health-retries 1 busybox sleep 1000")
                  .exit_code,
              0);
    EXPECT_TRUE(eventually("slow", "{{.State.Health.Status}}", "unhealthy\n"))
        << inspect("slow", "{{json .State.Health}}");
    EXPECT_NE(
        inspect("slow", "{{with (index .State.Health.Log 0)}}{{.ExitCode}} {{.Output}}{{end}}")
            .find("-1 Health check exceeded timeout"),
        std::string::npos);
    ASSERT_EQ(d("rm -f slow").exit_code, 0);
    // No probe outlives the container (its pid namespace goes, the kill takes a moment).
    auto left = run_command("for i in $(seq 50); do pgrep -f 'sleep 3[7]' || exit 0; sleep 0.1; "
                            "done; exit 1");
    EXPECT_EQ(left.exit_code, 0) << left.output;
}

TEST_F(HealthTest, start_period_failures_do_not_count) {
    // Fails for the first ~0.6 s, inside a 5 s start period: never unhealthy, then healthy.
    ASSERT_EQ(d("run -d --name warm --health-cmd 'test -e /tmp/up' --health-interval 100ms "
                "--health-start-period 5s --health-start-interval 100ms --health-retries 1 "
                "busybox sh -c 'sleep 0.6; touch /tmp/up; sleep 1000'")
                  .exit_code,
              0);
    EXPECT_EQ(inspect("warm", "{{.State.Health.Status}}"), "starting\n");
    EXPECT_TRUE(eventually("warm", "{{.State.Health.Status}}", "healthy\n"))
        << inspect("warm", "{{json .State.Health}}");
    ASSERT_EQ(d("rm -f warm").exit_code, 0);
}

TEST_F(HealthTest, dockers_refusals_for_healthchecks) {
    auto r = http_post_json(daemon.socket_path(), "/containers/create",
                            "{\"Image\":\"busybox\",\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],"
                            "\"Interval\":1000}}");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("Interval in Healthcheck cannot be less than 1ms"), std::string::npos)
        << r.body;
    auto retries = http_post_json(daemon.socket_path(), "/containers/create",
                                  "{\"Image\":\"busybox\",\"Healthcheck\":{\"Test\":[\"CMD\","
                                  "\"true\"],\"Retries\":-1}}");
    EXPECT_EQ(retries.status, 400) << retries.body;
    // --no-healthcheck: no probes, no Health.
    ASSERT_EQ(d("run -d --name none --no-healthcheck busybox sleep 1000").exit_code, 0);
    EXPECT_EQ(inspect("none", "{{json .State.Health}}"), "null\n");
    ASSERT_EQ(d("rm -f none").exit_code, 0);
}
