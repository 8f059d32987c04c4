// `docker ps` through the docker CLI: every filter dockerd knows with the names it lists,
// -n / -l, --size, the Status column in Docker's words, and the 400s for bad filters.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

// Five containers, oldest first: a1 exited 0 (tier=front), b2 exited 3 (tier=back, a bind on
// /data), c3 running, d4 created, e5 paused. `docker ps` lists newest first.
class PsTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
        std::string data = daemon.dir() + "/data";
        std::filesystem::create_directories(data);
        ASSERT_EQ(d("run --name a1 -l tier=front busybox true").exit_code, 0);
        ASSERT_EQ(
            d("run --name b2 -l tier=back -v " + data + ":/data busybox sh -c 'exit 3'").exit_code,
            3);
        ASSERT_EQ(d("run -d --name c3 busybox sleep 60").exit_code, 0);
        ASSERT_EQ(d("create --name d4 busybox").exit_code, 0);
        ASSERT_EQ(d("run -d --name e5 busybox sleep 60").exit_code, 0);
        ASSERT_EQ(d("pause e5").exit_code, 0);
    }
    void TearDown() override {
        if (daemon.running()) d("rm -f a1 b2 c3 d4 e5");
    }
    // The names `docker ps -a --filter <f>` lists, one line.
    std::string names(const std::string& filter, const std::string& flags = "-a") {
        auto r = d("ps " + flags + " --filter '" + filter + "' --format '{{.Names}}'");
        EXPECT_EQ(r.exit_code, 0) << filter << ": " << r.error;
        std::string out = r.output;
        for (char& c : out)
            if (c == '\n') c = ' ';
        while (!out.empty() && out.back() == ' ') out.pop_back();
        return out;
    }
};

}  // namespace

TEST_F(PsTest, name_id_and_label_filters) {
    EXPECT_EQ(names("name=a1"), "a1");
    EXPECT_EQ(names("name=^c"), "c3");
    EXPECT_EQ(names("name=^/d4$"), "d4");
    EXPECT_EQ(names("name=zz"), "");
    std::string id = d("inspect c3 --format '{{.Id}}'").output.substr(0, 10);
    EXPECT_EQ(names("id=" + id), "c3");
    EXPECT_EQ(names("label=tier"), "b2 a1");
    EXPECT_EQ(names("label=tier=front"), "a1");
    EXPECT_EQ(names("label=tier=side"), "");
}

TEST_F(PsTest, status_exited_and_health_filters) {
    EXPECT_EQ(names("status=exited"), "b2 a1");
    EXPECT_EQ(names("status=running"), "c3");
    EXPECT_EQ(names("status=created"), "d4");
    EXPECT_EQ(names("status=paused"), "e5");
    EXPECT_EQ(names("status=exited", ""), "b2 a1");  // a status filter lists stopped ones too
    EXPECT_EQ(names("exited=3"), "b2");
    EXPECT_EQ(names("exited=0"), "a1");  // d4 never ran: it has no exit code
    EXPECT_EQ(names("health=none"), "e5 d4 c3 b2 a1");
    EXPECT_EQ(names("health=healthy"), "");
}

TEST_F(PsTest, ancestor_before_since_and_volume_filters) {
    EXPECT_EQ(names("ancestor=busybox"), "e5 d4 c3 b2 a1");
    EXPECT_EQ(names("ancestor=busybox:latest"), "e5 d4 c3 b2 a1");
    EXPECT_EQ(names("ancestor=" + image_id.substr(7, 12)), "e5 d4 c3 b2 a1");
    EXPECT_EQ(names("ancestor=nosuchimage"), "");
    EXPECT_EQ(names("before=c3"), "b2 a1");
    EXPECT_EQ(names("since=c3"), "e5 d4");
    EXPECT_EQ(names("volume=/data"), "b2");
    auto missing = d("ps -a --filter before=nosuch");
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.error.find("No such container: nosuch"), std::string::npos) << missing.error;
}

TEST_F(PsTest, last_n_latest_and_size) {
    auto n = d("ps -n 3 --format '{{.Names}}'");
    EXPECT_EQ(n.output, "e5\nd4\nc3\n");
    EXPECT_EQ(d("ps -l --format '{{.Names}}'").output, "e5\n");
    EXPECT_EQ(d("ps --format '{{.Names}}'").output, "e5\nc3\n");
    auto s = d("ps -s --filter name=c3 --format '{{.Size}}'");
    EXPECT_TRUE(std::regex_match(s.output, std::regex("[0-9.]+k?B \\(virtual [0-9.]+[kM]B\\)\n")))
        << s.output;
    auto raw = http_get(daemon.socket_path(),
                        "/containers/json?size=1&filters=%7B%22name%22%3A%5B%22c3%22%5D%7D");
    EXPECT_NE(raw.body.find("\"SizeRw\":"), std::string::npos) << raw.body;
    EXPECT_NE(raw.body.find("\"SizeRootFs\":"), std::string::npos) << raw.body;
}

TEST_F(PsTest, status_column_reads_as_docker_writes_it) {
    auto r = d("ps -a --format '{{.Names}} {{.Status}}'");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    std::string up = "(Less than a second|[0-9]+ seconds|About a minute)";
    std::regex want("e5 Up " + up +
                    " \\(Paused\\)\n"
                    "d4 Created\n"
                    "c3 Up " +
                    up +
                    "\n"
                    "b2 Exited \\(3\\) " +
                    up +
                    " ago\n"
                    "a1 Exited \\(0\\) " +
                    up + " ago\n");
    EXPECT_TRUE(std::regex_match(r.output, want)) << r.output;
}

TEST_F(PsTest, bad_filters_are_refused_with_dockers_messages) {
    auto key = d("ps --filter colour=red");
    EXPECT_NE(key.exit_code, 0);
    EXPECT_NE(key.error.find("invalid filter 'colour'"), std::string::npos) << key.error;
    auto status = d("ps --filter status=sleeping");
    EXPECT_NE(status.error.find("invalid filter 'status=sleeping'"), std::string::npos)
        << status.error;
    auto health = d("ps --filter health=meh");
    EXPECT_NE(health.error.find("Unrecognised filter value for health: meh"), std::string::npos)
        << health.error;
    auto raw = http_get(daemon.socket_path(),
                        "/containers/json?filters=%7B%22status%22%3A%5B%22x%22%5D%7D");
    EXPECT_EQ(raw.status, 400);
    EXPECT_EQ(raw.body, "{\"message\":\"invalid filter 'status=x'\"}\n");
}
