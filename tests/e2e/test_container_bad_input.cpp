// Bad input for containers: bodies of the wrong shape, a thousand `rm -f` at once, stops racing
// exits, a gigabyte of output, clients dropping their streams. Docker's status codes and
// messages, and nothing leaked (fds, mounts, cgroups, records) nor any other container touched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <memory>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class ContainerBadInputTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
        // A bystander: whatever happens to the others, it runs on untouched.
        ASSERT_EQ(d("run -d --name bystander busybox sleep 1000").exit_code, 0);
    }
    void TearDown() override {
        if (!daemon.running()) return;
        EXPECT_EQ(d("inspect bystander --format '{{.State.Status}} {{.RestartCount}}'").output,
                  "running 0\n");
        EXPECT_EQ(d("exec bystander echo fine").output, "fine\n");
    }
    // Mounts under the daemon's data root, and the container cgroups under its parent.
    size_t mounts_under_data_root() {
        std::ifstream in("/proc/self/mountinfo");
        size_t n = 0;
        for (std::string line; std::getline(in, line);)
            if (line.find(daemon.data_root()) != std::string::npos) ++n;
        return n;
    }
    // In one hierarchy: the pids one on a v1/hybrid host, the unified tree on cgroup v2.
    size_t container_cgroups() {
        std::string parent = daemon.cgroup_parent();
        auto r =
            run_command("d=/sys/fs/cgroup/pids/" + parent + "; [ -d $d ] || d=/sys/fs/cgroup/" +
                        parent + "; ls -d $d/*/ 2>/dev/null | wc -l");
        return size_t(std::stoul(r.output));
    }
};

}  // namespace

TEST_F(ContainerBadInputTest, bodies_of_the_wrong_shape_are_400_in_gos_words_and_make_nothing) {
    struct Case {
        const char* body;
        const char* message;
    } cases[] = {
        {"{\"Image\":5}",
         "json: cannot unmarshal number into Go struct field CreateRequest.Image of type string"},
        {"{\"Image\":\"busybox\",\"Env\":\"A=b\"}",
         "json: cannot unmarshal string into Go struct field CreateRequest.Env of type []string"},
        {"{\"Image\":\"busybox\",\"Tty\":\"yes\"}",
         "json: cannot unmarshal string into Go struct field CreateRequest.Tty of type bool"},
        {"{\"Image\":\"busybox\",\"HostConfig\":{\"Memory\":\"lots\"}}",
         "json: cannot unmarshal string into Go struct field CreateRequest.HostConfig.Memory of "
         "type int64"},
        {"{\"Image\":\"busybox\",\"Labels\":{\"a\":1}}", "of type map[string]string"},
        {"[1]", "json: cannot unmarshal array into Go value of type container.CreateRequest"},
        {"{\"Image\":", "invalid JSON"},
    };
    for (const Case& c : cases) {
        auto r = http_post_json(daemon.socket_path(), "/containers/create", c.body);
        EXPECT_EQ(r.status, 400) << c.body << " → " << r.body;
        EXPECT_NE(r.body.find(c.message), std::string::npos) << c.body << " → " << r.body;
    }
    auto name = http_post_json(daemon.socket_path(), "/containers/create?name=a/b",
                               "{\"Image\":\"busybox\"}");
    EXPECT_EQ(name.status, 400) << name.body;
    auto none = http_request(daemon.socket_path(), "POST", "/containers/nosuch/start");
    EXPECT_EQ(none.status, 404) << none.body;
    EXPECT_NE(none.body.find("No such container: nosuch"), std::string::npos) << none.body;
    EXPECT_EQ(d("ps -aq").output.size(), 13u);  // the bystander alone
}

TEST_F(ContainerBadInputTest, a_thousand_rm_f_at_once_remove_everything_and_leak_nothing) {
    constexpr int n = 1000;
    ASSERT_TRUE(ensure_fd_limit(4096));
    long fds_before = settled_fd_count(daemon);
    size_t mounts_before = mounts_under_data_root();
    for (int i = 0; i < n; ++i) {
        std::string name = "/containers/create?name=doomed" + std::to_string(i);
        auto c = http_post_json(daemon.socket_path(), name,
                                "{\"Image\":\"busybox\",\"Cmd\":[\"sleep\",\"1000\"]}");
        ASSERT_EQ(c.status, 201) << c.body;
        auto s = http_request(daemon.socket_path(), "POST",
                              "/containers/doomed" + std::to_string(i) + "/start");
        ASSERT_EQ(s.status, 204) << s.body;
    }
    EXPECT_EQ(container_cgroups(), size_t(n + 1));
    // Every request is on the wire before any answer is read.
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < n; ++i) {
        auto c = std::make_unique<RawClient>(daemon.socket_path());
        ASSERT_TRUE(c->connected()) << i;
        ASSERT_TRUE(c->send("DELETE /containers/doomed" + std::to_string(i) +
                            "?force=1 HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"));
        clients.push_back(std::move(c));
    }
    int ok = 0;
    for (auto& c : clients) {
        auto r = parse_response(c->read_until_close(Millis(30000)));
        if (r && r->status == 204) ++ok;
    }
    clients.clear();
    EXPECT_EQ(ok, n);
    EXPECT_EQ(d("ps -aq --filter name=doomed").output, "");
    EXPECT_TRUE(eventually([&] { return container_cgroups() <= 1; }, Millis(10000)))
        << container_cgroups() << " container cgroups left";
    EXPECT_EQ(mounts_under_data_root(), mounts_before);
    EXPECT_TRUE(
        eventually([&] { return fd_count(daemon) <= fds_before + 5; }, Millis(5000)))
        << "fd leak: NFd " << fd_count(daemon) << " after, " << fds_before << " before";
}

