// docker exec: a process started inside a running container (its namespaces through its pidfd,
// its cgroups), watched like a container: output to attached clients, exit code for
// GET /exec/{id}/json, exec_create / exec_start / exec_die events. Records live until the
// container is removed; a container keeps at most exec_records_max of them.
#include <algorithm>

#include "drivers/exec/exec_driver.hpp"
#include "graph/containers.hpp"
#include "jobs/container_engine.hpp"
#include "jobs/events.hpp"
#include "jobs/exec_session.hpp"
#include "kernel/random.hpp"

namespace berth::jobs {

namespace {

// Finished execs beyond this many per container are forgotten, oldest first (a healthcheck
// every second would otherwise grow without bound).
constexpr size_t exec_records_max = 64;

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out;
}

// "K=V" entries of `over` replace those of `base` with the same key, as dockerd merges them.
std::vector<std::string> merge_env(std::vector<std::string> base,
                                   const std::vector<std::string>& over) {
    for (const auto& e : over) {
        std::string key = e.substr(0, e.find('='));
        auto same = [&](const std::string& b) { return b.substr(0, b.find('=')) == key; };
        auto it = std::find_if(base.begin(), base.end(), same);
        if (it != base.end())
            *it = e;
        else
            base.push_back(e);
    }
    return base;
}

}  // namespace

ContainerEngine::Exec* ContainerEngine::find_exec(const std::string& id) const {
    auto it = execs_.find(id);
    return it == execs_.end() ? nullptr : it->second.get();
}

Result<std::string> ContainerEngine::exec_create(const std::string& ref, ExecConfig config) {
    auto rec = containers_.get(ref);
    if (!rec) return fail(rec.error());
    if (auto t = exec_target(rec->id); !t) return fail(t.error());
    if (config.cmd.empty()) return fail(Error::invalid("No exec command specified"));
    auto id = kernel::random_hex(32);
    if (!id) return fail(id.error());
    // Make room: the oldest finished exec of this container goes first.
    auto ids = exec_ids(rec->id);
    for (size_t i = 0; i < ids.size() && ids.size() - i >= exec_records_max; ++i) {
        Exec* old = find_exec(ids[i]);
        if (old->started && !old->state.running && old->state.exit_code) {
            if (old->proc) {
                old->proc->forget_events();
                dead_procs_.push_back(std::move(old->proc));
            }
            execs_.erase(ids[i]);
        }
    }
    auto e = std::make_unique<Exec>();
    e->engine = this;
    e->seq = next_token_++;
    e->state.id = *id;
    e->state.container_id = rec->id;
    e->state.config = std::move(config);
    publish("exec_create: " + joined(e->state.config.cmd), rec->id,
            {{"execID", *id}, {"name", rec->name}});
    execs_[*id] = std::move(e);
    return *id;
}

void ContainerEngine::exec_start(const std::string& exec_id, StartDone done) {
    Exec* e = find_exec(exec_id);
    if (!e) return done(fail(Error::not_found("No such exec instance: " + exec_id)));
    if (e->state.running)
        return done(
            fail(Error::conflict("Error: Exec command " + exec_id + " is already running")));
    if (e->started)
        return done(fail(Error::conflict("Error: Exec command " + exec_id + " has already run")));
    auto target = exec_target(e->state.container_id);
    if (!target) return refuse_exec_start(*e, target.error(), std::move(done));
    const ExecConfig& cfg = e->state.config;
    drivers::ContainerSpec spec = *target->second;
    const std::string& cid = e->state.container_id;
    if (spec.hostname.empty()) spec.hostname = cid.substr(0, 12);
    spec.id = exec_id;
    spec.args = cfg.cmd;
    spec.env = merge_env(spec.env, cfg.env);
    if (!cfg.user.empty()) spec.user = cfg.user;
    if (!cfg.working_dir.empty()) spec.working_dir = cfg.working_dir;
    spec.privileged = spec.privileged || cfg.privileged;
    spec.tty = cfg.tty;
    spec.open_stdin = cfg.attach_stdin;
    spec.capture_output = !cfg.tty && (cfg.attach_stdout || cfg.attach_stderr);
    spec.stdio[0] = spec.stdio[1] = spec.stdio[2] = -1;
    e->started = true;
    e->start_done = std::move(done);
    drivers::ContainerEvents ev{e, &Exec::started_cb, &Exec::exited_cb, &Exec::output_cb};
    auto proc = driver_.exec(*target->first, spec, ev);
    if (!proc) {
        // Nothing ran: the exec can be started again, as with Docker after a failed start.
        e->started = false;
        auto d = std::move(e->start_done);  // `done` was moved there above
        e->start_done = nullptr;
        return refuse_exec_start(*e, proc.error(), std::move(d));
    }
    e->proc = std::move(*proc);
    auto rec = containers_.get(cid);
    publish("exec_start: " + joined(cfg.cmd), cid,
            {{"execID", exec_id}, {"name", rec ? rec->name : std::string()}});
}

