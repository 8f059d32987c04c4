// Container records through the docker CLI: create (the image's config merged as dockerd does,
// names and their conflicts, the pull-on-404 path), ps, inspect, rm, and the image kept while a
// container uses it.
#include <gtest/gtest.h>
#include <unistd.h>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class ContainersTest : public BusyboxDaemonTest {
protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
    }
};

}  // namespace

TEST_F(ContainersTest, create_merges_the_image_config_and_ps_lists_it) {
    auto c = d("create --name web -e A=b -l tier=front busybox echo hi");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    ASSERT_EQ(c.output.size(), 65u) << c.output;
    std::string id = c.output.substr(0, 64);
    auto i = d("inspect web --format '{{.Id}} {{.Name}} {{.Config.Hostname}} {{json .Config.Cmd}} "
               "{{json .Config.Env}} {{.State.Status}} {{.Image}} {{index .Config.Labels \"tier\"}} "
               "{{index .Config.Labels \"org.berth.test\"}}'");
    ASSERT_EQ(i.exit_code, 0) << i.error;
    EXPECT_EQ(i.output, id + " /web " + id.substr(0, 12) +
                            " [\"echo\",\"hi\"] [\"A=b\",\"PATH=/usr/local/sbin:/usr/local/bin:"
                            "/usr/sbin:/usr/bin:/sbin:/bin\"] created " + image_id + " front yes\n");
    auto ps = d("ps -a --format '{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}'");
    EXPECT_EQ(ps.output, "web|busybox|\"echo hi\"|Created\n");
    EXPECT_EQ(d("ps -q").output, "");  // not running
    }

TEST_F(ContainersTest, image_cmd_is_used_when_none_is_given_and_names_are_generated) {
    auto c = d("create busybox");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    auto i = d("inspect " + c.output.substr(0, 12) + " --format '{{json .Config.Cmd}} {{.Name}}'");
    ASSERT_EQ(i.exit_code, 0) << i.error;
    EXPECT_TRUE(i.output.starts_with("[\"sh\"] /")) << i.output;
    EXPECT_NE(i.output.find('_'), std::string::npos) << i.output;
}

TEST_F(ContainersTest, names_are_checked_and_unique_as_docker_does) {
    ASSERT_EQ(d("create --name web busybox").exit_code, 0);
    auto again = d("create --name web busybox");
    EXPECT_NE(again.exit_code, 0);
    EXPECT_NE(again.error.find("Conflict. The container name \"/web\" is already in use"),
              std::string::npos)
        << again.error;
    auto bad = d("create --name 'bad name' busybox");
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.error.find("Invalid container name (bad name)"), std::string::npos) << bad.error;
    EXPECT_EQ(d("ps -aq").output.size(), 13u);  // one container
}

TEST_F(ContainersTest, missing_image_is_a_404_the_cli_answers_with_a_pull) {
    auto r = d("create 127.0.0.1:1/berth/nosuch");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("Unable to find image '127.0.0.1:1/berth/nosuch:latest' locally"),
              std::string::npos)
        << r.error;
    EXPECT_EQ(d("ps -aq").output, "");
}

TEST_F(ContainersTest, rm_removes_the_record_and_its_storage_and_frees_the_image) {
    ASSERT_EQ(d("create --name web busybox").exit_code, 0);
    auto busy = d("rmi busybox");
    EXPECT_NE(busy.exit_code, 0);
    EXPECT_NE(busy.error.find("container"), std::string::npos) << busy.error;
    ASSERT_EQ(d("rm web").output, "web\n");
    EXPECT_EQ(d("ps -aq").output, "");
    EXPECT_EQ(run_command("ls " + daemon.data_root() + "/containers | wc -l").output, "0\n");
    EXPECT_EQ(d("rmi busybox").exit_code, 0);
    auto gone = d("rm web");
    EXPECT_NE(gone.exit_code, 0);
    EXPECT_NE(gone.error.find("No such container: web"), std::string::npos) << gone.error;
}

TEST_F(ContainersTest, containers_survive_a_daemon_restart) {
    ASSERT_EQ(d("create --name keep busybox").exit_code, 0);
    ASSERT_EQ(daemon.stop(), 0);
    ASSERT_TRUE(daemon.start());
    EXPECT_EQ(d("ps -a --format '{{.Names}}'").output, "keep\n");
    EXPECT_EQ(d("rm keep").exit_code, 0);
}

TEST_F(ContainersTest, docker_run_rm_prints_the_output_and_leaves_nothing) {
    auto r = d("run --rm busybox echo hello from berth");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, "hello from berth\n");
    EXPECT_EQ(d("ps -aq").output, "");
    EXPECT_EQ(run_command("ls " + daemon.data_root() + "/containers | wc -l").output, "0\n");
}