TEST_F(ContainerBadInputTest, stops_racing_exits_end_well_every_time) {
    // The process ends on its own just as the stop arrives: 204 or 304, never an error, and the
    // record always ends exited with a sane code.
    for (int i = 0; i < 30; ++i) {
        std::string name = "racer" + std::to_string(i);
        ASSERT_EQ(d("run -d --name " + name + " busybox sh -c 'busybox usleep " +
                    std::to_string(1000 * (i % 10)) + "'")
                      .exit_code,
                  0);
        auto stop = http_request(daemon.socket_path(), "POST", "/containers/" + name + "/stop?t=1");
        EXPECT_TRUE(stop.status == 204 || stop.status == 304) << stop.status << " " << stop.body;
        auto kill = http_request(daemon.socket_path(), "POST", "/containers/" + name + "/kill");
        EXPECT_TRUE(kill.status == 204 || kill.status == 409) << kill.status << " " << kill.body;
        auto st = d("wait " + name);
        EXPECT_TRUE(st.output == "0\n" || st.output == "143\n" || st.output == "137\n")
            << name << ": " << st.output;
        EXPECT_EQ(d("inspect " + name + " --format '{{.State.Status}}'").output, "exited\n");
        ASSERT_EQ(d("rm " + name).exit_code, 0);
    }
}

TEST_F(ContainerBadInputTest, a_gigabyte_of_output_streams_through_in_bounded_memory) {
    auto rss = [&] {
        std::ifstream in("/proc/" + std::to_string(daemon.pid()) + "/status");
        for (std::string line; std::getline(in, line);)
            if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
        return -1L;
    };
    long before = rss();
    auto r = docker(daemon,
                    "run --rm --log-driver none busybox sh -c 'busybox yes "
                    "0123456789abcdefghijklmnopqrstuvwxyz | busybox head -c 1000000000' "
                    "</dev/null | wc -c");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, "1000000000\n");
    // The flood passed through a bounded window: the daemon's peak grew by far less.
    EXPECT_LT(rss() - before, 64 * 1024) << "VmHWM grew from " << before << " kB";
}

TEST_F(ContainerBadInputTest, clients_dropping_attach_and_logs_streams_leave_nothing_behind) {
    long fds_before = settled_fd_count(daemon);
    ASSERT_EQ(d("run -d --name chatty busybox sh -c 'while true; do echo tick; busybox usleep "
                "10000; done'")
                  .exit_code,
              0);
    for (int i = 0; i < 20; ++i) {
        RawClient a(daemon.socket_path());
        ASSERT_TRUE(
            a.send("POST /containers/chatty/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: "
                   "b\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"));
        EXPECT_NE(a.read_until("tick", Millis(5000)).find("tick"), std::string::npos);
        RawClient l(daemon.socket_path());
        ASSERT_TRUE(
            l.send("GET /containers/chatty/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: "
                   "b\r\n\r\n"));
        EXPECT_NE(l.read_until("tick", Millis(5000)).find("tick"), std::string::npos);
    }  // both dropped mid-stream, every round
    EXPECT_EQ(d("inspect chatty --format '{{.State.Status}}'").output, "running\n");
    ASSERT_EQ(d("rm -f chatty").exit_code, 0);
    EXPECT_TRUE(
        eventually([&] { return fd_count(daemon) <= fds_before + 5; }, Millis(5000)))
        << "fd leak: NFd " << fd_count(daemon) << " after, " << fds_before << " before";
}

TEST_F(ContainerBadInputTest, a_run_rm_that_cannot_start_reports_why_and_leaves_nothing) {
    // dockerd removes an AutoRemove container whose start fails, and the CLI waits for that.
    auto r = docker(daemon, "run --rm -v /no/such/source:/x busybox true </dev/null");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("bind source path does not exist: /no/such/source"), std::string::npos)
        << r.error;
    auto net = docker(daemon, "run --rm --network container:nosuch busybox true </dev/null");
    EXPECT_NE(net.exit_code, 0);
    EXPECT_NE(net.error.find("No such container: nosuch"), std::string::npos) << net.error;
    EXPECT_EQ(d("ps -aq").output.size(), 13u);  // the bystander alone
    // Without --rm the container stays, with the reason in State.Error.
    ASSERT_NE(d("run --name kept -v /no/such/source:/x busybox true").exit_code, 0);
    EXPECT_NE(d("inspect kept --format '{{.State.Status}} {{.State.Error}}'")
                  .output.find("created invalid mount config"),
              std::string::npos);
}
