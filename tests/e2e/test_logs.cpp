// Container logs through the docker CLI: json-file rotation (max-size, max-file) into Docker's
// <id>-json.log.N files, `docker logs` across them in order, `docker logs -f` across rotations
// without a lost or doubled line, the daemon.json default, `--log-driver none`, dockerd's
// refusals, and a container flooding its output not stalling the daemon.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class LogsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: layers keep owners";
        if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs busybox-static";
        start_daemon();
    }
    virtual void start_daemon() {
        ASSERT_TRUE(daemon.start());
        load_busybox();
    }
    void load_busybox() {
        auto img = build_busybox_archive(daemon.dir(), {"busybox:latest"});
        ASSERT_EQ(d("load -i " + img.archive_path).exit_code, 0);
    }
    CommandResult d(const std::string& args) { return docker(daemon, args + " </dev/null"); }
    std::string container_dir(const std::string& name) {
        std::string id = d("inspect " + name + " --format '{{.Id}}'").output.substr(0, 64);
        return daemon.data_root() + "/containers/" + id + "/" + id + "-json.log";
    }
    BerthDaemon daemon;
};

off_t size_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// "n 12" lines → their numbers, in order; the rest of the text is ignored.
std::vector<int> numbers(const std::string& text, const std::string& prefix) {
    std::vector<int> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(prefix)) out.push_back(std::atoi(line.c_str() + prefix.size()));
    return out;
}

::testing::AssertionResult contiguous(const std::vector<int>& n) {
    for (size_t i = 1; i < n.size(); ++i)
        if (n[i] != n[i - 1] + 1)
            return ::testing::AssertionFailure()
                   << "after " << n[i - 1] << " came " << n[i] << " (entry " << i << ")";
    return ::testing::AssertionSuccess();
}

// 30,000 lines of ~75 bytes (2.2 MB of output, ~4 MB of json-file lines).
const char* flood_script =
    "i=0; while [ $i -lt 30000 ]; do echo \"line $i "
    "................................................................\"; i=$((i+1)); done";

}  // namespace

TEST_F(LogsTest, rotation_keeps_max_file_files_and_logs_reads_them_oldest_first) {
    auto r = d(std::string("run --name big --log-opt max-size=100k --log-opt max-file=3 busybox "
                           "sh -c '") +
               flood_script + "'");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    std::string log = container_dir("big");
    for (const std::string& f : {log, log + ".1", log + ".2"}) {
        EXPECT_GT(size_of(f), 0) << f;
        EXPECT_LE(size_of(f), 100'000 + 200) << f;  // at most one line past max-size, as dockerd
    }
    EXPECT_EQ(size_of(log + ".3"), -1);
    auto all = d("logs big");
    ASSERT_EQ(all.exit_code, 0) << all.error;
    auto n = numbers(all.output, "line ");
    ASSERT_GT(n.size(), 1000u);
    EXPECT_TRUE(contiguous(n));
    EXPECT_EQ(n.back(), 29999);
    EXPECT_GT(n.front(), 0);  // the oldest lines went with the deleted files
    // A reader that stops early (head) leaves the daemon serving.
    auto head = run_command("docker logs big </dev/null 2>/dev/null | head -1",
                            {"DOCKER_HOST=" + daemon.docker_host()});
    EXPECT_EQ(numbers(head.output, "line "), std::vector<int>{n.front()});
    auto tail = d("logs --tail 3 big");
    EXPECT_EQ(numbers(tail.output, "line "), (std::vector<int>{29997, 29998, 29999}));
    ASSERT_EQ(d("rm big").exit_code, 0);
    EXPECT_EQ(size_of(log + ".1"), -1);  // rm takes the rotated files too
}

TEST_F(LogsTest, follow_sees_every_line_once_across_rotations) {
    std::string ctl = daemon.dir() + "/ctl";
    std::filesystem::create_directories(ctl);
    // The container says "ready", waits for the test to start following, then writes 5,000
    // lines into 10 kB files: dozens of rotations while `docker logs -f` reads.
    ASSERT_EQ(d("run -d --name counter -v " + ctl +
                ":/ctl --log-opt max-size=10k --log-opt max-file=2 busybox sh -c 'echo ready; "
                "while [ ! -e /ctl/go ]; do sleep 0.05; done; i=0; while [ $i -lt 5000 ]; do "
                "echo \"n $i\"; i=$((i+1)); done'")
                  .exit_code,
              0);
    std::string out = daemon.dir() + "/follow.out";
    run_command("docker logs -f counter > " + out + " 2>&1 </dev/null &",
                {"DOCKER_HOST=" + daemon.docker_host()});
    ASSERT_TRUE(eventually([&] { return read_file(out).find("ready\n") != std::string::npos; },
                           Millis(20000)));
    run_command("touch " + ctl + "/go");
    ASSERT_TRUE(eventually([&] { return read_file(out).find("n 4999\n") != std::string::npos; },
                           Millis(60000)))
        << read_file(out).substr(0, 2000);
    std::string text = read_file(out);
    EXPECT_TRUE(text.starts_with("ready\nn 0\n")) << text.substr(0, 200);
    auto n = numbers(text, "n ");
    EXPECT_EQ(n.size(), 5000u);
    EXPECT_TRUE(contiguous(n));
    // The files kept hold far fewer lines: the follower read across the rotations.
    EXPECT_LT(numbers(d("logs counter").output, "n ").size(), 1000u);
    d("rm -f counter");
}

TEST_F(LogsTest, log_driver_none_keeps_nothing_and_logs_says_so) {
    auto r = d("run --name quiet --log-driver none busybox echo still attached");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, "still attached\n");  // attached clients still get the output
    EXPECT_EQ(size_of(container_dir("quiet")), -1);
    auto logs = d("logs quiet");
    EXPECT_NE(logs.exit_code, 0);
    EXPECT_NE(logs.error.find("configured logging driver does not support reading"),
              std::string::npos)
        << logs.error;
    EXPECT_EQ(d("inspect quiet --format '{{.HostConfig.LogConfig.Type}}'").output, "none\n");
}

