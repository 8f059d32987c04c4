#include "jobs/container_engine.hpp"

#include <signal.h>

#include <optional>
#include <simdjson.h>

#include "base/time.hpp"
#include "drivers/exec/plan.hpp"
#include "drivers/logs/json_file.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "graph/containers.hpp"
#include "graph/images.hpp"
#include "jobs/events.hpp"

namespace berth::jobs {

namespace {

using simdjson::dom::element;

std::vector<std::string> strings(element obj, const char* key) {
    std::vector<std::string> out;
    simdjson::dom::array arr;
    if (obj[key].get(arr)) return out;
    for (element e : arr) {
        std::string_view s;
        if (!e.get(s)) out.emplace_back(s);
    }
    return out;
}

std::string str(element obj, const char* key) {
    std::string_view s;
    return obj[key].get(s) ? std::string() : std::string(s);
}

int64_t num(element obj, const char* key) {
    int64_t v = 0;
    return obj[key].get(v) ? 0 : v;
}

bool flag(element obj, const char* key) {
    bool b = false;
    return !obj[key].get(b) && b;
}

// HostConfig's "src:dst[:ro]" binds.
Result<drivers::BindMount> parse_bind(const std::string& b) {
    drivers::BindMount m;
    size_t c1 = b.find(':');
    if (c1 == std::string::npos) return fail(Error::invalid("invalid volume specification: '" + b + "'"));
    size_t c2 = b.find(':', c1 + 1);
    m.source = b.substr(0, c1);
    m.target = b.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1);
    std::string opts = c2 == std::string::npos ? "" : b.substr(c2 + 1);
    m.readonly = opts.find("ro") != std::string::npos;
    for (const char* p : {"rprivate", "private", "rslave", "slave", "rshared", "shared"})
        if (opts.find(p) != std::string::npos) {
            m.propagation = p;
            break;
        }
    if (m.source.empty() || m.source[0] != '/')
        return fail(Error::make(ErrorKind::not_implemented,
                                "named volumes are not supported yet: '" + b + "'"));
    return m;
}

// What the exec driver needs, from the stored Config and HostConfig.
Result<drivers::ContainerSpec> spec_from(const graph::ContainerRecord& c, const std::string& rootfs,
                                         const std::string& dir, bool& auto_remove) {
    simdjson::dom::parser cp, hp;
    simdjson::padded_string cj(c.config_json), hj(c.host_config_json);
    element cfg, hc;
    if (cp.parse(cj).get(cfg) || hp.parse(hj).get(hc))
        return fail(Error::internal("container " + c.id + " has a corrupt record"));
    drivers::ContainerSpec s;
    s.id = c.id;
    s.rootfs = rootfs;
    s.container_dir = dir;
    s.args = strings(cfg, "Entrypoint");
    for (auto& a : strings(cfg, "Cmd")) s.args.push_back(a);
    s.env = strings(cfg, "Env");
    s.working_dir = str(cfg, "WorkingDir");
    s.user = str(cfg, "User");
    s.hostname = str(cfg, "Hostname");
    s.domainname = str(cfg, "Domainname");
    s.tty = flag(cfg, "Tty");
    s.open_stdin = flag(cfg, "OpenStdin");
    s.capture_output = !s.tty;
    std::string net = str(hc, "NetworkMode");
    // Bridge networking comes with the networking issue; until then the default network is an
    // empty network namespace (loopback only), as --network none.
    s.network = net == "host" ? drivers::NetworkMode::host : drivers::NetworkMode::none;
    if (net.starts_with("container:"))
        return fail(Error::make(ErrorKind::not_implemented,
                                "network mode " + net + " is not supported yet"));
    s.privileged = flag(hc, "Privileged");
    s.readonly_rootfs = flag(hc, "ReadonlyRootfs");
    s.cap_add = strings(hc, "CapAdd");
    s.cap_drop = strings(hc, "CapDrop");
    s.group_add = strings(hc, "GroupAdd");
    s.dns = strings(hc, "Dns");
    s.dns_search = strings(hc, "DnsSearch");
    s.dns_options = strings(hc, "DnsOptions");
    s.extra_hosts = strings(hc, "ExtraHosts");
    for (const std::string& o : strings(hc, "SecurityOpt")) {
        if (o == "seccomp=unconfined" || o == "seccomp:unconfined")
            s.seccomp = drivers::SeccompMode::unconfined;
        else if (o == "no-new-privileges" || o == "no-new-privileges:true" ||
                 o == "no-new-privileges=true")
            s.no_new_privileges = true;
    }
    for (const std::string& b : strings(hc, "Binds")) {
        auto m = parse_bind(b);
        if (!m) return fail(m.error());
        s.binds.push_back(*m);
    }
    simdjson::dom::object tmpfs;
    if (!hc["Tmpfs"].get(tmpfs))
        for (auto [k, v] : tmpfs) {
            std::string_view opts;
            if (v.get(opts)) opts = "";
            s.tmpfs.push_back({std::string(k), std::string(opts)});
        }
    simdjson::dom::array ulimits;
    if (!hc["Ulimits"].get(ulimits))
        for (element u : ulimits) s.ulimits.push_back({str(u, "Name"), num(u, "Soft"), num(u, "Hard")});
    if (int64_t shm = num(hc, "ShmSize"); shm > 0) s.shm_size = shm;
    if (int64_t adj = num(hc, "OomScoreAdj"); adj != 0) s.oom_score_adj = int(adj);
    s.resources.memory = num(hc, "Memory");
    s.resources.memory_swap = num(hc, "MemorySwap");
    s.resources.memory_reservation = num(hc, "MemoryReservation");
    s.resources.cpu_shares = uint64_t(num(hc, "CpuShares"));
    s.resources.cpu_quota = num(hc, "CpuQuota");
    s.resources.cpu_period = uint64_t(num(hc, "CpuPeriod"));
    if (int64_t nano = num(hc, "NanoCpus"); nano > 0) {
        // --cpus: a quota over the default 100 ms period.
        s.resources.cpu_period = 100000;
        s.resources.cpu_quota = nano / 10000;
    }
    s.resources.pids_limit = num(hc, "PidsLimit");
    s.resources.cpuset_cpus = str(hc, "CpusetCpus");
    s.resources.cpuset_mems = str(hc, "CpusetMems");
    auto_remove = flag(hc, "AutoRemove");
    return s;
}

}  // namespace

