#include "drivers/exec/exec_driver.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "base/time.hpp"

namespace berth::drivers {

ExecDriver::ExecDriver(loop::Loop& loop, kernel::CgroupManager* cgroups, kernel::CgroupInfo layout,
                       kernel::SpawnMode mode)
    : loop_(loop), cgroups_(cgroups), layout_(std::move(layout)), mode_(mode) {
    retire_c_.context = this;
    retire_c_.callback = &ExecDriver::on_retire;
}

void ExecDriver::retire(kernel::Cgroup cgroup) {
    retiring_.push_back(std::move(cgroup));
    if (!retire_c_.in_flight()) {
        retire_attempts_ = 0;
        loop_.post(retire_c_);
    }
}

void ExecDriver::on_retire(loop::Completion& c) {
    auto* d = static_cast<ExecDriver*>(c.context);
    std::erase_if(d->retiring_, [](kernel::Cgroup& cg) {
        auto done = cg.remove_once();
        return !done || *done;  // an error other than EBUSY is left to start-up reconciliation
    });
    if (d->retiring_.empty()) return;
    // Busy: back off from 1 ms to 100 ms; past that, destroy() (bounded wait) gives up cleanly
    // and whatever is left is found by CgroupManager::remove_stale at the next start.
    if (++d->retire_attempts_ > 12) {
        for (auto& cg : d->retiring_) (void)cg.destroy();
        d->retiring_.clear();
        return;
    }
    int64_t wait_ns = std::min<int64_t>(int64_t(1'000'000) << d->retire_attempts_, 100'000'000);
    d->loop_.timeout(d->retire_c_, wait_ns);
}

Result<std::unique_ptr<Container>> ExecDriver::start(const ContainerSpec& spec,
                                                     ContainerEvents events) {
    std::unique_ptr<Container> c(new Container());
    c->driver_ = this;
    c->id_ = spec.id;
    c->events_ = events;
    int64_t t0 = monotonic_ns();
    auto plan = build_plan(spec, layout_);
    if (!plan) return fail(plan.error());
    c->plan_ = std::move(*plan);
    int64_t t1 = monotonic_ns();
    c->phases_.plan_ns = t1 - t0;

    bool v2_placed = false;
    if (cgroups_) {
        auto cg = cgroups_->create(spec.id, spec.resources);
        if (!cg) return fail(cg.error());
        c->cgroup_.emplace(std::move(*cg));
        if (c->cgroup_->v2_fd() >= 0) {
            c->plan_->plan.cgroup_fd = c->cgroup_->v2_fd();
            v2_placed = true;
        }
    }
    c->phases_.cgroup_ns = monotonic_ns() - t1;
    kernel::Cgroup* cg = c->cgroup_ ? &*c->cgroup_ : nullptr;
    c->started_at_ns_ = t0;
    if (auto r = launch(*c, spec, cg, v2_placed && mode_ == kernel::SpawnMode::fork); !r)
        return fail(r.error());
    if (cg) cg->close_v2_fd();
    return c;
}

Result<std::unique_ptr<Container>> ExecDriver::exec(Container& target, const ContainerSpec& spec,
                                                    ContainerEvents events) {
    if (!target.child_ || target.exit_done_)
        return fail(Error::conflict("Container " + target.id_ + " is not running"));
    std::unique_ptr<Container> c(new Container());
    c->driver_ = this;
    c->id_ = spec.id;
    c->events_ = events;
    int64_t t0 = monotonic_ns();
    auto plan = build_exec_plan(spec, target.child_.pidfd());
    if (!plan) return fail(plan.error());
    c->plan_ = std::move(*plan);
    c->phases_.plan_ns = monotonic_ns() - t0;
    // The process joins the container's cgroups itself (it owns none: nothing to retire).
    kernel::Cgroup* cg = target.cgroup_ ? &*target.cgroup_ : nullptr;
    c->started_at_ns_ = t0;
    if (auto r = launch(*c, spec, cg, false); !r) return fail(r.error());
    return c;
}

// Stdio, cgroup placement, the clone, and the completions that watch the process: the part of
// a start that docker exec shares. `join` is the cgroup the child enters by writing its
// cgroup.procs files (v2 is skipped when clone3 places it).
Result<> ExecDriver::launch(Container& c, const ContainerSpec& spec, kernel::Cgroup* join,
                            bool clone_places_v2) {
    int64_t t2 = monotonic_ns();
    // The child's ends of its stdio live only until the clone has copied them.
    kernel::UniqueFd child_out, child_err, child_in, child_console;
    if (spec.tty) {
        auto pair = kernel::socket_pair();
        if (!pair) return fail(pair.error());
        c.console_ = std::move(pair->first);
        child_console = std::move(pair->second);
        c.plan_->plan.console_socket_fd = child_console.get();
    } else {
        if (spec.capture_output) {
            auto out = kernel::make_pipe();
            auto err = kernel::make_pipe();
            if (!out || !err) return fail(!out ? out.error() : err.error());
            c.stdout_ = std::move(out->first);
            child_out = std::move(out->second);
            c.stderr_ = std::move(err->first);
            child_err = std::move(err->second);
            c.plan_->plan.stdio[1] = child_out.get();
            c.plan_->plan.stdio[2] = child_err.get();
        }
        if (spec.open_stdin) {
            auto in = kernel::make_pipe();
            if (!in) return fail(in.error());
            child_in = std::move(in->first);
            c.stdin_ = std::move(in->second);
            c.plan_->plan.stdio[0] = child_in.get();
        }
    }
    std::vector<kernel::UniqueFd> procs;
    std::vector<int> procs_raw;
    if (join) {
        auto fds = join->open_procs(clone_places_v2);
        if (!fds) return fail(fds.error());
        procs = std::move(*fds);
        for (const auto& fd : procs) procs_raw.push_back(fd.get());
        c.plan_->plan.join_cgroup_fds = procs_raw.data();
        c.plan_->plan.join_cgroup_count = procs_raw.size();
    }
    if (!clone_places_v2) c.plan_->plan.cgroup_fd = -1;
    int64_t t3 = monotonic_ns();
    c.phases_.place_ns = t3 - t2;
    auto spawned = kernel::spawn(c.plan_->plan, mode_);
    if (!spawned) return fail(spawned.error());
    c.phases_.clone_ns = monotonic_ns() - t3;
    c.child_ = std::move(spawned->child);
    c.report_ = std::move(spawned->report);

    c.report_c_.context = c.exit_c_.context = &c;
    c.report_c_.callback = &Container::on_report;
    c.exit_c_.callback = &Container::on_exit;
    loop_.read(c.report_c_, c.report_.get(),
               std::span(reinterpret_cast<std::byte*>(&c.report_buf_), sizeof c.report_buf_));
    loop_.waitid(c.exit_c_, c.child_.pidfd(), &c.exit_info_);
    c.stdout_c_.context = c.stderr_c_.context = &c;
    c.stdout_c_.callback = &Container::on_stdout;
    c.stderr_c_.callback = &Container::on_stderr;
    if (c.stdout_) {
        c.stdout_eof_ = false;
        loop_.read_provided(c.stdout_c_, c.stdout_.get());
    }
    if (c.stderr_) {
        c.stderr_eof_ = false;
        loop_.read_provided(c.stderr_c_, c.stderr_.get());
    }
    return {};
}

void Container::close_stdin() {
    stdin_close_pending_ = true;
    if (!stdin_c_.in_flight() && stdin_queue_.empty()) end_stdin_now();
}

void Container::end_stdin_now() {
    stdin_close_pending_ = false;
    if (tty_) {
        // A tty has no half-close: the line discipline's EOF character ends the input.
        stdin_queue_ = "\x04";
        pump_stdin();
        return;
    }
    stdin_.reset();
}

void Container::abandon_stdin() {
    stdin_queue_.clear();
    stdin_close_pending_ = false;
    if (stdin_c_.in_flight()) driver_->loop_.cancel(stdin_c_);
}

bool Container::busy() const {
    return report_c_.in_flight() || exit_c_.in_flight() || stdout_c_.in_flight() ||
           stderr_c_.in_flight() || stdin_c_.in_flight();
}

void Container::write_stdin(std::span<const std::byte> data) {
    if (stdin_fd() < 0) return;
    stdin_queue_.append(reinterpret_cast<const char*>(data.data()), data.size());
    pump_stdin();
}

void Container::pump_stdin() {
    if (stdin_c_.in_flight() || stdin_queue_.empty() || stdin_fd() < 0) return;
    stdin_sending_.swap(stdin_queue_);
    stdin_queue_.clear();
    stdin_c_.context = this;
    stdin_c_.callback = &Container::on_stdin_written;
    driver_->loop_.write(stdin_c_, stdin_fd(),
                         std::as_bytes(std::span(stdin_sending_.data(), stdin_sending_.size())));
}

void Container::on_stdin_written(loop::Completion& comp) {
    auto* c = static_cast<Container*>(comp.context);
    if (comp.result < 0) {
        // The container closed its stdin or exited: what is left has nowhere to go.
        c->stdin_queue_.clear();
        c->stdin_sending_.clear();
        return;
    }
    c->stdin_sending_.erase(0, size_t(comp.result));
    if (!c->stdin_sending_.empty()) c->stdin_queue_.insert(0, c->stdin_sending_);
    c->stdin_sending_.clear();
    if (!c->stdin_queue_.empty()) return c->pump_stdin();
    if (c->stdin_close_pending_) c->end_stdin_now();
}

Result<> Container::resize(unsigned short rows, unsigned short cols) {
    if (!tty_) return fail(Error::conflict("the container has no tty"));
    return kernel::set_window_size(tty_.get(), rows, cols);
}

void Container::resume_output() {
    output_paused_ = false;
    loop::Loop& loop = driver_->loop_;
    if (stdout_parked_) {
        stdout_parked_ = false;
        loop.read_provided(stdout_c_, tty_ ? tty_.get() : stdout_.get());
    }
    if (stderr_parked_) {
        stderr_parked_ = false;
        loop.read_provided(stderr_c_, stderr_.get());
    }
}

void Container::on_stdout(loop::Completion& comp) {
    auto* c = static_cast<Container*>(comp.context);
    c->output(comp, 1, c->tty_ ? c->tty_ : c->stdout_, c->stdout_eof_);
}

void Container::on_stderr(loop::Completion& comp) {
    auto* c = static_cast<Container*>(comp.context);
    c->output(comp, 2, c->stderr_, c->stderr_eof_);
}

void Container::output(loop::Completion& comp, int stream, kernel::UniqueFd& fd, bool& eof) {
    loop::Loop& loop = driver_->loop_;
    int bid = comp.op == loop::Op::post ? -1 : comp.buffer_id();
    if (comp.result > 0 && bid >= 0) {
        auto data = loop.buffer(bid).first(size_t(comp.result));
        if (events_.output) events_.output(events_.ctx, *this, stream, data);
    }
    if (bid >= 0) loop.release_buffer(bid);
    if (comp.op == loop::Op::post) {
        // The retry posted below: read again (a posted completion carries no data or EOF).
        loop.read_provided(comp, fd.get());
        return;
    }
    if (comp.result > 0 || comp.result == -ENOBUFS || comp.result == -EAGAIN) {
        if (output_paused_) {
            (stream == 2 ? stderr_parked_ : stdout_parked_) = true;
            return;
        }
        // ENOBUFS: every provided buffer is busy; they come back within this tick.
        if (comp.result == -ENOBUFS) loop.post(comp);
        else loop.read_provided(comp, fd.get());
        return;
    }
    // 0 on a pipe, EIO on a tty master once the container side is gone: the end.
    eof = true;
    fd.reset();
    maybe_finish();
}

Container::~Container() {
    // Dropped while running: the ChildProcess guard kills and reaps; the cgroup guard removes.
    if (busy()) {
        // The loop still holds our completions; this is a bug in the owner.
        std::abort();
    }
}

void Container::on_report(loop::Completion& comp) {
    auto* c = static_cast<Container*>(comp.context);
    c->report_done_ = true;
    c->report_.reset();
    if (comp.result == int(sizeof c->report_buf_)) {
        c->exec_failed_ = true;
        c->exec_error_ = kernel::child_report_error(c->report_buf_);
    } else if (comp.result < 0) {
        c->exec_failed_ = true;
        c->exec_error_ = Error::sys(-comp.result, "read exec report");
    } else {
        c->phases_.exec_ns = monotonic_ns() - c->started_at_ns_;
        c->running_ = true;
        if (c->console_) {
            // The child sent its tty master before exec, so it is waiting on the socket.
            auto master = kernel::receive_fd(c->console_.get());
            if (master) {
                c->tty_ = std::move(*master);
                c->stdout_eof_ = false;
                c->driver_->loop_.read_provided(c->stdout_c_, c->tty_.get());
            }
        }
        if (c->events_.started) c->events_.started(c->events_.ctx, *c, Result<>{});
    }
    c->console_.reset();
    c->maybe_finish();
}

void Container::on_exit(loop::Completion& comp) {
    auto* c = static_cast<Container*>(comp.context);
    c->exit_done_ = true;
    // The child is reaped (by the ring or the fallback's waitid): nothing left to kill.
    c->child_.release();
    if (comp.result < 0) {
        c->exit_info_.si_code = CLD_KILLED;
        c->exit_info_.si_status = SIGKILL;
    }
    c->maybe_finish();
}

// The exit is reported once the process is reaped, the exec report is in, and all of its
// output has been read, so a log holds everything before the "die".
void Container::maybe_finish() {
    if (finished_ || !exit_done_ || !report_done_ || !stdout_eof_ || !stderr_eof_) return;
    finished_ = true;
    finish_exit();
}

void Container::finish_exit() {
    ExitStatus st;
    st.exit_code = kernel::exit_code_from_siginfo(exit_info_.si_code, exit_info_.si_status);
    st.signal = exit_info_.si_code == CLD_EXITED ? 0 : exit_info_.si_status;
    st.oom_killed = cgroup_ && cgroup_->oom_killed();
    st.finished_ns = wall_clock_ns();
    exit_status_ = st;
    running_ = false;
    // Hand the cgroup over before the callback, which may free this Container.
    if (cgroup_) {
        driver_->retire(std::move(*cgroup_));
        cgroup_.reset();
    }
    if (exec_failed_) {
        if (events_.started) events_.started(events_.ctx, *this, fail(exec_error_));
    } else if (events_.exited) {
        events_.exited(events_.ctx, *this, st);
    }
}

}  // namespace berth::drivers
