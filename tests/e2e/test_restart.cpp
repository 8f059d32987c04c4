// Restart policies and a berthd restart through the CLI: on-failure with its retry count,
// always until docker stop, unless-stopped across a daemon restart, Docker's refusals, and
// State fields a user reads (RestartCount, Restarting, OOMKilled, Error).
#include <gtest/gtest.h>
#include <unistd.h>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class RestartTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
    }
    std::string inspect(const std::string& name, const std::string& format) {
        return d("inspect " + name + " --format '" + format + "'").output;
    }
    // Polls inspect until it prints `want` (a restart back-off takes its time).
    bool eventually(const std::string& name, const std::string& format, const std::string& want,
                    int tenths = 100) {
        for (int i = 0; i < tenths; ++i) {
            if (inspect(name, format) == want) return true;
            usleep(100000);
        }
        return false;
    }
};

}  // namespace

TEST_F(RestartTest, on_failure_retries_up_to_its_count_then_stays_exited) {
    ASSERT_EQ(
        d("run -d --name fl --restart on-failure:2 busybox sh -c 'echo ran; exit 3'").exit_code, 0);
    // 1 run + 2 restarts (back-off 100 ms, 200 ms), then it stays down with the last code.
    EXPECT_TRUE(
        eventually("fl", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "2 exited 3\n"))
        << inspect("fl", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}");
    usleep(700000);
    EXPECT_EQ(inspect("fl", "{{.RestartCount}} {{.State.Status}}"), "2 exited\n");
    EXPECT_EQ(d("logs fl").output, "ran\nran\nran\n");
    // A success is not a failure: no restart.
    ASSERT_EQ(d("run -d --name ok --restart on-failure busybox true").exit_code, 0);
    EXPECT_TRUE(eventually("ok", "{{.State.Status}}", "exited\n"));
    usleep(400000);
    EXPECT_EQ(inspect("ok", "{{.RestartCount}}"), "0\n");
}

TEST_F(RestartTest, always_restarts_until_the_user_stops_it) {
    ASSERT_EQ(d("run -d --name al --restart always busybox sh -c 'echo up; sleep 0.2'").exit_code,
              0);
    EXPECT_TRUE(eventually("al", "{{ge .RestartCount 2}}", "true\n"));
    ASSERT_EQ(d("stop -t 1 al").exit_code, 0);
    std::string count = inspect("al", "{{.RestartCount}}");
    EXPECT_EQ(inspect("al", "{{.State.Status}} {{.State.Restarting}}"), "exited false\n");
    usleep(800000);
    EXPECT_EQ(inspect("al", "{{.RestartCount}} {{.State.Status}}"),
              count.substr(0, count.size() - 1) + " exited\n");
    // A start by hand runs it under its policy again; rm -f ends it wherever it is.
    ASSERT_EQ(d("start al").exit_code, 0);
    EXPECT_TRUE(eventually("al", "{{ge .RestartCount 3}}", "true\n"));
    EXPECT_EQ(d("rm -f al").exit_code, 0);
    EXPECT_EQ(d("ps -aq").output, "");
}

TEST_F(RestartTest, restart_policies_apply_when_berthd_starts_again) {
    ASSERT_EQ(d("run -d --name us --restart unless-stopped busybox sleep 1000").exit_code, 0);
    ASSERT_EQ(d("run -d --name us_stopped --restart unless-stopped busybox sleep 1000").exit_code,
              0);
    ASSERT_EQ(d("run -d --name al_stopped --restart always busybox sleep 1000").exit_code, 0);
    ASSERT_EQ(d("run -d --name plain busybox sleep 1000").exit_code, 0);
    ASSERT_EQ(d("create --name never --restart always busybox sleep 1000").exit_code, 0);
    ASSERT_EQ(d("stop -t 0 us_stopped al_stopped").exit_code, 0);
    ASSERT_EQ(daemon.stop(), 0);
    ASSERT_TRUE(daemon.start());
    // As dockerd: unless-stopped comes back unless the user stopped it; always comes back even
    // then; no policy stays down; a container never started is left alone.
    EXPECT_TRUE(eventually("us", "{{.State.Status}}", "running\n"));
    EXPECT_TRUE(eventually("al_stopped", "{{.State.Status}}", "running\n"));
    EXPECT_EQ(inspect("us_stopped", "{{.State.Status}}"), "exited\n");
    EXPECT_EQ(inspect("plain", "{{.State.Status}}"), "exited\n");
    EXPECT_EQ(inspect("never", "{{.State.Status}}"), "created\n");
    // The restarted one is a real running container: exec and stop work.
    EXPECT_EQ(d("exec us echo alive").output, "alive\n");
    EXPECT_EQ(d("stop -t 0 us al_stopped").exit_code, 0);
}

