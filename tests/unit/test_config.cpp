// berthd flags and daemon.json, with dockerd's conflict rules.
#include <gtest/gtest.h>

#include "daemon/config.hpp"

using namespace berth;
using namespace berth::daemon;

namespace {
Result<Config> parse(std::vector<std::string> args) {
    std::vector<char*> argv;
    std::string prog = "berthd";
    argv.push_back(prog.data());
    for (auto& a : args) argv.push_back(a.data());
    int code = -1;
    return parse_flags(int(argv.size()), argv.data(), code);
}
}  // namespace

TEST(Config, flags_use_dockerd_names) {
    auto c = parse({"-H", "unix:///tmp/a.sock", "--host", "unix:///tmp/b.sock", "--data-root",
                    "/d", "--exec-root", "/e", "--pidfile", "/p", "-D", "--log-level", "warn",
                    "--group", "staff"});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->hosts, (std::vector<std::string>{"unix:///tmp/a.sock", "unix:///tmp/b.sock"}));
    EXPECT_EQ(c->data_root, "/d");
    EXPECT_EQ(c->exec_root, "/e");
    EXPECT_EQ(c->pidfile, "/p");
    EXPECT_TRUE(c->debug);
    EXPECT_EQ(c->log_level, "warn");
    EXPECT_EQ(c->group, "staff");
    EXPECT_TRUE(c->from_flags.contains("data-root"));
    EXPECT_FALSE(c->from_flags.contains("shutdown-timeout"));
}

TEST(Config, file_values_apply_when_no_flag_sets_them) {
    auto c = parse({});
    ASSERT_TRUE(c);
    auto r = merge_config_file(*c, R"({"data-root":"/srv/berth","debug":true,"hosts":["unix:///x.sock"]})",
                               "/etc/berth/daemon.json");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(c->data_root, "/srv/berth");
    EXPECT_TRUE(c->debug);
    EXPECT_EQ(c->hosts, std::vector<std::string>{"unix:///x.sock"});
}

TEST(Config, a_key_in_both_flag_and_file_is_an_error_naming_both_values) {
    auto c = parse({"--data-root", "/a"});
    ASSERT_TRUE(c);
    auto r = merge_config_file(*c, R"({"data-root":"/b"})", "/f.json");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "unable to configure the berth daemon with file /f.json: the following directives "
              "are specified both as a flag and in the configuration file: data-root: (from "
              "flag: /a, from file: /b)");
    EXPECT_EQ(c->data_root, "/a");
}

TEST(Config, unknown_keys_and_bad_json_are_errors) {
    auto c = parse({});
    ASSERT_TRUE(c);
    auto unknown = merge_config_file(*c, R"({"colour":"red"})", "/f.json");
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().message.find("don't match any configuration option: colour"),
              std::string::npos);
    auto bad = merge_config_file(*c, "{not json", "/f.json");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("invalid JSON"), std::string::npos);
    auto wrong_type = merge_config_file(*c, R"({"debug":"yes"})", "/f.json");
    ASSERT_FALSE(wrong_type);
    EXPECT_NE(wrong_type.error().message.find("debug must be true or false"), std::string::npos);
}

TEST(Config, host_values_become_socket_paths) {
    EXPECT_EQ(unix_socket_path("unix:///run/x.sock"), "/run/x.sock");
    EXPECT_EQ(unix_socket_path("/run/y.sock"), "/run/y.sock");
    EXPECT_EQ(unix_socket_path("unix://"), std::string(default_socket));
    auto tcp = unix_socket_path("tcp://0.0.0.0:2375");
    ASSERT_FALSE(tcp);
    EXPECT_NE(tcp.error().message.find("only unix://"), std::string::npos);
    EXPECT_FALSE(unix_socket_path("unix://relative.sock"));
}

TEST(Config, unknown_flag_fails_parsing) {
    auto c = parse({"--no-such-flag"});
    EXPECT_FALSE(c);
}

TEST(Config, default_bridge_flags_and_keys_are_dockerds) {
    auto c = parse({"--bridge", "br0", "--bip", "10.5.0.1/24", "--mtu", "1400"});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->bridge, "br0");
    EXPECT_EQ(c->bip, "10.5.0.1/24");
    EXPECT_EQ(c->mtu, 1400);
    auto d = parse({});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->bridge, "berth0");
    auto r = merge_config_file(*d, R"({"bridge":"none","bip":"10.6.0.1/16","mtu":9000})", "/f");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(d->bridge, "none");
    EXPECT_EQ(d->bip, "10.6.0.1/16");
    EXPECT_EQ(d->mtu, 9000);
    auto both = merge_config_file(*c, R"({"mtu":1500})", "/f");
    ASSERT_FALSE(both);
    EXPECT_NE(both.error().message.find("mtu: (from flag: 1400, from file: 1500)"),
              std::string::npos);
}
