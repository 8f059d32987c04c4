// Image references as Docker normalises, shows and rejects them: cases from distribution/
// reference's normalize_test.go and reference_test.go, with Docker's error messages.
#include <gtest/gtest.h>

#include <string>

#include "graph/reference.hpp"

namespace {

using berth::ErrorKind;
using berth::graph::Reference;

const std::string hex64 = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";
const std::string hex64_b = "1111111111111111111111111111111111111111111111111111111111111111";

struct Normalised {
    std::string input;
    std::string full;      // str()
    std::string familiar;  // familiar()
    std::string domain;
    std::string path;
    std::string tag;
    std::string digest;
};

class ReferenceNormalises : public ::testing::TestWithParam<Normalised> {};

TEST_P(ReferenceNormalises, as_docker_does) {
    const Normalised& c = GetParam();
    auto ref = Reference::parse(c.input);
    ASSERT_TRUE(ref) << c.input << ": " << ref.error().message;
    EXPECT_EQ(ref->str(), c.full);
    EXPECT_EQ(ref->familiar(), c.familiar);
    EXPECT_EQ(ref->domain(), c.domain);
    EXPECT_EQ(ref->path(), c.path);
    EXPECT_EQ(ref->tag(), c.tag);
    EXPECT_EQ(ref->digest(), c.digest);
    // Parsing what we print gives the same reference back.
    auto again = Reference::parse(ref->str());
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *ref);
    auto from_familiar = Reference::parse(ref->familiar());
    ASSERT_TRUE(from_familiar);
    EXPECT_EQ(*from_familiar, *ref);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReferenceNormalises,
    ::testing::Values(
        Normalised{"busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
                   "library/busybox", "latest", ""},
        Normalised{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io",
                   "library/busybox", "1.36", ""},
        Normalised{"user/app", "docker.io/user/app:latest", "user/app:latest", "docker.io",
                   "user/app", "latest", ""},
        Normalised{"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest",
                   "docker.io", "library/busybox", "latest", ""},
        Normalised{"docker.io/library/busybox:musl", "docker.io/library/busybox:musl",
                   "busybox:musl", "docker.io", "library/busybox", "musl", ""},
        Normalised{"index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest",
                   "docker.io", "library/busybox", "latest", ""},
        Normalised{"library/distros/ubuntu", "docker.io/library/distros/ubuntu:latest",
                   "library/distros/ubuntu:latest", "docker.io", "library/distros/ubuntu", "latest",
                   ""},
        Normalised{"localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest",
                   "localhost:5000", "app", "latest", ""},
        Normalised{"localhost/app", "localhost/app:latest", "localhost/app:latest", "localhost",
                   "app", "latest", ""},
        Normalised{"registry.example.com/team/app:v1", "registry.example.com/team/app:v1",
                   "registry.example.com/team/app:v1", "registry.example.com", "team/app", "v1",
                   ""},
        Normalised{"127.0.0.1:5000/a/b/c:1", "127.0.0.1:5000/a/b/c:1", "127.0.0.1:5000/a/b/c:1",
                   "127.0.0.1:5000", "a/b/c", "1", ""},
        Normalised{"[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest", "[::1]:5000",
                   "app", "latest", ""},
        Normalised{"Registry/app", "Registry/app:latest", "Registry/app:latest", "Registry", "app",
                   "latest", ""},
        Normalised{"app@sha256:" + hex64, "docker.io/library/app@sha256:" + hex64,
                   "app@sha256:" + hex64, "docker.io", "library/app", "", "sha256:" + hex64},
        Normalised{"app:tag@sha256:" + hex64, "docker.io/library/app:tag@sha256:" + hex64,
                   "app:tag@sha256:" + hex64, "docker.io", "library/app", "tag", "sha256:" + hex64},
        Normalised{"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000",
                   "docker.io", "library/localhost", "5000", ""},
        Normalised{"x/a-b--c.d__e_f", "docker.io/x/a-b--c.d__e_f:latest", "x/a-b--c.d__e_f:latest",
                   "docker.io", "x/a-b--c.d__e_f", "latest", ""},
        Normalised{"busybox:Latest_1.2-rc", "docker.io/library/busybox:Latest_1.2-rc",
                   "busybox:Latest_1.2-rc", "docker.io", "library/busybox", "Latest_1.2-rc", ""},
        Normalised{"busybox:" + std::string(128, 'a'),
                   "docker.io/library/busybox:" + std::string(128, 'a'),
                   "busybox:" + std::string(128, 'a'), "docker.io", "library/busybox",
                   std::string(128, 'a'), ""}));

