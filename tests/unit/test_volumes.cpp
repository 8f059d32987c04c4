// Volumes without a daemon: Docker's name rule, Binds/Mounts/Tmpfs/Config.Volumes resolved as
// dockerd resolves them (modes, anonymous volumes, duplicates, errors), the VolumeStore's
// in-use bookkeeping against a real berth.db, the copy-up done in bounded steps, and the
// list and prune filters.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "graph/containers.hpp"
#include "graph/store.hpp"
#include "graph/volumes.hpp"
#include "jobs/mount_points.hpp"
#include "jobs/volume_filters.hpp"
#include "kernel/volume_fs.hpp"

using namespace berth;

namespace {

class TempDir : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-volumes-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string dir_;
};

}  // namespace

TEST(VolumeNames, follow_dockers_rule) {
    for (const char* ok : {"ab", "v1", "my_vol.2-x", "0abc", "Ab"})
        EXPECT_TRUE(jobs::valid_volume_name(ok)) << ok;
    for (const char* bad : {"", "a", "-ab", "_ab", ".ab", "a b", "a/b", "../x", "a:b", "ä1"})
        EXPECT_FALSE(jobs::valid_volume_name(bad)) << bad;
    auto e = jobs::invalid_volume_name("a b");
    EXPECT_EQ(e.kind, ErrorKind::invalid_parameter);
    EXPECT_NE(e.message.find("\"a b\" includes invalid characters for a local volume name"),
              std::string::npos);
}

TEST(BindSpecs, named_volumes_binds_and_modes) {
    auto v = jobs::parse_bind_spec("data:/srv/");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->type, "volume");
    EXPECT_EQ(v->source, "data");
    EXPECT_EQ(v->destination, "/srv");
    EXPECT_EQ(v->mode, "z");  // dockerd's default for local volumes
    EXPECT_TRUE(v->rw);
    auto ro = jobs::parse_bind_spec("data:/srv:ro,nocopy");
    ASSERT_TRUE(ro) << ro.error().message;
    EXPECT_FALSE(ro->rw);
    EXPECT_FALSE(ro->copy_data);
    EXPECT_EQ(ro->mode, "ro,nocopy");
    auto b = jobs::parse_bind_spec("/host:/in:ro,rslave");
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->type, "bind");
    EXPECT_EQ(b->propagation, "rslave");
    EXPECT_EQ(jobs::parse_bind_spec("/host:/in")->propagation, "rprivate");
}

TEST(BindSpecs, bad_specs_are_400_with_dockers_words) {
    for (const char* bad : {"justone", "a:b:c:d", ":/x", "data:relative", "data:/x:rw,ro",
                            "data:/x:bogus", "data:/x:shared", "/h:/x:nocopy", "-bad:/x"}) {
        auto r = jobs::parse_bind_spec(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, ErrorKind::invalid_parameter) << bad;
    }
    EXPECT_EQ(jobs::parse_bind_spec("data:/x:bogus").error().message, "invalid mode: bogus");
}

TEST(ContainerMountPoints, resolves_binds_mounts_tmpfs_and_anonymous_volumes) {
    std::string config = R"({"Volumes":{"/data":{},"/cache":{},"/covered":{}}})";
    std::string host = R"({"Binds":["named:/covered:ro","/tmp:/host"],
        "Mounts":[{"Type":"volume","Source":"m1","Target":"/m1","ReadOnly":true,
                   "VolumeOptions":{"NoCopy":true,"Labels":{"a":"b"}}},
                  {"Type":"tmpfs","Target":"/scratch","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}],
        "Tmpfs":{"/run":"size=64k"}})";
    auto points = jobs::container_mount_points(config, host);
    ASSERT_TRUE(points) << points.error().message;
    std::map<std::string, jobs::MountPoint> by;
    for (auto& p : *points) by[p.destination] = p;
    ASSERT_EQ(by.size(), 7u);
    EXPECT_EQ(by["/covered"].source, "named");  // the bind wins over the image's VOLUME
    EXPECT_FALSE(by["/covered"].rw);
    EXPECT_EQ(by["/host"].type, "bind");
    EXPECT_EQ(by["/m1"].source, "m1");
    EXPECT_FALSE(by["/m1"].copy_data);
    EXPECT_EQ(by["/m1"].volume_labels.at("a"), "b");
    EXPECT_EQ(by["/scratch"].tmpfs_options, "size=1048576,mode=700");
    EXPECT_EQ(by["/run"].tmpfs_options, "size=64k");
    EXPECT_TRUE(by["/run"].from_binds);
    EXPECT_EQ(by["/data"].type, "volume");
    EXPECT_EQ(by["/data"].source, "");  // anonymous
    EXPECT_EQ(by["/data"].mode, "");
}

