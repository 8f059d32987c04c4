// A process in a real container, started by the exec driver on a real loop: pid 1, hostname,
// /dev, /proc and /sys as Docker sets them, masked paths, capabilities and seccomp, users,
// Docker's exec errors, no leaked fds or mounts, and no escape through hostile symlinks.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "kernel/security.hpp"
#include "rootfs_fixture.hpp"
#include "spawn_harness.hpp"

using namespace berth;
using namespace berth::testing;

namespace {

class Spawn : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: namespaces, mounts and pivot_root";
        if (!have_busybox()) GTEST_SKIP() << "needs /bin/busybox (Debian busybox-static)";
        rootfs_ = std::make_unique<BusyboxRootfs>();
        mkdir((rootfs_->dir() + "/container").c_str(), 0700);
    }
    drivers::ContainerSpec spec(std::vector<std::string> args) {
        drivers::ContainerSpec s;
        s.rootfs = rootfs_->path();
        s.container_dir = rootfs_->dir() + "/container";
        s.args = std::move(args);
        s.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
        return s;
    }
    RunResult sh(const std::string& script) { return run_container(spec({"sh", "-c", script})); }

    std::unique_ptr<BusyboxRootfs> rootfs_;
};

// Mounts in the host's table under `dir` (everything a container of ours could leave there
// targets its root; other processes' mounts elsewhere on the machine do not count).
size_t host_mount_count(const std::string& dir) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    size_t n = 0;
    while (std::getline(in, line))
        if (line.find(dir) != std::string::npos) ++n;
    return n;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_F(Spawn, process_is_pid_1_with_the_container_hostname) {
    auto s = spec({"sh", "-c", "echo $$; hostname; cat /etc/hostname"});
    s.id = test_container_id();
    auto r = run_container(s);
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.exit.exit_code, 0) << r.err;
    std::string h = s.id.substr(0, 12);
    EXPECT_EQ(r.out, "1\n" + h + "\n" + h + "\n");
}

TEST_F(Spawn, exit_code_and_signal_death_are_reported_as_docker_does) {
    auto a = sh("exit 3");
    ASSERT_TRUE(a.started) << a.start_error;
    EXPECT_EQ(a.exit.exit_code, 3);
    EXPECT_EQ(a.exit.signal, 0);
    // A signal from outside (pid 1 ignores its own kill -9, as in Docker).
    auto b = run_container(spec({"sleep", "30"}), nullptr, SIGKILL);
    ASSERT_TRUE(b.started) << b.start_error;
    EXPECT_EQ(b.exit.exit_code, 137);
    EXPECT_EQ(b.exit.signal, SIGKILL);
}

TEST_F(Spawn, missing_binary_is_executable_file_not_found_in_path) {
    auto r = run_container(spec({"no-such-program"}));
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.start_error, "exec: \"no-such-program\": executable file not found in $PATH");
    EXPECT_EQ(r.exit.exit_code, 127);
}

TEST_F(Spawn, non_executable_file_is_permission_denied) {
    auto r = run_container(spec({"/etc/passwd"}));
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.start_error, "exec: \"/etc/passwd\": permission denied");
    EXPECT_EQ(r.exit.exit_code, 126);
}

TEST_F(Spawn, missing_working_dir_is_a_clear_error) {
    auto s = spec({"true"});
    s.working_dir = "/nope";
    auto r = run_container(s);
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.start_error,
              "chdir to cwd (\"/nope\") set in config.json failed: no such file or directory");
}

TEST_F(Spawn, user_by_name_gets_its_groups_from_the_image) {
    auto s = spec({"id"});
    s.user = "alice";
    auto r = run_container(s);
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_NE(r.out.find("uid=1000(alice) gid=1000(alice)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("29(audio)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("50(staff)"), std::string::npos) << r.out;
    s.user = "1234:50";
    auto n = run_container(s);
    ASSERT_TRUE(n.started) << n.start_error;
    EXPECT_NE(n.out.find("uid=1234 gid=50(staff)"), std::string::npos) << n.out;
}

TEST_F(Spawn, unknown_user_fails_before_anything_starts) {
    auto s = spec({"true"});
    s.user = "nobody2";
    auto r = run_container(s);
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.start_error, "unable to find user nobody2: no matching entries in passwd file");
}

TEST_F(Spawn, a_passwd_that_is_a_fifo_is_refused_without_hanging_the_daemon) {
    std::string passwd = rootfs_->path() + "/etc/passwd";
    ASSERT_EQ(unlink(passwd.c_str()), 0);
    ASSERT_EQ(mkfifo(passwd.c_str(), 0644), 0);
    auto s = spec({"true"});
    s.user = "alice";
    auto r = run_container(s);  // a blocking open would never return
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.start_error, "/etc/passwd in the container is not a regular file");
}

