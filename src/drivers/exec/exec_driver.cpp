#include "drivers/exec/exec_driver.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/time.hpp"

namespace berth::drivers {

ExecDriver::ExecDriver(loop::Loop& loop, kernel::CgroupManager* cgroups, kernel::CgroupInfo layout)
    : loop_(loop), cgroups_(cgroups), layout_(std::move(layout)) {}

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
    int64_t t2 = monotonic_ns();
    c->phases_.cgroup_ns = t2 - t1;

    auto spawned = kernel::spawn(c->plan_->plan);
    if (!spawned) return fail(spawned.error());
    int64_t t3 = monotonic_ns();
    c->phases_.clone_ns = t3 - t2;
    c->child_ = std::move(spawned->child);
    c->report_ = std::move(spawned->report);
    if (cgroups_) {
        // v1 hierarchies cannot be joined by clone3: place the child before it may proceed.
        if (auto r = c->cgroup_->add_process(c->child_.pid(), v2_placed); !r)
            return fail(std::move(r.error()).wrap("place container in its cgroup"));
    }
    char go = 1;
    if (write(spawned->go.get(), &go, 1) != 1) return fail(Error::last_sys("release container"));
    spawned->go.reset();
    c->phases_.place_ns = monotonic_ns() - t3;
    c->started_at_ns_ = t0;

    c->report_c_.context = c->exit_c_.context = c.get();
    c->report_c_.callback = &Container::on_report;
    c->exit_c_.callback = &Container::on_exit;
    loop_.read(c->report_c_, c->report_.get(),
               std::span(reinterpret_cast<std::byte*>(&c->report_buf_), sizeof c->report_buf_));
    loop_.waitid(c->exit_c_, c->child_.pidfd(), &c->exit_info_);
    return c;
}

Container::~Container() {
    // Dropped while running: the ChildProcess guard kills and reaps; the cgroup guard removes.
    if (report_c_.in_flight() || exit_c_.in_flight()) {
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
        if (c->events_.started) c->events_.started(c->events_.ctx, *c, Result<>{});
    }
    if (c->exit_done_) c->finish_exit();
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
    // The exec report may still be in flight (EOF not yet delivered); finish when both are in.
    if (c->report_done_) c->finish_exit();
}

void Container::finish_exit() {
    ExitStatus st;
    st.exit_code = kernel::exit_code_from_siginfo(exit_info_.si_code, exit_info_.si_status);
    st.signal = exit_info_.si_code == CLD_EXITED ? 0 : exit_info_.si_status;
    st.oom_killed = cgroup_ && cgroup_->oom_killed();
    st.finished_ns = wall_clock_ns();
    running_ = false;
    if (exec_failed_) {
        if (events_.started) events_.started(events_.ctx, *this, fail(exec_error_));
    } else if (events_.exited) {
        events_.exited(events_.ctx, *this, st);
    }
    if (cgroup_) (void)cgroup_->destroy();
}

}  // namespace berth::drivers
