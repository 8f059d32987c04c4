// The storage drivers on a real kernel (root only): overlay2 merges layers with whiteouts and
// opaque directories, writes land in the container's upper dir, 120 lower layers mount with
// "lowerdir+" and with the mount(2) fallback, unmount and cleanup leave nothing in mountinfo;
// vfs gives the same view from plain copies. Layers are written the way the extractor would.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "drivers/storage/file_tree.hpp"
#include "drivers/storage/overlay_driver.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "drivers/storage/vfs_driver.hpp"
#include "graph/digest.hpp"
#include "kernel/overlay_mount.hpp"

namespace {

namespace fs = std::filesystem;
using namespace berth::drivers;
using berth::graph::sha256_digest;

#define REQUIRE_ROOT()  \
    if (geteuid() != 0) \
    GTEST_SKIP() << "storage driver tests need root (mounts, mknod, trusted xattrs)"

void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
}

std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool mounted(const std::string& path) {
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);)
        if (line.find(" " + path + " ") != std::string::npos) return true;
    return false;
}

// What a user sees under `root`: every path with its file content, "<dir>" or "<link:target>".
std::map<std::string, std::string> view(const std::string& root) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        std::string rel = it->path().lexically_relative(root).string();
        if (it->is_symlink())
            out[rel] = "<link:" + fs::read_symlink(it->path()).string() + ">";
        else if (it->is_directory())
            out[rel] = "<dir>";
        else
            out[rel] = read(it->path().string());
    }
    return out;
}

const std::map<std::string, std::string> expected_view{
    {"a", "a from layer 1"}, {"b", "b"},      {"d", "<dir>"},      {"d/z", "z"},
    {"keep", "<dir>"},       {"keep/k", "k"}, {"link", "<link:a>"}};

std::string chain(int n) {
    return sha256_digest("layer " + std::to_string(n));
}

class StorageTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/var/tmp/berth-storage-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
        root_ = tmpl;
    }
    void TearDown() override {
        if (auto mounts = berth::kernel::mounts_under(root_))
            for (const std::string& m : *mounts) (void)berth::kernel::detach_mount(m);
        driver_.reset();
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    // prepare → the extractor makes the diff dir → populate → the layer's own changes.
    std::string layer(int n, int parent) {
        auto diff = driver_->prepare_layer(chain(n));
        EXPECT_TRUE(diff) << diff.error().message;
        EXPECT_EQ(mkdir(diff->c_str(), 0755), 0);
        auto p = driver_->populate_layer(chain(n), parent < 0 ? "" : chain(parent));
        EXPECT_TRUE(p) << p.error().message;
        return *diff;
    }

    // Layer 0: a, d/{x,y}, w, keep/k, link → a. Layer 1: a changed, b added, w whited out.
    // Layer 2: d opaque with only z. Whiteouts in the driver's format, as the extractor writes.
    void three_layers() {
        bool overlay = driver_->layer_format() == LayerFormat::diff;
        std::string l0 = layer(0, -1);
        write(l0 + "/a", "a from layer 0");
        write(l0 + "/d/x", "x");
        write(l0 + "/d/y", "y");
        write(l0 + "/w", "w");
        write(l0 + "/keep/k", "k");
        fs::create_symlink("a", l0 + "/link");
        std::string l1 = layer(1, 0);
        write(l1 + "/a", "a from layer 1");
        write(l1 + "/b", "b");
        if (overlay)
            ASSERT_EQ(mknod((l1 + "/w").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
        else
            fs::remove(l1 + "/w");
        std::string l2 = layer(2, 1);
        if (overlay) {
            fs::create_directories(l2 + "/d");
            ASSERT_EQ(setxattr((l2 + "/d").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
        } else {
            fs::remove_all(l2 + "/d");
            fs::create_directories(l2 + "/d");
        }
        write(l2 + "/d/z", "z");
    }

    std::string root_;
    std::unique_ptr<StorageDriver> driver_;
};

TEST_F(StorageTest, overlay_merges_layers_with_whiteouts_and_opaque_dirs) {
    REQUIRE_ROOT();
    auto d = OverlayDriver::open(root_);
    ASSERT_TRUE(d) << d.error().message;
    driver_ = std::move(*d);
    EXPECT_EQ(driver_->name(), "overlay2");
    EXPECT_EQ(driver_->status().front().first, "Backing Filesystem");
    three_layers();
    std::vector<std::string> lowers{chain(2), chain(1), chain(0)};
    ASSERT_TRUE(driver_->create_container_layer("c1", lowers));
    auto rootfs = driver_->mount("c1");
    ASSERT_TRUE(rootfs) << rootfs.error().message;
    EXPECT_EQ(*rootfs, root_ + "/containers/c1/rootfs");
    EXPECT_TRUE(mounted(*rootfs));
    EXPECT_EQ(view(*rootfs), expected_view);
    ASSERT_EQ(*driver_->mount("c1"), *rootfs);  // mounting twice is harmless

    write(*rootfs + "/new", "written in the container");
    fs::remove(*rootfs + "/keep/k");
    EXPECT_EQ(read(root_ + "/containers/c1/upper/new"), "written in the container");
    struct stat st {};
    ASSERT_EQ(lstat((root_ + "/containers/c1/upper/keep/k").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));  // a whiteout in upper
    EXPECT_EQ(read(driver_->layer_path(chain(0)) + "/keep/k"), "k");  // lower untouched

    ASSERT_TRUE(driver_->unmount("c1"));
    EXPECT_FALSE(mounted(*rootfs));
    EXPECT_FALSE(berth::kernel::is_mount_point(*rootfs));
    ASSERT_TRUE(driver_->unmount("c1"));  // unmounting twice is harmless too
    ASSERT_TRUE(driver_->remove_container_layer("c1"));
    EXPECT_FALSE(fs::exists(root_ + "/containers/c1"));
}

void mount_many_layers(StorageTest& t, StorageDriver& driver, int count) {
    std::vector<std::string> lowers;
    for (int i = 0; i < count; ++i) {
        auto diff = driver.prepare_layer(chain(i));
        ASSERT_TRUE(diff);
        ASSERT_EQ(mkdir(diff->c_str(), 0755), 0);
        write(*diff + "/f" + std::to_string(i), std::to_string(i));
        write(*diff + "/same", std::to_string(i));
        lowers.insert(lowers.begin(), chain(i));
    }
    (void)t;
    ASSERT_TRUE(driver.create_container_layer("many", lowers));
    auto rootfs = driver.mount("many");
    ASSERT_TRUE(rootfs) << rootfs.error().message;
    EXPECT_EQ(view(*rootfs).size(), static_cast<size_t>(count) + 1);
    EXPECT_EQ(read(*rootfs + "/f0"), "0");
    EXPECT_EQ(read(*rootfs + "/same"), std::to_string(count - 1));  // the top layer wins
    ASSERT_TRUE(driver.unmount("many"));
    EXPECT_FALSE(mounted(*rootfs));
}

TEST_F(StorageTest, overlay_mounts_120_lower_layers_with_lowerdir_append) {
    REQUIRE_ROOT();
    auto f = berth::kernel::probe_overlay_features();
    if (!f.lowerdir_append) GTEST_SKIP() << "kernel before 6.8: no lowerdir+";
    auto d = OverlayDriver::open(root_, f);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_TRUE((*d)->uses_lowerdir_append());
    driver_ = std::move(*d);
    mount_many_layers(*this, *driver_, 120);
}

TEST_F(StorageTest, overlay_mounts_120_lower_layers_through_short_links) {
    REQUIRE_ROOT();
    auto f = berth::kernel::probe_overlay_features();
    f.lowerdir_append = false;  // as on a kernel before 6.8
    auto d = OverlayDriver::open(root_, f);
    ASSERT_TRUE(d) << d.error().message;
    driver_ = std::move(*d);
    mount_many_layers(*this, *driver_, 120);
    EXPECT_TRUE(fs::is_symlink(root_ + "/layers/l/" + chain(0).substr(7, 26)));
    ASSERT_TRUE(driver_->remove_layer(chain(0)));
    EXPECT_FALSE(fs::exists(root_ + "/layers/l/" + chain(0).substr(7, 26)));
}

TEST_F(StorageTest, cleanup_stale_unmounts_and_removes_what_the_store_does_not_know) {
    REQUIRE_ROOT();
    auto d = OverlayDriver::open(root_);
    ASSERT_TRUE(d) << d.error().message;
    driver_ = std::move(*d);
    three_layers();
    std::vector<std::string> lowers{chain(2), chain(1), chain(0)};
    for (const char* id : {"gone", "kept"}) {
        ASSERT_TRUE(driver_->create_container_layer(id, lowers));
        ASSERT_TRUE(driver_->mount(id));
    }
    write(root_ + "/containers/kept/config.v2.json", "{}");  // not the driver's: must stay
    // Removing a tree with a mount inside refuses before touching anything.
    auto refused = remove_tree(root_ + "/containers/gone");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().sys_errno, EBUSY);
    EXPECT_TRUE(fs::exists(root_ + "/containers/gone/upper"));

    auto r = driver_->cleanup_stale({"kept"});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->unmounted, std::vector<std::string>{root_ + "/containers/gone/rootfs"});
    EXPECT_FALSE(mounted(root_ + "/containers/gone/rootfs"));
    EXPECT_FALSE(fs::exists(root_ + "/containers/gone"));
    EXPECT_TRUE(mounted(root_ + "/containers/kept/rootfs"));
    ASSERT_TRUE(driver_->remove_container_layer("kept"));
    EXPECT_FALSE(mounted(root_ + "/containers/kept/rootfs"));
    EXPECT_TRUE(fs::exists(root_ + "/containers/kept/config.v2.json"));
    EXPECT_FALSE(fs::exists(root_ + "/containers/kept/upper"));
}

TEST_F(StorageTest, vfs_gives_the_same_view_from_copies) {
    REQUIRE_ROOT();
    auto d = VfsDriver::open(root_);
    ASSERT_TRUE(d) << d.error().message;
    driver_ = std::move(*d);
    three_layers();
    std::vector<std::string> lowers{chain(2), chain(1), chain(0)};
    ASSERT_TRUE(driver_->create_container_layer("c1", lowers));
    auto rootfs = driver_->mount("c1");
    ASSERT_TRUE(rootfs) << rootfs.error().message;
    EXPECT_EQ(view(*rootfs), expected_view);
    EXPECT_FALSE(mounted(*rootfs));
    write(*rootfs + "/new", "n");
    EXPECT_FALSE(fs::exists(driver_->layer_path(chain(2)) + "/new"));
    ASSERT_TRUE(driver_->remove_container_layer("c1"));
    EXPECT_FALSE(fs::exists(root_ + "/containers/c1"));
    auto stale = driver_->cleanup_stale({});
    ASSERT_TRUE(stale);
}

TEST_F(StorageTest, copy_tree_keeps_owners_modes_links_and_xattrs) {
    REQUIRE_ROOT();
    std::string src = root_ + "/src", dst = root_ + "/dst";
    fs::create_directories(src + "/dir");
    fs::create_directories(dst);
    write(src + "/dir/suid", "s");
    ASSERT_EQ(chown((src + "/dir/suid").c_str(), 1000, 1000), 0);
    ASSERT_EQ(chmod((src + "/dir/suid").c_str(), 04755), 0);
    ASSERT_EQ(link((src + "/dir/suid").c_str(), (src + "/hard").c_str()), 0);
    fs::create_symlink("dir/suid", src + "/sym");
    ASSERT_EQ(mkfifo((src + "/fifo").c_str(), 0640), 0);
    ASSERT_EQ(mknod((src + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    ASSERT_EQ(setxattr((src + "/dir").c_str(), "trusted.berth", "v", 1, 0), 0);
    ASSERT_TRUE(copy_tree(src, dst));
    struct stat a {
    }, b{};
    ASSERT_EQ(lstat((dst + "/dir/suid").c_str(), &a), 0);
    EXPECT_EQ(a.st_uid, 1000u);
    EXPECT_EQ(a.st_mode & 07777, 04755u);
    ASSERT_EQ(lstat((dst + "/hard").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(fs::read_symlink(dst + "/sym"), "dir/suid");
    ASSERT_EQ(lstat((dst + "/fifo").c_str(), &a), 0);
    EXPECT_TRUE(S_ISFIFO(a.st_mode));
    ASSERT_EQ(lstat((dst + "/null").c_str(), &a), 0);
    EXPECT_EQ(a.st_rdev, makedev(1, 3));
    char v[4] = {};
    EXPECT_EQ(getxattr((dst + "/dir").c_str(), "trusted.berth", v, sizeof v), 1);
    EXPECT_EQ(std::string(v), "v");
    ASSERT_TRUE(remove_tree(dst));
    EXPECT_FALSE(fs::exists(dst));
}

TEST_F(StorageTest, driver_choice_follows_storage_driver_option) {
    REQUIRE_ROOT();
    std::string note;
    auto picked = open_storage_driver(root_, "", note);
    ASSERT_TRUE(picked) << picked.error().message;
    EXPECT_EQ((*picked)->name(),
              berth::kernel::probe_overlay_features().filesystem ? "overlay2" : "vfs");
    auto vfs = open_storage_driver(root_, "vfs", note);
    ASSERT_TRUE(vfs);
    EXPECT_EQ((*vfs)->name(), "vfs");
    auto bad = open_storage_driver(root_, "aufs", note);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "error initializing graphdriver: driver not supported: aufs");
    // A probe leaves nothing behind.
    for (const auto& e : fs::directory_iterator(root_ + "/layers"))
        EXPECT_FALSE(e.path().filename().string().starts_with(".probe")) << e.path();
}

}  // namespace

// docker cp on a stopped container: open_root gives the merged view through an fd alone; the
// daemon's mount table never holds it, and a running container's mount is shared, not stacked.
void open_root_leaves_no_mount(StorageDriver& driver, const std::string& root) {
    std::vector<std::string> lowers{chain(2), chain(1), chain(0)};
    ASSERT_TRUE(driver.create_container_layer("cp", lowers));
    {
        auto fd = driver.open_root("cp");
        ASSERT_TRUE(fd) << fd.error().message;
        EXPECT_EQ(view("/proc/self/fd/" + std::to_string(fd->get())), expected_view);
        auto mounts = berth::kernel::mounts_under(root);
        ASSERT_TRUE(mounts);
        EXPECT_TRUE(mounts->empty());
        write("/proc/self/fd/" + std::to_string(fd->get()) + "/new", "new");
    }
    EXPECT_EQ(read(root + "/containers/cp/upper/new"), "new");  // written to the container
    auto rootfs = driver.mount("cp");
    ASSERT_TRUE(rootfs);
    auto fd = driver.open_root("cp");
    ASSERT_TRUE(fd);
    auto mounts = berth::kernel::mounts_under(root);
    ASSERT_TRUE(mounts);
    EXPECT_EQ(*mounts, std::vector<std::string>{*rootfs});  // the running container's own
    EXPECT_EQ(read("/proc/self/fd/" + std::to_string(fd->get()) + "/new"), "new");
    ASSERT_TRUE(driver.unmount("cp"));
}

TEST_F(StorageTest, overlay_open_root_of_a_stopped_container_leaves_no_mount) {
    REQUIRE_ROOT();
    auto f = berth::kernel::probe_overlay_features();
    if (!f.lowerdir_append) GTEST_SKIP() << "kernel before 6.8: no lowerdir+";
    auto d = OverlayDriver::open(root_, f);
    ASSERT_TRUE(d) << d.error().message;
    driver_ = std::move(*d);
    three_layers();
    open_root_leaves_no_mount(*driver_, root_);
}

TEST_F(StorageTest, overlay_open_root_through_short_links_leaves_no_mount) {
    REQUIRE_ROOT();
    auto f = berth::kernel::probe_overlay_features();
    f.lowerdir_append = false;  // as on a kernel before 6.8: mount(2), open, detach
    auto d = OverlayDriver::open(root_, f);
    ASSERT_TRUE(d) << d.error().message;
    driver_ = std::move(*d);
    three_layers();
    open_root_leaves_no_mount(*driver_, root_);
}

TEST_F(StorageTest, vfs_open_root_is_the_copied_root) {
    REQUIRE_ROOT();
    auto d = VfsDriver::open(root_);
    ASSERT_TRUE(d) << d.error().message;
    driver_ = std::move(*d);
    three_layers();
    std::vector<std::string> lowers{chain(2), chain(1), chain(0)};
    ASSERT_TRUE(driver_->create_container_layer("cp", lowers));
    auto fd = driver_->open_root("cp");
    ASSERT_TRUE(fd) << fd.error().message;
    EXPECT_EQ(view("/proc/self/fd/" + std::to_string(fd->get())), expected_view);
}

TEST_F(StorageTest, remove_tree_refuses_a_bind_mount_of_the_same_filesystem_below) {
    REQUIRE_ROOT();
    std::string tree = root_ + "/tree", source = root_ + "/precious";
    fs::create_directories(tree + "/a/b");
    fs::create_directories(source);
    write(tree + "/a/first", "x");
    write(source + "/keep", "data");
    ASSERT_EQ(::mount(source.c_str(), (tree + "/a/b").c_str(), nullptr, MS_BIND, nullptr), 0);
    // Same device as the tree: only the mount-root attribute tells. Nothing is touched.
    auto refused = remove_tree(tree);
    EXPECT_FALSE(refused);
    if (!refused) {
        EXPECT_EQ(refused.error().sys_errno, EBUSY);
    }
    EXPECT_TRUE(fs::exists(tree + "/a/first"));
    EXPECT_TRUE(fs::exists(source + "/keep"));
    ASSERT_EQ(::umount2((tree + "/a/b").c_str(), MNT_DETACH), 0);
    ASSERT_TRUE(remove_tree(tree));
    EXPECT_TRUE(fs::exists(source + "/keep"));
}
