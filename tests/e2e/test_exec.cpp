// docker exec through the CLI: the process joins the running container (namespaces, cgroup,
// user, env, working dir), attached output and exit codes, stdin, a tty, detached execs,
// Docker's errors, events, and nothing left behind when the container goes.
#include <gtest/gtest.h>
#include <unistd.h>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class ExecTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
        auto r = d("run -d --name box -e FROM_RUN=1 busybox sleep 1000");
        ASSERT_EQ(r.exit_code, 0) << r.error;
    }
    std::string host_pid() {
        auto p = d("inspect box --format '{{.State.Pid}}'");
        return p.output.substr(0, p.output.size() - 1);
    }
};

}  // namespace

TEST_F(ExecTest, exec_joins_every_namespace_and_the_cgroup_of_the_container) {
    std::string pid = host_pid();
    for (const char* ns : {"pid", "mnt", "net", "uts", "ipc", "cgroup"}) {
        auto in = d(std::string("exec box busybox readlink /proc/self/ns/") + ns);
        ASSERT_EQ(in.exit_code, 0) << in.error;
        auto host = run_command("readlink /proc/" + pid + "/ns/" + ns);
        EXPECT_EQ(in.output, host.output) << ns;
    }
    // Its pid namespace: the container's first process is pid 1 and sleep.
    EXPECT_EQ(d("exec box busybox cat /proc/1/comm").output, "sleep\n");
    // Its root: the image's files, not the host's.
    EXPECT_EQ(d("exec box busybox cat /etc/hostname").output,
              d("inspect box --format '{{.Config.Hostname}}'").output);
    EXPECT_EQ(d("exec box busybox hostname").output,
              d("inspect box --format '{{.Config.Hostname}}'").output);
    // Its cgroups, seen from inside as the container's own.
    EXPECT_EQ(d("exec box busybox cat /proc/self/cgroup").output,
              d("exec box busybox cat /proc/1/cgroup").output);
    // Its capabilities (Docker's default set), unless --privileged.
    EXPECT_EQ(d("exec box busybox grep CapEff /proc/self/status").output,
              "CapEff:\t00000000a80425fb\n");
    EXPECT_EQ(d("exec --privileged box busybox grep CapEff /proc/self/status").output.substr(0, 10),
              "CapEff:\t00");
    EXPECT_NE(d("exec --privileged box busybox grep CapEff /proc/self/status").output,
              "CapEff:\t00000000a80425fb\n");
}

TEST_F(ExecTest, exec_gives_output_streams_and_the_exit_code) {
    auto r = d("exec box sh -c 'echo out; echo err >&2; exit 3'");
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.output, "out\n");
    EXPECT_EQ(r.error, "err\n");
    EXPECT_EQ(d("exec box true").exit_code, 0);
}

TEST_F(ExecTest, exec_takes_env_working_dir_and_user) {
    auto r =
        d("exec -e EXTRA=x -w /tmp -u 1000:1000 box sh -c "
          "'echo $FROM_RUN $EXTRA $(pwd) $(busybox id -u):$(busybox id -g) $HOME'");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, "1 x /tmp 1000:1000 /\n");
    // The exec's variable wins over the container's.
    EXPECT_EQ(d("exec -e FROM_RUN=2 box sh -c 'echo $FROM_RUN'").output, "2\n");
    auto root = d("exec box busybox id -u");
    EXPECT_EQ(root.output, "0\n");
}

TEST_F(ExecTest, exec_i_carries_stdin_and_its_end) {
    auto r = docker(daemon, "exec -i box sh -c 'cat; echo done' < /etc/os-release");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, run_command("cat /etc/os-release").output + "done\n");
    std::string path = daemon.dir() + "/in.bin";
    ASSERT_EQ(run_command("head -c 2000000 /dev/urandom > " + path).exit_code, 0);
    auto sum = docker(daemon, "exec -i box busybox md5sum < " + path);
    ASSERT_EQ(sum.exit_code, 0) << sum.error;
    EXPECT_EQ(sum.output.substr(0, 32), run_command("md5sum < " + path).output.substr(0, 32));
}

TEST_F(ExecTest, exec_it_gives_a_tty_that_answers_typed_input) {
    auto it =
        run_command("(sleep 1; echo typed; sleep 1) | DOCKER_HOST=unix://" + daemon.socket_path() +
                    " script -qc \"docker exec -it box sh -c 'tty; read x; echo got \\$x'\""
                    " /dev/null");
    ASSERT_EQ(it.exit_code, 0) << it.error;
    EXPECT_NE(it.output.find("/dev/pts/"), std::string::npos) << it.output;
    EXPECT_NE(it.output.find("got typed\r\n"), std::string::npos) << it.output;
}