struct Rejected {
    std::string input;
    std::string message;
};

class ReferenceRejects : public ::testing::TestWithParam<Rejected> {};

TEST_P(ReferenceRejects, with_dockers_message) {
    const Rejected& c = GetParam();
    auto ref = Reference::parse(c.input);
    ASSERT_FALSE(ref) << c.input << " parsed as " << ref->str();
    EXPECT_EQ(ref.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(ref.error().message, c.message) << c.input;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReferenceRejects,
    ::testing::Values(
        Rejected{"Busybox",
                 "invalid reference format: repository name (library/Busybox) must be lowercase"},
        Rejected{"user/App:v1",
                 "invalid reference format: repository name (user/App) must be lowercase"},
        Rejected{"registry.example.com/Team/app",
                 "invalid reference format: repository name (Team/app) must be lowercase"},
        Rejected{"", "invalid reference format"}, Rejected{"busybox:", "invalid reference format"},
        Rejected{":latest", "invalid reference format"},
        Rejected{"a//b", "invalid reference format"},
        Rejected{"-busybox", "invalid reference format"},
        Rejected{"busybox-", "invalid reference format"},
        Rejected{"a..b", "invalid reference format"}, Rejected{"a___b", "invalid reference format"},
        Rejected{"a.-b", "invalid reference format"},
        Rejected{"busybox:-tag", "invalid reference format"},
        Rejected{"busybox:a:b", "invalid reference format"},
        Rejected{"busybox:" + std::string(129, 'a'), "invalid reference format"},
        Rejected{"busybox@sha256:abc", "invalid reference format"},
        Rejected{"busybox@sha256:" + std::string(32, 'a'), "invalid checksum digest length"},
        Rejected{"busybox@sha256:" + std::string(64, 'A'), "invalid checksum digest format"},
        Rejected{"busybox@sha1:" + std::string(40, 'a'), "unsupported digest algorithm"},
        Rejected{"busybox@@sha256:" + hex64, "invalid reference format"},
        Rejected{"[::1/app", "invalid reference format"},
        Rejected{"localhost:port/app", "invalid reference format"},
        Rejected{hex64, "invalid repository name (" + hex64 +
                            "), cannot specify 64-byte hexadecimal strings"},
        Rejected{"a/" + std::string(250, 'b'),
                 "repository name must not be more than 255 characters"}));

TEST(Reference, parse_named_keeps_no_tag) {
    auto ref = Reference::parse_named("busybox");
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->tag(), "");
    EXPECT_EQ(ref->str(), "docker.io/library/busybox");
    EXPECT_EQ(ref->familiar(), "busybox");
    EXPECT_EQ(ref->lookup_key(), "docker.io/library/busybox:latest");
}

TEST(Reference, digest_takes_precedence_over_tag_for_lookup) {
    auto ref = Reference::parse("busybox:1.36@sha256:" + hex64);
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->lookup_key(), "docker.io/library/busybox@sha256:" + hex64);
}

TEST(Reference, registry_host_for_docker_hub_is_registry_1) {
    EXPECT_EQ(Reference::parse("busybox")->registry_host(), "registry-1.docker.io");
    EXPECT_EQ(Reference::parse("user/app")->registry_host(), "registry-1.docker.io");
    EXPECT_EQ(Reference::parse("localhost:5000/app")->registry_host(), "localhost:5000");
    EXPECT_EQ(Reference::parse("busybox")->path(), "library/busybox");
}