struct ContainerEngine::Running {
    ContainerEngine* engine = nullptr;
    std::optional<drivers::JsonFileLog> log;
    std::string id;
    graph::ContainerRecord record;
    std::unique_ptr<drivers::Container> proc;
    std::vector<OutputListener*> listeners;
    StartDone start_done;
    bool auto_remove = false;
    bool tty = false;
    int64_t mount_ns = 0;
    std::vector<std::function<void(Result<>)>> removed_done;  // rm -f of a running container

    static void started_cb(void* ctx, drivers::Container&, const Result<>& res) {
        auto* r = static_cast<Running*>(ctx);
        r->engine->on_started(*r, res);
    }
    static void exited_cb(void* ctx, drivers::Container&, const drivers::ExitStatus& st) {
        auto* r = static_cast<Running*>(ctx);
        r->engine->on_exited(*r, st);
    }
    static void output_cb(void* ctx, drivers::Container&, int stream,
                          std::span<const std::byte> data) {
        auto* r = static_cast<Running*>(ctx);
        if (r->log) (void)r->log->write(stream, data);
        // A listener may leave while being told (its client went away).
        bool full = false;
        for (OutputListener* l : std::vector<OutputListener*>(r->listeners)) {
            l->on_output(stream, data);
            full = full || l->saturated();
        }
        if (full && r->proc) r->proc->pause_output();
    }
};

ContainerEngine::ContainerEngine(loop::Loop& loop, drivers::ExecDriver& driver,
                                 drivers::StorageDriver& storage,
                                 graph::ContainerStore& containers, graph::ImageStore& images,
                                 EventBus& events)
    : loop_(loop),
      driver_(driver),
      storage_(storage),
      containers_(containers),
      images_(images),
      events_(events) {
    reap_.context = this;
    reap_.callback = &ContainerEngine::on_reap;
}

ContainerEngine::~ContainerEngine() = default;

void ContainerEngine::on_reap(loop::Completion& c) {
    auto* e = static_cast<ContainerEngine*>(c.context);
    // A container whose stdin write is still being cancelled waits for the next tick.
    std::erase_if(e->dead_, [](const std::unique_ptr<Running>& r) {
        return !r->proc || !r->proc->busy();
    });
    if (!e->dead_.empty()) e->loop_.post(e->reap_);
}

void ContainerEngine::publish(const std::string& action, const std::string& id,
                              std::vector<std::pair<std::string, std::string>> extra) {
    Event e;
    e.type = "container";
    e.action = action;
    e.actor_id = id;
    e.attributes = std::move(extra);
    events_.publish(std::move(e));
}