TEST_F(RestartTest, dockers_refusals_for_restart_policies) {
    auto rm = d("run --rm --restart always busybox true");
    EXPECT_NE(rm.exit_code, 0);
    EXPECT_NE(rm.error.find("conflicting options: cannot specify both --restart and --rm"),
              std::string::npos)
        << rm.error;
    auto api = http_post_json(daemon.socket_path(), "/containers/create",
                              "{\"Image\":\"busybox\",\"HostConfig\":{\"AutoRemove\":true,"
                              "\"RestartPolicy\":{\"Name\":\"always\"}}}");
    EXPECT_EQ(api.status, 400) << api.body;
    EXPECT_NE(api.body.find("can't create 'AutoRemove' container with restart policy"),
              std::string::npos)
        << api.body;
    auto name = http_post_json(daemon.socket_path(), "/containers/create",
                               "{\"Image\":\"busybox\",\"HostConfig\":{\"RestartPolicy\":"
                               "{\"Name\":\"sometimes\"}}}");
    EXPECT_EQ(name.status, 400) << name.body;
    EXPECT_NE(name.body.find("invalid restart policy"), std::string::npos) << name.body;
    auto count = http_post_json(daemon.socket_path(), "/containers/create",
                                "{\"Image\":\"busybox\",\"HostConfig\":{\"RestartPolicy\":"
                                "{\"Name\":\"always\",\"MaximumRetryCount\":3}}}");
    EXPECT_EQ(count.status, 400) << count.body;
    EXPECT_NE(count.body.find("maximum retry count can only be used with 'on-failure'"),
              std::string::npos)
        << count.body;
    EXPECT_EQ(d("ps -aq").output, "");  // nothing half-made
}

TEST_F(RestartTest, a_memory_hog_is_oom_killed_with_137_and_inspect_says_so) {
    auto hog =
        d("run --rm -m 32m busybox sh -c 'busybox dd if=/dev/zero of=/dev/null bs=200M "
          "count=1'");
    EXPECT_EQ(hog.exit_code, 137) << hog.error;
    ASSERT_EQ(d("run --name hog -m 32m busybox sh -c 'busybox dd if=/dev/zero of=/dev/null "
                "bs=200M count=1'")
                  .exit_code,
              137);
    EXPECT_EQ(inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}"), "true 137\n");
    // Each run records its own end.
    ASSERT_EQ(d("start -a hog").exit_code, 137);
    EXPECT_EQ(inspect("hog", "{{.State.OOMKilled}}"), "true\n");
}

TEST_F(RestartTest, a_start_that_fails_is_recorded_in_state_error) {
    ASSERT_EQ(d("create --name bad busybox /no/such/program").exit_code, 0);
    auto r = d("start bad");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(inspect("bad", "{{.State.Error}}").find("/no/such/program"), std::string::npos)
        << inspect("bad", "{{.State.Error}}");
    // As dockerd: it never ran, so it is still "created", with the code and the reason.
    EXPECT_EQ(inspect("bad", "{{.State.Status}} {{.State.ExitCode}}"), "created 127\n");
}