TEST_F(ExecTest, a_missing_program_is_dockers_error_and_127) {
    auto r = d("exec box nosuchprogram");
    EXPECT_EQ(r.exit_code, 127);
    EXPECT_NE(
        (r.output + r.error).find("exec: \"nosuchprogram\": executable file not found in $PATH"),
        std::string::npos)
        << r.output << r.error;
    auto dir = d("exec -w /no/such/dir box true");
    EXPECT_NE(dir.exit_code, 0);
    EXPECT_NE((dir.output + dir.error).find("/no/such/dir"), std::string::npos) << dir.output;
    // The container is untouched.
    EXPECT_EQ(d("inspect box --format '{{.State.Status}}'").output, "running\n");
}

TEST_F(ExecTest, exec_into_a_stopped_or_paused_or_unknown_container_is_refused) {
    ASSERT_EQ(d("create --name idle busybox true").exit_code, 0);
    auto stopped = d("exec idle true");
    EXPECT_EQ(stopped.exit_code, 1);
    EXPECT_NE(stopped.error.find("is not running"), std::string::npos) << stopped.error;
    ASSERT_EQ(d("pause box").exit_code, 0);
    auto paused = d("exec box true");
    EXPECT_EQ(paused.exit_code, 1);
    EXPECT_NE(paused.error.find("is paused, unpause the container before exec"), std::string::npos)
        << paused.error;
    ASSERT_EQ(d("unpause box").exit_code, 0);
    auto unknown = d("exec nosuch true");
    EXPECT_NE(unknown.error.find("No such container: nosuch"), std::string::npos) << unknown.error;
    // Through the API: no command, a body that is not JSON, an unknown exec.
    auto empty = http_post_json(daemon.socket_path(), "/containers/box/exec", "{\"Cmd\":[]}");
    EXPECT_EQ(empty.status, 400) << empty.body;
    EXPECT_NE(empty.body.find("No exec command specified"), std::string::npos);
    auto garbage = http_post_json(daemon.socket_path(), "/containers/box/exec", "{nope");
    EXPECT_EQ(garbage.status, 400) << garbage.body;
    auto wrong = http_post_json(daemon.socket_path(), "/containers/box/exec", "{\"Cmd\":\"ls\"}");
    EXPECT_EQ(wrong.status, 400) << wrong.body;
    auto none = http_request(daemon.socket_path(), "GET", "/exec/0123456789/json");
    EXPECT_EQ(none.status, 404) << none.body;
    EXPECT_NE(none.body.find("No such exec instance: 0123456789"), std::string::npos);
}

TEST_F(ExecTest, detached_exec_runs_on_and_inspect_shows_its_exit) {
    auto r = d("exec -d box sh -c 'echo made > /tmp/mark'");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    // It ran (give it a moment: detached means the CLI did not wait).
    auto seen = run_command("for i in $(seq 50); do DOCKER_HOST=" + daemon.docker_host() +
                            " docker exec box cat /tmp/mark 2>/dev/null && exit 0; sleep 0.1; "
                            "done; exit 1");
    EXPECT_EQ(seen.output.substr(0, 5), "made\n");
    auto ids = d("inspect box --format '{{len .ExecIDs}}'");
    EXPECT_NE(ids.output, "0\n");
    // The API's view of one exec: created, then started and ended with its code.
    auto created = http_post_json(daemon.socket_path(), "/containers/box/exec",
                                  "{\"Cmd\":[\"sh\",\"-c\",\"exit 5\"]}");
    ASSERT_EQ(created.status, 201) << created.body;
    std::string id = created.body.substr(created.body.find("\"Id\":\"") + 6, 64);
    auto before = http_request(daemon.socket_path(), "GET", "/exec/" + id + "/json");
    EXPECT_NE(before.body.find("\"Running\":false"), std::string::npos) << before.body;
    EXPECT_NE(before.body.find("\"ExitCode\":null"), std::string::npos) << before.body;
    auto start =
        http_post_json(daemon.socket_path(), "/exec/" + id + "/start", "{\"Detach\":true}");
    EXPECT_EQ(start.status, 200) << start.body;
    std::string after;
    for (int i = 0; i < 50 && after.find("\"ExitCode\":5") == std::string::npos; ++i) {
        usleep(100000);
        after = http_request(daemon.socket_path(), "GET", "/exec/" + id + "/json").body;
    }
    EXPECT_NE(after.find("\"ExitCode\":5"), std::string::npos) << after;
    EXPECT_NE(after.find("\"entrypoint\":\"sh\""), std::string::npos) << after;
    auto again =
        http_post_json(daemon.socket_path(), "/exec/" + id + "/start", "{\"Detach\":true}");
    EXPECT_EQ(again.status, 409) << again.body;
}

TEST_F(ExecTest, exec_events_are_published) {
    auto since = run_command("date +%s").output;
    since.pop_back();
    ASSERT_EQ(d("exec box sh -c 'exit 2'").exit_code, 2);
    auto ev = d("events --since " + since +
                " --until $(($(date +%s)+1)) --filter type=container "
                "--format '{{.Action}}'");
    EXPECT_NE(ev.output.find("exec_create: sh -c exit 2\n"), std::string::npos) << ev.output;
    EXPECT_NE(ev.output.find("exec_start: sh -c exit 2\n"), std::string::npos) << ev.output;
    EXPECT_NE(ev.output.find("exec_die\n"), std::string::npos) << ev.output;
}