TEST_F(LogsTest, bad_log_configs_are_refused_at_create_with_dockerd_words) {
    auto syslog = d("create --log-driver syslog busybox true");
    EXPECT_NE(syslog.exit_code, 0);
    EXPECT_NE(syslog.error.find("logger: no log driver named 'syslog' is registered"),
              std::string::npos)
        << syslog.error;
    auto size = d("create --log-opt max-size=lots busybox true");
    EXPECT_NE(size.error.find("invalid size: 'lots'"), std::string::npos) << size.error;
    auto opt = d("create --log-opt colour=red busybox true");
    EXPECT_NE(opt.error.find("unknown log opt 'colour' for json-file log driver"),
              std::string::npos)
        << opt.error;
    auto files = d("create --log-opt max-file=0 busybox true");
    EXPECT_NE(files.error.find("max-file cannot be less than 1"), std::string::npos) << files.error;
    auto gz =
        d("create --log-opt max-size=1m --log-opt max-file=2 --log-opt compress=true "
          "busybox true");
    EXPECT_NE(gz.error.find("compress is not supported"), std::string::npos) << gz.error;
    EXPECT_EQ(d("ps -aq").output, "");  // nothing was created
    auto ok = d("create --name fine --log-opt max-size=1m busybox true");
    ASSERT_EQ(ok.exit_code, 0) << ok.error;
    EXPECT_EQ(d("inspect fine --format '{{json .HostConfig.LogConfig}}'").output,
              "{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1m\"}}\n");
}

TEST_F(LogsTest, a_flooding_container_does_not_stall_the_daemon_or_others) {
    ASSERT_EQ(d("run -d --name flood --log-opt max-size=1m --log-opt max-file=2 busybox "
                "busybox yes flooding")
                  .exit_code,
              0);
    std::string log = container_dir("flood");
    ASSERT_TRUE(eventually([&] { return size_of(log + ".1") > 0; }, Millis(30000)));
    // While it floods, the API answers and another container runs and logs.
    auto ps = d("ps --format '{{.Names}}'");
    EXPECT_EQ(ps.output, "flood\n");
    auto other = d("run --name other busybox echo unaffected");
    EXPECT_EQ(other.output, "unaffected\n");
    EXPECT_EQ(d("logs other").output, "unaffected\n");
    auto tail = d("logs --tail 2 flood");
    EXPECT_EQ(tail.output, "flooding\nflooding\n");
    ASSERT_EQ(d("rm -f flood other").exit_code, 0);
}

namespace {

// A daemon whose daemon.json sets the containers' default log options.
class LogDefaultsTest : public LogsTest {
  protected:
    void start_daemon() override {
        char tmpl[] = "/tmp/berth-logcfg-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        cfg_dir = tmpl;
        std::string cfg = write_temp_file(cfg_dir, "daemon.json",
                                          R"({"log-opts":{"max-size":"10k","max-file":"2"}})");
        daemon.set_extra_args({"--config-file", cfg});
        LogsTest::start_daemon();
    }
    void TearDown() override {
        if (!cfg_dir.empty()) std::filesystem::remove_all(cfg_dir);
    }
    std::string cfg_dir;
};

}  // namespace

TEST_F(LogDefaultsTest, daemon_json_log_opts_apply_to_new_containers) {
    ASSERT_EQ(d("run --name dflt busybox sh -c 'i=0; while [ $i -lt 2000 ]; do echo \"d $i\"; "
                "i=$((i+1)); done'")
                  .exit_code,
              0);
    EXPECT_EQ(d("inspect dflt --format '{{json .HostConfig.LogConfig}}'").output,
              "{\"Type\":\"json-file\",\"Config\":{\"max-file\":\"2\",\"max-size\":\"10k\"}}\n");
    std::string log = container_dir("dflt");
    EXPECT_GT(size_of(log + ".1"), 0);
    EXPECT_EQ(size_of(log + ".2"), -1);
    EXPECT_LE(size_of(log), 10'000 + 200);
    auto n = numbers(d("logs dflt").output, "d ");
    ASSERT_FALSE(n.empty());
    EXPECT_EQ(n.back(), 1999);
    EXPECT_TRUE(contiguous(n));
    // A container's own options win over the default.
    ASSERT_EQ(d("create --name own --log-opt max-size=1m busybox true").exit_code, 0);
    EXPECT_EQ(d("inspect own --format '{{json .HostConfig.LogConfig.Config}}'").output,
              "{\"max-file\":\"2\",\"max-size\":\"1m\"}\n");
    EXPECT_EQ(d("info --format '{{.LoggingDriver}}'").output, "json-file\n");
}