// A start refused before any process existed: an attached client reads why, then its end.
void ContainerEngine::refuse_exec_start(Exec& e, const Error& err, StartDone done) {
    std::string text = err.message + "\r\n";
    for (OutputListener* l : std::vector<OutputListener*>(e.listeners))
        l->on_output(1, std::as_bytes(std::span(text.data(), text.size())));
    e.end_listeners();
    done(fail(err));
}

void ContainerEngine::on_exec_started(Exec& e, const Result<>& res) {
    if (res) {
        e.state.running = true;
        e.state.pid = e.proc ? e.proc->pid() : 0;
    }
    if (e.start_done) {
        auto d = std::move(e.start_done);
        e.start_done = nullptr;
        d(res);
    }
    if (res) return;
    // Docker writes the runtime's error on the attached stream, then ends it; the exit code
    // (126 or 127) is what GET /exec/{id}/json reports.
    std::string text = "OCI runtime exec failed: exec failed: unable to start container process: " +
                       res.error().message + ": unknown\r\n";
    for (OutputListener* l : std::vector<OutputListener*>(e.listeners))
        l->on_output(1, std::as_bytes(std::span(text.data(), text.size())));
    on_exec_exited(e, e.proc ? e.proc->exit_status() : drivers::ExitStatus{126, 0, false, 0});
}

void ContainerEngine::on_exec_exited(Exec& e, const drivers::ExitStatus& st) {
    e.state.running = false;
    e.state.exit_code = st.exit_code;
    e.state.pid = 0;
    if (e.proc) e.proc->abandon_stdin();
    e.end_listeners();
    auto rec = containers_.get(e.state.container_id);
    publish("exec_die", e.state.container_id,
            {{"execID", e.state.id},
             {"exitCode", std::to_string(st.exit_code)},
             {"name", rec ? rec->name : std::string()}});
    // The driver object is inside its own callback: freed on the next tick.
    if (e.proc) dead_procs_.push_back(std::move(e.proc));
    if (!reap_.in_flight()) loop_.post(reap_);
    maybe_shutdown_done();
}

Result<ExecState> ContainerEngine::exec_inspect(const std::string& exec_id) const {
    const Exec* e = find_exec(exec_id);
    if (!e) return fail(Error::not_found("No such exec instance: " + exec_id));
    return e->state;
}

std::vector<std::string> ContainerEngine::exec_ids(const std::string& container_id) const {
    std::vector<const Exec*> found;
    for (const auto& [id, e] : execs_)
        if (e->state.container_id == container_id && !e->hidden) found.push_back(e.get());
    std::sort(found.begin(), found.end(),
              [](const Exec* a, const Exec* b) { return a->seq < b->seq; });
    std::vector<std::string> out;
    for (const Exec* e : found) out.push_back(e->state.id);
    return out;
}

// Forgets one exec; a process of it still running (it dies with its container) is left to the
// reaper without callbacks.
void ContainerEngine::drop_exec(const std::string& exec_id) {
    auto it = execs_.find(exec_id);
    if (it == execs_.end()) return;
    if (it->second->proc) {
        it->second->proc->forget_events();
        dead_procs_.push_back(std::move(it->second->proc));
        if (!reap_.in_flight()) loop_.post(reap_);
    }
    execs_.erase(it);
}

void ContainerEngine::forget_execs(const std::string& container_id) {
    for (auto it = execs_.begin(); it != execs_.end();) {
        Exec& e = *it->second;
        if (e.state.container_id != container_id) {
            ++it;
            continue;
        }
        e.end_listeners();
        if (e.proc) {
            e.proc->forget_events();
            dead_procs_.push_back(std::move(e.proc));
        }
        it = execs_.erase(it);
    }
    if (!dead_procs_.empty() && !reap_.in_flight()) loop_.post(reap_);
}

}  // namespace berth::jobs
