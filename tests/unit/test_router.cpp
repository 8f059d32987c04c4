// Router: patterns with captures, version prefixes and Docker's version errors.
#include <gtest/gtest.h>

#include "http/exchange.hpp"
#include "http/router.hpp"

using namespace berth;
using namespace berth::http;

namespace {

Exchange dummy;  // the test handlers only record that they ran

struct Fixture {
    Router router;
    std::string hit;
    Fixture() {
        router.add("GET", "/_ping", [this](Exchange&) { hit = "ping"; });
        router.add("HEAD", "/_ping", [this](Exchange&) { hit = "head-ping"; });
        router.add("GET", "/containers/{id}/json", [this](Exchange&) { hit = "inspect"; });
        router.add("GET", "/images/{name*}/json", [this](Exchange&) { hit = "image"; });
        router.add("DELETE", "/images/{name*}", [this](Exchange&) { hit = "rmi"; });
        router.add("GET", "/version", [this](Exchange&) { hit = "version"; });
    }
    Result<Router::Match> route(const std::string& method, const std::string& path,
                                Request& req) {
        req.method = method;
        req.path = path;
        return router.route(req);
    }
};

}  // namespace

TEST(Router, versioned_and_unversioned_paths_reach_the_same_route) {
    Fixture f;
    Request a, b;
    auto ma = f.route("GET", "/v1.41/version", a);
    auto mb = f.route("GET", "/version", b);
    ASSERT_TRUE(ma && mb);
    EXPECT_TRUE(a.versioned);
    EXPECT_EQ(a.version, (ApiVersion{1, 41}));
    EXPECT_FALSE(b.versioned);
    EXPECT_EQ(b.version, api_version_current);
}

TEST(Router, captures_one_segment) {
    Fixture f;
    Request r;
    auto m = f.route("GET", "/v1.50/containers/abc123/json", r);
    ASSERT_TRUE(m);
    (*m->handler)(dummy);
    EXPECT_EQ(f.hit, "inspect");
    ASSERT_EQ(r.params.size(), 1u);
    EXPECT_EQ(r.params[0], "abc123");
}

TEST(Router, rest_capture_takes_image_names_with_slashes) {
    Fixture f;
    Request r;
    ASSERT_TRUE(f.route("GET", "/images/registry:5000/team/app/json", r));
    ASSERT_EQ(r.params.size(), 1u);
    EXPECT_EQ(r.params[0], "registry:5000/team/app");
    Request d;
    ASSERT_TRUE(f.route("DELETE", "/images/docker.io/library/busybox:latest", d));
    EXPECT_EQ(d.params[0], "docker.io/library/busybox:latest");
}

TEST(Router, percent_encoded_path_is_decoded_before_matching) {
    Fixture f;
    Request r;
    ASSERT_TRUE(f.route("GET", "/images/a%2Fb/json", r));
    EXPECT_EQ(r.params[0], "a/b");
}

TEST(Router, too_new_version_is_docker_400) {
    Fixture f;
    Request r;
    auto m = f.route("GET", "/v1.52/version", r);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(m.error().message,
              "client version 1.52 is too new. Maximum supported API version is 1.51");
}

TEST(Router, too_old_version_is_docker_400) {
    Fixture f;
    Request r;
    auto m = f.route("GET", "/v1.23/version", r);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message,
              "client version 1.23 is too old. Minimum supported API version is 1.24, please "
              "upgrade your client to a newer version");
}

TEST(Router, unknown_path_is_404_and_wrong_method_405) {
    Fixture f;
    Request a, b;
    auto m = f.route("GET", "/nope", a);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().kind, ErrorKind::not_found);
    EXPECT_EQ(m.error().message, "page not found");
    auto n = f.route("POST", "/version", b);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().kind, ErrorKind::method_not_allowed);
}

TEST(Router, head_prefers_its_own_route_and_falls_back_to_get) {
    Fixture f;
    Request a, b;
    auto m = f.route("HEAD", "/_ping", a);
    ASSERT_TRUE(m);
    (*m->handler)(dummy);
    EXPECT_EQ(f.hit, "head-ping");
    auto v = f.route("HEAD", "/version", b);
    ASSERT_TRUE(v);
    (*v->handler)(dummy);
    EXPECT_EQ(f.hit, "version");
}
