// The spawn plan: everything the container's first process needs, computed by the daemon before
// clone3 and laid out flat. The child only reads it and makes syscalls: it never allocates,
// takes a lock or touches the daemon's heap beyond this block (which is what makes a CLONE_VM
// child safe). PlanStorage owns the bytes the plan points into.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace berth::kernel {

enum class MountKind : uint8_t {
    bind,    // source (host path) bound at target
    tmpfs,   // fresh tmpfs; data = options ("size=65536k,mode=755")
    proc,    // procfs of the container's pid namespace
    sysfs,   // read-only sysfs
    devpts,  // new devpts instance with its own ptmx
    mqueue,  // POSIX message queues of the ipc namespace
    cgroup,  // the cgroup view: cgroup2, or the v1 hierarchies under a tmpfs
    dev,     // the /dev tmpfs with null, zero, full, random, urandom, tty and the std* links
};

struct MountSpec {
    MountKind kind = MountKind::bind;
    const char* source = nullptr;  // host path for binds
    const char* target = nullptr;  // absolute path inside the container
    const char* data = nullptr;    // filesystem options (tmpfs, devpts)
    bool readonly = false;
    bool recursive = true;  // rbind
    bool nosuid = false, nodev = false, noexec = false;
    bool target_is_file = false;    // create a file, not a directory, when missing
    uint64_t propagation = 0;       // MS_PRIVATE, MS_SLAVE, MS_SHARED (| MS_REC) or 0
    bool refuse_symlink = false;    // system mounts: a symlinked target is an attack (/proc → /)
};

struct RlimitSpec {
    int resource;
    rlim_t soft, hard;
};

// Stages the child reports on its error pipe, so the daemon can say what failed.
enum class ChildStage : int32_t {
    cgroup = 1,
    setns,
    cgroupns,
    mount_propagation,
    rootfs,
    mount,
    pivot_root,
    mask,
    readonly_path,
    readonly_rootfs,
    hostname,
    rlimit,
    oom_score_adj,
    stdio,
    console,
    capabilities_bounding,
    no_new_privs,
    seccomp,
    user,
    capabilities,
    cwd,
    exec,
};

// What the child writes to the report pipe when it fails (the pipe closes on a successful exec).
struct ChildReport {
    ChildStage stage;
    int32_t err;          // errno
    char detail[240];     // the path or name involved, NUL-terminated
};

struct SpawnPlan {
    uint64_t clone_flags = 0;  // CLONE_NEW* namespaces (CLONE_NEWNET only for a new empty netns)
    int cgroup_fd = -1;        // CLONE_INTO_CGROUP when >= 0
    int join_netns_fd = -1;    // setns(CLONE_NEWNET) into another container's netns
    bool new_cgroupns = true;  // unshare(CLONE_NEWCGROUP) once placed in the container's cgroups
    // docker exec: the running container's pidfd and the namespaces (CLONE_NEW*) to join. A pid
    // namespace applies to children only, so spawn() enters it around the clone; the child joins
    // the rest with one setns() once it is in the container's cgroups.
    int join_pidfd = -1;
    int join_ns_flags = 0;

    const char* rootfs = nullptr;  // absolute host path of the prepared root filesystem
    bool readonly_rootfs = false;
    const MountSpec* mounts = nullptr;
    size_t mount_count = 0;
    const char* const* masked_paths = nullptr;
    size_t masked_count = 0;
    const char* const* readonly_paths = nullptr;
    size_t readonly_count = 0;

    const char* hostname = nullptr;
    const char* domainname = nullptr;

    uid_t uid = 0;
    gid_t gid = 0;
    const gid_t* groups = nullptr;
    size_t group_count = 0;

    const char* cwd = "/";
    const char* const* argv = nullptr;   // argv[0] as the user wrote it (for messages)
    const char* const* envp = nullptr;
    const char* const* exec_candidates = nullptr;  // full paths to try, in PATH order
    size_t exec_candidate_count = 0;

    uint64_t capabilities = 0;  // effective = permitted = bounding; inheritable empty
    bool no_new_privs = false;
    const sock_filter* seccomp_filter = nullptr;  // null: unconfined
    unsigned short seccomp_len = 0;

    const RlimitSpec* rlimits = nullptr;
    size_t rlimit_count = 0;
    int oom_score_adj = 0;
    bool set_oom_score_adj = false;

    int stdio[3] = {-1, -1, -1};  // fds to become 0, 1, 2 (-1: /dev/null)
    bool setsid = true;
    // Tty: the child opens a pty pair on the container's own devpts, sends the master over this
    // socket (SCM_RIGHTS) and makes the slave its stdio and controlling terminal.
    int console_socket_fd = -1;

    // cgroup.procs files the child writes "0" to first, joining its cgroups itself (v1
    // hierarchies cannot be joined through clone3).
    const int* join_cgroup_fds = nullptr;
    size_t join_cgroup_count = 0;
    int report_fd = -1;  // close-on-exec; a ChildReport is written here on failure
};

// Owns the strings and arrays a SpawnPlan points into; build once, never reallocate after.
class PlanStorage {
public:
    const char* str(std::string s) {
        strings_.push_back(std::move(s));
        return strings_.back().c_str();
    }
    // A NULL-terminated array of C strings.
    const char* const* strv(const std::vector<std::string>& v) {
        auto& arr = arrays_.emplace_back();
        for (const auto& s : v) arr.push_back(str(s));
        arr.push_back(nullptr);
        return arr.data();
    }
    std::vector<MountSpec> mounts;
    std::vector<RlimitSpec> rlimits;
    std::vector<gid_t> groups;
    std::vector<sock_filter> seccomp;

private:
    std::deque<std::string> strings_;
    std::deque<std::vector<const char*>> arrays_;
};

}  // namespace berth::kernel
