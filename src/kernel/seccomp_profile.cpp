// Docker's default seccomp profile as berth's own data (the semantics of moby's
// profiles/seccomp default.json, v0.2.3): deny with EPERM, a large allowlist, argument filters,
// and groups opened by capabilities. It is built as the same SeccompProfile a JSON file yields.
#include <cerrno>
#include <span>

#include "kernel/security.hpp"

namespace berth::kernel {
namespace {

using Names = std::span<const std::string_view>;

// Allowed for every container. Names unknown to this libseccomp or architecture (the *32 and
// *_time64 variants on x86_64, syscalls newer than libseccomp 2.5.4) are skipped at compile time.
// clang-format off
constexpr std::string_view always_allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
    "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
    "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr",
    "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
    "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret",
    "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
    "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal",
    "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
    "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
    "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "removexattrat",
    "rename", "renameat", "renameat2", "restart_syscall", "riscv_hwprobe", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
    "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
    "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
    "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
    "splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat",
    "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
    "unlink", "unlinkat", "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "waitpid", "write", "writev"};
// clang-format on

// Syscalls opened by one capability in the container's bounding set.
struct CapabilityGroup {
    std::string_view cap;
    Names names;
};

constexpr std::string_view dac_read_search[] = {"open_by_handle_at"};
// CAP_SYS_ADMIN opens mounts, namespaces (clone/clone3 with any flags, unshare, setns), bpf, ….
// clang-format off
constexpr std::string_view sys_admin[] = {
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
    "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
    "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
    "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"};
// clang-format on
constexpr std::string_view sys_boot[] = {"reboot"};
constexpr std::string_view sys_chroot[] = {"chroot"};
constexpr std::string_view sys_module[] = {"delete_module", "init_module", "finit_module"};
constexpr std::string_view sys_pacct[] = {"acct"};
constexpr std::string_view sys_ptrace[] = {
    "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"};
constexpr std::string_view sys_rawio[] = {"iopl", "ioperm"};
constexpr std::string_view sys_time[] = {"settimeofday", "stime", "clock_settime",
                                         "clock_settime64"};
constexpr std::string_view sys_tty_config[] = {"vhangup"};
constexpr std::string_view sys_nice[] = {"get_mempolicy", "mbind", "set_mempolicy",
                                         "set_mempolicy_home_node"};
constexpr std::string_view syslog[] = {"syslog"};
constexpr std::string_view bpf[] = {"bpf"};
constexpr std::string_view perfmon[] = {"perf_event_open"};

constexpr CapabilityGroup capability_groups[] = {
    {"CAP_DAC_READ_SEARCH", dac_read_search},
    {"CAP_SYS_ADMIN", sys_admin},
    {"CAP_SYS_BOOT", sys_boot},
    {"CAP_SYS_CHROOT", sys_chroot},
    {"CAP_SYS_MODULE", sys_module},
    {"CAP_SYS_PACCT", sys_pacct},
    {"CAP_SYS_PTRACE", sys_ptrace},
    {"CAP_SYS_RAWIO", sys_rawio},
    {"CAP_SYS_TIME", sys_time},
    {"CAP_SYS_TTY_CONFIG", sys_tty_config},
    {"CAP_SYS_NICE", sys_nice},
    {"CAP_SYSLOG", syslog},
    {"CAP_BPF", bpf},
    {"CAP_PERFMON", perfmon},
};

// Syscalls allowed only on some native architectures (Go's names, as Docker's "arches").
struct ArchGroup {
    Names arches;
    Names names;
};

constexpr std::string_view ppc64le[] = {"ppc64le"};
constexpr std::string_view ppc64le_only[] = {"sync_file_range2", "swapcontext"};
constexpr std::string_view arm_arches[] = {"arm", "arm64"};
constexpr std::string_view arm_only[] = {"arm_fadvise64_64", "arm_sync_file_range",
                                         "sync_file_range2", "breakpoint",
                                         "cacheflush",       "set_tls"};
constexpr std::string_view amd64_x32[] = {"amd64", "x32"};
constexpr std::string_view arch_prctl[] = {"arch_prctl"};
constexpr std::string_view x86_family[] = {"amd64", "x32", "x86"};
constexpr std::string_view modify_ldt[] = {"modify_ldt"};
constexpr std::string_view s390_arches[] = {"s390", "s390x"};
constexpr std::string_view s390_only[] = {"s390_pci_mmio_read", "s390_pci_mmio_write",
                                          "s390_runtime_instr"};
constexpr std::string_view riscv64[] = {"riscv64"};
constexpr std::string_view riscv64_only[] = {"riscv_flush_icache"};

constexpr ArchGroup arch_groups[] = {
    {ppc64le, ppc64le_only},  {arm_arches, arm_only},   {amd64_x32, arch_prctl},
    {x86_family, modify_ldt}, {s390_arches, s390_only}, {riscv64, riscv64_only},
};

// personality(2) values a container may set: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|LINUX32,
// and 0xffffffff, which only queries the current persona.
constexpr uint64_t personality_allowed[] = {0x0, 0x0008, 0x20000, 0x20008, 0xffffffff};

// socket(2) families: everything but AF_ALG (38) and AF_VSOCK (40), as three ranges.
constexpr uint64_t af_alg = 38;
constexpr uint64_t af_vsock = 40;

// CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP.
constexpr uint64_t clone_namespace_flags = 0x7e020000;

std::vector<std::string> strings(Names names) {
    return {names.begin(), names.end()};
}

SeccompRule allow(Names names) {
    SeccompRule rule;
    rule.names = strings(names);
    return rule;
}

SeccompRule allow_one(std::string_view name, SeccompArg arg) {
    SeccompRule rule;
    rule.names = {std::string(name)};
    rule.args = {arg};
    return rule;
}

void add_argument_rules(std::vector<SeccompRule>& out) {
    out.push_back(allow_one("socket", {.index = 0, .value = af_alg, .op = SeccompOp::lt}));
    out.push_back(allow_one("socket", {.index = 0, .value = af_alg + 1, .op = SeccompOp::eq}));
    out.push_back(allow_one("socket", {.index = 0, .value = af_vsock, .op = SeccompOp::gt}));
    for (uint64_t persona : personality_allowed)
        out.push_back(
            allow_one("personality", {.index = 0, .value = persona, .op = SeccompOp::eq}));
}

// Without CAP_SYS_ADMIN: clone only without namespace flags (the flags are the second argument
// on s390), and clone3 answers ENOSYS (its flags live in memory, out of BPF's reach) so that
// glibc falls back to clone.
void add_clone_rules(std::vector<SeccompRule>& out) {
    SeccompRule clone = allow_one(
        "clone", {.index = 0, .value = clone_namespace_flags, .op = SeccompOp::masked_eq});
    clone.excludes.caps = {"CAP_SYS_ADMIN"};
    clone.excludes.arches = {"s390", "s390x"};
    out.push_back(clone);

    SeccompRule clone_s390 = allow_one(
        "clone", {.index = 1, .value = clone_namespace_flags, .op = SeccompOp::masked_eq});
    clone_s390.includes.arches = {"s390", "s390x"};
    clone_s390.excludes.caps = {"CAP_SYS_ADMIN"};
    out.push_back(clone_s390);

    SeccompRule clone3;
    clone3.names = {"clone3"};
    clone3.action = SeccompAction::errno_ret;
    clone3.errno_ret = ENOSYS;
    clone3.excludes.caps = {"CAP_SYS_ADMIN"};
    out.push_back(clone3);
}

std::vector<SeccompRule> default_rules() {
    std::vector<SeccompRule> out;
    out.push_back(allow(always_allowed));

    // ptrace became safe to allow with kernel 4.8 (seccomp is checked again after a tracer
    // changes the syscall).
    constexpr std::string_view ptrace[] = {"process_vm_readv", "process_vm_writev", "ptrace"};
    SeccompRule ptrace_rule = allow(ptrace);
    ptrace_rule.includes.min_kernel = std::pair{4u, 8u};
    out.push_back(ptrace_rule);

    add_argument_rules(out);
    for (const ArchGroup& group : arch_groups) {
        SeccompRule rule = allow(group.names);
        rule.includes.arches = strings(group.arches);
        out.push_back(rule);
    }
    for (const CapabilityGroup& group : capability_groups) {
        SeccompRule rule = allow(group.names);
        rule.includes.caps = {std::string(group.cap)};
        out.push_back(rule);
        if (group.cap == "CAP_SYS_ADMIN") add_clone_rules(out);
    }
    return out;
}

std::vector<SeccompArchMapEntry> default_arch_map() {
    return {
        {"SCMP_ARCH_X86_64", {"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
        {"SCMP_ARCH_AARCH64", {"SCMP_ARCH_ARM"}},
        {"SCMP_ARCH_MIPS64", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"}},
        {"SCMP_ARCH_MIPS64N32", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"}},
        {"SCMP_ARCH_MIPSEL64", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"}},
        {"SCMP_ARCH_MIPSEL64N32", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"}},
        {"SCMP_ARCH_S390X", {"SCMP_ARCH_S390"}},
        {"SCMP_ARCH_RISCV64", {}},
        {"SCMP_ARCH_LOONGARCH64", {}},
    };
}

SeccompProfile build_default_profile() {
    SeccompProfile profile;
    // Docker 25+: SCMP_ACT_ERRNO with defaultErrnoRet 1 (EPERM).
    profile.default_action = SeccompAction::errno_ret;
    profile.default_errno_ret = EPERM;
    profile.arch_map = default_arch_map();
    profile.syscalls = default_rules();
    return profile;
}

}  // namespace

const SeccompProfile& seccomp_docker_default_profile() {
    static const SeccompProfile profile = build_default_profile();
    return profile;
}

}  // namespace berth::kernel
