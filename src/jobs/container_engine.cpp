#include "jobs/container_engine.hpp"
#include "jobs/container_networks.hpp"

#include <signal.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <simdjson.h>

#include "base/time.hpp"
#include "drivers/exec/plan.hpp"
#include "drivers/logs/json_file.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "graph/containers.hpp"
#include "graph/images.hpp"
#include "jobs/events.hpp"
#include "jobs/exec_session.hpp"
#include "jobs/health_probe.hpp"
#include "jobs/restart_policy.hpp"

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

// HostConfig's "src:dst[:ro]" binds; a volume's ("name:dst") come from the VolumeService.
Result<std::optional<drivers::BindMount>> parse_bind(const std::string& b) {
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
    if (m.source.empty() || m.source[0] != '/') return std::optional<drivers::BindMount>{};
    return std::optional<drivers::BindMount>{m};
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
    // "", "default", "bridge" and user networks' names: the networks' namespace (the engine
    // asks ContainerNetworks for it; with no bridge network it stays an empty one, as none).
    s.network = net == "host"   ? drivers::NetworkMode::host
                : net == "none" ? drivers::NetworkMode::none
                                : drivers::NetworkMode::bridge;
    // container:<ref>: the engine finds the running container and its pidfd (join_netns_fd).
    if (net.starts_with("container:")) s.network = drivers::NetworkMode::container;
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
        if (*m) s.binds.push_back(**m);
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
    s.resources.blkio_weight = uint16_t(std::clamp<int64_t>(num(hc, "BlkioWeight"), 0, 1000));
    auto_remove = flag(hc, "AutoRemove");
    if (bool init = false; !hc["Init"].get(init)) s.init = init;
    return s;
}

}  // namespace

struct ContainerEngine::Running {
    ContainerEngine* engine = nullptr;
    std::unique_ptr<drivers::JsonFileLog> log;
    std::string id;
    graph::ContainerRecord record;
    std::unique_ptr<drivers::Container> proc;
    drivers::ContainerSpec spec;  // as started: docker exec builds on it
    std::vector<OutputListener*> listeners;
    StartDone start_done;
    bool auto_remove = false;
    bool tty = false;
    // rm -fv of a running container: its anonymous volumes go too.
    bool remove_volumes = false;
    int64_t mount_ns = 0;
    int64_t network_ns = 0;
    std::vector<std::function<void(Result<>)>> removed_done;  // rm -f of a running container

