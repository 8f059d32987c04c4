// Host facts for /info: cgroup layout and limit support (v2, hybrid, v1), CPUs, memory, kernel
// and OS release, read from fake /proc, /sys and /etc trees built in a temporary directory,
// plus one check against the real host.
#include "kernel/host.hpp"

#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace berth::kernel {
namespace {

namespace fs = std::filesystem;

// A throwaway root with proc/, sys/ and etc/ files, removed when the test ends.
class FakeRoot {
  public:
    FakeRoot() {
        std::string tmpl = (fs::temp_directory_path() / "berth-host-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp: " << errno;
        path_ = tmpl;
    }
    ~FakeRoot() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    FakeRoot(const FakeRoot&) = delete;
    FakeRoot& operator=(const FakeRoot&) = delete;

    const std::string& path() const { return path_; }

    void write(const std::string& rel, const std::string& content) const {
        fs::path file = fs::path(path_) / rel;
        fs::create_directories(file.parent_path());
        std::ofstream(file) << content;
    }

  private:
    std::string path_;
};

// Mount lines every layout shares, so the parser has to skip them.
const std::string base_mounts =
    "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw\n"
    "24 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw\n";

void write_pure_v2(const FakeRoot& root, const std::string& controllers) {
    root.write("proc/self/mountinfo",
               base_mounts +
                   "29 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
                   "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n");
    root.write("sys/fs/cgroup/cgroup.controllers", controllers + "\n");
}

// This development machine: a tmpfs at /sys/fs/cgroup, one v1 hierarchy per controller, a
// name=systemd hierarchy and a cgroup2 tree at unified/ with nothing delegated to it.
void write_hybrid(const FakeRoot& root, bool memsw) {
    root.write("proc/self/mountinfo",
               base_mounts +
                   "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
                   "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
                   "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
                   "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
                   "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
                   "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
                   "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
                   "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
                   "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
                   "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
                   "rw,name=systemd\n"
                   "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
    root.write("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
    root.write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    root.write("sys/fs/cgroup/memory/memory.oom_control", "oom_kill_disable 0\n");
    if (memsw) root.write("sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "-1\n");
    root.write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    root.write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n");
    root.write("sys/fs/cgroup/cpu/cpu.shares", "1024\n");
}

// An older distribution: cpu and cpuacct share one hierarchy, no cgroup2 anywhere.
void write_plain_v1(const FakeRoot& root) {
    root.write(
        "proc/self/mountinfo",
        base_mounts +
            "31 24 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
            "32 31 0:29 / /sys/fs/cgroup/systemd rw,nosuid shared:9 - cgroup cgroup "
            "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
            "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup "
            "rw,cpu,cpuacct\n"
            "34 31 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup "
            "rw,memory\n"
            "35 31 0:32 / /sys/fs/cgroup/pids rw,nosuid shared:12 - cgroup cgroup rw,pids\n");
    root.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    root.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    root.write("sys/fs/cgroup/cpu,cpuacct/cpu.shares", "1024\n");
}

void write_proc_basics(const FakeRoot& root) {
    root.write("proc/sys/kernel/hostname", "buildbox\n");
    root.write("proc/sys/kernel/osrelease", "6.18.44-fc-v769\n");
    root.write("proc/meminfo",
               "MemTotal:       16318120 kB\nMemFree:         1024000 kB\n"
               "MemAvailable:   12000000 kB\n");
    root.write("proc/cpuinfo",
               "processor\t: 0\nmodel name\t: Fake CPU\n\nprocessor\t: 1\nmodel name\t: Fake "
               "CPU\n\nprocessor\t: 2\n\nprocessor\t: 3\n");
}

TEST(Host, pure_v2_host_reports_cgroup_version_2_with_all_limits) {
    FakeRoot root;
    write_pure_v2(root, "cpuset cpu io memory pids");

    auto info = detect_cgroups(root.path());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->mode, CgroupMode::v2);
    EXPECT_EQ(info->version_string(), "2");
    EXPECT_EQ(info->v2_path, "/sys/fs/cgroup");
    EXPECT_EQ(info->v2_controllers,
              (std::vector<std::string>{"cpuset", "cpu", "io", "memory", "pids"}));
    EXPECT_TRUE(info->v1_controllers.empty());
    EXPECT_TRUE(info->memory_limit);
    EXPECT_TRUE(info->swap_limit);
    EXPECT_TRUE(info->cpu_cfs_period);
    EXPECT_TRUE(info->cpu_cfs_quota);
    EXPECT_TRUE(info->cpu_shares);
    EXPECT_TRUE(info->cpuset);
    EXPECT_TRUE(info->pids_limit);
    EXPECT_TRUE(info->freezer);
    EXPECT_FALSE(info->oom_kill_disable);
}

TEST(Host, v2_host_without_a_controller_reports_its_limits_unsupported) {
    FakeRoot root;
    write_pure_v2(root, "memory pids");

    auto info = detect_cgroups(root.path());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->mode, CgroupMode::v2);
    EXPECT_TRUE(info->memory_limit);
    EXPECT_TRUE(info->pids_limit);
    EXPECT_FALSE(info->cpu_cfs_quota);
    EXPECT_FALSE(info->cpu_shares);
    EXPECT_FALSE(info->cpuset);
}

TEST(Host, hybrid_host_reports_cgroup_version_1_with_v1_limits) {
    FakeRoot root;
    write_hybrid(root, /*memsw=*/true);

    auto info = detect_cgroups(root.path());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->mode, CgroupMode::hybrid);
    EXPECT_EQ(info->version_string(), "1");
    EXPECT_EQ(info->v2_path, "/sys/fs/cgroup/unified");
    EXPECT_EQ(info->v2_controllers, std::vector<std::string>{"hugetlb"});
    EXPECT_EQ(info->v1_controllers,
              (std::vector<std::string>{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
                                        "blkio", "pids"}));
    EXPECT_TRUE(info->memory_limit);
    EXPECT_TRUE(info->swap_limit);
    EXPECT_TRUE(info->oom_kill_disable);
    EXPECT_TRUE(info->cpu_cfs_period);
    EXPECT_TRUE(info->cpu_cfs_quota);
    EXPECT_TRUE(info->cpu_shares);
    EXPECT_TRUE(info->cpuset);
    EXPECT_TRUE(info->pids_limit);
    EXPECT_TRUE(info->freezer);
}

TEST(Host, hybrid_host_without_memsw_reports_no_swap_limit) {
    FakeRoot root;
    write_hybrid(root, /*memsw=*/false);

    auto info = detect_cgroups(root.path());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->mode, CgroupMode::hybrid);
    EXPECT_TRUE(info->memory_limit);
    EXPECT_FALSE(info->swap_limit);
}

TEST(Host, v1_host_reports_legacy_mode_and_splits_shared_hierarchies) {
    FakeRoot root;
    write_plain_v1(root);

    auto info = detect_cgroups(root.path());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->mode, CgroupMode::v1);
    EXPECT_EQ(info->version_string(), "1");
    EXPECT_TRUE(info->v2_path.empty());
    EXPECT_EQ(info->v1_controllers, (std::vector<std::string>{"cpu", "cpuacct", "memory", "pids"}));
    EXPECT_TRUE(info->cpu_cfs_quota);
    EXPECT_TRUE(info->cpu_shares);
    EXPECT_TRUE(info->memory_limit);
    EXPECT_FALSE(info->swap_limit);
    EXPECT_TRUE(info->pids_limit);
    EXPECT_FALSE(info->cpuset);
    EXPECT_FALSE(info->freezer);
}

