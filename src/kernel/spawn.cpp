#include "kernel/spawn.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "kernel/child.hpp"
#include "kernel/fd_message.hpp"

namespace berth::kernel {

Result<> ChildProcess::signal(int signo) const {
    if (!pidfd_) return fail(Error::make(ErrorKind::conflict, "process is not running"));
    if (syscall(SYS_pidfd_send_signal, pidfd_.get(), signo, nullptr, 0) != 0)
        return fail(Error::last_sys("pidfd_send_signal " + std::to_string(pid_)));
    return {};
}

Result<int> ChildProcess::wait_status() {
    siginfo_t info{};
    if (waitid(P_PIDFD, id_t(pidfd_.get()), &info, WEXITED) != 0)
        return fail(Error::last_sys("waitid " + std::to_string(pid_)));
    release();
    return exit_code_from_siginfo(info.si_code, info.si_status);
}

void ChildProcess::kill_and_reap() {
    if (!pidfd_) return;
    syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    siginfo_t info{};
    waitid(P_PIDFD, id_t(pidfd_.get()), &info, WEXITED);
    release();
}

int exit_code_from_siginfo(int code, int status) {
    if (code == CLD_EXITED) return status;
    return 128 + status;  // CLD_KILLED, CLD_DUMPED
}

namespace {

int vfork_entry(void* arg) { run_child(*static_cast<const SpawnPlan*>(arg)); }

// The vfork child's stack: one is enough, the parent is suspended while it is in use.
constexpr size_t vfork_stack_bytes = 256 * 1024;
alignas(64) char vfork_stack[vfork_stack_bytes];

// docker exec: the new process must be born in the container's pid namespace, and
// setns(CLONE_NEWPID) only changes where this process's next children go. Entered just before
// the clone and left right after it, so nothing else the daemon starts lands there.
class PidNamespaceEntry {
public:
    Result<> enter(int pidfd) {
        static int own = ::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own < 0) return fail(Error::last_sys("open /proc/self/ns/pid"));
        if (setns(pidfd, CLONE_NEWPID) != 0)
            return fail(Error::last_sys("join the container's pid namespace"));
        own_ = own;
        return {};
    }
    ~PidNamespaceEntry() {
        // Back to our own: the target is our active namespace, which setns always allows.
        if (own_ >= 0 && setns(own_, CLONE_NEWPID) != 0) abort();
    }

private:
    int own_ = -1;
};

}  // namespace

Result<Spawned> spawn(SpawnPlan plan, SpawnMode mode) {
    PidNamespaceEntry pid_ns;
    if (plan.join_pidfd >= 0 && (plan.join_ns_flags & CLONE_NEWPID))
        if (auto r = pid_ns.enter(plan.join_pidfd); !r) return fail(r.error());
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return fail(Error::last_sys("pipe for exec report"));
    UniqueFd report_r(report[0]), report_w(report[1]);
    plan.report_fd = report_w.get();

    int pidfd = -1;
    long pid;
    if (mode == SpawnMode::fork) {
        clone_args args{};
        args.flags = plan.clone_flags | CLONE_PIDFD;
        args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
        args.exit_signal = SIGCHLD;
        if (plan.cgroup_fd >= 0) {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = uint64_t(plan.cgroup_fd);
        }
        pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) run_child(plan);  // never returns
    } else {
        // glibc's clone() switches stacks for us; CLONE_PIDFD returns the pidfd through the
        // parent_tid slot. Returns once the child exec'd or exited.
        pid = clone(&vfork_entry, vfork_stack + vfork_stack_bytes,
                    int(plan.clone_flags) | CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan,
                    &pidfd);
    }
    if (pid < 0) return fail(Error::last_sys(mode == SpawnMode::fork ? "clone3" : "clone"));
    Spawned s;
    s.child = ChildProcess(pid_t(pid), UniqueFd(pidfd));
    s.report = std::move(report_r);
    return s;
}

Error child_report_error(const ChildReport& r) {
    std::string detail(r.detail, strnlen(r.detail, sizeof r.detail));
    std::string why = std::strerror(r.err);
    for (char& c : why) c = char(tolower(static_cast<unsigned char>(c)));
    switch (r.stage) {
        case ChildStage::exec:
            if (r.err == ENOENT && detail.find('/') == std::string::npos)
                return Error::invalid("exec: \"" + detail + "\": executable file not found in $PATH");
            return Error::invalid("exec: \"" + detail + "\": " + why);
        case ChildStage::cwd:
            return Error::invalid("chdir to cwd (\"" + detail + "\") set in config.json failed: " +
                                  why);
        case ChildStage::mount:
            return Error::make(ErrorKind::system,
                               "error mounting " + detail + " in the container: " + why);
        case ChildStage::user:
            return Error::make(ErrorKind::system, "unable to set user (" + detail + "): " + why);
        default:
            return Error::make(ErrorKind::system,
                               "container set-up failed (stage " +
                                   std::to_string(int(r.stage)) + ", " + detail + "): " + why);
    }
}

Result<UniqueFd> receive_fd(int socket_fd) {
    FdMessage m;
    ssize_t n = recvmsg(socket_fd, &m.msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) return fail(Error::last_sys("receive tty master"));
    int fd = m.fd();
    if (n != 1 || fd < 0) return fail(Error::internal("the container did not send its tty"));
    return UniqueFd(fd);
}

Result<std::pair<UniqueFd, UniqueFd>> socket_pair() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return fail(Error::last_sys("socketpair"));
    return std::pair{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return fail(Error::last_sys("pipe"));
    return std::pair{UniqueFd(p[0]), UniqueFd(p[1])};
}

Result<> set_window_size(int tty_fd, unsigned short rows, unsigned short cols) {
    winsize ws{rows, cols, 0, 0};
    if (ioctl(tty_fd, TIOCSWINSZ, &ws) != 0) return fail(Error::last_sys("resize tty"));
    return {};
}

Result<> wait_exec(Spawned& s) {
    ChildReport r{};
    ssize_t n;
    do n = read(s.report.get(), &r, sizeof r);
    while (n < 0 && errno == EINTR);
    if (n == 0) return {};
    if (n != ssize_t(sizeof r)) return fail(Error::internal("short report from container child"));
    return fail(child_report_error(r));
}

}  // namespace berth::kernel
