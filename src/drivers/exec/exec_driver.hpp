// The native exec driver: turns a ContainerSpec into a running, isolated process and watches it
// through the reactor. start() does the short synchronous part (plan, cgroup, clone3, cgroup
// placement) and returns; the exec result arrives on the report pipe and the exit through
// waitid on the ring, each delivered to the container's callbacks. No helper process, no
// thread: a running container is a pidfd, a cgroup and two completions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "drivers/exec/container_spec.hpp"
#include "drivers/exec/plan.hpp"
#include "kernel/cgroup.hpp"
#include "kernel/spawn.hpp"
#include "loop/loop.hpp"

namespace berth::drivers {

// Per-phase start timings (ns), kept for inspect and the benchmarks.
struct StartPhases {
    int64_t plan_ns = 0;     // spec → spawn plan (user, caps, seccomp, /etc files)
    int64_t cgroup_ns = 0;   // cgroup created and limits written
    int64_t place_ns = 0;    // stdio pipes and the cgroup.procs files the child joins opened
    int64_t clone_ns = 0;    // clone returned in the parent (vfork mode: the child exec'd)
    int64_t exec_ns = 0;     // report pipe closed: the user's program is running
};

struct ExitStatus {
    int exit_code = 0;  // the code, or 128 + signal
    int signal = 0;     // killed by this signal, 0 if it exited
    bool oom_killed = false;
    int64_t finished_ns = 0;  // wall clock
};

class Container;

struct ContainerEvents {
    void* ctx = nullptr;
    // The program is running (ok) or could not be started (the error says why, Docker's words).
    void (*started)(void* ctx, Container& c, const Result<>& result) = nullptr;
    // The process is gone and reaped and its output fully read; cgroup stats are still
    // readable inside this call.
    void (*exited)(void* ctx, Container& c, const ExitStatus& status) = nullptr;
    // Output read from the container (stream 1 stdout, 2 stderr; a tty is all stream 1). The
    // bytes are valid only during the call.
    void (*output)(void* ctx, Container& c, int stream, std::span<const std::byte> data) = nullptr;
};

class Container {
public:
    ~Container();
    pid_t pid() const { return child_.pid(); }
    int pidfd() const { return child_.pidfd(); }
    const StartPhases& phases() const { return phases_; }
    bool running() const { return running_; }
    // The process has exited and was reaped (its output may still be draining).
    bool reaped() const { return exit_done_; }
    // Once exited (or failed to exec): the status. An exec failure exits 127 (not found) or
    // 126 (not executable), as Docker records it.
    const ExitStatus& exit_status() const { return exit_status_; }
    kernel::Cgroup* cgroup() { return cgroup_ ? &*cgroup_ : nullptr; }
    Result<> signal(int signo) const { return child_.signal(signo); }
    const std::string& id() const { return id_; }
    // Where the caller writes the container's stdin (a pipe, or the tty master); -1 if none.
    int stdin_fd() const { return tty_ ? tty_.get() : stdin_.get(); }
    // The end of stdin (StdinOnce, or the client's half-close); for a tty, sends EOF (^D).
    // Waits for queued input to be written first.
    void close_stdin();
    // Input for the container, written through the ring in order (never blocking the loop).
    void write_stdin(std::span<const std::byte> data);
    // The process is gone: drops queued input and cancels a write still in the ring (a
    // grandchild may hold the pipe open without reading it).
    void abandon_stdin();
    // Operations of this container still in the ring: it must not be freed before they end.
    bool busy() const;
    // The owner is going away before this object: no callback may reach it any more.
    void forget_events() { events_ = {}; }
    Result<> resize(unsigned short rows, unsigned short cols);
    // Back-pressure from slow readers: while paused, the pipes (or tty) are not read, so a
    // container that writes faster than its clients take blocks in write(2), as with Docker.
    void pause_output() { output_paused_ = true; }
    void resume_output();

private:
    friend class ExecDriver;
    Container() = default;
    static void on_report(loop::Completion& c);
    static void on_exit(loop::Completion& c);
    static void on_stdin_written(loop::Completion& c);
    void pump_stdin();
    void end_stdin_now();
    static void on_stdout(loop::Completion& c);
    static void on_stderr(loop::Completion& c);
    void output(loop::Completion& c, int stream, kernel::UniqueFd& fd, bool& eof);
    void maybe_finish();
    void finish_exit();

    class ExecDriver* driver_ = nullptr;
    std::string id_;
    std::unique_ptr<PreparedPlan> plan_;
    kernel::ChildProcess child_;
    kernel::UniqueFd report_;
    kernel::UniqueFd console_;        // receives the tty master from the child
    kernel::UniqueFd tty_;            // the tty master
    kernel::UniqueFd stdout_, stderr_, stdin_;
    std::optional<kernel::Cgroup> cgroup_;
    ContainerEvents events_;
    StartPhases phases_;
    ExitStatus exit_status_;
    int64_t started_at_ns_ = 0;
    bool running_ = false;
    bool exec_failed_ = false;
    bool report_done_ = false;
    bool exit_done_ = false;
    bool finished_ = false;
    bool stdout_eof_ = true, stderr_eof_ = true;
    bool output_paused_ = false;
    bool stdout_parked_ = false, stderr_parked_ = false;  // not re-armed while paused
    Error exec_error_;
    kernel::ChildReport report_buf_{};
    siginfo_t exit_info_{};
    loop::Completion report_c_, exit_c_, stdout_c_, stderr_c_, stdin_c_;
    std::string stdin_queue_, stdin_sending_;
    bool stdin_close_pending_ = false;
};

// Spawn mode: vfork by default. Measured with spawn_bench (README): equal or faster with a
// small daemon, and constant as the daemon's heap grows, where clone3's page-table copy costs
// 6 ms at 256 MiB and 19 ms at 1 GiB per start.
class ExecDriver {
public:
    // `cgroups` may be null (no limits, the container stays in berthd's cgroup).
    ExecDriver(loop::Loop& loop, kernel::CgroupManager* cgroups, kernel::CgroupInfo layout,
               kernel::SpawnMode mode = kernel::SpawnMode::vfork);

    // Starts the container's first process. Errors here are synchronous (bad spec, a limit the
    // kernel refuses, clone3 failing) and leave nothing behind; exec failures come through
    // events.started. The Container must outlive its `exited` callback.
    Result<std::unique_ptr<Container>> start(const ContainerSpec& spec, ContainerEvents events);

    // docker exec: starts `spec`'s process inside the running `target`: its namespaces (joined
    // through its pidfd) and cgroups, with the spec's user, env, cwd, tty and stdio. The
    // process is reported like a container (started, output, exited) and owns no cgroup.
    Result<std::unique_ptr<Container>> exec(Container& target, const ContainerSpec& spec,
                                            ContainerEvents events);

    // Cgroups of exited containers still waiting to be removed (a v1 memory cgroup can stay
    // busy briefly after its last task is reaped).
    size_t cgroups_retiring() const { return retiring_.size(); }

private:
    friend class Container;
    // Teardown off the exit path: removal is tried on the next tick, then retried on a timer.
    void retire(kernel::Cgroup cgroup);
    Result<> launch(Container& c, const ContainerSpec& spec, kernel::Cgroup* join,
                    bool clone_places_v2);
    static void on_retire(loop::Completion& c);

    loop::Loop& loop_;
    kernel::CgroupManager* cgroups_;
    kernel::CgroupInfo layout_;
    kernel::SpawnMode mode_;
    std::vector<kernel::Cgroup> retiring_;
    loop::Completion retire_c_;
    int retire_attempts_ = 0;
};

}  // namespace berth::drivers