TEST(Host, escaped_mount_points_are_read_unescaped) {
    FakeRoot root;
    root.write("proc/self/mountinfo",
               base_mounts + "50 22 0:40 / /run/my\\040cgroup rw - cgroup2 cgroup2 rw\n");
    root.write("run/my cgroup/cgroup.controllers", "memory\n");

    auto info = detect_cgroups(root.path());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->mode, CgroupMode::v2);
    EXPECT_EQ(info->v2_path, "/run/my cgroup");
    EXPECT_EQ(info->v2_controllers, std::vector<std::string>{"memory"});
}

TEST(Host, missing_mountinfo_is_a_system_error) {
    FakeRoot root;
    auto info = detect_cgroups(root.path());
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().kind, ErrorKind::system);
    EXPECT_EQ(info.error().sys_errno, ENOENT);
}

TEST(Host, host_info_reads_kernel_os_cpus_memory_and_sysctls) {
    FakeRoot root;
    write_pure_v2(root, "cpuset cpu io memory pids");
    write_proc_basics(root);
    root.write("etc/os-release",
               "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
               "VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n");
    root.write("proc/sys/net/ipv4/ip_forward", "1\n");
    root.write("proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");

    auto info = read_host_info(root.path());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->hostname, "buildbox");
    EXPECT_EQ(info->kernel_version, "6.18.44-fc-v769");
    EXPECT_EQ(info->architecture, "x86_64");
    EXPECT_EQ(info->operating_system, "Debian GNU/Linux 12 (bookworm)");
    EXPECT_EQ(info->os_version, "12");
    EXPECT_EQ(info->ncpu, 4);
    EXPECT_EQ(info->mem_total, int64_t(16318120) * 1024);
    EXPECT_TRUE(info->ipv4_forwarding);
    EXPECT_TRUE(info->bridge_nf_iptables);
    EXPECT_FALSE(info->bridge_nf_ip6tables);  // no file: br_netfilter not loaded
    EXPECT_EQ(info->cgroup.version_string(), "2");
}

TEST(Host, os_release_falls_back_to_usr_lib_and_unquotes_single_quotes) {
    FakeRoot root;
    write_pure_v2(root, "memory");
    write_proc_basics(root);
    root.write("usr/lib/os-release", "# comment\nPRETTY_NAME='Fedora Linux 40'\nVERSION_ID=40\n");
    root.write("proc/sys/net/ipv4/ip_forward", "0\n");

    auto info = read_host_info(root.path());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->operating_system, "Fedora Linux 40");
    EXPECT_EQ(info->os_version, "40");
    EXPECT_FALSE(info->ipv4_forwarding);
}

TEST(Host, missing_meminfo_is_a_system_error_naming_the_file) {
    FakeRoot root;
    write_pure_v2(root, "memory");
    root.write("proc/sys/kernel/osrelease", "6.1.0\n");

    auto info = read_host_info(root.path());
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().kind, ErrorKind::system);
    EXPECT_EQ(info.error().sys_errno, ENOENT);
    EXPECT_NE(info.error().message.find("read " + root.path() + "/proc/meminfo"), std::string::npos)
        << info.error().message;
}

TEST(Host, real_host_reports_cpus_memory_and_kernel_release) {
    auto info = read_host_info();
    ASSERT_TRUE(info) << info.error().message;
    utsname u{};
    ASSERT_EQ(::uname(&u), 0);
    EXPECT_GE(info->ncpu, 1);
    EXPECT_GT(info->mem_total, 0);
    EXPECT_FALSE(info->kernel_version.empty());
    EXPECT_EQ(info->kernel_version, u.release);
    EXPECT_EQ(info->architecture, u.machine);
    EXPECT_FALSE(info->operating_system.empty());
    std::string version = info->cgroup.version_string();
    EXPECT_TRUE(version == "1" || version == "2") << version;
}

}  // namespace
}  // namespace berth::kernel