bool ContainerEngine::tty(const std::string& id) const {
    auto it = running_.find(id);
    if (it != running_.end()) return it->second->tty;
    auto rec = containers_.get(id);
    return rec && rec->config_json.find("\"Tty\":true") != std::string::npos;
}

void ContainerEngine::end_pending_listeners(const std::string& id) {
    auto p = pending_listeners_.extract(id);
    if (p.empty()) return;
    for (OutputListener* l : p.mapped()) l->on_end();
}

void ContainerEngine::start(const std::string& ref, StartDone done) {
    auto rec = containers_.get(ref);
    if (!rec) return done(fail(rec.error()));
    if (running_.contains(rec->id))
        return done(fail(Error::make(ErrorKind::not_modified, "container already started")));
    std::string id = rec->id;
    // A start that fails here ends the attached clients' streams too.
    auto failed = [&](Error e) {
        end_pending_listeners(id);
        done(fail(std::move(e)));
    };
    int64_t mount_start = monotonic_ns();
    auto rootfs = storage_.mount(rec->id);
    if (!rootfs) return failed(rootfs.error());
    auto r = std::make_unique<Running>();
    r->mount_ns = monotonic_ns() - mount_start;
    r->engine = this;
    r->id = rec->id;
    r->record = *rec;
    auto spec = spec_from(*rec, *rootfs, storage_.container_dir(rec->id), r->auto_remove);
    if (!spec) {
        (void)storage_.unmount(rec->id);
        r->start_done = nullptr;
        return failed(spec.error());
    }
    r->tty = spec->tty;
    if (auto log = drivers::JsonFileLog::open(log_path(rec->id)); log) r->log.emplace(std::move(*log));
    r->start_done = std::move(done);
    drivers::ContainerEvents ev{r.get(), &Running::started_cb, &Running::exited_cb,
                                &Running::output_cb};
    auto proc = driver_.start(*spec, ev);
    if (!proc) {
        (void)storage_.unmount(rec->id);
        done = std::move(r->start_done);
        return failed(proc.error());
    }
    r->proc = std::move(*proc);
    if (auto in = pending_stdin_.extract(rec->id); !in.empty()) {
        if (!in.mapped().data.empty())
            r->proc->write_stdin(std::as_bytes(std::span(in.mapped().data)));
        if (in.mapped().closed) r->proc->close_stdin();
    }
    if (auto p = pending_listeners_.find(rec->id); p != pending_listeners_.end()) {
        r->listeners = std::move(p->second);
        pending_listeners_.erase(p);
    }
    running_[rec->id] = std::move(r);
}

void ContainerEngine::on_started(Running& r, const Result<>& res) {
    if (res) {
        r.record.state = "running";
        r.record.started_ns = wall_clock_ns();
        r.record.pid = r.proc ? r.proc->pid() : 0;
        r.record.exit_code = 0;
        (void)containers_.update_state(r.record);
        if (r.proc) timings_[r.id] = StartTimings{r.mount_ns, r.proc->phases()};
        publish("start", r.id, {{"name", r.record.name}});
    }
    if (r.start_done) {
        auto d = std::move(r.start_done);
        r.start_done = nullptr;
        d(res);
    }
    // An exec failure ends here: the driver reports no exit for it.
    if (!res) on_exited(r, r.proc ? r.proc->exit_status() : drivers::ExitStatus{});
}

void ContainerEngine::on_exited(Running& r, const drivers::ExitStatus& st) {
    std::string id = r.id;
    r.record.state = "exited";
    r.record.exit_code = st.exit_code;
    r.record.finished_ns = st.finished_ns ? st.finished_ns : wall_clock_ns();
    r.record.pid = 0;
    (void)containers_.update_state(r.record);
    (void)storage_.unmount(id);
    if (r.proc) r.proc->abandon_stdin();
    pending_stdin_.erase(id);
    if (r.log) (void)r.log->flush();
    for (OutputListener* l : std::vector<OutputListener*>(r.listeners)) l->on_end();
    r.listeners.clear();
    publish("die", id, {{"exitCode", std::to_string(st.exit_code)}, {"name", r.record.name}});
    bool remove_now = r.auto_remove || !r.removed_done.empty();
    auto removed_done = std::move(r.removed_done);
    auto node = running_.extract(id);
    if (!node.empty()) dead_.push_back(std::move(node.mapped()));
    if (!reap_.in_flight()) loop_.post(reap_);
    notify(id, false, st.exit_code);
    if (remove_now) {
        auto rm = remove_stopped(id);
        for (auto& d : removed_done) d(rm);
        if (rm) notify(id, true, st.exit_code);
    }
    if (shutdown_done_ && running_.empty()) {
        auto d = std::move(shutdown_done_);
        shutdown_done_ = nullptr;
        d();
    }
}

