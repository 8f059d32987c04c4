// The spawn child. Order matters and is Docker's (runc's): wait to be placed in the cgroups,
// join/unshare namespaces, build the root (mounts through fds resolved inside the root), pivot,
// mask, set identity and limits, drop privileges, load seccomp, chdir, exec. Only syscalls.
#include "kernel/child.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/fd_message.hpp"
#include "kernel/rootfs_path.hpp"

namespace berth::kernel {

namespace {

[[noreturn]] void fail(const SpawnPlan& plan, ChildStage stage, int err, const char* detail) {
    ChildReport r{};
    r.stage = stage;
    r.err = err;
    if (detail) {
        size_t n = strnlen(detail, sizeof r.detail - 1);
        memcpy(r.detail, detail, n);
    }
    if (plan.report_fd >= 0) {
        ssize_t w = write(plan.report_fd, &r, sizeof r);
        (void)w;
    }
    int code = child_exit_setup_failed;
    if (stage == ChildStage::exec)
        code = err == EACCES ? child_exit_not_executable : child_exit_not_found;
    _exit(code);
}

// A filesystem instance as a detached mount fd: fsopen → fsconfig → fsmount.
int make_fs(const char* type, const char* const* options, unsigned attrs) {
    int fs = fsopen(type, FSOPEN_CLOEXEC);
    if (fs < 0) return -errno;
    for (size_t i = 0; options && options[i]; i += 2) {
        int rc = options[i + 1]
                     ? fsconfig(fs, FSCONFIG_SET_STRING, options[i], options[i + 1], 0)
                     : fsconfig(fs, FSCONFIG_SET_FLAG, options[i], nullptr, 0);
        if (rc != 0) {
            int err = errno;
            close(fs);
            return -err;
        }
    }
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
        int err = errno;
        close(fs);
        return -err;
    }
    int mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
    int err = errno;
    close(fs);
    return mnt < 0 ? -err : mnt;
}

int attach(int mnt_fd, int target_fd) {
    int rc = move_mount(mnt_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    int err = errno;
    close(mnt_fd);
    return rc == 0 ? 0 : -err;
}

unsigned attrs_of(const MountSpec& m) {
    unsigned a = 0;
    if (m.readonly) a |= MOUNT_ATTR_RDONLY;
    if (m.nosuid) a |= MOUNT_ATTR_NOSUID;
    if (m.nodev) a |= MOUNT_ATTR_NODEV;
    if (m.noexec) a |= MOUNT_ATTR_NOEXEC;
    return a;
}

// Splits "a=b,c,d=e" into fsconfig key/value pairs in `out` (pointers into `buf`).
void split_options(const char* data, char* buf, size_t cap, const char** out, size_t out_cap) {
    size_t n = 0;
    out[0] = nullptr;
    if (!data) return;
    size_t len = strnlen(data, cap - 1);
    memcpy(buf, data, len);
    buf[len] = '\0';
    char* p = buf;
    while (*p && n + 3 < out_cap) {
        char* comma = strchr(p, ',');
        if (comma) *comma = '\0';
        char* eq = strchr(p, '=');
        if (eq) *eq = '\0';
        out[n++] = p;
        out[n++] = eq ? eq + 1 : nullptr;
        if (!comma) break;
        p = comma + 1;
    }
    out[n] = nullptr;
}

int mount_bind(const MountSpec& m, int target) {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m.recursive ? AT_RECURSIVE : 0);
    int tree = open_tree(AT_FDCWD, m.source, flags);
    if (tree < 0) return -errno;
    mount_attr attr{};
    attr.attr_set = attrs_of(m);
    attr.propagation = m.propagation & ~uint64_t(MS_REC);
    if ((attr.attr_set || attr.propagation) &&
        mount_setattr(tree, "", AT_EMPTY_PATH | (m.recursive ? AT_RECURSIVE : 0), &attr,
                      sizeof attr) != 0) {
        int err = errno;
        close(tree);
        return -err;
    }
    return attach(tree, target);
}

struct DevNode {
    const char* name;
    unsigned major, minor;
};
constexpr DevNode dev_nodes[] = {{"null", 1, 3},    {"zero", 1, 5},    {"full", 1, 7},
                                 {"random", 1, 8},  {"urandom", 1, 9}, {"tty", 5, 0}};
constexpr const char* dev_links[][2] = {{"fd", "/proc/self/fd"},     {"stdin", "/proc/self/fd/0"},
                                        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
                                        {"ptmx", "pts/ptmx"}};

// /dev: a small tmpfs with the device nodes Docker gives every container, then devpts,
// shm and mqueue are mounted on it by later plan entries.
int mount_dev(int target) {
    const char* opts[] = {"mode", "755", "size", "65536k", nullptr};
    int mnt = make_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME);
    if (mnt < 0) return mnt;
    // Populate before attaching: the detached mount is reachable through its fd.
    for (const DevNode& d : dev_nodes)
        if (mknodat(mnt, d.name, S_IFCHR | 0666, makedev(d.major, d.minor)) != 0) {
            int err = errno;
            close(mnt);
            return -err;
        }
    for (const auto& l : dev_links) symlinkat(l[1], mnt, l[0]);
    mkdirat(mnt, "pts", 0755);
    mkdirat(mnt, "shm", 01777);
    mkdirat(mnt, "mqueue", 0755);
    return attach(mnt, target);
}

