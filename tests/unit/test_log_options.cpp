// HostConfig.LogConfig: Docker's size units for max-size, the merge with the daemon's default,
// and dockerd's refusals in its words.
#include <gtest/gtest.h>

#include "daemon/config.hpp"
#include "drivers/logs/log_options.hpp"

using namespace berth;
using namespace berth::drivers;

TEST(LogOptions, sizes_use_docker_decimal_units) {
    EXPECT_EQ(*parse_human_size("100"), 100);
    EXPECT_EQ(*parse_human_size("100k"), 100'000);
    EXPECT_EQ(*parse_human_size("10m"), 10'000'000);
    EXPECT_EQ(*parse_human_size("10M"), 10'000'000);
    EXPECT_EQ(*parse_human_size("1g"), 1'000'000'000);
    EXPECT_EQ(*parse_human_size("10MB"), 10'000'000);
    EXPECT_EQ(*parse_human_size("10mib"), 10'000'000);  // FromHumanSize ignores the i
    EXPECT_EQ(*parse_human_size("1.5k"), 1500);
    EXPECT_EQ(*parse_human_size("3 kb"), 3000);
}

TEST(LogOptions, bad_sizes_are_refused_with_dockers_message) {
    for (const char* bad : {"", "m", "10x", "-1", "10 m b", "ten", "1..2k", "10mm"}) {
        auto r = parse_human_size(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().message, std::string("invalid size: '") + bad + "'") << bad;
        EXPECT_EQ(r.error().kind, ErrorKind::invalid_parameter);
    }
}

TEST(LogOptions, json_file_options_are_read_and_checked) {
    auto s = log_settings({"json-file", {{"max-size", "100k"}, {"max-file", "3"}}});
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE(s->enabled);
    EXPECT_EQ(s->file.max_size, 100'000);
    EXPECT_EQ(s->file.max_file, 3);
    auto plain = log_settings({"json-file", {}});
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->file.max_size, -1);
    EXPECT_EQ(plain->file.max_file, 1);  // Docker's default
    auto local = log_settings({"local", {}});
    ASSERT_TRUE(local);
    EXPECT_EQ(local->file.max_size, 20'000'000);
    EXPECT_EQ(local->file.max_file, 5);
    auto none = log_settings({"none", {{"whatever", "x"}}});
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->enabled);
}

TEST(LogOptions, refusals_use_dockerd_words) {
    auto msg = [](LogConfig c) {
        auto r = log_settings(c);
        return r ? std::string("accepted") : r.error().message;
    };
    EXPECT_EQ(msg({"syslog", {}}), "logger: no log driver named 'syslog' is registered");
    EXPECT_EQ(msg({"json-file", {{"max-size", "0"}}}), "max-size must be a positive number");
    EXPECT_EQ(msg({"json-file", {{"max-size", "big"}}}), "invalid size: 'big'");
    EXPECT_EQ(msg({"json-file", {{"max-file", "0"}}}), "max-file cannot be less than 1");
    EXPECT_EQ(msg({"json-file", {{"max-file", "x"}}}),
              "strconv.Atoi: parsing \"x\": invalid syntax");
    EXPECT_EQ(msg({"json-file", {{"colour", "red"}}}),
              "unknown log opt 'colour' for json-file log driver");
    EXPECT_EQ(msg({"local", {{"tag", "x"}}}), "unknown log opt 'tag' for local log driver");
    EXPECT_EQ(msg({"json-file", {{"mode", "fast"}}}), "logger: logging mode not supported: fast");
    EXPECT_NE(msg({"json-file", {{"compress", "true"}}}).find("compress is not supported"),
              std::string::npos);
    EXPECT_EQ(msg({"json-file", {{"compress", "false"}, {"tag", "{{.Name}}"}}}), "accepted");
}

TEST(LogOptions, the_daemon_default_fills_what_the_container_left_unset) {
    LogConfig daemon{"json-file", {{"max-size", "10m"}, {"max-file", "3"}}};
    auto empty = merge_log_config({}, daemon);
    EXPECT_EQ(empty.type, "json-file");
    EXPECT_EQ(empty.config.at("max-size"), "10m");
    auto own = merge_log_config({"json-file", {{"max-size", "1m"}}}, daemon);
    EXPECT_EQ(own.config.at("max-size"), "1m");
    EXPECT_EQ(own.config.at("max-file"), "3");
    auto other = merge_log_config({"none", {}}, daemon);  // another driver takes none of them
    EXPECT_TRUE(other.config.empty());
}

TEST(LogOptions, host_config_keeps_its_fields_and_gets_the_merged_log_config) {
    std::string hc =
        R"({"Binds":["/a:/b"],"LogConfig":{"Type":"","Config":{}},"Privileged":false})";
    LogConfig c = log_config_from_host_config(hc);
    EXPECT_EQ(c.type, "");
    std::string out = with_log_config(hc, {"json-file", {{"max-size", "5k"}}});
    EXPECT_EQ(out, R"({"Binds":["/a:/b"],"Privileged":false,"LogConfig":{"Type":"json-file",)"
                   R"("Config":{"max-size":"5k"}}})");
    LogConfig back = log_config_from_host_config(out);
    EXPECT_EQ(back.type, "json-file");
    EXPECT_EQ(back.config.at("max-size"), "5k");
}

TEST(LogOptions, daemon_json_sets_the_default_log_driver_and_options) {
    daemon::Config c;
    auto r = daemon::merge_config_file(
        c, R"({"log-driver":"local","log-opts":{"max-size":"1m","max-file":"2"}})", "d.json");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(c.log_driver, "local");
    EXPECT_EQ(c.log_opts.at("max-size"), "1m");
    EXPECT_EQ(c.log_opts.at("max-file"), "2");
    daemon::Config bad;
    auto nums = daemon::merge_config_file(bad, R"({"log-opts":{"max-file":2}})", "d.json");
    ASSERT_FALSE(nums);
    EXPECT_NE(nums.error().message.find("log-opts must be an object of strings"),
              std::string::npos);
}

TEST(LogOptions, dockerd_flags_set_the_default_and_conflict_with_the_file) {
    std::vector<std::string> args = {"berthd",      "--log-driver", "none",      "--log-opt",
                                     "max-size=1m", "--log-opt",    "max-file=4"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    int code = -1;
    auto c = daemon::parse_flags(int(argv.size()), argv.data(), code);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->log_driver, "none");
    EXPECT_EQ(c->log_opts.at("max-size"), "1m");
    EXPECT_EQ(c->log_opts.at("max-file"), "4");
    auto clash = daemon::merge_config_file(*c, R"({"log-opts":{"max-size":"2m"}})", "d.json");
    ASSERT_FALSE(clash);
    EXPECT_NE(clash.error().message.find("log-opts: (from flag: map[max-file:4 max-size:1m], "
                                         "from file: map[max-size:2m])"),
              std::string::npos)
        << clash.error().message;
}