TEST_F(Spawn, dev_has_dockers_nodes_links_and_mounts) {
    auto r = sh("ls /dev; ls /dev/pts; cat /proc/self/mountinfo");
    ASSERT_TRUE(r.started) << r.start_error;
    for (const char* n : {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
                          "mqueue", "fd", "stdin", "stdout", "stderr", "ptmx"})
        EXPECT_NE(r.out.find(std::string(n) + "\n"), std::string::npos) << n << "\n" << r.out;
    EXPECT_NE(r.out.find(" /dev/pts "), std::string::npos);
    EXPECT_NE(r.out.find(" /dev/shm "), std::string::npos);
    EXPECT_NE(r.out.find(" /dev/mqueue "), std::string::npos);
    EXPECT_NE(r.out.find(" /sys/fs/cgroup"), std::string::npos);
}

TEST_F(Spawn, proc_and_sys_are_masked_and_read_only_as_docker_does) {
    auto r = sh(
        "cat /proc/keys | wc -c; ls /sys/firmware | wc -l; "
        "echo x > /proc/sys/kernel/hostname 2>/dev/null && echo wrote-proc-sys; "
        "touch /sys/x 2>/dev/null && echo wrote-sys; echo done");
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.out, "0\n0\ndone\n") << r.err;
}

TEST_F(Spawn, only_stdio_is_open_in_the_container) {
    auto r = sh("ls /proc/self/fd");
    ASSERT_TRUE(r.started) << r.start_error;
    // ls itself holds the directory open as fd 3.
    EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}

TEST_F(Spawn, workdir_through_a_leaked_fd_cannot_leave_the_root_cve_2024_21626) {
    for (int fd = 3; fd <= 12; ++fd) {
        auto s = spec({"pwd"});
        s.working_dir = "/proc/self/fd/" + std::to_string(fd);
        auto r = run_container(s);
        EXPECT_FALSE(r.started) << "cwd " << s.working_dir << " gave " << r.out;
    }
}

TEST_F(Spawn, container_cannot_reach_the_daemon_binary_cve_2019_5736) {
    auto r = sh("for p in /proc/[0-9]*; do readlink $p/exe; done | grep -vc '^/bin/busybox$'; "
                "readlink /proc/1/exe");
    ASSERT_TRUE(r.started) << r.start_error;
    // Every process the container can see runs its own busybox: no daemon binary to open.
    EXPECT_EQ(r.out, "0\n/bin/busybox\n") << r.err;
}

TEST_F(Spawn, readonly_rootfs_refuses_writes_outside_mounts) {
    auto s = spec({"sh", "-c", "touch /x 2>/dev/null && echo wrote; touch /tmp/y 2>/dev/null "
                               "&& echo tmp-ok; echo done"});
    s.readonly_rootfs = true;
    s.tmpfs.push_back({"/tmp", ""});
    auto r = run_container(s);
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.out, "tmp-ok\ndone\n");
}

TEST_F(Spawn, network_none_has_only_loopback) {
    auto r = sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1");
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.out, "    lo\n");
}

TEST_F(Spawn, proc_symlinked_to_root_is_refused_and_nothing_is_mounted) {
    rmdir((rootfs_->path() + "/proc").c_str());
    ASSERT_EQ(symlink("/", (rootfs_->path() + "/proc").c_str()), 0);
    size_t before = host_mount_count(rootfs_->dir());
    auto r = run_container(spec({"true"}));
    EXPECT_FALSE(r.started);
    EXPECT_NE(r.start_error.find("/proc"), std::string::npos) << r.start_error;
    EXPECT_EQ(host_mount_count(rootfs_->dir()), before);
}

TEST_F(Spawn, etc_hosts_symlinked_to_the_host_shadow_stays_inside_the_root) {
    std::string shadow = slurp("/etc/shadow");
    ASSERT_EQ(symlink("/etc/shadow", (rootfs_->path() + "/etc/hosts").c_str()), 0);
    auto r = sh("cat /etc/hosts | head -1");
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.out, "127.0.0.1\tlocalhost\n");
    EXPECT_EQ(slurp("/etc/shadow"), shadow);
}