TEST(ContainerMountPoints, duplicates_and_bad_mounts_are_refused) {
    auto dup = jobs::container_mount_points("{}", R"({"Binds":["a1:/x","a2:/x/"]})");
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().message, "Duplicate mount point: /x");
    for (const char* host : {R"({"Mounts":[{"Type":"volume","Source":"x y","Target":"/x"}]})",
                             R"({"Mounts":[{"Type":"bind","Source":"rel","Target":"/x"}]})",
                             R"({"Mounts":[{"Type":"tmpfs","Source":"s","Target":"/x"}]})",
                             R"({"Mounts":[{"Type":"npipe","Target":"/x"}]})",
                             R"({"Mounts":[{"Type":"volume","Target":"x"}]})"}) {
        auto r = jobs::container_mount_points("{}", host);
        ASSERT_FALSE(r) << host;
        EXPECT_EQ(r.error().kind, ErrorKind::invalid_parameter) << host;
    }
}

class VolumeStoreTest : public TempDir {};

TEST_F(VolumeStoreTest, records_mounts_and_knows_which_volumes_are_in_use) {
    auto store = graph::Store::open(dir_ + "/data");
    ASSERT_TRUE(store) << store.error().message;
    graph::VolumeStore volumes(**store);
    graph::ContainerStore containers(**store);
    graph::VolumeRecord v;
    v.name = "vol1";
    v.labels_json = R"({"a":"b"})";
    v.created_ns = 1;
    ASSERT_TRUE(volumes.insert(v));
    auto again = volumes.insert(v);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind, ErrorKind::conflict);
    v.name = "vol2";
    v.labels_json.reset();
    ASSERT_TRUE(volumes.insert(v));

    // A container needs its image (a foreign key).
    ASSERT_EQ(sqlite3_exec((*store)->db(),
                           "INSERT INTO images (id, config_json, created, created_at) VALUES "
                           "('sha256:img', '{}', 0, 0)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    graph::ContainerRecord c;
    c.id = std::string(64, 'c');
    c.image_id = "sha256:img";
    c.name = "user";
    c.config_json = c.host_config_json = "{}";
    ASSERT_TRUE(containers.insert(c));
    graph::VolumeMount m{c.id, "vol1", "/data", "z", true, true, false};
    ASSERT_TRUE(volumes.add_mount(m));
    EXPECT_EQ(*volumes.users("vol1"), std::vector<std::string>{c.id});
    EXPECT_TRUE(volumes.users("vol2")->empty());
    EXPECT_EQ(*volumes.used_names(), std::vector<std::string>{"vol1"});
    // The foreign key refuses to drop a mounted volume.
    EXPECT_FALSE(volumes.remove("vol1"));
    auto got = volumes.get("vol2");
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->labels_json.has_value());
    // A container's mount points go with it.
    ASSERT_TRUE(containers.remove(c.id));
    EXPECT_TRUE(volumes.users("vol1")->empty());
    EXPECT_TRUE(volumes.remove("vol1"));
    auto missing = volumes.get("vol1");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
    EXPECT_EQ(missing.error().message, "get vol1: no such volume");
}