// cgroup v1 hosts: a tmpfs with one directory per hierarchy ("cpu", "memory", …; data lists
// them separated by ';'), each a cgroup v1 mount made inside the container's cgroup namespace,
// so the container sees its own cgroup as the root. Read-only once populated.
int mount_cgroup_v1(const MountSpec& m, int target) {
    const char* opts[] = {"mode", "755", nullptr};
    int tree = make_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (tree < 0) return tree;
    char list[512];
    size_t len = strnlen(m.data ? m.data : "", sizeof list - 1);
    memcpy(list, m.data ? m.data : "", len);
    list[len] = '\0';
    unsigned attrs = attrs_of(m);
    for (char* name = list; name && *name;) {
        char* next = strchr(name, ';');
        if (next) *next++ = '\0';
        // "cpu,cpuacct" style hierarchies: each controller is one fsconfig flag.
        char flags[128];
        const char* fopts[16];
        size_t n = 0;
        size_t fl = strnlen(name, sizeof flags - 1);
        memcpy(flags, name, fl);
        flags[fl] = '\0';
        for (char* f = flags; f && *f && n + 2 < 16;) {
            char* comma = strchr(f, ',');
            if (comma) *comma++ = '\0';
            fopts[n++] = f;
            fopts[n++] = nullptr;
            f = comma;
        }
        fopts[n] = nullptr;
        mkdirat(tree, name, 0755);
        int cg = make_fs("cgroup", fopts, attrs);
        if (cg < 0) {
            close(tree);
            return cg;
        }
        int rc = move_mount(cg, "", tree, name, MOVE_MOUNT_F_EMPTY_PATH);
        int err = errno;
        close(cg);
        if (rc != 0) {
            close(tree);
            return -err;
        }
        name = next;
    }
    if (m.readonly) {
        mount_attr attr{};
        attr.attr_set = MOUNT_ATTR_RDONLY;
        mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr);
    }
    return attach(tree, target);
}

int mount_one(const MountSpec& m, int root_fd) {
    int target = open_or_create_in_root(root_fd, m.target, m.target_is_file, m.refuse_symlink);
    if (target < 0) return target;
    char buf[512];
    const char* opts[32];
    int mnt = 0;
    int rc = 0;
    switch (m.kind) {
        case MountKind::bind: rc = mount_bind(m, target); break;
        case MountKind::dev: rc = mount_dev(target); break;
        case MountKind::cgroup:
            if (m.source && strcmp(m.source, "cgroup-v1") == 0) {
                rc = mount_cgroup_v1(m, target);
                break;
            }
            [[fallthrough]];
        case MountKind::tmpfs:
        case MountKind::devpts:
        case MountKind::mqueue:
        case MountKind::proc:
        case MountKind::sysfs: {
            const char* type = m.kind == MountKind::tmpfs    ? "tmpfs"
                               : m.kind == MountKind::devpts ? "devpts"
                               : m.kind == MountKind::mqueue ? "mqueue"
                               : m.kind == MountKind::proc   ? "proc"
                               : m.kind == MountKind::sysfs  ? "sysfs"
                                                             : (m.source ? m.source : "cgroup2");
            split_options(m.data, buf, sizeof buf, opts, 32);
            mnt = make_fs(type, opts, attrs_of(m));
            rc = mnt < 0 ? mnt : attach(mnt, target);
            break;
        }
    }
    close(target);
    return rc;
}

// Masks a path the way Docker does: /dev/null over files, an empty read-only tmpfs over dirs.
int mask_path(const char* path) {
    int fd = open_in_root(AT_FDCWD, path, O_PATH | O_NOFOLLOW);
    if (fd == -ENOENT) return 0;
    if (fd < 0) return fd;
    struct stat st {};
    fstat(fd, &st);
    int rc;
    if (S_ISDIR(st.st_mode)) {
        const char* opts[] = {"size", "0", nullptr};
        int mnt = make_fs("tmpfs", opts, MOUNT_ATTR_RDONLY);
        rc = mnt < 0 ? mnt : attach(mnt, fd);
    } else {
        int tree = open_tree(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        rc = tree < 0 ? -errno : attach(tree, fd);
    }
    close(fd);
    return rc;
}

int readonly_path(const char* path) {
    int tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0) return errno == ENOENT ? 0 : -errno;
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) {
        int err = errno;
        close(tree);
        return -err;
    }
    int target = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0) {
        int err = errno;
        close(tree);
        return -err;
    }
    int rc = attach(tree, target);
    close(target);
    return rc;
}

