// Debian's python3-docker drives berthd through its own API (docker_py_suite.py): the calls a
// Python program makes (containers.run with and without detach, logs, wait, exec_run, list,
// get, remove) and the exceptions it expects.
#include <gtest/gtest.h>
#include <unistd.h>

#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class DockerPyTest : public ::testing::TestWithParam<const char*> {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: containers";
        if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs busybox-static";
        if (run_command("/usr/bin/python3 -c 'import docker'").exit_code != 0)
            GTEST_SKIP() << "docker-py is not installed for /usr/bin/python3 (Debian package "
                            "python3-docker); CI installs it";
        ASSERT_TRUE(daemon.start());
        auto img = build_busybox_archive(daemon.dir(), {"busybox:latest"});
        ASSERT_EQ(docker(daemon, "load -i " + img.archive_path + " </dev/null").exit_code, 0);
    }
    BerthDaemon daemon;
};

}  // namespace

TEST_P(DockerPyTest, scenario_passes) {
    auto r = run_command("/usr/bin/python3 " E2E_SOURCE_DIR "/docker_py_suite.py " +
                         daemon.docker_host() + " " + GetParam() + " </dev/null");
    EXPECT_EQ(r.exit_code, 0) << r.output << r.error;
    EXPECT_EQ(r.output, "ok\n") << r.error;
}

INSTANTIATE_TEST_SUITE_P(Python, DockerPyTest,
                         ::testing::Values("run_detach_logs_wait_remove",
                                           "run_attached_returns_output_and_raises_on_failure",
                                           "exec_run", "list_get_and_errors"),
                         [](const auto& info) { return std::string(info.param); });