TEST_F(RestartTest, init_runs_as_pid_1_forwards_signals_and_reaps_orphans) {
    auto pid1 = d("run --rm --init busybox sh -c 'busybox tr \"\\0\" \" \" < /proc/1/cmdline'");
    ASSERT_EQ(pid1.exit_code, 0) << pid1.error;
    EXPECT_EQ(pid1.output, "/sbin/docker-init -- sh -c busybox tr \"\\0\" \" \" < /proc/1/cmdline ");
    // sleep as pid 1 ignores SIGTERM; under the init it gets it and dies of it (143), not of
    // the SIGKILL after the timeout (137).
    ASSERT_EQ(d("run -d --init --name sleeper busybox sleep 1000").exit_code, 0);
    // (Once the init has started its command: a signal that reaches a pid 1 before it has set
    // itself up is dropped by the kernel, with any init.)
    std::string pid = inspect("sleeper", "{{.State.Pid}}");
    pid.pop_back();
    ASSERT_EQ(run_command("for i in $(seq 100); do [ -n \"$(cat /proc/" + pid + "/task/" + pid +
                          "/children)\" ] && exit 0; sleep 0.05; done; exit 1")
                  .exit_code,
              0);
    ASSERT_EQ(d("stop -t 20 sleeper").exit_code, 0);
    EXPECT_EQ(inspect("sleeper", "{{.State.ExitCode}}"), "143\n");
    // An orphan re-parented to pid 1 is reaped: no zombie is left.
    auto ps = d("run --rm --init busybox sh -c '(busybox sleep 0.1 &); busybox sleep 0.6; "
                "busybox ps -o stat,comm'");
    ASSERT_EQ(ps.exit_code, 0) << ps.error;
    EXPECT_EQ(ps.output.find("Z "), std::string::npos) << ps.output;
    // The exit code of the command is the container's.
    EXPECT_EQ(d("run --rm --init busybox sh -c 'exit 9'").exit_code, 9);
    // The binary is read-only in the container.
    auto write = d("run --rm --init busybox sh -c 'echo x > /sbin/docker-init'");
    EXPECT_NE(write.exit_code, 0);
}

TEST_F(RestartTest, a_crashed_berthd_is_reconciled_on_its_next_start) {
    ASSERT_EQ(d("run -d --name lost busybox sleep 4343").exit_code, 0);
    ASSERT_EQ(d("run -d --name back --restart unless-stopped busybox sleep 1000").exit_code, 0);
    // No helper process holds the containers: a SIGKILLed daemon leaves them running.
    ASSERT_EQ(daemon.stop(SIGKILL), 128 + SIGKILL);
    ASSERT_TRUE(daemon.start());
    // The next start finds them: the one without a policy is exited and its process gone, the
    // other runs again under its policy; nothing is left mounted or running from before.
    auto lost = d("inspect lost --format '{{.State.Status}} {{.State.ExitCode}}'");
    EXPECT_EQ(lost.output, "exited 255\n") << lost.error;
    auto gone = run_command("for i in $(seq 50); do pgrep -f 'sleep 434[3]' || exit 0; sleep 0.1; "
                            "done; exit 1");
    EXPECT_EQ(gone.exit_code, 0) << "the crashed daemon's container still runs";
    EXPECT_TRUE(eventually("back", "{{.State.Status}}", "running\n"));
    ASSERT_EQ(d("start lost").exit_code, 0);  // and it can run again
    EXPECT_EQ(inspect("lost", "{{.State.Status}}"), "running\n");
}

TEST_F(RestartTest, container_events_follow_the_lifecycle_with_image_and_labels) {
    auto since = run_command("date +%s").output;
    since.pop_back();
    ASSERT_EQ(d("run --name evs -l team=blue busybox true").exit_code, 0);
    ASSERT_EQ(d("start evs").exit_code, 0);
    ASSERT_EQ(d("run -d --name evl -l team=blue busybox sleep 1000").exit_code, 0);
    ASSERT_EQ(d("restart -t 0 evl").exit_code, 0);
    ASSERT_EQ(d("stop -t 0 evl").exit_code, 0);
    ASSERT_EQ(d("rm evs").exit_code, 0);
    ASSERT_EQ(d("rm evl").exit_code, 0);
    auto ev = d("events --since " + since + " --until $(($(date +%s)+1)) --filter label=team=blue "
                "--format '{{.Actor.Attributes.name}} {{.Action}} {{.Actor.Attributes.image}}'");
    EXPECT_EQ(ev.output,
              "evs create busybox\nevs attach busybox\nevs start busybox\nevs die busybox\n"
              "evs start busybox\nevs die busybox\n"
              "evl create busybox\nevl start busybox\n"
              // -t 0: SIGTERM, then SIGKILL at once, each a kill event, as dockerd sends them
              "evl kill busybox\nevl kill busybox\nevl die busybox\nevl stop busybox\n"
              "evl start busybox\nevl restart busybox\n"
              "evl kill busybox\nevl kill busybox\nevl die busybox\nevl stop busybox\n"
              "evs destroy busybox\nevl destroy busybox\n");
    auto sig = d("events --since " + since + " --until $(($(date +%s)+1)) --filter event=kill "
                 "--format '{{.Actor.Attributes.signal}}'");
    EXPECT_EQ(sig.output, "15\n9\n15\n9\n");
}