TEST_F(ExecTest, exec_processes_die_with_their_container_and_nothing_is_left) {
    ASSERT_EQ(d("exec -d box sleep 4242").exit_code, 0);
    auto found = run_command(
        "for i in $(seq 50); do pgrep -f 'sleep 424[2]' && exit 0; sleep 0.1; "
        "done; exit 1");
    ASSERT_EQ(found.exit_code, 0) << "the detached exec never ran";
    ASSERT_EQ(d("rm -f box").exit_code, 0);
    auto gone = run_command(
        "for i in $(seq 50); do pgrep -f 'sleep 424[2]' || exit 0; sleep 0.1; "
        "done; exit 1");
    EXPECT_EQ(gone.exit_code, 0) << "an exec outlived its container";
    // The daemon serves the next container and exec as before.
    ASSERT_EQ(d("run -d --name next busybox sleep 1000").exit_code, 0);
    EXPECT_EQ(d("exec next echo fine").output, "fine\n");
    ASSERT_EQ(d("rm -f next").exit_code, 0);
}

// The CLI detaches by itself; an API client relies on the daemon: on a tty, the detach sequence
// (ctrl-p ctrl-q by default, or detachKeys) ends the attach and the process runs on.
TEST_F(ExecTest, detach_keys_end_an_attach_and_leave_the_container_running) {
    ASSERT_EQ(d("run -dit --name tty busybox sh").exit_code, 0);
    for (std::string keys : {std::string(""), std::string("&detachKeys=ctrl-x,a")}) {
        RawClient c(daemon.socket_path());
        ASSERT_TRUE(c.connected());
        ASSERT_TRUE(
            c.send("POST /containers/tty/attach?stream=1&stdin=1&stdout=1" + keys +
                   " HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"));
        ASSERT_NE(c.read_until("\r\n\r\n", Millis(5000)).find("101"), std::string::npos);
        ASSERT_TRUE(c.send("echo typed-$((40+2))\n"));
        EXPECT_NE(c.read_until("typed-42", Millis(5000)).find("typed-42"), std::string::npos);
        // A false start of the sequence goes through as input.
        ASSERT_TRUE(c.send(keys.empty() ? std::string("\x10") + "echo x\n"
                                        : "\x18"
                                          "echo x\n"));
        EXPECT_NE(c.read_until("x\r\n", Millis(5000)).find("x\r\n"), std::string::npos);
        ASSERT_TRUE(c.send(keys.empty() ? "\x10\x11"
                                        : "\x18"
                                          "a"));
        EXPECT_TRUE(c.wait_for_close(Millis(5000))) << "the attach did not end";
        EXPECT_EQ(d("inspect tty --format '{{.State.Running}}'").output, "true\n");
    }
    auto bad = http_request(daemon.socket_path(), "POST",
                            "/containers/tty/attach?stream=1&stdin=1&detachKeys=ctrl-1");
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_NE(bad.body.find("Invalid detach keys (ctrl-1) provided"), std::string::npos)
        << bad.body;
}

TEST_F(ExecTest, network_container_mode_joins_a_running_containers_network_namespace) {
    std::string pid = host_pid();
    auto joined =
        d("run --rm --network container:box busybox sh -c "
          "'busybox readlink /proc/self/ns/net; busybox hostname'");
    ASSERT_EQ(joined.exit_code, 0) << joined.error;
    EXPECT_EQ(joined.output, run_command("readlink /proc/" + pid + "/ns/net").output +
                                 d("inspect box --format '{{.Config.Hostname}}'").output);
    // Its own pid and mount namespaces all the same.
    EXPECT_NE(
        d("run --rm --network container:box busybox busybox readlink /proc/self/ns/pid").output,
        run_command("readlink /proc/" + pid + "/ns/pid").output);
    ASSERT_EQ(d("create --name idle2 busybox true").exit_code, 0);
    auto stopped = d("run --rm --network container:idle2 busybox true");
    EXPECT_NE(stopped.exit_code, 0);
    EXPECT_NE(stopped.error.find("cannot join network namespace of a non running container"),
              std::string::npos)
        << stopped.error;
}

TEST_F(ExecTest, execs_racing_their_containers_exit_get_an_answer_and_the_daemon_lives) {
    for (int i = 0; i < 20; ++i) {
        std::string name = "brief" + std::to_string(i);
        ASSERT_EQ(d("run -d --name " + name + " busybox busybox usleep " + std::to_string(2000 * i))
                      .exit_code,
                  0);
        auto r = d("exec " + name + " true");  // before, during or after the exit
        EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1 || r.exit_code == 126 ||
                    r.exit_code == 137)
            << r.exit_code << " " << r.error;
        ASSERT_EQ(d("rm -f " + name).exit_code, 0);
    }
    EXPECT_EQ(d("exec box echo alive").output, "alive\n");
}