class CopyUpTest : public TempDir {};

TEST_F(CopyUpTest, copies_a_tree_in_bounded_steps_without_following_symlinks) {
    std::string src = dir_ + "/src", dst = dir_ + "/dst";
    std::filesystem::create_directories(src + "/sub/deeper");
    std::filesystem::create_directories(dst);
    for (int i = 0; i < 40; ++i) std::ofstream(src + "/sub/f" + std::to_string(i)) << i;
    std::ofstream(src + "/big") << std::string(3 << 20, 'x');
    std::filesystem::create_symlink("/etc/passwd", src + "/link");
    ASSERT_EQ(link((src + "/big").c_str(), (src + "/sub/deeper/hard").c_str()), 0);
    chmod((src + "/sub").c_str(), 0750);
    auto s = kernel::open_directory(src);
    auto d = kernel::open_directory(dst);
    ASSERT_TRUE(s && d);
    ASSERT_TRUE(*kernel::directory_empty(d->get()));
    kernel::TreeCopyUp copy(std::move(*s), std::move(*d));
    int steps = 0;
    for (;;) {
        auto done = copy.step(1 << 20, 8);
        ASSERT_TRUE(done) << done.error().message;
        ++steps;
        if (*done) break;
        ASSERT_LT(steps, 1000);
    }
    EXPECT_GT(steps, 5);  // 40 entries at 8 a step, 3 MiB at 1 MiB a step
    EXPECT_EQ(std::filesystem::file_size(dst + "/big"), size_t(3 << 20));
    EXPECT_EQ(std::filesystem::read_symlink(dst + "/link"), "/etc/passwd");
    struct stat a {
    }, b{};
    ASSERT_EQ(stat((dst + "/big").c_str(), &a), 0);
    ASSERT_EQ(stat((dst + "/sub/deeper/hard").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);  // the hard link stays a link
    ASSERT_EQ(stat((dst + "/sub").c_str(), &a), 0);
    EXPECT_EQ(a.st_mode & 07777, 0750u);
    std::ifstream f(dst + "/sub/f39");
    std::string text;
    f >> text;
    EXPECT_EQ(text, "39");
}

TEST_F(CopyUpTest, the_image_directory_is_resolved_inside_the_root) {
    std::string root = dir_ + "/root";
    std::filesystem::create_directories(root + "/real");
    std::ofstream(root + "/real/in-root") << "x";
    // An absolute symlink in the image points inside the root, not at the host's /etc.
    std::filesystem::create_symlink("/real", root + "/data");
    auto r = kernel::open_directory(root);
    ASSERT_TRUE(r);
    auto src = kernel::open_directory_in_root(r->get(), "/data");
    ASSERT_TRUE(src && *src);
    auto names = kernel::list_directory(root + "/real");
    ASSERT_TRUE(names);
    EXPECT_EQ(*names, std::vector<std::string>{"in-root"});
    auto none = kernel::open_directory_in_root(r->get(), "/nothing/here");
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);  // nothing to copy
}

namespace {

graph::VolumeRecord volume(std::string name, std::optional<std::string> labels) {
    graph::VolumeRecord v;
    v.name = std::move(name);
    v.labels_json = std::move(labels);
    return v;
}

jobs::Filters filters(const std::string& json, std::set<std::string> allowed) {
    auto f = jobs::Filters::parse(json, allowed);
    EXPECT_TRUE(f) << (f ? "" : f.error().message);
    return f ? *f : jobs::Filters{};
}

}  // namespace