TEST_F(ContainersTest, docker_run_gives_the_exit_code_and_both_streams) {
    auto r = d("run --name code busybox sh -c 'echo out; echo err >&2; exit 3'");
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.output, "out\n");
    EXPECT_EQ(r.error, "err\n");
    auto st = d("inspect code --format '{{.State.Status}} {{.State.ExitCode}}'");
    EXPECT_EQ(st.output, "exited 3\n");
    auto ps = d("ps -a --format '{{.Status}}'");
    EXPECT_TRUE(ps.output.starts_with("Exited (3) ")) << ps.output;
}

TEST_F(ContainersTest, a_missing_command_is_exit_127_with_dockers_message) {
    auto r = d("run --rm busybox nosuchcmd");
    EXPECT_EQ(r.exit_code, 127);
    EXPECT_NE(r.error.find("exec: \"nosuchcmd\": executable file not found in $PATH"),
              std::string::npos)
        << r.error;
}

TEST_F(ContainersTest, detached_run_kill_wait_and_force_remove) {
    auto r = d("run -d --name sleeper busybox sleep 30");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(d("ps --format '{{.Names}}'").output, "sleeper\n");
    auto busy = d("rm sleeper");
    EXPECT_NE(busy.exit_code, 0);
    EXPECT_NE(busy.error.find("container is running"), std::string::npos) << busy.error;
    ASSERT_EQ(d("kill sleeper").exit_code, 0);
    auto w = d("wait sleeper");
    EXPECT_EQ(w.output, "137\n");
    ASSERT_EQ(d("start sleeper").exit_code, 0);
    ASSERT_EQ(d("rm -f sleeper").exit_code, 0);
    EXPECT_EQ(d("ps -aq").output, "");
}

TEST_F(ContainersTest, stopping_the_daemon_kills_running_containers_and_records_it) {
    ASSERT_EQ(d("run -d --name bg busybox sleep 60").exit_code, 0);
    ASSERT_EQ(daemon.stop(), 0);
    ASSERT_TRUE(daemon.start());
    auto st = d("ps -a --format '{{.Names}} {{.State}}'");
    EXPECT_EQ(st.output, "bg exited\n");
    EXPECT_EQ(d("rm bg").exit_code, 0);
}

TEST_F(ContainersTest, wait_on_a_stopped_container_answers_at_once_every_time) {
    ASSERT_EQ(d("run --name five busybox sh -c 'exit 5'").exit_code, 5);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(d("wait five").output, "5\n");
    EXPECT_EQ(d("ps -a --format '{{.Names}}'").output, "five\n");  // the daemon is fine
}

TEST_F(ContainersTest, a_flood_of_output_arrives_whole_through_back_pressure) {
    // 40 MB through the attach stream: far more than the daemon buffers for a client.
    auto r = run_command("docker run --rm busybox head -c 40000000 /dev/zero | wc -c",
                         {"DOCKER_HOST=" + daemon.docker_host()});
    EXPECT_EQ(r.output, "40000000\n") << r.error;
    EXPECT_EQ(d("ps -aq").output, "");
}

TEST_F(ContainersTest, stop_sends_the_stop_signal_then_sigkill_after_the_timeout) {
    // pid 1 with no handler ignores SIGTERM: the kill after 1 s ends it (137).
    ASSERT_EQ(d("run -d --name deaf busybox sleep 60").exit_code, 0);
    ASSERT_EQ(d("stop -t 1 deaf").exit_code, 0);
    EXPECT_EQ(d("inspect deaf --format '{{.State.Status}} {{.State.ExitCode}}'").output,
              "exited 137\n");
    // A shell that handles TERM exits on it, with its own code.
    ASSERT_EQ(d("run -d --name polite busybox sh -c 'trap \"exit 7\" TERM; while :; do sleep 1; done'")
                  .exit_code,
              0);
    ASSERT_EQ(d("stop -t 20 polite").exit_code, 0);
    EXPECT_EQ(d("inspect polite --format '{{.State.ExitCode}}'").output, "7\n");
    auto again = d("stop polite");  // already stopped: Docker's 304, the CLI is content
    EXPECT_EQ(again.exit_code, 0) << again.error;
}

TEST_F(ContainersTest, restart_runs_the_container_again) {
    ASSERT_EQ(d("run -d --name again busybox sleep 60").exit_code, 0);
    auto pid1 = d("inspect again --format '{{.State.Pid}}'").output;
    ASSERT_EQ(d("restart -t 0 again").exit_code, 0);
    EXPECT_EQ(d("inspect again --format '{{.State.Status}}'").output, "running\n");
    EXPECT_NE(d("inspect again --format '{{.State.Pid}}'").output, pid1);
    ASSERT_EQ(d("rm -f again").exit_code, 0);
}