void build_root(const SpawnPlan& p) {
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        fail(p, ChildStage::mount_propagation, errno, "/");
    // The root must be a mount point for pivot_root: bind it onto itself first.
    if (mount(p.rootfs, p.rootfs, nullptr, MS_BIND | MS_REC, nullptr) != 0)
        fail(p, ChildStage::rootfs, errno, p.rootfs);
    int root_fd = open(p.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) fail(p, ChildStage::rootfs, errno, p.rootfs);
    for (size_t i = 0; i < p.mount_count; ++i) {
        int rc = mount_one(p.mounts[i], root_fd);
        if (rc < 0) fail(p, ChildStage::mount, -rc, p.mounts[i].target);
    }
    if (fchdir(root_fd) != 0) fail(p, ChildStage::pivot_root, errno, p.rootfs);
    close(root_fd);
    if (syscall(SYS_pivot_root, ".", ".") != 0) fail(p, ChildStage::pivot_root, errno, p.rootfs);
    if (umount2(".", MNT_DETACH) != 0) fail(p, ChildStage::pivot_root, errno, "old root");
    if (chdir("/") != 0) fail(p, ChildStage::pivot_root, errno, "/");
    for (size_t i = 0; i < p.masked_count; ++i)
        if (int rc = mask_path(p.masked_paths[i]); rc < 0)
            fail(p, ChildStage::mask, -rc, p.masked_paths[i]);
    for (size_t i = 0; i < p.readonly_count; ++i)
        if (int rc = readonly_path(p.readonly_paths[i]); rc < 0)
            fail(p, ChildStage::readonly_path, -rc, p.readonly_paths[i]);
    if (p.readonly_rootfs &&
        mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
        fail(p, ChildStage::readonly_rootfs, errno, "/");
}

// Opens a pty pair on the container's devpts (after pivot_root, so /dev/ptmx is its own), sends
// the master to the daemon and returns the slave, owned by the container's user as runc does.
int open_console(const SpawnPlan& p) {
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) fail(p, ChildStage::console, errno, "/dev/ptmx");
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0) fail(p, ChildStage::console, errno, "unlockpt");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0) fail(p, ChildStage::console, errno, "open pty slave");
    if (fchown(slave, p.uid, p.gid) != 0) fail(p, ChildStage::console, errno, "chown pty slave");
    FdMessage m;
    m.set_fd(master);
    if (sendmsg(p.console_socket_fd, &m.msg, MSG_NOSIGNAL) != 1)
        fail(p, ChildStage::console, errno, "send pty master");
    close(master);
    return slave;
}

void set_stdio(const SpawnPlan& p) {
    int fds[3] = {p.stdio[0], p.stdio[1], p.stdio[2]};
    bool tty = p.console_socket_fd >= 0;
    if (tty) fds[0] = fds[1] = fds[2] = open_console(p);
    int null_fd = -1;
    for (int i = 0; i < 3; ++i) {
        int fd = fds[i];
        if (fd < 0) {
            if (null_fd < 0) null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
            fd = null_fd;
        }
        if (fd == i) {
            // Already in place: just make sure it survives exec.
            if (fcntl(i, F_SETFD, 0) != 0) fail(p, ChildStage::stdio, errno, "stdio");
        } else if (dup3(fd, i, 0) < 0) {
            fail(p, ChildStage::stdio, errno, "stdio");
        }
    }
    if (p.setsid) setsid();
    if (tty && ioctl(0, TIOCSCTTY, 0) != 0)
        fail(p, ChildStage::stdio, errno, "controlling terminal");
    // Close every fd but stdio and the report pipe now, not at exec: a daemon fd still open at
    // chdir time would let a WORKDIR of /proc/self/fd/N land outside the root (CVE-2024-21626).
    unsigned keep = unsigned(p.report_fd);
    if (keep > 3) syscall(SYS_close_range, 3U, keep - 1, 0U);
    syscall(SYS_close_range, keep + 1, ~0U, 0U);
}

