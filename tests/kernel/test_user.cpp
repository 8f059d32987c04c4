// --user resolution against the image's passwd and group files (no root needed).
#include <gtest/gtest.h>

#include "kernel/user.hpp"

using namespace berth::kernel;

namespace {
const char* passwd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n";
const char* group =
    "root:x:0:\n"
    "staff:x:50:alice\n"
    "audio:x:29:bob,alice\n"
    "alice:x:1000:\n";
}  // namespace

TEST(User, empty_spec_is_root_with_roots_home) {
    auto u = resolve_user("", passwd, group, {});
    ASSERT_TRUE(u);
    EXPECT_EQ(u->uid, 0u);
    EXPECT_EQ(u->gid, 0u);
    EXPECT_EQ(u->home, "/root");
}

TEST(User, name_brings_primary_and_supplementary_groups) {
    auto u = resolve_user("alice", passwd, group, {});
    ASSERT_TRUE(u);
    EXPECT_EQ(u->uid, 1000u);
    EXPECT_EQ(u->gid, 1000u);
    EXPECT_EQ(u->groups, (std::vector<gid_t>{50, 29}));
    EXPECT_EQ(u->home, "/home/alice");
}

TEST(User, numeric_uid_need_not_exist) {
    auto u = resolve_user("4242", passwd, group, {});
    ASSERT_TRUE(u);
    EXPECT_EQ(u->uid, 4242u);
    EXPECT_EQ(u->gid, 0u);
    EXPECT_EQ(u->home, "/");
}

TEST(User, user_and_group_forms) {
    auto a = resolve_user("alice:staff", passwd, group, {});
    ASSERT_TRUE(a);
    EXPECT_EQ(a->gid, 50u);
    EXPECT_TRUE(a->groups.empty());
    auto b = resolve_user("1000:77", passwd, group, {"audio", "123"});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->uid, 1000u);
    EXPECT_EQ(b->gid, 77u);
    EXPECT_EQ(b->groups, (std::vector<gid_t>{29, 123}));
}

TEST(User, unknown_names_are_dockers_errors) {
    auto a = resolve_user("bob", passwd, group, {});
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().message, "unable to find user bob: no matching entries in passwd file");
    auto b = resolve_user("alice:wheel", passwd, group, {});
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().message, "unable to find group wheel: no matching entries in group file");
}