TEST_F(ContainersTest, logs_replay_the_json_file_log_and_follow_a_running_container) {
    ASSERT_EQ(d("run --name logged busybox sh -c 'echo one; sleep 0.1; echo two >&2'").exit_code, 0);
    auto all = d("logs logged");
    EXPECT_EQ(all.output, "one\n");
    EXPECT_EQ(all.error, "two\n");
    auto tail = d("logs --tail 1 logged");
    EXPECT_EQ(tail.output + tail.error, "two\n");
    auto ts = d("logs -t logged");
    EXPECT_TRUE(ts.output.size() > 4 && ts.output.find("Z one\n") != std::string::npos) << ts.output;
    std::string log = daemon.data_root() + "/containers/" +
                      d("inspect logged --format '{{.Id}}'").output.substr(0, 64) + "/";
    auto file = run_command("cat " + log + "*-json.log | head -1");
    EXPECT_NE(file.output.find("{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\""),
              std::string::npos)
        << file.output;
    ASSERT_EQ(d("run -d --name ticker busybox sh -c 'for i in 1 2 3; do echo tick $i; sleep 0.2; "
                "done'")
                  .exit_code,
              0);
    auto follow = d("logs -f ticker");
    EXPECT_EQ(follow.output, "tick 1\ntick 2\ntick 3\n");
    ASSERT_EQ(d("rm logged ticker").exit_code, 0);
    EXPECT_EQ(run_command("ls " + daemon.data_root() + "/containers | wc -l").output, "0\n");
}

TEST_F(ContainersTest, pause_freezes_and_unpause_thaws_and_kill_still_works) {
    ASSERT_EQ(d("run -d --name frozen busybox sh -c 'while :; do sleep 0.1; done'").exit_code, 0);
    ASSERT_EQ(d("pause frozen").exit_code, 0);
    auto st = d("ps --format '{{.Status}}'");
    EXPECT_TRUE(st.output.ends_with("(Paused)\n")) << st.output;
    EXPECT_EQ(d("inspect frozen --format '{{.State.Status}}'").output, "paused\n");
    auto twice = d("pause frozen");
    EXPECT_NE(twice.exit_code, 0);
    EXPECT_NE(twice.error.find("is already paused"), std::string::npos) << twice.error;
    ASSERT_EQ(d("unpause frozen").exit_code, 0);
    EXPECT_EQ(d("inspect frozen --format '{{.State.Status}}'").output, "running\n");
    ASSERT_EQ(d("pause frozen").exit_code, 0);
    ASSERT_EQ(d("rm -f frozen").exit_code, 0);  // a kill thaws it first
    EXPECT_EQ(d("ps -aq").output, "");
}

TEST_F(ContainersTest, rename_moves_the_name_and_refuses_a_taken_one) {
    ASSERT_EQ(d("create --name first busybox").exit_code, 0);
    ASSERT_EQ(d("create --name second busybox").exit_code, 0);
    ASSERT_EQ(d("rename first renamed").exit_code, 0);
    EXPECT_EQ(d("inspect renamed --format '{{.Name}}'").output, "/renamed\n");
    auto taken = d("rename renamed second");
    EXPECT_NE(taken.exit_code, 0);
    EXPECT_NE(taken.error.find("is already in use"), std::string::npos) << taken.error;
    auto gone = d("inspect first");
    EXPECT_NE(gone.exit_code, 0);
}

TEST_F(ContainersTest, run_i_carries_stdin_to_the_container_and_its_end_as_eof) {
    // StdinOnce: the client's end of input closes the container's stdin, so cat exits.
    auto r = docker(daemon, "run -i --rm busybox sh -c 'cat; echo done' < /etc/os-release");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, run_command("cat /etc/os-release").output + "done\n");
    // More input than a pipe holds arrives whole, in order.
    std::string path = daemon.dir() + "/stdin.bin";
    ASSERT_EQ(run_command("head -c 3000000 /dev/urandom > " + path).exit_code, 0);
    auto sum = docker(daemon, "run -i --rm busybox busybox md5sum < " + path);
    ASSERT_EQ(sum.exit_code, 0) << sum.error;
    EXPECT_EQ(sum.output.substr(0, 32), run_command("md5sum < " + path).output.substr(0, 32));
}

TEST_F(ContainersTest, without_i_the_container_reads_no_input) {
    auto r = docker(daemon, "run --rm busybox sh -c 'cat; echo eof' < /etc/os-release");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, "eof\n");
}