TEST(VolumeFilters, list_by_dangling_driver_name_and_label) {
    std::set<std::string> keys = {"dangling", "driver", "label", "name"};
    auto prod = volume("web-data", R"({"env":"prod","team":""})");
    auto bare = volume("cache", std::nullopt);
    EXPECT_TRUE(jobs::volume_list_matches(filters("", keys), bare, false));
    EXPECT_TRUE(jobs::volume_list_matches(filters(R"({"dangling":["true"]})", keys), bare, false));
    EXPECT_FALSE(jobs::volume_list_matches(filters(R"({"dangling":["1"]})", keys), bare, true));
    EXPECT_TRUE(jobs::volume_list_matches(filters(R"({"dangling":["false"]})", keys), bare, true));
    EXPECT_TRUE(jobs::volume_list_matches(filters(R"({"driver":["local"]})", keys), bare, false));
    EXPECT_FALSE(jobs::volume_list_matches(filters(R"({"driver":["nfs"]})", keys), bare, false));
    EXPECT_TRUE(jobs::volume_list_matches(filters(R"({"name":["b-da"]})", keys), prod, false));
    EXPECT_FALSE(jobs::volume_list_matches(filters(R"({"name":["xyz"]})", keys), prod, false));
    EXPECT_TRUE(
        jobs::volume_list_matches(filters(R"({"label":["env=prod","team"]})", keys), prod, false));
    EXPECT_FALSE(jobs::volume_list_matches(filters(R"({"label":["env=dev"]})", keys), prod, false));
    EXPECT_FALSE(jobs::volume_list_matches(filters(R"({"label":["env"]})", keys), bare, false));
    EXPECT_FALSE(jobs::Filters::parse(R"({"color":["red"]})", keys));
}

TEST(VolumeFilters, prune_takes_anonymous_volumes_unless_all) {
    std::set<std::string> keys = {"all", "label", "label!"};
    auto anon = volume(std::string(64, 'a'), R"({"com.docker.volume.anonymous":""})");
    auto named = volume("named", R"({"env":"dev"})");
    auto none = filters("", keys);
    EXPECT_FALSE(*jobs::prune_all_volumes(none, false));
    EXPECT_TRUE(*jobs::prune_all_volumes(none, true));  // API < 1.42
    EXPECT_TRUE(*jobs::prune_all_volumes(filters(R"({"all":["true"]})", keys), false));
    EXPECT_FALSE(*jobs::prune_all_volumes(filters(R"({"all":["0"]})", keys), true));
    auto bad = jobs::prune_all_volumes(filters(R"({"all":["maybe"]})", keys), false);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::invalid_parameter);
    EXPECT_TRUE(jobs::volume_prune_matches(none, anon, false));
    EXPECT_FALSE(jobs::volume_prune_matches(none, named, false));
    EXPECT_TRUE(jobs::volume_prune_matches(none, named, true));
    EXPECT_TRUE(jobs::volume_prune_matches(filters(R"({"label":["env=dev"]})", keys), named, true));
    EXPECT_FALSE(jobs::volume_prune_matches(filters(R"({"label!":["env"]})", keys), named, true));
    EXPECT_TRUE(jobs::volume_prune_matches(filters(R"({"label!":["env"]})", keys), anon, false));
}

TEST_F(CopyUpTest, a_removed_volume_is_emptied_in_bounded_steps) {
    std::string top = dir_ + "/trash";
    std::filesystem::create_directories(top + "/a/b/c");
    for (int i = 0; i < 30; ++i) std::ofstream(top + "/a/f" + std::to_string(i)) << i;
    std::filesystem::create_symlink("/etc", top + "/a/b/etc");  // removed, never followed
    kernel::TreeRemove rm(top);
    int steps = 0;
    for (;;) {
        auto done = rm.step(4);
        ASSERT_TRUE(done) << done.error().message;
        ++steps;
        if (*done) break;
        ASSERT_LT(steps, 1000);
    }
    EXPECT_GT(steps, 8);
    EXPECT_FALSE(std::filesystem::exists(top));
    EXPECT_TRUE(std::filesystem::exists("/etc/passwd"));
    kernel::TreeRemove missing(dir_ + "/nothing");
    EXPECT_TRUE(*missing.step(4));
}
