// dockerd's rules that berth keeps as pure functions: restart policies and their back-off,
// healthcheck state and merge, detach keys.
#include <gtest/gtest.h>

#include "http/api/attach_stream.hpp"
#include "jobs/health.hpp"
#include "jobs/restart_policy.hpp"

using namespace berth::jobs;
using berth::http::parse_detach_keys;

TEST(RestartPolicy, names_and_counts_are_checked_as_dockerd_checks_them) {
    EXPECT_EQ(parse_restart_policy("", 0)->kind, RestartPolicy::Kind::no);
    EXPECT_EQ(parse_restart_policy("unless-stopped", 0)->kind, RestartPolicy::Kind::unless_stopped);
    EXPECT_EQ(parse_restart_policy("on-failure", 3)->max_retries, 3);
    auto bad = parse_restart_policy("sometimes", 0);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("unknown policy 'sometimes'"), std::string::npos);
    EXPECT_FALSE(parse_restart_policy("always", 2));
    EXPECT_FALSE(parse_restart_policy("on-failure", -1));
    EXPECT_EQ(
        restart_policy_of(R"({"RestartPolicy":{"Name":"always","MaximumRetryCount":0}})").kind,
        RestartPolicy::Kind::always);
    EXPECT_EQ(restart_policy_of("{}").kind, RestartPolicy::Kind::no);
}

TEST(RestartPolicy, a_users_stop_is_final_while_berthd_runs_but_not_for_always_at_start) {
    RestartPolicy always{RestartPolicy::Kind::always, 0};
    RestartPolicy unless{RestartPolicy::Kind::unless_stopped, 0};
    RestartPolicy failure{RestartPolicy::Kind::on_failure, 2};
    EXPECT_TRUE(should_restart(always, RestartMoment::exit, 0, false, 7));
    EXPECT_FALSE(should_restart(always, RestartMoment::exit, 0, true, 0));
    EXPECT_TRUE(should_restart(always, RestartMoment::daemon_start, 137, true, 0));
    EXPECT_FALSE(should_restart(unless, RestartMoment::daemon_start, 137, true, 0));
    EXPECT_TRUE(should_restart(unless, RestartMoment::daemon_start, 137, false, 0));
    EXPECT_TRUE(should_restart(failure, RestartMoment::exit, 1, false, 1));
    EXPECT_FALSE(should_restart(failure, RestartMoment::exit, 1, false, 2));  // count used up
    EXPECT_FALSE(should_restart(failure, RestartMoment::exit, 0, false, 0));  // a success
    EXPECT_FALSE(should_restart({}, RestartMoment::exit, 1, false, 0));
}

TEST(RestartPolicy, back_off_doubles_to_a_minute_and_resets_after_a_long_run) {
    int64_t d = next_restart_delay_ns(0, 0);
    EXPECT_EQ(d, restart_delay_first_ns);
    d = next_restart_delay_ns(d, 1'000'000);
    EXPECT_EQ(d, 2 * restart_delay_first_ns);
    for (int i = 0; i < 20; ++i) d = next_restart_delay_ns(d, 0);
    EXPECT_EQ(d, restart_delay_max_ns);
    EXPECT_EQ(next_restart_delay_ns(d, restart_reset_after_run_ns), restart_delay_first_ns);
}

TEST(Health, retries_in_a_row_make_it_unhealthy_and_one_success_healthy) {
    HealthState h;
    EXPECT_EQ(h.status(), "starting");
    EXPECT_FALSE(h.record({0, 0, 1, "no"}, false, 2));
    EXPECT_TRUE(h.record({0, 0, 1, "no"}, false, 2));
    EXPECT_EQ(h.status(), "unhealthy");
    EXPECT_TRUE(h.record({0, 0, 0, "ok"}, false, 2));
    EXPECT_EQ(h.status(), "healthy");
    // In the start period a failure does not count.
    HealthState warm;
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(warm.record({0, 0, 1, ""}, true, 1));
    EXPECT_EQ(warm.status(), "starting");
    // Only the last five results are kept.
    EXPECT_NE(warm.json().find("\"FailingStreak\":0"), std::string::npos);
    size_t entries = 0;
    for (size_t at = 0; (at = warm.json().find("\"ExitCode\"", at)) != std::string::npos; ++at)
        ++entries;
    EXPECT_EQ(entries, health_log_entries_max);
}

TEST(Health, checks_forms_defaults_and_the_image_merge) {
    auto shell = healthcheck_of(R"({"Healthcheck":{"Test":["CMD-SHELL","true"],"Retries":5}})");
    ASSERT_TRUE(shell);
    EXPECT_EQ(shell->argv, (std::vector<std::string>{"/bin/sh", "-c", "true"}));
    EXPECT_EQ(shell->retries, 5);
    EXPECT_EQ(shell->interval_ns, 30'000'000'000);
    EXPECT_FALSE(healthcheck_of(R"({"Healthcheck":{"Test":["NONE"]}})"));
    EXPECT_FALSE(healthcheck_of("{}"));
    EXPECT_FALSE(check_healthcheck(R"({"Interval":1000})"));
    EXPECT_FALSE(check_healthcheck(R"({"Retries":-1})"));
    EXPECT_FALSE(check_healthcheck(R"({"Test":["SOMETIMES"]})"));
    EXPECT_TRUE(check_healthcheck(R"({"Test":["CMD","true"],"Interval":1000000})"));
    auto merged =
        merge_healthcheck(R"({"Interval":2000000000})",
                          R"({"Test":["CMD","probe"],"Interval":5000000000,"Retries":4})");
    auto m = healthcheck_of("{\"Healthcheck\":" + merged + "}");
    ASSERT_TRUE(m) << merged;
    EXPECT_EQ(m->argv, std::vector<std::string>{"probe"});
    EXPECT_EQ(m->interval_ns, 2'000'000'000);  // the user's wins
    EXPECT_EQ(m->retries, 4);                  // the image's fills the rest
    EXPECT_EQ(health_status_of(""), "none");
    EXPECT_EQ(health_status_of(R"({"Status":"healthy"})"), "healthy");
}

TEST(DetachKeys, dockers_grammar_and_its_default) {
    EXPECT_EQ(*parse_detach_keys(""), "\x10\x11");  // ctrl-p ctrl-q
    EXPECT_EQ(*parse_detach_keys("ctrl-x,a"),
              "\x18"
              "a");
    EXPECT_EQ(*parse_detach_keys("ctrl-@,ctrl-["), std::string("\0\x1b", 2));
    EXPECT_FALSE(parse_detach_keys("ctrl-1"));
    EXPECT_FALSE(parse_detach_keys("ab"));
    EXPECT_FALSE(parse_detach_keys("a,"));
}
