// cgroups: which files get which values on v2 and v1/hybrid layouts (fake trees in a temporary
// directory, no root needed), and the real kernel on this host (root): membership, stats,
// freeze, kill, OOM kill, the pids limit, bad limits, stale removal, nothing left behind.
#include "kernel/cgroup.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <sstream>
#include <string>
#include <vector>

namespace berth::kernel {
namespace {

namespace fs = std::filesystem;

constexpr int64_t mib = int64_t(1) << 20;

// CgroupLimits with a few fields set (designated initializers would leave the strings out).
template <class Set>
CgroupLimits with(Set set) {
    CgroupLimits l;
    set(l);
    return l;
}

// A throwaway directory that stands for /sys/fs/cgroup; files are plain files with the
// content a kernel would show, created where the kernel would create them.
class FakeTree {
  public:
    FakeTree() {
        std::string tmpl = (fs::temp_directory_path() / "berth-cgroup-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp: " << errno;
        path_ = tmpl;
    }
    ~FakeTree() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    FakeTree(const FakeTree&) = delete;
    FakeTree& operator=(const FakeTree&) = delete;

    const std::string& path() const { return path_; }
    void write(const std::string& rel, const std::string& content = "") const {
        fs::path file = fs::path(path_) / rel;
        fs::create_directories(file.parent_path());
        std::ofstream(file) << content;
    }
    void dir(const std::string& rel) const { fs::create_directories(fs::path(path_) / rel); }
    std::string read(const std::string& rel) const {
        std::ifstream in(fs::path(path_) / rel);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    bool exists(const std::string& rel) const { return fs::exists(fs::path(path_) / rel); }

  private:
    std::string path_;
};

CgroupInfo v2_layout() {
    CgroupInfo info;
    info.mode = CgroupMode::v2;
    info.v2_path = "/sys/fs/cgroup";
    info.v2_controllers = {"cpuset", "cpu", "io", "memory", "pids"};
    return info;
}

CgroupInfo hybrid_layout(std::vector<std::string> v1) {
    CgroupInfo info;
    info.mode = CgroupMode::hybrid;
    info.v2_path = "/sys/fs/cgroup/unified";
    info.v2_controllers = {"hugetlb"};
    info.v1_controllers = std::move(v1);
    return info;
}

const std::vector<std::string> all_v1 = {"cpu",     "cpuacct", "cpuset", "memory",
                                         "devices", "freezer", "blkio",  "pids"};

// A pure v2 root with every controller offered, the parent "berth" made by an earlier run,
// and (when `files`) the container's interface files as the kernel creates them.
void write_v2_tree(const FakeTree& t, const std::string& id, bool files) {
    t.write("cgroup.controllers", "cpuset cpu io memory pids\n");
    t.write("cgroup.subtree_control", "\n");
    t.write("berth/cgroup.controllers", "cpuset cpu io memory pids\n");
    t.write("berth/cgroup.subtree_control", "\n");
    if (!files) return;
    for (const char* f :
         {"memory.max", "memory.swap.max", "memory.low", "cpu.max", "cpu.weight", "cpuset.cpus",
          "cpuset.mems", "pids.max", "io.weight", "cgroup.procs", "cgroup.kill", "cgroup.freeze"})
        t.write("berth/" + id + "/" + f);
}

// This machine's shape: one v1 hierarchy per controller and a cgroup2 tree at unified/.
void write_hybrid_tree(const FakeTree& t) {
    for (const std::string& c : all_v1) t.dir(c);
    t.write("cpuset/cpuset.cpus", "0-3\n");
    t.write("cpuset/cpuset.mems", "0\n");
    t.write("cpuset/berth/cpuset.cpus");  // the parent, empty as the kernel makes it
    t.write("cpuset/berth/cpuset.mems");
    t.write("unified/cgroup.controllers", "hugetlb\n");
}

void write_hybrid_container_files(const FakeTree& t, const std::string& id) {
    std::string c = "/berth/" + id + "/";
    for (const char* f :
         {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes"})
        t.write("memory" + c + f);
    for (const char* f : {"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"})
        t.write("cpu" + c + f);
    t.write("cpuset" + c + "cpuset.cpus");
    t.write("cpuset" + c + "cpuset.mems");
    t.write("pids" + c + "pids.max");
    t.write("blkio" + c + "blkio.bfq.weight");
}

std::unique_ptr<CgroupManager> manager_on(const CgroupInfo& layout, const FakeTree& t) {
    auto m = CgroupManager::create(layout, "berth", t.path());
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
    return m ? std::move(*m) : nullptr;
}

// ---- fake trees: v2 ----

TEST(CgroupV2Fake, limits_land_in_the_v2_files) {
    FakeTree t;
    write_v2_tree(t, "c1", true);
    auto m = manager_on(v2_layout(), t);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->clone_into_cgroup_is_enough());
    EXPECT_EQ(t.read("cgroup.subtree_control"), "+cpuset +cpu +io +memory +pids");
    EXPECT_EQ(t.read("berth/cgroup.subtree_control"), "+cpuset +cpu +io +memory +pids");

    CgroupLimits l;
    l.memory = 64 * mib;
    l.memory_reservation = 32 * mib;
    l.cpu_quota = 50000;
    l.cpu_period = 100000;
    l.cpu_shares = 1024;
    l.cpuset_cpus = "0-1";
    l.cpuset_mems = "0";
    l.pids_limit = 100;
    l.blkio_weight = 500;
    auto cg = m->create("c1", l);
    ASSERT_TRUE(cg) << cg.error().message;
    EXPECT_EQ(t.read("berth/c1/memory.max"), "67108864");
    EXPECT_EQ(t.read("berth/c1/memory.swap.max"), "67108864");  // MemorySwap 0: 2×memory
    EXPECT_EQ(t.read("berth/c1/memory.low"), "33554432");
    EXPECT_EQ(t.read("berth/c1/cpu.max"), "50000 100000");
    EXPECT_EQ(t.read("berth/c1/cpu.weight"), "39");
    EXPECT_EQ(t.read("berth/c1/cpuset.cpus"), "0-1");
    EXPECT_EQ(t.read("berth/c1/cpuset.mems"), "0");
    EXPECT_EQ(t.read("berth/c1/pids.max"), "100");
    EXPECT_EQ(t.read("berth/c1/io.weight"), "default 4950");
    EXPECT_GE(cg->v2_fd(), 0);
    cg->release();
}

TEST(CgroupV2Fake, swap_quota_and_unlimited_values) {
    FakeTree t;
    write_v2_tree(t, "c1", true);
    t.write("berth/c1/io.bfq.weight");
    auto m = manager_on(v2_layout(), t);
    ASSERT_TRUE(m);
    CgroupLimits l;
    l.memory = 64 * mib;
    l.memory_swap = 64 * mib;  // memory+swap = memory: no swap
    l.cpu_quota = 150000;      // no period: Docker's default 100000
    l.cpu_shares = 2;
    l.pids_limit = -1;
    l.blkio_weight = 300;
    auto cg = m->create("c1", l);
    ASSERT_TRUE(cg) << cg.error().message;
    EXPECT_EQ(t.read("berth/c1/memory.swap.max"), "0");
    EXPECT_EQ(t.read("berth/c1/cpu.max"), "150000 100000");
    EXPECT_EQ(t.read("berth/c1/cpu.weight"), "1");
    EXPECT_EQ(t.read("berth/c1/pids.max"), "max");
    EXPECT_EQ(t.read("berth/c1/io.bfq.weight"), "300");  // BFQ first, in BlkioWeight's range

    CgroupLimits u;
    u.memory_swap = -1;
    u.memory = 128 * mib;
    u.cpu_period = 50000;  // a period without a quota
    u.cpu_shares = 262144;
    ASSERT_TRUE(cg->update(u));
    EXPECT_EQ(t.read("berth/c1/memory.max"), "134217728");
    EXPECT_EQ(t.read("berth/c1/memory.swap.max"), "max");
    EXPECT_EQ(t.read("berth/c1/cpu.max"), "max 50000");
    EXPECT_EQ(t.read("berth/c1/cpu.weight"), "10000");
    cg->release();
}

TEST(CgroupV2Fake, controllers_already_enabled_are_not_written_again) {
    FakeTree t;
    write_v2_tree(t, "c1", false);
    t.write("cgroup.subtree_control", "cpuset cpu io memory pids\n");
    t.write("berth/cgroup.controllers", "cpu memory pids\n");
    t.write("berth/cgroup.subtree_control", "memory\n");
    ASSERT_TRUE(manager_on(v2_layout(), t));
    EXPECT_EQ(t.read("cgroup.subtree_control"), "cpuset cpu io memory pids\n");
    EXPECT_EQ(t.read("berth/cgroup.subtree_control"), "+cpu +pids");
}

TEST(CgroupV2Fake, a_limit_without_its_controller_is_refused_and_nothing_is_left) {
    FakeTree t;
    write_v2_tree(t, "c1", false);
    CgroupInfo layout = v2_layout();
    layout.v2_controllers = {"cpu", "memory", "pids"};
    auto m = manager_on(layout, t);
    ASSERT_TRUE(m);
    CgroupLimits l;
    l.cpuset_cpus = "0";
    auto cg = m->create("c1", l);
    ASSERT_FALSE(cg);
    EXPECT_EQ(cg.error().kind, ErrorKind::invalid_parameter);
    EXPECT_NE(cg.error().message.find("CpusetCpus"), std::string::npos) << cg.error().message;
    EXPECT_FALSE(t.exists("berth/c1"));
}

// ---- fake trees: v1 / hybrid ----

TEST(CgroupV1Fake, limits_land_in_the_v1_hierarchies) {
    FakeTree t;
    write_hybrid_tree(t);
    write_hybrid_container_files(t, "c1");
    auto m = manager_on(hybrid_layout(all_v1), t);
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->clone_into_cgroup_is_enough());
    // The parent copies the root's cpuset first, so that the container can copy the parent's.
    EXPECT_EQ(t.read("cpuset/berth/cpuset.cpus"), "0-3");
    EXPECT_EQ(t.read("cpuset/berth/cpuset.mems"), "0");

    CgroupLimits l;
    l.memory = 64 * mib;
    l.memory_reservation = 16 * mib;
    l.cpu_quota = 50000;
    l.cpu_shares = 512;
    l.pids_limit = 16;
    l.blkio_weight = 300;
    auto cg = m->create("c1", l);
    ASSERT_TRUE(cg) << cg.error().message;
    EXPECT_EQ(t.read("memory/berth/c1/memory.limit_in_bytes"), "67108864");
    EXPECT_EQ(t.read("memory/berth/c1/memory.memsw.limit_in_bytes"), "134217728");
    EXPECT_EQ(t.read("memory/berth/c1/memory.soft_limit_in_bytes"), "16777216");
    EXPECT_EQ(t.read("cpu/berth/c1/cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(t.read("cpu/berth/c1/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(t.read("cpu/berth/c1/cpu.shares"), "512");
    EXPECT_EQ(t.read("cpuset/berth/c1/cpuset.cpus"), "0-3");
    EXPECT_EQ(t.read("cpuset/berth/c1/cpuset.mems"), "0");
    EXPECT_EQ(t.read("pids/berth/c1/pids.max"), "16");
    EXPECT_EQ(t.read("blkio/berth/c1/blkio.bfq.weight"), "300");
    for (const char* h : {"cpuacct", "freezer", "unified"})
        EXPECT_TRUE(t.exists(std::string(h) + "/berth/c1")) << h;
    EXPECT_FALSE(t.exists("devices/berth"));
    EXPECT_GE(cg->v2_fd(), 0);  // the unified tree: membership for CLONE_INTO_CGROUP
    cg->release();
}

TEST(CgroupV1Fake, cpus_given_replace_the_copied_ones) {
    FakeTree t;
    write_hybrid_tree(t);
    write_hybrid_container_files(t, "c1");
    auto m = manager_on(hybrid_layout(all_v1), t);
    ASSERT_TRUE(m);
    CgroupLimits l;
    l.cpuset_cpus = "1";
    auto cg = m->create("c1", l);
    ASSERT_TRUE(cg) << cg.error().message;
    EXPECT_EQ(t.read("cpuset/berth/c1/cpuset.cpus"), "1");
    EXPECT_EQ(t.read("cpuset/berth/c1/cpuset.mems"), "0");
    cg->release();
}

TEST(CgroupV1Fake, memory_below_6mib_is_refused_before_anything_is_made) {
    FakeTree t;
    write_hybrid_tree(t);
    auto m = manager_on(hybrid_layout(all_v1), t);
    ASSERT_TRUE(m);
    CgroupLimits l;
    l.memory = 4 * mib;
    auto cg = m->create("c1", l);
    ASSERT_FALSE(cg);
    EXPECT_EQ(cg.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(cg.error().message, "Minimum memory limit allowed is 6MB");
    for (const std::string& h : all_v1) EXPECT_FALSE(t.exists(h + "/berth/c1")) << h;
    EXPECT_FALSE(t.exists("unified/berth/c1"));
}

TEST(CgroupV1Fake, docker_rules_on_limits_are_checked) {
    FakeTree t;
    write_hybrid_tree(t);
    auto m = manager_on(hybrid_layout(all_v1), t);
    ASSERT_TRUE(m);
    auto refused = [&](CgroupLimits l) {
        auto cg = m->create("c1", l);
        return !cg && cg.error().kind == ErrorKind::invalid_parameter;
    };
    EXPECT_TRUE(refused(with([](CgroupLimits& l) {
        l.memory = 64 * mib;
        l.memory_swap = 32 * mib;
    })));
    EXPECT_TRUE(refused(with([](CgroupLimits& l) { l.memory_swap = 64 * mib; })));
    EXPECT_TRUE(refused(with([](CgroupLimits& l) {
        l.memory = 64 * mib;
        l.memory_reservation = 128 * mib;
    })));
    EXPECT_TRUE(refused(with([](CgroupLimits& l) { l.cpu_quota = 500; })));
    EXPECT_TRUE(refused(with([](CgroupLimits& l) { l.cpu_period = 2000000; })));
    EXPECT_TRUE(refused(with([](CgroupLimits& l) { l.blkio_weight = 5; })));
    EXPECT_FALSE(m->create("../escape", {}));
    EXPECT_FALSE(m->create("", {}));
    EXPECT_FALSE(t.exists("memory/berth/c1"));
}

TEST(CgroupV1Fake, a_failed_write_removes_everything_made) {
    FakeTree t;
    write_hybrid_tree(t);
    auto m = manager_on(hybrid_layout({"memory", "pids"}), t);
    ASSERT_TRUE(m);
    CgroupLimits l;
    l.memory = 64 * mib;  // memory.limit_in_bytes is missing in this tree: ENOENT
    auto cg = m->create("c1", l);
    ASSERT_FALSE(cg);
    EXPECT_EQ(cg.error().sys_errno, ENOENT);
    EXPECT_NE(cg.error().message.find("memory/berth/c1/memory.limit_in_bytes"), std::string::npos)
        << cg.error().message;
    EXPECT_FALSE(t.exists("memory/berth/c1"));
    EXPECT_FALSE(t.exists("pids/berth/c1"));
    EXPECT_FALSE(t.exists("unified/berth/c1"));
}

TEST(CgroupV1Fake, destroy_removes_the_dirs_and_keeps_the_parent) {
    FakeTree t;
    write_hybrid_tree(t);
    auto m = manager_on(hybrid_layout({"memory", "pids", "freezer"}), t);
    ASSERT_TRUE(m);
    auto cg = m->create("c1", {});
    ASSERT_TRUE(cg) << cg.error().message;
    for (const char* h : {"memory", "pids", "freezer", "unified"})
        EXPECT_TRUE(t.exists(std::string(h) + "/berth/c1")) << h;
    ASSERT_TRUE(cg->destroy());
    for (const char* h : {"memory", "pids", "freezer", "unified"}) {
        EXPECT_FALSE(t.exists(std::string(h) + "/berth/c1")) << h;
        EXPECT_TRUE(t.exists(std::string(h) + "/berth")) << h;
    }
    EXPECT_TRUE(cg->destroy());  // idempotent
    EXPECT_FALSE(cg->stats());
}

TEST(CgroupV1Fake, the_guard_removes_unless_released) {
    FakeTree t;
    write_hybrid_tree(t);
    auto m = manager_on(hybrid_layout({"memory"}), t);
    ASSERT_TRUE(m);
    {
        auto dropped = m->create("dropped", {});
        ASSERT_TRUE(dropped);
        auto kept = m->create("kept", {});
        ASSERT_TRUE(kept);
        kept->release();
        Cgroup moved = std::move(*dropped);  // the moved-from guard owns nothing
    }
    EXPECT_FALSE(t.exists("memory/berth/dropped"));
    EXPECT_TRUE(t.exists("memory/berth/kept"));
}

TEST(CgroupV1Fake, comounted_cpu_and_cpuacct_are_one_hierarchy) {
    FakeTree t;
    t.dir("cpu,cpuacct");
    t.write("unified/cgroup.controllers", "\n");
    auto m = manager_on(hybrid_layout({"cpu", "cpuacct"}), t);
    ASSERT_TRUE(m);
    auto cg = m->create("c1", {});
    ASSERT_TRUE(cg) << cg.error().message;
    EXPECT_TRUE(t.exists("cpu,cpuacct/berth/c1"));
    ASSERT_TRUE(cg->destroy());
    EXPECT_FALSE(t.exists("cpu,cpuacct/berth/c1"));
}

TEST(CgroupV1Fake, remove_stale_removes_what_is_not_kept) {
    FakeTree t;
    write_hybrid_tree(t);
    auto m = manager_on(hybrid_layout({"memory", "pids"}), t);
    ASSERT_TRUE(m);
    for (const char* h : {"memory", "pids", "unified"}) {
        t.dir(std::string(h) + "/berth/old");
        t.dir(std::string(h) + "/berth/live");
    }
    t.write("memory/berth/memory.limit_in_bytes", "9223372036854771712\n");  // not a cgroup
    auto removed = m->remove_stale({"live"});
    ASSERT_TRUE(removed) << removed.error().message;
    EXPECT_EQ(*removed, 1u);
    for (const char* h : {"memory", "pids", "unified"}) {
        EXPECT_FALSE(t.exists(std::string(h) + "/berth/old")) << h;
        EXPECT_TRUE(t.exists(std::string(h) + "/berth/live")) << h;
    }
    EXPECT_TRUE(t.exists("memory/berth/memory.limit_in_bytes"));
}

TEST(CgroupFake, a_bad_parent_is_refused) {
    FakeTree t;
    write_hybrid_tree(t);
    EXPECT_FALSE(CgroupManager::create(hybrid_layout({"memory"}), "../etc", t.path()));
    EXPECT_FALSE(CgroupManager::create(hybrid_layout({"memory"}), "/", t.path()));
    auto nested = CgroupManager::create(hybrid_layout({"memory"}), "/a/b/", t.path());
    ASSERT_TRUE(nested) << nested.error().message;
    EXPECT_TRUE(t.exists("memory/a/b"));
}

// ---- the real kernel on this host (root) ----

// A forked child that waits for go() before running `body`, so it can join a cgroup first.
// Dropped while running, it is killed and reaped.
class Child {
  public:
    template <class Body>
    explicit Child(Body body) {
        int fds[2] = {-1, -1};
        if (::pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2: " << errno;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(fds[1]);
            char c = 0;
            while (::read(fds[0], &c, 1) < 0 && errno == EINTR) {
            }
            body();
            ::_exit(0);
        }
        ::close(fds[0]);
        go_ = fds[1];
    }
    ~Child() {
        if (go_ >= 0) ::close(go_);
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    void go() {
        char c = 1;
        EXPECT_EQ(::write(go_, &c, 1), 1);
        ::close(go_);
        go_ = -1;
    }
    int wait() {
        int status = 0;
        EXPECT_EQ(::waitpid(pid_, &status, 0), pid_);
        pid_ = -1;
        return status;
    }

  private:
    pid_t pid_ = -1;
    int go_ = -1;
};

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool wait_for(const std::function<bool()>& done, int ms_max) {
    for (int waited = 0; waited < ms_max; ++waited) {
        if (done()) return true;
        ::usleep(1000);
    }
    return done();
}

class RealCgroup : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root";
        auto layout = detect_cgroups();
        ASSERT_TRUE(layout) << layout.error().message;
        layout_ = *layout;
        parent_ = "berth-test-" + std::to_string(::getpid());
        auto m = CgroupManager::create(layout_, parent_);
        ASSERT_TRUE(m) << m.error().message;
        manager_ = std::move(*m);
    }
    // berth never removes its parent; the test does, in every hierarchy, and checks it is gone.
    void TearDown() override {
        manager_.reset();
        if (parent_.empty()) return;
        for (const auto& h : fs::directory_iterator(root_)) {
            fs::path dir = h.path() / parent_;
            if (::rmdir(dir.c_str()) != 0 && errno != ENOENT && errno != ENOTDIR)
                ADD_FAILURE() << "rmdir " << dir << ": " << std::strerror(errno);
        }
        EXPECT_TRUE(hierarchies_with(parent_).empty());
    }

    // Every /sys/fs/cgroup/<hierarchy>/<rel> that exists.
    std::vector<std::string> hierarchies_with(const std::string& rel) const {
        std::vector<std::string> out;
        for (const auto& h : fs::directory_iterator(root_)) {
            if (fs::exists(h.path() / rel)) out.push_back((h.path() / rel).string());
        }
        return out;
    }
    std::vector<std::string> dirs_of(const std::string& id) const {
        return hierarchies_with(parent_ + "/" + id);
    }
    std::string v2_dir(const std::string& id) const {
        return layout_.v2_path.empty() ? "" : layout_.v2_path + "/" + parent_ + "/" + id;
    }

    // Frozen as the kernel reports it: stopped in /proc, or the cgroup says so.
    bool frozen(pid_t pid, const std::string& id) const {
        std::string status = read_text("/proc/" + std::to_string(pid) + "/status");
        if (status.find("\nState:\tT") != std::string::npos) return true;
        if (!layout_.v2_path.empty() &&
            read_text(v2_dir(id) + "/cgroup.events").find("frozen 1") != std::string::npos)
            return true;
        return read_text(root_ + "/freezer/" + parent_ + "/" + id + "/freezer.state") == "FROZEN\n";
    }

    const std::string root_ = "/sys/fs/cgroup";
    CgroupInfo layout_;
    std::string parent_;
    std::unique_ptr<CgroupManager> manager_;
};

TEST_F(RealCgroup, a_child_joins_is_counted_frozen_thawed_and_killed) {
    if (!layout_.memory_limit || !layout_.pids_limit)
        GTEST_SKIP() << "needs the memory and pids controllers";
    auto cg = manager_->create("life", with([](CgroupLimits& l) {
                                   l.memory = 64 * mib;
                                   l.pids_limit = 16;
                               }));
    ASSERT_TRUE(cg) << cg.error().message;
    struct stat st {};
    if (!layout_.v2_path.empty()) {
        EXPECT_TRUE(::fstat(cg->v2_fd(), &st) == 0 && S_ISDIR(st.st_mode));
    }

    void* shared = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(shared, MAP_FAILED);
    auto* ticks = new (shared) std::atomic<uint64_t>(0);
    Child child([ticks] {
        // Pages touched after joining are charged to the new memory cgroup.
        auto* block = static_cast<volatile char*>(::malloc(4 << 20));
        for (size_t i = 0; block && i < (4u << 20); i += 4096) block[i] = 1;
        for (;;) {
            ticks->fetch_add(1);
            ::usleep(1000);
        }
    });
    ASSERT_TRUE(cg->add_process(child.pid()));
    child.go();
    ASSERT_TRUE(wait_for([&] { return ticks->load() > 0; }, 2000));

    std::vector<pid_t> members = cg->pids();
    EXPECT_NE(std::ranges::find(members, child.pid()), members.end());
    std::string membership = read_text("/proc/" + std::to_string(child.pid()) + "/cgroup");
    EXPECT_NE(membership.find("/" + parent_ + "/life\n"), std::string::npos) << membership;
    auto stats = cg->stats();
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_GT(stats->memory_usage, 0u);
    EXPECT_EQ(stats->memory_limit, uint64_t(64 * mib));
    EXPECT_GE(stats->pids_current, 1u);
    EXPECT_EQ(stats->pids_limit, 16u);
    EXPECT_GT(stats->cpu_usage_ns, 0u);
    EXPECT_FALSE(cg->oom_killed());

    ASSERT_TRUE(cg->freeze());
    EXPECT_TRUE(frozen(child.pid(), "life"));
    uint64_t before = ticks->load();
    ::usleep(50000);
    EXPECT_EQ(ticks->load(), before) << "a frozen child made progress";
    ASSERT_TRUE(cg->thaw());
    EXPECT_TRUE(wait_for([&] { return ticks->load() > before; }, 2000));

    ASSERT_TRUE(cg->kill_all());
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    ASSERT_TRUE(cg->destroy());
    EXPECT_TRUE(dirs_of("life").empty());
    ::munmap(shared, 4096);
}

TEST_F(RealCgroup, a_child_over_its_memory_limit_is_oom_killed) {
    if (!layout_.memory_limit) GTEST_SKIP() << "needs the memory controller";
    // memory+swap = memory: no swap to escape to.
    auto cg = manager_->create("oom", with([](CgroupLimits& l) {
                                   l.memory = 16 * mib;
                                   l.memory_swap = 16 * mib;
                               }));
    ASSERT_TRUE(cg) << cg.error().message;
    Child child([] {
        size_t size = size_t(64) << 20;
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) ::_exit(3);
        for (size_t i = 0; i < size; i += 4096) static_cast<volatile char*>(p)[i] = 1;
        ::_exit(0);
    });
    ASSERT_TRUE(cg->add_process(child.pid()));
    child.go();
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    EXPECT_TRUE(cg->oom_killed());
    auto stats = cg->stats();
    ASSERT_TRUE(stats);
    EXPECT_GE(stats->oom_kills, 1u);
    ASSERT_TRUE(cg->destroy());
    EXPECT_TRUE(dirs_of("oom").empty());
}

TEST_F(RealCgroup, a_pids_limit_of_1_makes_the_next_fork_fail) {
    if (!layout_.pids_limit) GTEST_SKIP() << "needs the pids controller";
    auto cg = manager_->create("pids1", with([](CgroupLimits& l) { l.pids_limit = 1; }));
    ASSERT_TRUE(cg) << cg.error().message;
    Child child([] {
        pid_t p = ::fork();
        if (p == 0) ::_exit(0);
        if (p > 0) {
            ::waitpid(p, nullptr, 0);
            ::_exit(2);
        }
        ::_exit(errno == EAGAIN ? 42 : 3);
    });
    ASSERT_TRUE(cg->add_process(child.pid()));
    child.go();
    int status = child.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 42) << status;
}

TEST_F(RealCgroup, an_invalid_cpuset_is_refused_and_nothing_is_left) {
    if (!layout_.cpuset) GTEST_SKIP() << "needs the cpuset controller";
    if (::sysconf(_SC_NPROCESSORS_CONF) > 99) GTEST_SKIP() << "CPUs 99-100 exist here";
    auto cg = manager_->create("badcpu", with([](CgroupLimits& l) { l.cpuset_cpus = "99-100"; }));
    ASSERT_FALSE(cg);
    EXPECT_EQ(cg.error().kind, ErrorKind::invalid_parameter);
    EXPECT_NE(cg.error().message.find("invalid value for CpusetCpus: 99-100"), std::string::npos)
        << cg.error().message;
    EXPECT_TRUE(dirs_of("badcpu").empty());
}

TEST_F(RealCgroup, memory_below_6mib_is_refused_and_nothing_is_left) {
    auto cg = manager_->create("tiny", with([](CgroupLimits& l) { l.memory = 4 * mib; }));
    ASSERT_FALSE(cg);
    EXPECT_EQ(cg.error().kind, ErrorKind::invalid_parameter);
    EXPECT_TRUE(dirs_of("tiny").empty());
}

// A v1-only host (no cgroup2 tree) freezes through freezer.state and kills by walking
// cgroup.procs: this host's v1 hierarchies play one when the layout leaves the v2 tree out.
TEST_F(RealCgroup, without_a_v2_tree_freeze_and_kill_use_the_v1_files) {
    if (layout_.mode == CgroupMode::v2 || !layout_.freezer || !layout_.pids_limit)
        GTEST_SKIP() << "needs v1 freezer and pids hierarchies";
    CgroupInfo v1_only = layout_;
    v1_only.mode = CgroupMode::v1;
    v1_only.v2_path.clear();
    auto m = CgroupManager::create(v1_only, parent_);
    ASSERT_TRUE(m) << m.error().message;
    auto cg = (*m)->create("v1only", {});
    ASSERT_TRUE(cg) << cg.error().message;
    EXPECT_EQ(cg->v2_fd(), -1);
    Child child([] {
        for (;;) ::pause();
    });
    ASSERT_TRUE(cg->add_process(child.pid()));
    child.go();
    ASSERT_TRUE(cg->freeze());
    EXPECT_EQ(read_text(root_ + "/freezer/" + parent_ + "/v1only/freezer.state"), "FROZEN\n");
    ASSERT_TRUE(cg->thaw());
    EXPECT_EQ(read_text(root_ + "/freezer/" + parent_ + "/v1only/freezer.state"), "THAWED\n");
    ASSERT_TRUE(cg->destroy());  // kills what is left, then removes
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    EXPECT_TRUE(dirs_of("v1only").empty());
}

// memory <= memory+swap must hold after every single write, lowering and raising.
TEST_F(RealCgroup, memory_and_swap_can_be_lowered_and_raised) {
    if (!layout_.memory_limit || !layout_.swap_limit) GTEST_SKIP() << "needs swap accounting";
    auto cg = manager_->create("memsw", with([](CgroupLimits& l) { l.memory = 64 * mib; }));
    ASSERT_TRUE(cg) << cg.error().message;
    std::string dir =
        layout_.mode == CgroupMode::v2 ? v2_dir("memsw") : root_ + "/memory/" + parent_ + "/memsw";
    auto value = [&](const char* v1_file, const char* v2_file) {
        return read_text(dir + "/" + (layout_.mode == CgroupMode::v2 ? v2_file : v1_file));
    };
    EXPECT_EQ(value("memory.memsw.limit_in_bytes", "memory.swap.max"),
              layout_.mode == CgroupMode::v2 ? "67108864\n" : "134217728\n");
    ASSERT_TRUE(cg->update(with([](CgroupLimits& l) { l.memory = 16 * mib; })));
    EXPECT_EQ(value("memory.limit_in_bytes", "memory.max"), "16777216\n");
    ASSERT_TRUE(cg->update(with([](CgroupLimits& l) { l.memory = 512 * mib; })));
    EXPECT_EQ(value("memory.limit_in_bytes", "memory.max"), "536870912\n");
    EXPECT_EQ(value("memory.memsw.limit_in_bytes", "memory.swap.max"),
              layout_.mode == CgroupMode::v2 ? "536870912\n" : "1073741824\n");
    ASSERT_TRUE(cg->update(with([](CgroupLimits& l) { l.memory = -1; })));
    auto stats = cg->stats();
    ASSERT_TRUE(stats);
    EXPECT_GT(stats->memory_limit, uint64_t(512 * mib));  // unlimited: the host's memory
}

TEST_F(RealCgroup, cpu_and_blkio_limits_reach_the_kernel) {
    if (!layout_.cpu_cfs_quota || !layout_.cpu_shares) GTEST_SKIP() << "needs CFS quota";
    auto cg = manager_->create("cpu", with([](CgroupLimits& l) {
                                   l.cpu_quota = 50000;
                                   l.cpu_period = 100000;
                                   l.cpu_shares = 512;
                                   l.pids_limit = -1;
                               }));
    ASSERT_TRUE(cg) << cg.error().message;
    if (layout_.mode == CgroupMode::v2) {
        EXPECT_EQ(read_text(v2_dir("cpu") + "/cpu.max"), "50000 100000\n");
    } else {
        std::string dir = root_ + "/cpu/" + parent_ + "/cpu";
        EXPECT_EQ(read_text(dir + "/cpu.cfs_quota_us"), "50000\n");
        EXPECT_EQ(read_text(dir + "/cpu.shares"), "512\n");
    }
    auto weighted = manager_->create("blkio", with([](CgroupLimits& l) { l.blkio_weight = 300; }));
    if (!weighted) {  // no BFQ on this disk: refused, named, and nothing left
        EXPECT_EQ(weighted.error().kind, ErrorKind::invalid_parameter);
        EXPECT_NE(weighted.error().message.find("BlkioWeight"), std::string::npos);
        EXPECT_TRUE(dirs_of("blkio").empty());
    }
}

TEST_F(RealCgroup, remove_stale_kills_and_removes_what_is_not_kept) {
    auto stale = manager_->create("stale1", {});
    ASSERT_TRUE(stale) << stale.error().message;
    stale->release();
    auto kept = manager_->create("keep1", {});
    ASSERT_TRUE(kept) << kept.error().message;
    kept->release();
    Child child([] {
        for (;;) ::pause();
    });
    ASSERT_TRUE(stale->add_process(child.pid()));
    child.go();

    auto removed = manager_->remove_stale({"keep1"});
    ASSERT_TRUE(removed) << removed.error().message;
    EXPECT_EQ(*removed, 1u);
    int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    EXPECT_TRUE(dirs_of("stale1").empty());
    EXPECT_FALSE(dirs_of("keep1").empty());

    removed = manager_->remove_stale({});
    ASSERT_TRUE(removed) << removed.error().message;
    EXPECT_EQ(*removed, 1u);
    EXPECT_TRUE(dirs_of("keep1").empty());
}

// ---- statistics (docker stats) ----

TEST(CgroupV2Fake, stats_read_the_v2_files) {
    FakeTree t;
    write_v2_tree(t, "c1", true);
    auto m = manager_on(v2_layout(), t);
    ASSERT_TRUE(m);
    auto cg = m->create("c1", {});
    ASSERT_TRUE(cg) << cg.error().message;
    t.write("berth/c1/memory.current", "10485760\n");
    t.write("berth/c1/memory.peak", "12582912\n");
    t.write("berth/c1/memory.max", "max\n");
    t.write("berth/c1/memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n");
    t.write("berth/c1/memory.stat", "anon 4096\nfile 8192\ninactive_file 2048\n");
    t.write("berth/c1/cpu.stat",
            "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\n"
            "nr_periods 10\nnr_throttled 2\nthrottled_usec 7\n");
    t.write("berth/c1/pids.current", "3\n");
    t.write("berth/c1/pids.max", "50\n");
    t.write("berth/c1/io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
    auto s = cg->stats();
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE(s->unified);
    EXPECT_EQ(s->memory_usage, 10485760u);
    EXPECT_EQ(s->memory_limit, cgroupfs::host_memory_bytes());  // "max": the host's memory
    EXPECT_EQ(s->memory_failcnt, 2u);
    EXPECT_EQ(s->oom_kills, 1u);
    ASSERT_EQ(s->memory_stat.size(), 3u);
    EXPECT_EQ(s->memory_stat[2].first, "inactive_file");
    EXPECT_EQ(s->cpu_usage_ns, 3000000u);
    EXPECT_EQ(s->cpu_user_ns, 2000000u);
    EXPECT_EQ(s->cpu_system_ns, 1000000u);
    EXPECT_EQ(s->cpu_periods, 10u);
    EXPECT_EQ(s->cpu_throttled_periods, 2u);
    EXPECT_EQ(s->cpu_throttled_ns, 7000u);
    EXPECT_TRUE(s->cpu_percpu_ns.empty());
    EXPECT_EQ(s->pids_current, 3u);
    EXPECT_EQ(s->pids_limit, 50u);
    ASSERT_EQ(s->io_service_bytes.size(), 2u);
    EXPECT_EQ(s->io_service_bytes[1], (BlkioEntry{8, 0, "write", 8192}));
    cg->release();
}

TEST(CgroupV1Fake, stats_read_the_v1_hierarchies) {
    FakeTree t;
    write_hybrid_tree(t);
    write_hybrid_container_files(t, "c1");
    auto m = manager_on(hybrid_layout(all_v1), t);
    ASSERT_TRUE(m);
    auto cg = m->create("c1", {});
    ASSERT_TRUE(cg) << cg.error().message;
    std::string c = "/berth/c1/";
    t.write("memory" + c + "memory.usage_in_bytes", "10485760\n");
    t.write("memory" + c + "memory.max_usage_in_bytes", "12582912\n");
    t.write("memory" + c + "memory.limit_in_bytes", "67108864\n");
    t.write("memory" + c + "memory.failcnt", "5\n");
    t.write("memory" + c + "memory.stat", "cache 4096\ntotal_inactive_file 2048\n");
    t.write("cpuacct" + c + "cpuacct.usage", "3000000000\n");
    t.write("cpuacct" + c + "cpuacct.usage_percpu", "1000000000 2000000000 \n");
    t.write("cpuacct" + c + "cpuacct.stat", "user 200\nsystem 100\n");
    t.write("cpu" + c + "cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 7000\n");
    t.write("pids" + c + "pids.current", "3\n");
    t.write("pids" + c + "pids.max", "max\n");
    t.write("blkio" + c + "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n");
    t.write("blkio" + c + "blkio.throttle.io_serviced_recursive", "8:0 Read 1\nTotal 1\n");
    auto s = cg->stats();
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_FALSE(s->unified);
    EXPECT_EQ(s->memory_usage, 10485760u);
    EXPECT_EQ(s->memory_max_usage, 12582912u);
    EXPECT_EQ(s->memory_limit, 67108864u);
    EXPECT_EQ(s->memory_failcnt, 5u);
    EXPECT_EQ(s->memory_stat.back().first, "total_inactive_file");
    EXPECT_EQ(s->cpu_usage_ns, 3000000000u);
    EXPECT_EQ(s->cpu_percpu_ns, (std::vector<uint64_t>{1000000000, 2000000000}));
    uint64_t tick_ns = 1000000000u / uint64_t(::sysconf(_SC_CLK_TCK));
    EXPECT_EQ(s->cpu_user_ns, 200 * tick_ns);
    EXPECT_EQ(s->cpu_system_ns, 100 * tick_ns);
    EXPECT_EQ(s->cpu_throttled_ns, 7000u);  // v1 counts ns already
    EXPECT_EQ(s->pids_current, 3u);
    EXPECT_EQ(s->pids_limit, 0u);  // "max"
    ASSERT_EQ(s->io_service_bytes.size(), 2u);
    EXPECT_EQ(s->io_service_bytes[0], (BlkioEntry{8, 0, "Read", 4096}));
    ASSERT_EQ(s->io_serviced.size(), 1u);
    cg->release();
}

TEST_F(RealCgroup, stats_of_a_busy_child_are_real_numbers) {
    auto cg = manager_->create("busy", with([](CgroupLimits& l) { l.memory = 64 * mib; }));
    ASSERT_TRUE(cg) << cg.error().message;
    Child child([] {
        auto* block = static_cast<volatile char*>(::malloc(4 << 20));
        for (size_t i = 0; block && i < (4u << 20); i += 4096) block[i] = 1;
        std::atomic<uint64_t> spins{0};
        for (;;) spins.fetch_add(1, std::memory_order_relaxed);
    });
    ASSERT_TRUE(cg->add_process(child.pid()));
    child.go();
    ASSERT_TRUE(wait_for(
        [&] {
            auto s = cg->stats();
            // 10 ms of CPU, and the user/system split (counted in USER_HZ ticks on v1) moved
            return s && s->cpu_usage_ns > 10000000 && s->cpu_user_ns + s->cpu_system_ns > 0;
        },
        10000));
    auto s = cg->stats();
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_GE(s->memory_usage, uint64_t(4 * mib));
    EXPECT_EQ(s->memory_limit, uint64_t(64 * mib));
    EXPECT_FALSE(s->memory_stat.empty());
    bool inactive = std::ranges::any_of(s->memory_stat, [](const auto& kv) {
        return kv.first == "total_inactive_file" || kv.first == "inactive_file";
    });
    EXPECT_TRUE(inactive) << "memory.stat without the key docker stats subtracts";
    if (!s->unified) {  // the per-CPU times add up to the total
        uint64_t sum = 0;
        for (uint64_t v : s->cpu_percpu_ns) sum += v;
        EXPECT_FALSE(s->cpu_percpu_ns.empty());
        EXPECT_NEAR(double(sum), double(s->cpu_usage_ns), 50e6);  // read moments apart
    }
    EXPECT_GE(s->pids_current, 1u);
    EXPECT_GT(s->cpu_user_ns + s->cpu_system_ns, 0u);
    (void)cg->kill_all();
    child.wait();
    EXPECT_TRUE(cg->destroy());
}

}  // namespace
}  // namespace berth::kernel
