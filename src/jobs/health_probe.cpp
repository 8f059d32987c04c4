// Healthchecks run as dockerd runs them: each probe an exec in the container (hidden from
// ExecIDs), its stdout and stderr kept up to 4 KiB, killed at Timeout; State.Health updated and
// stored after every probe, a health_status event when the status changes.
#include "jobs/health_probe.hpp"

#include <signal.h>

#include "base/time.hpp"
#include "graph/containers.hpp"
#include "jobs/exec_session.hpp"

namespace berth::jobs {

void ContainerEngine::HealthProbe::on_output(int, std::span<const std::byte> data) {
    size_t room = health_output_bytes_max - std::min(output.size(), health_output_bytes_max);
    output.append(reinterpret_cast<const char*>(data.data()), std::min(room, data.size()));
}

void ContainerEngine::HealthProbe::on_end() {
    engine->on_probe_done(*this);
}

bool ContainerEngine::HealthProbe::in_start_period() const {
    return monotonic_ns() - started_mono_ns < check.start_period_ns;
}

void ContainerEngine::HealthProbe::on_tick(loop::Completion& c) {
    auto* p = static_cast<HealthProbe*>(c.context);
    if (p->stopped || c.result != -ETIME) return;
    p->engine->run_probe(*p);
}

void ContainerEngine::HealthProbe::on_deadline(loop::Completion& c) {
    auto* p = static_cast<HealthProbe*>(c.context);
    if (p->stopped || c.result != -ETIME || p->exec_id.empty()) return;
    p->timed_out = true;
    if (Exec* e = p->engine->find_exec(p->exec_id); e && e->proc) (void)e->proc->signal(SIGKILL);
}

void ContainerEngine::start_health(graph::ContainerRecord& record) {
    auto check = healthcheck_of(record.config_json);
    if (!check) {
        record.health_json.clear();
        return;
    }
    auto p = std::make_unique<HealthProbe>();
    p->engine = this;
    p->id = record.id;
    p->check = *check;
    p->started_mono_ns = monotonic_ns();
    p->tick.context = p->deadline.context = p.get();
    p->tick.callback = &HealthProbe::on_tick;
    p->deadline.callback = &HealthProbe::on_deadline;
    record.health_json = p->state.json();
    schedule_probe(*p);
    health_[record.id] = std::move(p);
}

// dockerd's pace: StartInterval while in the start period and still starting, else Interval.
void ContainerEngine::schedule_probe(HealthProbe& p) {
    bool fast = p.in_start_period() && p.state.status() == "starting";
    loop_.timeout(p.tick, fast ? p.check.start_interval_ns : p.check.interval_ns);
}

void ContainerEngine::run_probe(HealthProbe& p) {
    // The previous probe's exec record goes now (not inside its own end).
    if (!p.exec_id.empty()) drop_exec(p.exec_id);
    p.exec_id.clear();
    ExecConfig cfg;
    cfg.cmd = p.check.argv;
    cfg.attach_stdout = cfg.attach_stderr = true;
    auto id = exec_create(p.id, cfg);
    if (!id) return schedule_probe(p);  // paused (or stopping): try again next time
    find_exec(*id)->hidden = true;
    p.exec_id = *id;
    p.output.clear();
    p.timed_out = false;
    p.probe_start_ns = wall_clock_ns();
    listen(*id, &p);
    loop_.timeout(p.deadline, p.check.timeout_ns);
    exec_start(*id, [](const Result<>&) {});
}

void ContainerEngine::on_probe_done(HealthProbe& p) {
    if (p.deadline.in_flight()) loop_.cancel(p.deadline);
    HealthResult r;
    r.start_ns = p.probe_start_ns;
    r.end_ns = wall_clock_ns();
    const Exec* e = find_exec(p.exec_id);
    r.exit_code = e && e->state.exit_code ? *e->state.exit_code : -1;
    r.output = std::move(p.output);
    if (p.timed_out) {
        r.exit_code = -1;
        r.output = "Health check exceeded timeout (" +
                   std::to_string(p.check.timeout_ns / 1'000'000'000) + "s)";
    }
    bool changed = p.state.record(std::move(r), p.in_start_period(), p.check.retries);
    if (graph::ContainerRecord* rec = running_record(p.id)) {
        rec->health_json = p.state.json();
        (void)containers_.update_state(*rec);
        if (changed) publish("health_status: " + p.state.status(), p.id, {{"name", rec->name}});
    }
    if (!p.stopped) schedule_probe(p);
}

// The container exited: no more probes. The job is freed once its timers are back.
void ContainerEngine::stop_health(const std::string& id) {
    auto it = health_.find(id);
    if (it == health_.end()) return;
    HealthProbe& p = *it->second;
    p.stopped = true;
    if (!p.exec_id.empty()) {
        unlisten(p.exec_id, &p);
        drop_exec(p.exec_id);
    }
    if (p.tick.in_flight()) loop_.cancel(p.tick);
    if (p.deadline.in_flight()) loop_.cancel(p.deadline);
    retired_health_.push_back(std::move(it->second));
    health_.erase(it);
    if (!reap_.in_flight()) loop_.post(reap_);
}

}  // namespace berth::jobs