void ContainerEngine::notify(const std::string& id, bool removed, int exit_code) {
    for (auto it = waiters_.begin(); it != waiters_.end();) {
        Waiter& w = it->second;
        bool fires = w.id == id && (removed ? true : w.condition != WaitCondition::removed);
        if (!fires) {
            ++it;
            continue;
        }
        auto d = std::move(w.done);
        it = waiters_.erase(it);
        d(exit_code);
    }
}

uint64_t ContainerEngine::wait(const std::string& id, WaitCondition condition, WaitDone done) {
    bool is_running = running_.contains(id);
    if (condition == WaitCondition::not_running && !is_running) {
        auto rec = containers_.get(id);
        done(rec ? rec->exit_code : 0);
        return 0;
    }
    uint64_t token = next_token_++;
    waiters_.emplace(token, Waiter{id, condition, std::move(done)});
    return token;
}

void ContainerEngine::cancel_wait(uint64_t token) { waiters_.erase(token); }

void ContainerEngine::listen(const std::string& id, OutputListener* l) {
    auto it = running_.find(id);
    if (it != running_.end()) it->second->listeners.push_back(l);
    else pending_listeners_[id].push_back(l);
}

void ContainerEngine::unlisten(const std::string& id, OutputListener* l) {
    auto it = running_.find(id);
    if (it != running_.end()) std::erase(it->second->listeners, l);
    auto p = pending_listeners_.find(id);
    if (p != pending_listeners_.end()) std::erase(p->second, l);
}

std::string ContainerEngine::log_path(const std::string& id) const {
    return storage_.container_dir(id) + "/" + id + "-json.log";
}

Result<> ContainerEngine::resize(const std::string& id, unsigned short rows, unsigned short cols) {
    auto it = running_.find(id);
    if (it == running_.end() || !it->second->proc || it->second->proc->reaped())
        return fail(Error::conflict("Container " + id + " is not running"));
    return it->second->proc->resize(rows, cols);
}

Result<> ContainerEngine::pause(const std::string& ref, bool frozen) {
    auto rec = containers_.get(ref);
    if (!rec) return fail(rec.error());
    auto it = running_.find(rec->id);
    if (it == running_.end() || !it->second->proc || it->second->proc->reaped())
        return fail(Error::conflict("Container " + rec->id + " is not running"));
    Running& r = *it->second;
    bool paused = r.record.state == "paused";
    if (frozen && paused) return fail(Error::conflict("Container " + rec->id + " is already paused"));
    if (!frozen && !paused) return fail(Error::conflict("Container " + rec->id + " is not paused"));
    kernel::Cgroup* cg = r.proc->cgroup();
    if (!cg) return fail(Error::make(ErrorKind::not_implemented, "pause needs the cgroup freezer"));
    if (auto f = frozen ? cg->freeze() : cg->thaw(); !f) return f;
    r.record.state = frozen ? "paused" : "running";
    (void)containers_.update_state(r.record);
    publish(frozen ? "pause" : "unpause", r.id, {{"name", r.record.name}});
    return {};
}

void ContainerEngine::write_stdin(const std::string& id, std::span<const std::byte> data) {
    auto it = running_.find(id);
    if (it == running_.end()) {
        auto& p = pending_stdin_[id];
        if (!p.closed) p.data.append(reinterpret_cast<const char*>(data.data()), data.size());
        return;
    }
    if (it->second->proc && !it->second->proc->reaped()) it->second->proc->write_stdin(data);
}

void ContainerEngine::close_stdin(const std::string& id) {
    auto it = running_.find(id);
    if (it == running_.end()) {
        pending_stdin_[id].closed = true;
        return;
    }
    if (it->second->proc) it->second->proc->close_stdin();
}

void ContainerEngine::resume_output(const std::string& id) {
    auto it = running_.find(id);
    if (it == running_.end() || !it->second->proc) return;
    for (OutputListener* l : it->second->listeners)
        if (l->saturated()) return;
    it->second->proc->resume_output();
}