TEST_F(Spawn, bind_target_with_dotdot_chain_lands_inside_the_root) {
    std::string marker = rootfs_->dir() + "/marker";
    std::ofstream(marker) << "m";
    auto s = spec({"cat", "/escape"});
    s.binds.push_back({marker, "/../../../../../../tmp/../escape", true, ""});
    auto r = run_container(s);
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.out, "m");
    struct stat st {};
    EXPECT_NE(stat("/escape", &st), 0);
}

TEST_F(Spawn, no_mount_is_left_on_the_host_after_many_runs) {
    size_t before = host_mount_count(rootfs_->dir());
    for (int i = 0; i < 5; ++i) {
        auto r = run_container(spec({"true"}));
        ASSERT_TRUE(r.started) << r.start_error;
    }
    EXPECT_EQ(host_mount_count(rootfs_->dir()), before);
}

TEST_F(Spawn, default_capabilities_and_seccomp_are_dockers) {
    auto r = sh("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp|NoNewPrivs):' "
                "/proc/self/status");
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_NE(r.out.find("CapInh:\t0000000000000000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CapPrm:\t00000000a80425fb"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CapEff:\t00000000a80425fb"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CapBnd:\t00000000a80425fb"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Seccomp:\t2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("NoNewPrivs:\t0"), std::string::npos) << r.out;
}

TEST_F(Spawn, non_root_user_has_no_effective_capabilities_and_no_new_privs_when_asked) {
    auto s = spec({"grep", "-E", "^(CapEff|CapBnd|NoNewPrivs):", "/proc/self/status"});
    s.user = "alice";
    s.no_new_privileges = true;
    auto r = run_container(s);
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_NE(r.out.find("CapEff:\t0000000000000000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CapBnd:\t00000000a80425fb"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("NoNewPrivs:\t1"), std::string::npos) << r.out;
}

TEST_F(Spawn, cap_add_cap_drop_and_unconfined_seccomp) {
    auto s = spec({"grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status"});
    s.cap_add = {"NET_ADMIN"};
    s.cap_drop = {"CAP_CHOWN", "mknod"};
    s.seccomp = drivers::SeccompMode::unconfined;
    auto r = run_container(s);
    ASSERT_TRUE(r.started) << r.start_error;
    // a80425fb + NET_ADMIN (bit 12) - CHOWN (bit 0) - MKNOD (bit 27) = a00435fa
    EXPECT_NE(r.out.find("CapEff:\t00000000a00435fa"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Seccomp:\t0"), std::string::npos) << r.out;
}

TEST_F(Spawn, unknown_capability_is_refused_before_start) {
    auto s = spec({"true"});
    s.cap_add = {"NOT_A_CAP"};
    auto r = run_container(s);
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.start_error, "unknown capability: \"CAP_NOT_A_CAP\"");
}

TEST_F(Spawn, invalid_seccomp_profile_is_refused_before_start) {
    auto s = spec({"true"});
    s.seccomp = drivers::SeccompMode::custom;
    s.seccomp_profile = R"({"defaultAction": "SCMP_ACT_BOGUS"})";
    auto r = run_container(s);
    EXPECT_FALSE(r.started);
    EXPECT_NE(r.start_error.find("invalid seccomp profile"), std::string::npos) << r.start_error;
}

namespace {

// A cgroup manager under a parent unique to this test process; removed at the end.
class SpawnWithCgroups : public Spawn {
protected:
    void SetUp() override {
        Spawn::SetUp();
        if (IsSkipped()) return;
        auto layout = kernel::detect_cgroups();
        ASSERT_TRUE(layout) << layout.error().message;
        layout_ = *layout;
        parent_ = "berth-test-spawn-" + std::to_string(getpid());
        auto m = kernel::CgroupManager::create(layout_, parent_);
        ASSERT_TRUE(m) << m.error().message;
        manager_ = std::move(*m);
    }
    void TearDown() override {
        if (!manager_) return;
        (void)manager_->remove_stale({});
        std::string root = "/sys/fs/cgroup";
        std::system(("find " + root + " -maxdepth 3 -type d -name " + parent_ +
                     " -exec rmdir {} + 2>/dev/null")
                        .c_str());
    }
    kernel::CgroupInfo layout_;
    std::string parent_;
    std::unique_ptr<kernel::CgroupManager> manager_;
};

}  // namespace

TEST_F(SpawnWithCgroups, memory_limit_oom_kill_is_recorded) {
    if (!layout_.memory_limit) GTEST_SKIP() << "no memory controller on this host";
    // The memory hog is pid 1 itself, so its death is the container's exit.
    auto s = spec({"dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=256"});
    s.resources.memory = 32 * 1024 * 1024;
    s.resources.memory_swap = 32 * 1024 * 1024;
    auto r = run_container(s, manager_.get());
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_TRUE(r.exit.oom_killed);
    EXPECT_EQ(r.exit.exit_code, 137) << r.out << r.err;
}

TEST_F(SpawnWithCgroups, pids_limit_stops_forks) {
    if (!layout_.pids_limit) GTEST_SKIP() << "no pids controller on this host";
    auto s = spec({"sh", "-c", "sleep 1 & sleep 1 & sleep 1 & wait; echo end"});
    s.resources.pids_limit = 2;
    auto r = run_container(s, manager_.get());
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_NE(r.err.find("can't fork"), std::string::npos) << r.err;
}

TEST_F(SpawnWithCgroups, memory_below_the_minimum_fails_and_leaves_nothing) {
    auto s = spec({"true"});
    s.resources.memory = 1024 * 1024;
    auto r = run_container(s, manager_.get());
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.start_error, "Minimum memory limit allowed is 6MB");
    auto left = manager_->remove_stale({});
    ASSERT_TRUE(left);
    EXPECT_EQ(*left, 0u);
}

TEST_F(SpawnWithCgroups, cgroup_is_removed_after_the_container_exits) {
    auto s = spec({"cat", "/proc/self/cgroup"});
    s.resources.memory = 64 * 1024 * 1024;
    auto r = run_container(s, manager_.get());
    ASSERT_TRUE(r.started) << r.start_error;
    // Inside its own cgroup namespace the container sees itself at the root.
    EXPECT_NE(r.out.find(":memory:/\n"), std::string::npos) << r.out;
    auto left = manager_->remove_stale({});
    ASSERT_TRUE(left);
    EXPECT_EQ(*left, 0u);
}

TEST_F(Spawn, stdout_and_stderr_are_read_by_the_loop_before_the_exit_is_reported) {
    // More than a pipe holds, so the exit can only be reported after the loop drained it.
    auto r = run_captured(spec({"sh", "-c", "dd if=/dev/zero bs=1k count=300 2>/dev/null | "
                                            "wc -c; echo oops >&2; head -c 200000 /dev/zero"}));
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.exit.exit_code, 0);
    EXPECT_TRUE(r.out.starts_with("307200\n")) << r.out.substr(0, 20);
    EXPECT_EQ(r.out.size(), 7u + 200000u);
    EXPECT_EQ(r.err, "oops\n");
}

TEST_F(Spawn, stdin_pipe_reaches_the_process_and_its_end_ends_cat) {
    auto r = run_captured(spec({"cat"}), "hello from stdin\n");
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.out, "hello from stdin\n");
    EXPECT_EQ(r.exit.exit_code, 0);
}