TEST(Reference, with_tag_and_with_digest_replace_the_other) {
    auto ref = Reference::parse("busybox:1.36@sha256:" + hex64);
    ASSERT_TRUE(ref);
    auto tagged = ref->with_tag("musl");
    ASSERT_TRUE(tagged);
    EXPECT_EQ(tagged->str(), "docker.io/library/busybox:musl");
    auto digested = ref->with_digest("sha256:" + hex64_b);
    ASSERT_TRUE(digested);
    EXPECT_EQ(digested->familiar(), "busybox@sha256:" + hex64_b);
    EXPECT_FALSE(ref->with_tag("-bad"));
    EXPECT_EQ(ref->with_tag("-bad").error().message, "invalid tag format");
    EXPECT_FALSE(ref->with_digest("sha256:xyz"));
}

TEST(Reference, any_reference_takes_ids_before_names) {
    auto id = berth::graph::parse_any_reference(hex64);
    ASSERT_TRUE(id);
    EXPECT_EQ(id->id, "sha256:" + hex64);
    auto full = berth::graph::parse_any_reference("sha256:" + hex64);
    ASSERT_TRUE(full);
    EXPECT_EQ(full->id, "sha256:" + hex64);
    // A short ID is a name as far as the grammar goes; the store tries it as a prefix after.
    auto short_id = berth::graph::parse_any_reference("7cc4b5aefd1d");
    ASSERT_TRUE(short_id);
    ASSERT_TRUE(short_id->named);
    EXPECT_EQ(short_id->named->familiar(), "7cc4b5aefd1d");
    auto prefixed = berth::graph::parse_any_reference("sha256:7cc4b5");
    ASSERT_TRUE(prefixed);
    EXPECT_EQ(prefixed->named->str(), "docker.io/library/sha256:7cc4b5");
    EXPECT_FALSE(berth::graph::parse_any_reference("Busybox"));
}

TEST(Reference, image_id_prefix_rule) {
    using berth::graph::image_id_prefix;
    EXPECT_EQ(image_id_prefix("7cc4b5aefd1d"), "7cc4b5aefd1d");
    EXPECT_EQ(image_id_prefix("sha256:7cc4"), "7cc4");
    EXPECT_EQ(image_id_prefix(hex64), hex64);
    EXPECT_EQ(image_id_prefix("busybox"), std::nullopt);
    EXPECT_EQ(image_id_prefix("7CC4"), std::nullopt);
    EXPECT_EQ(image_id_prefix("sha256:"), std::nullopt);
    EXPECT_EQ(image_id_prefix(""), std::nullopt);
    EXPECT_EQ(image_id_prefix(hex64 + "0"), std::nullopt);
}

TEST(Reference, is_image_id_prefix_matches_with_or_without_algorithm) {
    using berth::graph::is_image_id_prefix;
    std::string id = "sha256:" + hex64;
    EXPECT_TRUE(is_image_id_prefix(id, "7cc4b5"));
    EXPECT_TRUE(is_image_id_prefix(id, "sha256:7cc4"));
    EXPECT_FALSE(is_image_id_prefix(id, "busybox"));
    EXPECT_EQ(berth::graph::short_id(id), "7cc4b5aefd1d");
}

TEST(Reference, tag_grammar) {
    using berth::graph::is_valid_tag;
    EXPECT_TRUE(is_valid_tag("latest"));
    EXPECT_TRUE(is_valid_tag("_x"));
    EXPECT_TRUE(is_valid_tag("1.0-RC.2"));
    EXPECT_FALSE(is_valid_tag(""));
    EXPECT_FALSE(is_valid_tag(".x"));
    EXPECT_FALSE(is_valid_tag("a/b"));
    EXPECT_FALSE(is_valid_tag(std::string(129, 'a')));
}

}  // namespace