Result<> ContainerEngine::signal(const std::string& id, int signo) {
    auto it = running_.find(id);
    // Reaped but still draining its output counts as stopped, as Docker sees it.
    if (it == running_.end() || !it->second->proc || it->second->proc->reaped())
        return fail(Error::conflict("Container " + id + " is not running"));
    Running& r = *it->second;
    auto sent = r.proc->signal(signo);
    // A frozen process takes a signal only once thawed: a kill unpauses, as with Docker.
    if (sent && r.record.state == "paused" && (signo == SIGKILL || signo == SIGTERM)) {
        if (kernel::Cgroup* cg = r.proc->cgroup()) (void)cg->thaw();
        r.record.state = "running";
        (void)containers_.update_state(r.record);
    }
    return sent;
}

Result<> ContainerEngine::remove_stopped(const std::string& id) {
    auto rec = containers_.get(id);
    if (!rec) return fail(rec.error());
    end_pending_listeners(id);
    pending_stdin_.erase(id);
    if (auto r = drivers::remove_container_files(storage_.container_dir(id), id); !r) return r;
    if (auto r = storage_.remove_container_layer(id); !r) return fail(r.error());
    if (auto r = containers_.remove(id); !r) return fail(r.error());
    timings_.erase(id);
    (void)images_.collect_removed_images();
    publish("destroy", id, {{"name", rec->name}});
    return {};
}

Result<ContainerEngine::Pruned> ContainerEngine::prune(
    const std::function<bool(const graph::ContainerRecord&)>& selected) {
    auto all = containers_.list();
    if (!all) return fail(all.error());
    Pruned out;
    for (const auto& c : *all) {
        if (running_.contains(c.id) || !selected(c)) continue;
        uint64_t size = storage_.container_layer_size(c.id);
        if (auto r = remove_stopped(c.id); !r) return fail(r.error());
        notify(c.id, true, c.exit_code);
        out.ids.push_back(c.id);
        out.space_reclaimed += size;
    }
    publish("prune", "", {{"reclaimed", std::to_string(out.space_reclaimed)}});
    return out;
}

void ContainerEngine::remove(const std::string& ref, bool force,
                             std::function<void(Result<>)> done) {
    auto rec = containers_.get(ref);
    if (!rec) return done(fail(rec.error()));
    auto it = running_.find(rec->id);
    if (it == running_.end()) {
        auto r = remove_stopped(rec->id);
        if (r) notify(rec->id, true, rec->exit_code);
        return done(r);
    }
    if (!force)
        return done(fail(Error::conflict(
            "cannot remove container \"/" + rec->name +
            "\": container is running: stop the container before removing or force remove")));
    it->second->removed_done.push_back(std::move(done));
    (void)it->second->proc->signal(SIGKILL);
}

// One docker stop in progress: the signal went out, a timer holds the SIGKILL, a waiter the
// answer. Freed when both the exit and the timer are done.
struct ContainerEngine::Stop {
    ContainerEngine* engine;
    std::string id;
    std::function<void(Result<>)> done;
    loop::Completion timer;
    bool exited = false;

    static void on_timer(loop::Completion& c) {
        auto* s = static_cast<Stop*>(c.context);
        if (!s->exited && c.result == -ETIME) (void)s->engine->signal(s->id, SIGKILL);
        if (s->exited) delete s;
    }
    void on_exit() {
        exited = true;
        auto d = std::move(done);
        d(Result<>{});
        if (timer.in_flight()) engine->loop_.cancel(timer);
        else delete this;
    }
};

void ContainerEngine::stop(const std::string& ref, int signo, int timeout_s,
                           std::function<void(Result<>)> done) {
    auto rec = containers_.get(ref);
    if (!rec) return done(fail(rec.error()));
    auto it = running_.find(rec->id);
    if (it == running_.end() || !it->second->proc || it->second->proc->reaped())
        return done(fail(Error::make(ErrorKind::not_modified, "container already stopped")));
    auto* s = new Stop{this, rec->id, std::move(done), {}, false};
    s->timer.context = s;
    s->timer.callback = &Stop::on_timer;
    wait(rec->id, WaitCondition::next_exit, [s](int) { s->on_exit(); });
    (void)signal(rec->id, signo);
    if (timeout_s >= 0) loop_.timeout(s->timer, int64_t(timeout_s) * 1'000'000'000);
}

const ContainerEngine::StartTimings* ContainerEngine::start_timings(const std::string& id) const {
    auto it = timings_.find(id);
    return it == timings_.end() ? nullptr : &it->second;
}

void ContainerEngine::shutdown(std::function<void()> done) {
    if (running_.empty()) return done();
    shutdown_done_ = std::move(done);
    for (auto& [id, r] : running_)
        if (r->proc) (void)r->proc->signal(SIGKILL);
}

}  // namespace berth::jobs