void drop_bounding_set(const SpawnPlan& p) {
    for (int cap = 0; cap <= 63; ++cap) {
        if (p.capabilities & (uint64_t(1) << cap)) continue;
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;  // past the kernel's last cap
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            fail(p, ChildStage::capabilities_bounding, errno, "PR_CAPBSET_DROP");
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

void set_user(const SpawnPlan& p) {
    // Keep the permitted set across the uid change; capset below decides what remains.
    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    if (syscall(SYS_setgroups, p.group_count, p.groups) != 0)
        fail(p, ChildStage::user, errno, "setgroups");
    if (syscall(SYS_setresgid, p.gid, p.gid, p.gid) != 0) fail(p, ChildStage::user, errno, "setgid");
    if (syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) fail(p, ChildStage::user, errno, "setuid");
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    data[0].effective = data[0].permitted = uint32_t(p.capabilities);
    data[1].effective = data[1].permitted = uint32_t(p.capabilities >> 32);
    if (syscall(SYS_capset, &hdr, data) != 0) fail(p, ChildStage::capabilities, errno, "capset");
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}

[[noreturn]] void exec(const SpawnPlan& p) {
    int first_error = ENOENT;
    for (size_t i = 0; i < p.exec_candidate_count; ++i) {
        execve(p.exec_candidates[i], const_cast<char* const*>(p.argv),
               const_cast<char* const*>(p.envp));
        // As execvp: keep looking past missing files, remember a permission problem.
        if (errno == EACCES) first_error = EACCES;
        else if (errno != ENOENT && errno != ENOTDIR) {
            first_error = errno;
            break;
        }
    }
    fail(p, ChildStage::exec, first_error, p.argv && p.argv[0] ? p.argv[0] : "");
}

}  // namespace

// The daemon blocks SIGTERM/SIGINT (they arrive through signalfd) and ignores SIGPIPE; both
// survive exec, so a container would start deaf to `docker stop`. Start from a clean slate.
static void reset_signals() {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
}

[[noreturn]] void run_child(const SpawnPlan& p) {
    umask(0);
    // Nothing in the container may read the daemon's memory while it is still ours.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    reset_signals();
    for (size_t i = 0; i < p.join_cgroup_count; ++i)
        if (write(p.join_cgroup_fds[i], "0", 1) != 1)
            fail(p, ChildStage::cgroup, errno, "cgroup.procs");
    if (p.join_pidfd >= 0 && setns(p.join_pidfd, p.join_ns_flags & ~CLONE_NEWPID) != 0)
        fail(p, ChildStage::setns, errno, "container namespaces");
    if (p.join_netns_fd >= 0 && setns(p.join_netns_fd, CLONE_NEWNET) != 0)
        fail(p, ChildStage::setns, errno, "network namespace");
    // Placed in the container's cgroups by now: its cgroup namespace is rooted there.
    if (p.new_cgroupns && unshare(CLONE_NEWCGROUP) != 0)
        fail(p, ChildStage::cgroupns, errno, "cgroup namespace");
    if (p.clone_flags & CLONE_NEWNS) build_root(p);
    if (p.hostname && sethostname(p.hostname, strlen(p.hostname)) != 0)
        fail(p, ChildStage::hostname, errno, p.hostname);
    if (p.domainname && setdomainname(p.domainname, strlen(p.domainname)) != 0)
        fail(p, ChildStage::hostname, errno, p.domainname);
    for (size_t i = 0; i < p.rlimit_count; ++i) {
        rlimit rl{p.rlimits[i].soft, p.rlimits[i].hard};
        if (setrlimit(__rlimit_resource(p.rlimits[i].resource), &rl) != 0)
            fail(p, ChildStage::rlimit, errno, "setrlimit");
    }
    if (p.set_oom_score_adj) {
        char num[16];
        int len = 0;
        int v = p.oom_score_adj < 0 ? -p.oom_score_adj : p.oom_score_adj;
        char tmp[16];
        do tmp[len++] = char('0' + v % 10);
        while ((v /= 10) != 0);
        int n = 0;
        if (p.oom_score_adj < 0) num[n++] = '-';
        while (len) num[n++] = tmp[--len];
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, num, size_t(n)) != n)
            fail(p, ChildStage::oom_score_adj, errno, "/proc/self/oom_score_adj");
        close(fd);
    }
    set_stdio(p);
    drop_bounding_set(p);
    if (p.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail(p, ChildStage::no_new_privs, errno, "no_new_privs");
    if (p.seccomp_filter) {
        sock_fprog prog{p.seccomp_len, const_cast<sock_filter*>(p.seccomp_filter)};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
            fail(p, ChildStage::seccomp, errno, "seccomp");
    }
    set_user(p);
    if (chdir(p.cwd) != 0) fail(p, ChildStage::cwd, errno, p.cwd);
    // The kernel answers "(unreachable)/…" for a cwd outside the root: refuse to run there.
    char cwd[4096];
    if (syscall(SYS_getcwd, cwd, sizeof cwd) < 0 || cwd[0] != '/')
        fail(p, ChildStage::cwd, EPERM, p.cwd);
    umask(022);
    exec(p);
}

}  // namespace berth::kernel
