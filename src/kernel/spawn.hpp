// Starting a container's first process: clone3 with CLONE_PIDFD and the plan's namespaces
// (CLONE_INTO_CGROUP when the plan has a cgroup fd), then the child runs the plan. The parent
// gets a ChildProcess, the owner of the pidfd that kills and reaps the child if dropped.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

#include "base/error.hpp"
#include "kernel/fd.hpp"
#include "kernel/spawn_plan.hpp"

namespace berth::kernel {

class ChildProcess {
public:
    ChildProcess() = default;
    ChildProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
    ChildProcess(ChildProcess&&) noexcept = default;
    ChildProcess& operator=(ChildProcess&& o) noexcept {
        if (this != &o) {
            kill_and_reap();
            pid_ = o.pid_;
            pidfd_ = std::move(o.pidfd_);
            o.pid_ = 0;
        }
        return *this;
    }
    ~ChildProcess() { kill_and_reap(); }

    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_.get(); }
    explicit operator bool() const { return bool(pidfd_); }
    // pidfd_send_signal: never signals a recycled pid.
    Result<> signal(int signo) const;
    // Blocking wait (tests and tools; the daemon waits through the loop).
    Result<int> wait_status();
    // The caller reaped it (through the loop) or hands ownership on: forget it.
    void release() {
        pid_ = 0;
        pidfd_.reset();
    }

private:
    void kill_and_reap();
    pid_t pid_ = 0;
    UniqueFd pidfd_;
};

struct Spawned {
    ChildProcess child;
    // Reads 0 bytes (EOF) once exec succeeded, or a ChildReport.
    UniqueFd report;
};

enum class SpawnMode : unsigned char {
    // clone3: a copy-on-write child (page tables copied), CLONE_INTO_CGROUP where possible; the
    // parent returns at once and the child sets up concurrently.
    fork,
    // CLONE_VM | CLONE_VFORK: the child runs on its own stack in the parent's memory (no page
    // table copy, whatever the daemon's size) and the parent is suspended until it execs or
    // fails. The plan makes this safe: the child only reads it and makes syscalls.
    vfork,
};

// Starts run_child(plan) in a new process. The plan's report_fd is filled in here.
Result<Spawned> spawn(SpawnPlan plan, SpawnMode mode = SpawnMode::fork);

// Waits for the report pipe (blocking) and turns a ChildReport into Docker's error text:
// `exec: "foo": executable file not found in $PATH`, `... permission denied`, `chdir to cwd …`.
Result<> wait_exec(Spawned& s);
Error child_report_error(const ChildReport& r);

// Receives one fd sent with SCM_RIGHTS (the tty master from the spawn child), non-blocking.
Result<UniqueFd> receive_fd(int socket_fd);
// A pair of connected AF_UNIX SOCK_SEQPACKET sockets, close-on-exec.
Result<std::pair<UniqueFd, UniqueFd>> socket_pair();
// A pipe, close-on-exec: {read end, write end}.
Result<std::pair<UniqueFd, UniqueFd>> make_pipe();
// Sets a tty's window size (TIOCSWINSZ), as POST /containers/{id}/resize asks.
Result<> set_window_size(int tty_fd, unsigned short rows, unsigned short cols);

// Docker's exit code for a waitid result: the code, or 128 + signal.
int exit_code_from_siginfo(int code, int status);

}  // namespace berth::kernel