TEST_F(ContainersTest, input_the_container_never_reads_is_dropped_when_it_exits) {
    std::string path = daemon.dir() + "/unread.bin";
    ASSERT_EQ(run_command("head -c 8000000 /dev/zero > " + path).exit_code, 0);
    auto r = docker(daemon, "run -i --rm busybox sh -c 'sleep 0.2; exit 4' < " + path);
    EXPECT_EQ(r.exit_code, 4) << r.error;
    EXPECT_EQ(d("ps -aq").output, "");
    // The daemon is whole and serves the next one.
    auto next = docker(daemon, "run -i --rm busybox cat < /etc/hostname");
    ASSERT_EQ(next.exit_code, 0) << next.error;
    EXPECT_EQ(next.output, run_command("cat /etc/hostname").output);
}

TEST_F(ContainersTest, run_t_gives_the_container_a_tty_and_it_answers_typed_input) {
    // `script` gives the CLI a terminal, as a user's shell would.
    auto t = run_command("DOCKER_HOST=unix://" + daemon.socket_path() +
                         " script -qc \"docker run --rm -t busybox sh -c 'tty; echo hi'\" /dev/null"
                         " </dev/null");
    ASSERT_EQ(t.exit_code, 0) << t.error;
    // Raw stream, no stdcopy frames; the tty's line discipline turns \n into \r\n.
    EXPECT_EQ(t.output, "/dev/pts/0\r\r\nhi\r\r\n");
    auto it = run_command("(sleep 1; echo typed; sleep 1) | DOCKER_HOST=unix://" +
                          daemon.socket_path() +
                          " script -qc \"docker run --rm -it busybox sh -c 'read x; echo got \\$x'\""
                          " /dev/null");
    ASSERT_EQ(it.exit_code, 0) << it.error;
    EXPECT_NE(it.output.find("got typed\r\n"), std::string::npos) << it.output;
}

TEST_F(ContainersTest, resize_sets_the_tty_window_and_is_refused_without_one) {
    auto r = d("run -dt --name win busybox sh -c 'sleep 0.5; stty size'");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    auto ok = http_request(daemon.socket_path(), "POST", "/containers/win/resize?h=40&w=100");
    EXPECT_EQ(ok.status, 200) << ok.body;
    ASSERT_EQ(d("wait win").output, "0\n");
    EXPECT_EQ(d("logs win").output, "40 100\r\n");
    // Not running: Docker's 409.
    auto stopped = http_request(daemon.socket_path(), "POST", "/containers/win/resize?h=1&w=1");
    EXPECT_EQ(stopped.status, 409) << stopped.body;
    auto bad = http_request(daemon.socket_path(), "POST", "/containers/win/resize?h=x&w=1");
    EXPECT_EQ(bad.status, 400) << bad.body;
    ASSERT_EQ(d("run -d --name notty busybox sleep 30").exit_code, 0);
    auto notty = http_request(daemon.socket_path(), "POST", "/containers/notty/resize?h=5&w=5");
    EXPECT_EQ(notty.status, 409) << notty.body;
    EXPECT_EQ(d("rm -f notty").exit_code, 0);
}

TEST_F(ContainersTest, container_prune_removes_stopped_ones_by_filter_and_counts_their_space) {
    ASSERT_EQ(d("run --name big busybox sh -c 'head -c 300000 /dev/zero > /big'").exit_code, 0);
    ASSERT_EQ(d("run --name kept --label keep=1 busybox true").exit_code, 0);
    ASSERT_EQ(d("run -d --name live busybox sleep 30").exit_code, 0);
    std::string big = d("inspect big --format '{{.Id}}'").output;
    auto r = d("container prune -f --filter label!=keep");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output.find("Deleted Containers:\n" + big), 0u) << r.output;
    // 300000 bytes in /big, as the CLI prints them (base-1000 units).
    EXPECT_NE(r.output.find("Total reclaimed space: 300kB"), std::string::npos) << r.output;
    EXPECT_EQ(d("ps -a --format '{{.Names}}'").output, "live\nkept\n");
    auto all = http_request(daemon.socket_path(), "POST", "/containers/prune");
    EXPECT_EQ(all.status, 200);
    EXPECT_NE(all.body.find("\"ContainersDeleted\":[\""), std::string::npos) << all.body;
    EXPECT_EQ(d("ps -a --format '{{.Names}}'").output, "live\n");
    auto none = http_request(daemon.socket_path(), "POST", "/containers/prune");
    EXPECT_EQ(none.body, "{\"ContainersDeleted\":null,\"SpaceReclaimed\":0}") << none.body;
    auto bad = http_request(daemon.socket_path(), "POST",
                            "/containers/prune?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D");
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(d("rm -f live").exit_code, 0);
}