TEST_F(Spawn, tty_is_a_pty_from_the_containers_own_devpts) {
    auto s = spec({"sh", "-c", "tty; test -t 0 && echo stdin-is-tty; ls /dev/pts"});
    s.tty = true;
    auto r = run_captured(s);
    ASSERT_TRUE(r.started) << r.start_error;
    // A tty turns \n into \r\n on output.
    EXPECT_NE(r.out.find("/dev/pts/0\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("stdin-is-tty\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ptmx"), std::string::npos) << r.out;
    EXPECT_EQ(r.exit.exit_code, 0);
}

TEST_F(Spawn, tty_input_and_end_of_input) {
    auto s = spec({"cat"});
    s.tty = true;
    s.open_stdin = true;
    auto r = run_captured(s, "typed\n");
    ASSERT_TRUE(r.started) << r.start_error;
    // The line is echoed by the tty and then printed by cat; ^D ends cat.
    EXPECT_NE(r.out.find("typed\r\ntyped\r\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.exit.exit_code, 0);
}

TEST_F(Spawn, container_starts_with_no_blocked_or_ignored_signals) {
    // berthd blocks SIGTERM/SIGINT for its signalfd and ignores SIGPIPE; none of it may leak.
    // grep itself is pid 1 here: a shell would ignore SIGQUIT for its children.
    auto r = run_container(spec({"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"}));
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_NE(r.out.find("SigBlk:\t0000000000000000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("SigIgn:\t0000000000000000"), std::string::npos) << r.out;
}

TEST_F(SpawnWithCgroups, both_spawn_modes_give_the_same_container) {
    for (auto mode : {kernel::SpawnMode::fork, kernel::SpawnMode::vfork}) {
        auto s = spec({"sh", "-c", "echo $$; cat /proc/self/cgroup | grep -c ':/$'; "
                                   "grep CapEff /proc/self/status"});
        s.resources.pids_limit = 64;
        auto r = run_container(s, manager_.get(), 0, mode);
        ASSERT_TRUE(r.started) << r.start_error;
        EXPECT_TRUE(r.out.starts_with("1\n")) << r.out;
        EXPECT_NE(r.out.find("CapEff:\t00000000a80425fb"), std::string::npos) << r.out;
        // Every hierarchy shows the container's own cgroup as its root.
        auto lines = std::count(r.out.begin(), r.out.end(), '\n');
        EXPECT_EQ(lines, 3) << r.out;
    }
}

TEST_F(Spawn, ulimits_oom_score_adj_and_domainname_are_applied) {
    auto s = spec({"sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; "
                               "hostname; cat /proc/sys/kernel/domainname"});
    s.ulimits.push_back({"nofile", 1024, 2048});
    s.oom_score_adj = 500;
    s.hostname = "web";
    s.domainname = "example.org";
    auto r = run_container(s);
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.out, "1024\n2048\n500\nweb\nexample.org\n");
}

TEST_F(Spawn, bad_ulimits_and_oom_score_adj_are_refused) {
    auto a = spec({"true"});
    a.ulimits.push_back({"nofiles", 1, 1});
    EXPECT_EQ(run_container(a).start_error, "invalid ulimit type: nofiles");
    auto b = spec({"true"});
    b.oom_score_adj = 2000;
    EXPECT_EQ(run_container(b).start_error,
              "Invalid value 2000, range for oom score adj is [-1000, 1000]");
}

TEST_F(Spawn, container_network_mode_joins_another_containers_namespace) {
    // A: a container holding its own empty network namespace.
    auto loop = loop::Loop::create();
    ASSERT_TRUE(loop);
    drivers::ExecDriver driver(**loop, nullptr, kernel::CgroupInfo{});
    auto a = spec({"sleep", "30"});
    a.id = test_container_id();
    bool a_started = false;
    drivers::ContainerEvents ev{&a_started,
                                [](void* ctx, drivers::Container&, const Result<>& r) {
                                    *static_cast<bool*>(ctx) = bool(r);
                                },
                                nullptr, nullptr};
    auto ca = driver.start(a, ev);
    ASSERT_TRUE(ca) << ca.error().message;
    while (!a_started) (void)(*loop)->tick(10'000'000);
    std::string ns_path = "/proc/" + std::to_string((*ca)->pid()) + "/ns/net";
    struct stat a_ns {};
    ASSERT_EQ(stat(ns_path.c_str(), &a_ns), 0);
    int netns = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(netns, 0);
    // B joins it and reports the inode of its network namespace.
    auto b = spec({"readlink", "/proc/self/ns/net"});
    b.network = drivers::NetworkMode::container;
    b.join_netns_fd = netns;
    auto rb = run_container(b);
    close(netns);
    ASSERT_TRUE(rb.started) << rb.start_error;
    EXPECT_EQ(rb.out, "net:[" + std::to_string(a_ns.st_ino) + "]\n");
    ASSERT_TRUE((*ca)->signal(SIGKILL));
    while ((*loop)->in_flight() > 0) (void)(*loop)->tick(10'000'000);
}

TEST_F(SpawnWithCgroups, pids_limit_of_one_lets_pid_1_run_but_not_fork) {
    if (!layout_.pids_limit) GTEST_SKIP() << "no pids controller on this host";
    auto s = spec({"sh", "-c", "echo pid-1-runs; ls / >/dev/null; echo after"});
    s.resources.pids_limit = 1;
    auto r = run_container(s, manager_.get());
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.out, "pid-1-runs\n");
    EXPECT_NE(r.err.find("can't fork"), std::string::npos) << r.err;
}

TEST_F(Spawn, privileged_gets_every_capability_no_seccomp_no_masks_and_rw_sys) {
    auto s = spec({"sh", "-c", "grep -E '^(CapEff|Seccomp):' /proc/self/status; "
                               "cat /proc/sys/kernel/ostype; grep -c ' /proc/keys ' "
                               "/proc/self/mountinfo; grep ' /sys ' /proc/self/mountinfo | "
                               "grep -c ' rw,'"});
    s.privileged = true;
    auto r = run_container(s);
    ASSERT_TRUE(r.started) << r.start_error;
    // Every capability the daemon itself holds (this sandbox may lack a few).
    auto all = kernel::capabilities_all();
    char want[40];
    snprintf(want, sizeof want, "CapEff:\t%016llx", static_cast<unsigned long long>(all));
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Seccomp:\t0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Linux\n0\n1\n"), std::string::npos) << r.out;
}
