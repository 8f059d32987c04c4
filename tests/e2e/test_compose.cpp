// docker-compose (Debian's 1.29) against berthd: a two-service project, a busybox httpd and a
// client that fetches from it by service name over the project's network, brought up with
// `up -d`, looked at with `ps` and `logs`, and taken down with `down` (containers and the
// project network gone). The daemon runs in a network namespace of its own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"

using namespace berth::e2e;

namespace {

constexpr const char* compose_file = R"(version: "3.7"
services:
  web:
    image: busybox:latest
    stop_grace_period: 1s
    command: sh -c 'mkdir -p /www && echo served-by-web > /www/index.html && exec busybox httpd -f -p 80 -h /www'
  client:
    image: busybox:latest
    depends_on: [web]
    stop_grace_period: 1s
    # The image's static busybox resolves through its own nslookup (no NSS for getaddrinfo).
    command:
      - sh
      - -c
      - |
        for i in $$(busybox seq 1 50); do
          h=$$(busybox nslookup web 2>/dev/null | busybox awk '/^Address: /{print $$2}' | busybox tail -n 1)
          if [ -n "$$h" ] && printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 2 $$h 80; then exec busybox sleep 1000; fi
          busybox sleep 0.2
        done
        echo gave-up
)";

class ComposeTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
        if (access("/usr/bin/docker-compose", X_OK) != 0) GTEST_SKIP() << "needs docker-compose";
        project_dir = daemon.dir() + "/proj";
        ASSERT_EQ(run_command("mkdir -p " + project_dir).exit_code, 0);
        std::ofstream(project_dir + "/docker-compose.yml") << compose_file;
    }
    CommandResult compose(const std::string& args) {
        return run_command("cd " + project_dir + " && docker-compose -p demo " + args +
                               " </dev/null",
                           {"DOCKER_HOST=" + daemon.docker_host(), "COMPOSE_INTERACTIVE_NO_CLI=1"});
    }
    std::string project_dir;
};

}  // namespace

TEST_F(ComposeTest, two_service_project_up_ps_logs_down) {
    auto up = compose("up -d");
    ASSERT_EQ(up.exit_code, 0) << up.output << up.error;
    auto ps = compose("ps");
    EXPECT_NE(ps.output.find("demo_web_1"), std::string::npos) << ps.output << ps.error;
    EXPECT_NE(ps.output.find("demo_client_1"), std::string::npos) << ps.output;
    EXPECT_NE(ps.output.find("Up"), std::string::npos) << ps.output;
    std::string logs;
    EXPECT_TRUE(eventually(
        [&] {
            logs = compose("logs client").output;
            return logs.find("served-by-web") != std::string::npos;
        },
        Millis(15000)))
        << logs;
    EXPECT_EQ(logs.find("gave-up"), std::string::npos) << logs;
    EXPECT_NE(d("network ls").output.find("demo_default"), std::string::npos);
    auto down = compose("down");
    ASSERT_EQ(down.exit_code, 0) << down.output << down.error;
    EXPECT_EQ(d("ps -aq").output, "");
    EXPECT_EQ(d("network ls").output.find("demo_default"), std::string::npos)
        << down.output << down.error;
}
