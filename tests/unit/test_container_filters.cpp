// `docker ps` filters as dockerd matches them: regular expressions for name and id, labels,
// states, exit codes, health, volumes, ports, ancestors; and the 400s for bad values.
#include <gtest/gtest.h>

#include "jobs/container_filters.hpp"

using namespace berth;
using namespace berth::jobs;

namespace {

ContainerFacts web() {
    ContainerFacts c;
    c.id = "4f1c2b3a00000000000000000000000000000000000000000000000000000000";
    c.name = "web-1";
    c.labels = {{"tier", "front"}, {"team", "a"}};
    c.state = "exited";
    c.exit_code = 3;
    c.started = true;
    c.image_id = "sha256:aaa";
    c.mounts = {"/srv/data", "/data"};
    c.exposed = {"80/tcp"};
    return c;
}

bool match(const std::string& json, const ContainerFacts& c = web()) {
    auto f = ContainerFilter::parse(json);
    EXPECT_TRUE(f) << json << ": " << f.error().message;
    return f && f->matches(c);
}

std::string refusal(const std::string& json) {
    auto f = ContainerFilter::parse(json);
    return f ? std::string("accepted") : f.error().message;
}

}  // namespace

TEST(ContainerFilters, name_and_id_match_as_unanchored_regular_expressions) {
    EXPECT_TRUE(match(R"({"name":["web"]})"));
    EXPECT_TRUE(match(R"({"name":["^web-1$"]})"));
    EXPECT_TRUE(match(R"({"name":["^/web"]})"));
    EXPECT_TRUE(match(R"({"name":["eb-"]})"));
    EXPECT_FALSE(match(R"({"name":["^eb"]})"));
    EXPECT_FALSE(match(R"({"name":["db"]})"));
    EXPECT_TRUE(match(R"({"name":["db","web"]})"));  // any value
    EXPECT_FALSE(match(R"({"name":["(unclosed"]})"));
    EXPECT_TRUE(match(R"({"id":["4f1c"]})"));
    EXPECT_FALSE(match(R"({"id":["ffff"]})"));
}

TEST(ContainerFilters, labels_need_every_term) {
    EXPECT_TRUE(match(R"({"label":["tier"]})"));
    EXPECT_TRUE(match(R"({"label":["tier=front","team=a"]})"));
    EXPECT_FALSE(match(R"({"label":["tier=back"]})"));
    EXPECT_FALSE(match(R"({"label":["tier","owner"]})"));
}

TEST(ContainerFilters, status_exited_and_health) {
    EXPECT_TRUE(match(R"({"status":["exited"]})"));
    EXPECT_FALSE(match(R"({"status":["running"]})"));
    EXPECT_TRUE(match(R"({"status":["running","exited"]})"));
    EXPECT_TRUE(match(R"({"exited":["3"]})"));
    EXPECT_FALSE(match(R"({"exited":["0"]})"));
    ContainerFacts created = web();
    created.state = "created";
    created.started = false;
    created.exit_code = 0;
    EXPECT_FALSE(match(R"({"exited":["0"]})", created));  // never ran: no exit code
    ContainerFacts running = web();
    running.state = "running";
    running.exit_code = 0;
    EXPECT_FALSE(match(R"({"exited":["0"]})", running));
    EXPECT_TRUE(match(R"({"health":["none"]})"));
    EXPECT_FALSE(match(R"({"health":["healthy"]})"));
}

TEST(ContainerFilters, ancestors_volumes_and_ports) {
    auto f = ContainerFilter::parse(R"({"ancestor":["busybox"]})");
    ASSERT_TRUE(f);
    f->set_ancestors({"sha256:aaa", "sha256:child"});
    EXPECT_TRUE(f->matches(web()));
    f->set_ancestors({});  // an image that does not exist: nothing matches
    EXPECT_FALSE(f->matches(web()));
    EXPECT_TRUE(match(R"({"volume":["/data"]})"));
    EXPECT_TRUE(match(R"({"volume":["/srv/data"]})"));
    EXPECT_FALSE(match(R"({"volume":["/other"]})"));
    EXPECT_TRUE(match(R"({"expose":["80"]})"));
    EXPECT_TRUE(match(R"({"expose":["70-90/tcp"]})"));
    EXPECT_FALSE(match(R"({"expose":["80/udp"]})"));
    EXPECT_FALSE(match(R"({"publish":["80"]})"));  // exposed, not published
    ContainerFacts published = web();
    published.published = {"8080/tcp"};
    EXPECT_TRUE(match(R"({"publish":["8080"]})", published));
    EXPECT_TRUE(match(R"({"publish":["8000-8100/tcp"]})", published));
    EXPECT_FALSE(match(R"({"publish":["8080/udp"]})", published));
    ContainerFacts attached = web();
    attached.networks = {{"bridge", "e8c4951c1d42aa"}, {"appnet", "77038d72013abb"}};
    EXPECT_TRUE(match(R"({"network":["appnet"]})", attached));
    EXPECT_TRUE(match(R"({"network":["e8c4951c"]})", attached));
    EXPECT_FALSE(match(R"({"network":["other"]})", attached));
    EXPECT_FALSE(match(R"({"network":["bridge"]})"));  // on no network
    EXPECT_TRUE(match(R"({"is-task":["false"]})"));
    EXPECT_FALSE(match(R"({"is-task":["true"]})"));
}

TEST(ContainerFilters, bad_filters_are_refused_as_dockerd_does) {
    EXPECT_EQ(refusal(R"({"colour":["red"]})"), "invalid filter 'colour'");
    EXPECT_EQ(refusal(R"({"status":["sleeping"]})"), "invalid filter 'status=sleeping'");
    EXPECT_EQ(refusal(R"({"health":["meh"]})"), "Unrecognised filter value for health: meh");
    EXPECT_EQ(refusal(R"({"exited":["x"]})"), "strconv.Atoi: parsing \"x\": invalid syntax");
    EXPECT_EQ(refusal(R"({"is-task":["maybe"]})"), "invalid filter 'is-task=maybe'");
    EXPECT_EQ(refusal(R"({"publish":["1:2"]})"),
              "filter for 'publish' should not contain ':': 1:2");
    EXPECT_EQ(refusal(R"({"status":["created","paused","restarting","removing","dead"]})"),
              "accepted");
}