    static void started_cb(void* ctx, drivers::Container&, const Result<>& res) {
        auto* r = static_cast<Running*>(ctx);
        r->engine->on_started(*r, res);
    }
    static void exited_cb(void* ctx, drivers::Container&, const drivers::ExitStatus& st) {
        auto* r = static_cast<Running*>(ctx);
        // The log holds everything before the "die": the exit is reported once its last
        // write is done (at once when nothing is queued).
        if (!r->log) return r->engine->on_exited(*r, st);
        r->log->close([r, st] { r->engine->on_exited(*r, st); });
    }
    static void output_cb(void* ctx, drivers::Container&, int stream,
                          std::span<const std::byte> data) {
        auto* r = static_cast<Running*>(ctx);
        bool full = false;
        if (r->log) {
            r->log->write(stream, data);
            full = r->log->saturated();
        }
        // A listener may leave while being told (its client went away).
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
    // Exited containers' networks, after the replies their exits sent.
    if (e->networks_) e->networks_->detach_retired();
    // A container whose stdin write is still being cancelled waits for the next tick.
    std::erase_if(e->dead_, [](const std::unique_ptr<Running>& r) {
        return (!r->proc || !r->proc->busy()) && (!r->log || !r->log->busy());
    });
    std::erase_if(e->dead_procs_,
                  [](const std::unique_ptr<drivers::Container>& p) { return !p->busy(); });
    std::erase_if(e->retired_health_,
                  [](const std::unique_ptr<HealthProbe>& p) { return !p->busy(); });
    if (!e->dead_.empty() || !e->dead_procs_.empty() || !e->retired_health_.empty())
        e->loop_.post(e->reap_);
}

// As dockerd: a container's events carry its image, name and labels besides their own attributes
// (so `docker events --filter label=…` finds them).
std::vector<std::pair<std::string, std::string>> container_event_attributes(
    const graph::ContainerRecord& c) {
    std::vector<std::pair<std::string, std::string>> out;
    simdjson::dom::parser parser;
    simdjson::padded_string text(c.config_json);
    element cfg;
    if (parser.parse(text).get(cfg)) return out;
    out.emplace_back("image", str(cfg, "Image"));
    out.emplace_back("name", c.name);
    simdjson::dom::object labels;
    if (!cfg["Labels"].get(labels))
        for (auto [k, v] : labels) {
            std::string_view value;
            if (!v.get(value)) out.emplace_back(std::string(k), std::string(value));
        }
    return out;
}

void ContainerEngine::publish(const std::string& action, const std::string& id,
                              std::vector<std::pair<std::string, std::string>> extra,
                              const graph::ContainerRecord* record) {
    Event e;
    e.type = "container";
    e.action = action;
    e.actor_id = id;
    e.attributes = std::move(extra);
    std::optional<graph::ContainerRecord> found;
    if (!record && !id.empty()) {
        if (auto r = containers_.get(id)) found = std::move(*r);
        record = found ? &*found : nullptr;
    }
    if (record)
        for (auto& a : container_event_attributes(*record)) {
            bool given = std::any_of(e.attributes.begin(), e.attributes.end(),
                                     [&](const auto& have) { return have.first == a.first; });
            if (!given) e.attributes.push_back(std::move(a));
        }
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
    // Volumes first (their copy-up may take a few ticks); the start comes back here after.
    std::optional<StartMounts> volume_mounts;
    if (volumes_) {
        auto ready = volumes_ready_.extract(rec->id);
        if (ready.empty()) return prepare_volumes(*rec, std::move(done));
        volume_mounts = std::move(ready.mapped());
    }
    std::string id = rec->id;
    // A start by hand ends a restart back-off and the "stopped by the user" mark.
    cancel_restart(id);
    rec->manually_stopped = false;
    rec->error.clear();
    // A start that fails here ends the attached clients' streams too.
    auto failed = [&](Error e) {
        end_pending_listeners(id);
        if (volumes_) volumes_->release(id);
        // As dockerd: an AutoRemove container that cannot start is removed (`docker run --rm`
        // waits for that before it reports the error).
        bool auto_remove = rec->host_config_json.find("\"AutoRemove\":true") != std::string::npos;
        if (!auto_remove) {
            rec->error = e.message;  // State.Error
            (void)containers_.update_state(*rec);
        }
        done(fail(std::move(e)));
        if (auto_remove && !running_.contains(id) && remove_stopped(id)) notify(id, true, 0);
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
    if (spec->network == drivers::NetworkMode::container)
        if (auto joined = join_network_of(*rec, *spec); !joined) {
            (void)storage_.unmount(rec->id);
            return failed(joined.error());
        }
    if (spec->init.value_or(default_init_)) {
        if (init_path_.empty()) {
            (void)storage_.unmount(rec->id);
            return failed(Error::make(ErrorKind::system,
                                      "exec: \"docker-init\": executable file not found in $PATH "
                                      "(berth-init is missing; see --init-path)"));
        }
        spec->init_path = init_path_;
    }
    r->tty = spec->tty;
    r->spec = *spec;
    if (auto opened = open_log(rec->id, rec->host_config_json); !opened) {
        (void)storage_.unmount(rec->id);
        return failed(opened.error());
    } else {
        r->log = std::move(*opened);
    }
    r->start_done = std::move(done);
    if (volume_mounts) {
        for (auto& b : volume_mounts->binds) spec->binds.push_back(std::move(b));
        for (auto& t : volume_mounts->tmpfs) spec->tmpfs.push_back(std::move(t));
    }
    if (spec->network == drivers::NetworkMode::bridge) {
        int64_t network_start = monotonic_ns();
        auto joined = networks_ ? networks_->attach(rec->id, rec->config_json,
                                                    rec->host_config_json)
                                : Result<ContainerNetworks::Joined>(ContainerNetworks::Joined{});
        if (!joined) {
            (void)storage_.unmount(rec->id);
            done = std::move(r->start_done);
            return failed(joined.error());
        }
        r->network_ns = monotonic_ns() - network_start;
        if (joined->netns_fd < 0) {
            spec->network = drivers::NetworkMode::none;
        } else {
            spec->join_netns_fd = joined->netns_fd;
            spec->ip_address = joined->ip;
            spec->embedded_dns = joined->embedded_dns;
        }
    }
    drivers::ContainerEvents ev{r.get(), &Running::started_cb, &Running::exited_cb,
                                &Running::output_cb};
    auto proc = driver_.start(*spec, ev);
    if (!proc) {
        if (networks_) networks_->detach(rec->id, false);
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

// The volumes made for this container (rm -v and --rm remove them with it).
std::vector<std::string> ContainerEngine::anonymous_volumes(const std::string& id) {
    return volumes_ ? volumes_->anonymous_volumes(id) : std::vector<std::string>{};
}

// The container's volumes mounted and filled from the image, then start() again.
void ContainerEngine::prepare_volumes(const graph::ContainerRecord& rec, StartDone done) {
    if (starting_.contains(rec.id))
        return done(fail(Error::conflict("container " + rec.id + " is already starting")));
    auto rootfs = storage_.mount(rec.id);
    if (!rootfs) {
        end_pending_listeners(rec.id);
        return done(fail(rootfs.error()));
    }
    std::string id = rec.id;
    starting_.insert(id);
    volumes_->prepare(
        id, *rootfs, rec.config_json, rec.host_config_json,
        [this, id, done = std::move(done)](Result<StartMounts> m) mutable {
            starting_.erase(id);
            if (m && shutting_down_) {
                volumes_->release(id);
                m = fail(Error::make(ErrorKind::unavailable, "the daemon is shutting down"));
            }
            if (!m) {
                (void)storage_.unmount(id);
                end_pending_listeners(id);
                done(fail(m.error()));
                // As a failed start: an AutoRemove container goes (docker run --rm waits).
                auto rec = containers_.get(id);
                bool auto_remove = rec && rec->host_config_json.find("\"AutoRemove\":true") !=
                                              std::string::npos;
                if (auto_remove && !running_.contains(id) && remove_stopped(id))
                    notify(id, true, 0);
                return;
            }
            volumes_ready_[id] = std::move(*m);
            start(id, std::move(done));
        });
}

void ContainerEngine::on_started(Running& r, const Result<>& res) {
    if (res) {
        r.record.state = "running";
        r.record.started_ns = wall_clock_ns();
        r.record.pid = r.proc ? r.proc->pid() : 0;
        r.record.exit_code = 0;
        r.record.oom_killed = false;
        start_health(r.record);
        (void)containers_.update_state(r.record);
        if (r.proc) timings_[r.id] = StartTimings{r.mount_ns, r.network_ns, r.proc->phases()};
        publish("start", r.id, {{"name", r.record.name}}, &r.record);
    } else {
        r.record.error = res.error().message;  // State.Error
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
    // As dockerd: a container whose process never ran (exec failed) stays "created".
    r.record.state = r.record.error.empty() ? "exited" : "created";
    r.record.exit_code = st.exit_code;
    r.record.oom_killed = st.oom_killed;
    r.record.finished_ns = st.finished_ns ? st.finished_ns : wall_clock_ns();
    r.record.pid = 0;
    stop_health(id);
    // The restart policy, unless berthd is going down or the container is being removed; a
    // container that could not start at all is not retried.
    bool restart = !shutdown_done_ && r.removed_done.empty() && !r.auto_remove &&
                   r.record.error.empty() &&
                   should_restart(restart_policy_of(r.record.host_config_json),
                                  RestartMoment::exit, st.exit_code, r.record.manually_stopped,
                                  r.record.restart_count);
    if (restart) r.record.state = "restarting";
    (void)containers_.update_state(r.record);
    // The network goes after the replies this exit sends (the reap tick); going down, at once,
    // and the container keeps its addresses for its restart on the next start.
    if (networks_ && shutting_down_) networks_->detach(id, true);
    else if (networks_) networks_->retire(id);
    (void)storage_.unmount(id);
    if (volumes_) volumes_->release(id);
    if (r.proc) r.proc->abandon_stdin();
    pending_stdin_.erase(id);
    if (r.log) r.log->close(nullptr);  // an exec failure ends here without exited_cb
    for (OutputListener* l : std::vector<OutputListener*>(r.listeners)) l->on_end();
    r.listeners.clear();
    if (st.oom_killed) publish("oom", id, {{"name", r.record.name}}, &r.record);
    publish("die", id, {{"exitCode", std::to_string(st.exit_code)}, {"name", r.record.name}},
            &r.record);
    bool remove_now = r.auto_remove || !r.removed_done.empty();
    // --rm removes the anonymous volumes too (the CLI's AutoRemove, as dockerd's RemoveVolume).
    bool remove_volumes = r.auto_remove || r.remove_volumes;
    auto removed_done = std::move(r.removed_done);
    auto node = running_.extract(id);
    if (!node.empty()) dead_.push_back(std::move(node.mapped()));
    if (!reap_.in_flight()) loop_.post(reap_);
    notify(id, false, st.exit_code);
    if (remove_now) {
        auto anonymous = remove_volumes ? anonymous_volumes(id) : std::vector<std::string>{};
        auto rm = remove_stopped(id);
        if (rm && volumes_) volumes_->remove_unused(anonymous);
        for (auto& d : removed_done) d(rm);
        if (rm) notify(id, true, st.exit_code);
    }
    if (restart) schedule_restart(id, r.record.finished_ns - r.record.started_ns);
    maybe_shutdown_done();
}

// One restart waiting out its back-off (State.Restarting); docker stop, rm -f, start and the
// daemon's shutdown cancel it.
struct ContainerEngine::Restart {
    ContainerEngine* engine;
    std::string id;
    loop::Completion timer;
    bool cancelled = false;

    static void on_timer(loop::Completion& c) {
        auto* r = static_cast<Restart*>(c.context);
        ContainerEngine* e = r->engine;
        std::string id = r->id;
        bool cancelled = r->cancelled || c.result != -ETIME;
        // Frees r: a cancelled one waits among the retired, a live one in restarts_.
        if (auto it = e->restarts_.find(id); it != e->restarts_.end() && it->second.get() == r)
            e->restarts_.erase(it);
        std::erase_if(e->retired_restarts_, [r](const auto& p) { return p.get() == r; });
        if (cancelled) return;
        auto rec = e->containers_.get(id);
        if (!rec || rec->state != "restarting") return;
        rec->restart_count += 1;
        (void)e->containers_.update_state(*rec);
        e->start(id, [e, id](Result<> res) {
            if (res) return;
            // It could not start again: it stays exited, with the reason in State.Error.
            if (auto again = e->containers_.get(id); again && again->state == "restarting") {
                again->state = "exited";
                again->error = res.error().message;
                (void)e->containers_.update_state(*again);
            }
        });
    }
};

void ContainerEngine::schedule_restart(const std::string& id, int64_t ran_ns) {
    int64_t& delay = restart_delay_ns_[id];
    delay = next_restart_delay_ns(delay, ran_ns);
    auto r = std::make_unique<Restart>(Restart{this, id, {}, false});
    r->timer.context = r.get();
    r->timer.callback = &Restart::on_timer;
    loop_.timeout(r->timer, delay);
    restarts_[id] = std::move(r);
}

// Returns whether a restart was waiting. The record keeps "restarting" until the caller says.
bool ContainerEngine::cancel_restart(const std::string& id) {
    auto it = restarts_.find(id);
    if (it == restarts_.end()) return false;
    it->second->cancelled = true;
    loop_.cancel(it->second->timer);
    // Its timer still has to come back from the ring; a new restart may take the slot.
    retired_restarts_.push_back(std::move(it->second));
    restarts_.erase(it);
    return true;
}

// A container in its restart back-off, stopped by the user (docker stop, kill): exited.
bool ContainerEngine::stop_restarting(const std::string& id) {
    if (!cancel_restart(id)) return false;
    if (auto rec = containers_.get(id); rec && rec->state == "restarting") {
        rec->state = "exited";
        rec->manually_stopped = true;
        (void)containers_.update_state(*rec);
    }
    return true;
}

std::vector<std::string> ContainerEngine::start_on_boot() {
    std::vector<std::string> started;
    auto all = containers_.list();
    if (!all) return started;
    for (const auto& c : *all) {
        if (c.state != "exited" || c.started_ns == 0) continue;  // never started: left alone
        if (!should_restart(restart_policy_of(c.host_config_json), RestartMoment::daemon_start,
                            c.exit_code, c.manually_stopped, c.restart_count))
            continue;
        std::string id = c.id;
        started.push_back(id);
        start(id, [id](Result<> r) {
            if (!r) (void)id;  // recorded in State.Error by the start itself
        });
    }
    return started;
}

// Shutdown is done once no container and no exec process is left running (an exec dies with
// its container's pid namespace, its exit arrives a little later).
void ContainerEngine::maybe_shutdown_done() {
    if (!shutdown_done_ || !running_.empty()) return;
    for (const auto& [id, e] : execs_)
        if (e->proc && !e->proc->reaped()) return;
    auto d = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    d();
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
    if (Exec* e = find_exec(id)) return e->listeners.push_back(l);
    auto it = running_.find(id);
    if (it != running_.end()) it->second->listeners.push_back(l);
    else pending_listeners_[id].push_back(l);
}

void ContainerEngine::unlisten(const std::string& id, OutputListener* l) {
    if (Exec* e = find_exec(id)) std::erase(e->listeners, l);
    auto it = running_.find(id);
    if (it != running_.end()) std::erase(it->second->listeners, l);
    auto p = pending_listeners_.find(id);
    if (p != pending_listeners_.end()) std::erase(p->second, l);
}

std::string ContainerEngine::log_path(const std::string& id) const {
    return storage_.container_dir(id) + "/" + id + "-json.log";
}

drivers::JsonFileLog* ContainerEngine::live_log(const std::string& id) const {
    auto it = running_.find(id);
    return it == running_.end() || !it->second->log || it->second->log->closed()
               ? nullptr
               : it->second->log.get();
}

// The container's log driver from its HostConfig.LogConfig (merged and checked at create):
// a json-file writer, or none.
Result<std::unique_ptr<drivers::JsonFileLog>> ContainerEngine::open_log(
    const std::string& id, const std::string& host_config_json) {
    auto settings = drivers::log_settings(drivers::log_config_from_host_config(host_config_json));
    if (!settings) return fail(settings.error());
    if (!settings->enabled) return std::unique_ptr<drivers::JsonFileLog>();
    auto log = drivers::JsonFileLog::open(loop_, log_path(id), settings->file);
    if (!log) return fail(log.error());
    (*log)->set_on_room([this, id] { resume_output(id); });
    return std::move(*log);
}

Result<> ContainerEngine::resize(const std::string& id, unsigned short rows, unsigned short cols) {
    if (Exec* e = find_exec(id)) {
        if (!e->proc || !e->state.running)
            return fail(Error::conflict("Exec " + id + " is not running"));
        return e->proc->resize(rows, cols);
    }
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
    publish(frozen ? "pause" : "unpause", r.id, {{"name", r.record.name}}, &r.record);
    return {};
}

// --network container:<ref>: the new container's process joins the running one's network
// namespace through its pidfd, and takes its hostname, as dockerd does.
Result<> ContainerEngine::join_network_of(const graph::ContainerRecord& rec,
                                          drivers::ContainerSpec& spec) {
    simdjson::dom::parser parser;
    simdjson::padded_string text(rec.host_config_json);
    element hc;
    std::string ref = parser.parse(text).get(hc) ? "" : str(hc, "NetworkMode").substr(10);
    auto target = containers_.get(ref);
    if (!target) return fail(target.error());
    if (target->id == rec.id)
        return fail(Error::invalid("cannot join own network namespace"));
    auto it = running_.find(target->id);
    if (it == running_.end() || !it->second->proc || it->second->proc->reaped())
        return fail(Error::conflict("cannot join network namespace of a non running container: " +
                                    target->id));
    spec.join_netns_fd = it->second->proc->pidfd();
    spec.hostname = it->second->spec.hostname.empty() ? target->id.substr(0, 12)
                                                      : it->second->spec.hostname;
    return {};
}

graph::ContainerRecord* ContainerEngine::running_record(const std::string& id) {
    auto it = running_.find(id);
    return it == running_.end() ? nullptr : &it->second->record;
}

Result<std::pair<drivers::Container*, const drivers::ContainerSpec*>> ContainerEngine::exec_target(
    const std::string& id) const {
    auto it = running_.find(id);
    if (it == running_.end() || !it->second->proc || !it->second->proc->running() ||
        it->second->proc->reaped())
        return fail(Error::conflict("Container " + id + " is not running"));
    if (it->second->record.state == "paused")
        return fail(Error::conflict("Container " + id +
                                    " is paused, unpause the container before exec"));
    return std::pair{it->second->proc.get(), &it->second->spec};
}

void ContainerEngine::write_stdin(const std::string& id, std::span<const std::byte> data) {
    if (Exec* e = find_exec(id)) {
        if (e->proc && !e->proc->reaped()) e->proc->write_stdin(data);
        return;
    }
    auto it = running_.find(id);
    if (it == running_.end()) {
        auto& p = pending_stdin_[id];
        if (!p.closed) p.data.append(reinterpret_cast<const char*>(data.data()), data.size());
        return;
    }
    if (it->second->proc && !it->second->proc->reaped()) it->second->proc->write_stdin(data);
}

void ContainerEngine::close_stdin(const std::string& id) {
    if (Exec* e = find_exec(id)) {
        if (e->proc) e->proc->close_stdin();
        return;
    }
    auto it = running_.find(id);
    if (it == running_.end()) {
        pending_stdin_[id].closed = true;
        return;
    }
    if (it->second->proc) it->second->proc->close_stdin();
}

void ContainerEngine::resume_output(const std::string& id) {
    if (Exec* e = find_exec(id)) {
        for (OutputListener* l : e->listeners)
            if (l->saturated()) return;
        if (e->proc) e->proc->resume_output();
        return;
    }
    auto it = running_.find(id);
    if (it == running_.end() || !it->second->proc) return;
    for (OutputListener* l : it->second->listeners)
        if (l->saturated()) return;
    if (it->second->log && it->second->log->saturated()) return;
    it->second->proc->resume_output();
}

kernel::Cgroup* ContainerEngine::cgroup(const std::string& id) {
    auto it = running_.find(id);
    if (it == running_.end() || !it->second->proc || it->second->proc->reaped()) return nullptr;
    return it->second->proc->cgroup();
}

void ContainerEngine::host_config_updated(const std::string& id, const std::string& json) {
    auto it = running_.find(id);
    if (it != running_.end()) it->second->record.host_config_json = json;
}

Result<> ContainerEngine::signal(const std::string& id, int signo) {
    auto it = running_.find(id);
    // Reaped but still draining its output counts as stopped, as Docker sees it.
    if (it == running_.end() || !it->second->proc || it->second->proc->reaped())
        return fail(Error::conflict("Container " + id + " is not running"));
    Running& r = *it->second;
    auto sent = r.proc->signal(signo);
    if (sent) publish("kill", id, {{"name", r.record.name}, {"signal", std::to_string(signo)}},
                      &r.record);
    // A frozen process takes a signal only once thawed: a kill unpauses, as with Docker.
    if (sent && r.record.state == "paused" && (signo == SIGKILL || signo == SIGTERM)) {
        if (kernel::Cgroup* cg = r.proc->cgroup()) (void)cg->thaw();
        r.record.state = "running";
        (void)containers_.update_state(r.record);
    }
    return sent;
}

Result<> ContainerEngine::kill(const std::string& id, int signo) {
    if (stop_restarting(id)) return {};
    auto it = running_.find(id);
    if (it != running_.end() && !shutdown_done_) it->second->record.manually_stopped = true;
    return signal(id, signo);
}

Result<> ContainerEngine::remove_stopped(const std::string& id) {
    auto rec = containers_.get(id);
    if (!rec) return fail(rec.error());
    end_pending_listeners(id);
    pending_stdin_.erase(id);
    forget_execs(id);
    restart_delay_ns_.erase(id);
    if (auto r = drivers::remove_container_files(storage_.container_dir(id), id); !r) return r;
    if (auto r = drivers::remove_json_log(log_path(id)); !r) return r;
    if (auto r = storage_.remove_container_layer(id); !r) return fail(r.error());
    if (networks_) networks_->removed(id);
    if (auto r = containers_.remove(id); !r) return fail(r.error());
    timings_.erase(id);
    (void)images_.collect_removed_images();
    publish("destroy", id, {{"name", rec->name}}, &*rec);
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

void ContainerEngine::remove(const std::string& ref, bool force, std::function<void(Result<>)> done,
                             bool remove_volumes) {
    auto rec = containers_.get(ref);
    if (!rec) return done(fail(rec.error()));
    if (restarts_.contains(rec->id)) {
        if (!force)
            return done(fail(Error::conflict(
                "cannot remove container \"/" + rec->name +
                "\": container is restarting: stop the container before removing or force "
                "remove")));
        cancel_restart(rec->id);
    }
    auto it = running_.find(rec->id);
    if (it == running_.end()) {
        if (starting_.contains(rec->id))
            return done(fail(Error::conflict("cannot remove container \"/" + rec->name +
                                             "\": container is starting")));
        auto anonymous = remove_volumes ? anonymous_volumes(rec->id) : std::vector<std::string>{};
        auto r = remove_stopped(rec->id);
        if (r && volumes_) volumes_->remove_unused(anonymous);
        if (r) notify(rec->id, true, rec->exit_code);
        return done(r);
    }
    if (!force)
        return done(fail(Error::conflict(
            "cannot remove container \"/" + rec->name +
            "\": container is running: stop the container before removing or force remove")));
    it->second->removed_done.push_back(std::move(done));
    it->second->remove_volumes = it->second->remove_volumes || remove_volumes;
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
        engine->publish("stop", id);
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
    if (stop_restarting(rec->id)) return done(Result<>{});
    auto it = running_.find(rec->id);
    if (it == running_.end() || !it->second->proc || it->second->proc->reaped())
        return done(fail(Error::make(ErrorKind::not_modified, "container already stopped")));
    it->second->record.manually_stopped = true;
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
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    while (!restarts_.empty()) cancel_restart(restarts_.begin()->first);
    for (auto& [id, r] : running_)
        if (r->proc) (void)r->proc->signal(SIGKILL);
    maybe_shutdown_done();
}

}  // namespace berth::jobs
