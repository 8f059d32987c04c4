// Containers through the API: POST /containers/create (Config merged with the image's as dockerd
// merges it, names and their conflicts), GET /containers/json, GET /containers/{id}/json,
// start, wait, attach (output), kill and DELETE, driven by jobs::ContainerEngine.
#include <simdjson.h>
#include <sys/random.h>

#include <csignal>
#include <map>

#include "base/json.hpp"
#include "base/time.hpp"
#include "drivers/logs/json_file.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "graph/containers.hpp"
#include "graph/images.hpp"
#include "http/api/api.hpp"
#include "http/api/attach_stream.hpp"
#include "http/api/config_types.hpp"
#include "http/exchange.hpp"
#include "jobs/container_engine.hpp"
#include "jobs/container_networks.hpp"
#include "jobs/events.hpp"
#include "jobs/filters.hpp"
#include "jobs/health.hpp"
#include "jobs/restart_policy.hpp"

namespace berth::http {

namespace {

using simdjson::dom::element;

std::string random_hex(size_t bytes) {
    std::string raw(bytes, '\0');
    if (getrandom(raw.data(), raw.size(), 0) != ssize_t(raw.size()))
        for (auto& c : raw) c = char(std::rand());
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

// Names as `docker create` makes them when none is given: adjective_noun.
std::string generated_name() {
    static constexpr const char* left[] = {"brave", "calm", "clever", "eager", "fervent",
                                           "gallant", "happy", "jolly", "keen", "lucid",
                                           "nimble", "quiet", "sharp", "steady", "vivid", "witty"};
    static constexpr const char* right[] = {"babbage", "curie", "dijkstra", "euler", "fermat",
                                            "gauss", "hopper", "kepler", "lovelace", "noether",
                                            "pascal", "ritchie", "shannon", "turing", "wirth"};
    std::string r = random_hex(2);
    unsigned v = unsigned(std::stoul(r, nullptr, 16));
    return std::string(left[v % std::size(left)]) + "_" + right[(v / 16) % std::size(right)];
}

bool valid_name(std::string_view n) {
    if (n.size() < 2) return false;
    auto ok = [](char c) { return std::isalnum(static_cast<unsigned char>(c)); };
    if (!ok(n[0])) return false;
    for (char c : n.substr(1))
        if (!ok(c) && c != '_' && c != '.' && c != '-') return false;
    return true;
}

std::vector<std::string> strings(element obj, const char* key) {
    std::vector<std::string> out;
    simdjson::dom::array arr;
    if (obj[key].get(arr)) {
        std::string_view one;  // a bare string (Entrypoint/Cmd may be given so)
        if (!obj[key].get(one)) out.emplace_back(one);
        return out;
    }
    for (element e : arr) {
        std::string_view s;
        if (!e.get(s)) out.emplace_back(s);
    }
    return out;
}

bool present(element obj, const char* key) {
    element e;
    return !obj[key].get(e) && !e.is_null();
}

std::map<std::string, std::string> string_map(element obj, const char* key) {
    std::map<std::string, std::string> out;
    simdjson::dom::object m;
    if (obj[key].get(m)) return out;
    for (auto [k, v] : m) {
        std::string_view s;
        if (!v.get(s)) out.emplace(std::string(k), std::string(s));
    }
    return out;
}

std::vector<std::string> keys(element obj, const char* key) {
    std::vector<std::string> out;
    simdjson::dom::object m;
    if (obj[key].get(m)) return out;
    for (auto [k, v] : m) out.emplace_back(k);
    return out;
}

std::string str(element obj, const char* key) {
    std::string_view s;
    return obj[key].get(s) ? std::string() : std::string(s);
}

bool boolean(element obj, const char* key) {
    bool b = false;
    return !obj[key].get(b) && b;
}

// The merged Config, written the way inspect shows it.
struct MergedConfig {
    std::string hostname, domainname, user, working_dir, image, stop_signal;
    bool tty = false, open_stdin = false, stdin_once = false;
    bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
    std::vector<std::string> env, cmd, entrypoint, exposed, volumes;
    std::string healthcheck;  // JSON, "" for none
    std::map<std::string, std::string> labels;
    bool has_entrypoint = false;

    std::string json() const {
        JsonWriter w;
        auto arr = [&](const char* k, const std::vector<std::string>& v, bool null_if_empty) {
            w.key(k);
            if (v.empty() && null_if_empty) return void(w.null());
            w.begin_array();
            for (const auto& s : v) w.value(s);
            w.end_array();
        };
        auto set = [&](const char* k, const std::vector<std::string>& v) {
            if (v.empty()) return;
            w.key(k).begin_object();
            for (const auto& s : v) w.key(s).begin_object().end_object();
            w.end_object();
        };
        w.begin_object().field("Hostname", hostname).field("Domainname", domainname);
        w.field("User", user).field("AttachStdin", attach_stdin).field("AttachStdout", attach_stdout);
        w.field("AttachStderr", attach_stderr);
        set("ExposedPorts", exposed);
        w.field("Tty", tty).field("OpenStdin", open_stdin).field("StdinOnce", stdin_once);
        arr("Env", env, true);
        arr("Cmd", cmd, true);
        w.field("Image", image);
        w.key("Volumes");
        if (volumes.empty()) w.null();
        else {
            w.begin_object();
            for (const auto& s : volumes) w.key(s).begin_object().end_object();
            w.end_object();
        }
        w.field("WorkingDir", working_dir);
        arr("Entrypoint", entrypoint, true);
        w.key("OnBuild").null();
        w.key("Labels").begin_object();
        for (const auto& [k, v] : labels) w.field(k, v);
        w.end_object();
        if (!stop_signal.empty()) w.field("StopSignal", stop_signal);
        if (!healthcheck.empty()) w.key("Healthcheck").raw(healthcheck);
        w.end_object();
        return w.take();
    }
};

// dockerd's merge (daemon/create.go): user values win; the image fills what is unset; Env
// merged by key; a user Entrypoint drops the image's Cmd.
MergedConfig merge(element user, element image, const std::string& image_name) {
    MergedConfig m;
    m.image = image_name;
    m.hostname = str(user, "Hostname");
    m.domainname = str(user, "Domainname");
    m.user = present(user, "User") && !str(user, "User").empty() ? str(user, "User") : str(image, "User");
    m.working_dir = !str(user, "WorkingDir").empty() ? str(user, "WorkingDir") : str(image, "WorkingDir");
    m.stop_signal = !str(user, "StopSignal").empty() ? str(user, "StopSignal") : str(image, "StopSignal");
    m.tty = boolean(user, "Tty");
    m.open_stdin = boolean(user, "OpenStdin");
    m.stdin_once = boolean(user, "StdinOnce");
    m.attach_stdin = boolean(user, "AttachStdin");
    m.attach_stdout = boolean(user, "AttachStdout");
    m.attach_stderr = boolean(user, "AttachStderr");
    m.env = strings(user, "Env");
    for (const std::string& e : strings(image, "Env")) {
        std::string key = e.substr(0, e.find('='));
        bool overridden = std::any_of(m.env.begin(), m.env.end(), [&](const std::string& u) {
            return u.substr(0, u.find('=')) == key;
        });
        if (!overridden) m.env.push_back(e);
    }
    m.entrypoint = strings(user, "Entrypoint");
    m.cmd = strings(user, "Cmd");
    if (m.entrypoint.empty()) {
        if (m.cmd.empty()) m.cmd = strings(image, "Cmd");
        if (!present(user, "Entrypoint")) m.entrypoint = strings(image, "Entrypoint");
    }
    m.labels = string_map(image, "Labels");
    for (auto& [k, v] : string_map(user, "Labels")) m.labels[k] = v;
    m.exposed = keys(image, "ExposedPorts");
    for (auto& p : keys(user, "ExposedPorts"))
        if (std::find(m.exposed.begin(), m.exposed.end(), p) == m.exposed.end()) m.exposed.push_back(p);
    auto raw = [](element obj, const char* key) {
        element e;
        return obj[key].get(e) || !e.is_object() ? std::string() : simdjson::minify(e);
    };
    m.healthcheck = jobs::merge_healthcheck(raw(user, "Healthcheck"), raw(image, "Healthcheck"));
    m.volumes = keys(image, "Volumes");
    for (auto& v : keys(user, "Volumes"))
        if (std::find(m.volumes.begin(), m.volumes.end(), v) == m.volumes.end()) m.volumes.push_back(v);
    return m;
}

void publish(ApiContext& ctx, const std::string& action, const graph::ContainerRecord& c,
             const std::string& image) {
    jobs::Event e;
    e.type = "container";
    e.action = action;
    e.actor_id = c.id;
    e.attributes = {{"image", image}, {"name", c.name}};
    for (auto& a : jobs::container_event_attributes(c))
        if (a.first != "image" && a.first != "name") e.attributes.push_back(std::move(a));
    ctx.events->publish(std::move(e));
}

// HostConfig settings dockerd refuses at create (verifyContainerSettings).
Result<> check_host_config(element hc) {
    element rp;
    if (!hc["RestartPolicy"].get(rp) && rp.is_object()) {
        int64_t max = 0;
        if (rp["MaximumRetryCount"].get(max)) max = 0;
        auto policy = jobs::parse_restart_policy(str(rp, "Name"), max);
        if (!policy) return fail(policy.error());
        if (boolean(hc, "AutoRemove") && policy->kind != jobs::RestartPolicy::Kind::no)
            return fail(Error::invalid("can't create 'AutoRemove' container with restart policy"));
    }
    return {};
}

void create_container(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    std::string name = req.query_value("name").value_or("");
    if (name.starts_with('/')) name.erase(0, 1);
    if (!name.empty() && !valid_name(name))
        return ex.respond_error(Error::invalid("Invalid container name (" + name +
                                               "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
    simdjson::dom::parser parser;
    simdjson::padded_string body(req.body.empty() ? std::string("{}") : req.body);
    element user;
    if (auto err = parser.parse(body).get(user))
        return ex.respond_error(Error::invalid(std::string("invalid JSON: ") + simdjson::error_message(err)));
    if (auto r = check_create_types(user); !r) return ex.respond_error(r.error());
    std::string image_name = str(user, "Image");
    if (image_name.empty()) return ex.respond_error(Error::invalid("No image specified"));
    auto image = ctx.images->inspect(image_name);
    if (!image) return ex.respond_error(image.error());  // 404: the CLI pulls and retries
    simdjson::dom::parser image_parser;
    simdjson::padded_string image_json(image->config_json);
    element image_doc, image_config;
    if (image_parser.parse(image_json).get(image_doc) || image_doc["config"].get(image_config))
        image_config = image_parser.parse(simdjson::padded_string(std::string("{}"))).value();
    if (element hc; !user["Healthcheck"].get(hc) && hc.is_object())
        if (auto r = jobs::check_healthcheck(simdjson::minify(hc)); !r)
            return ex.respond_error(r.error());
    MergedConfig m = merge(user, image_config, image_name);
    if (m.cmd.empty() && m.entrypoint.empty())
        return ex.respond_error(Error::invalid("No command specified"));

    graph::ContainerRecord c;
    c.id = random_hex(32);
    if (m.hostname.empty()) m.hostname = c.id.substr(0, 12);
    c.name = name.empty() ? generated_name() : name;
    for (int i = 0; name.empty() && i < 8; ++i) {  // a generated name that is taken: try again
        auto free = ctx.containers->name_free(c.name);
        if (!free || *free) break;
        c.name = generated_name() + std::to_string(i);
    }
    c.image_id = image->id;
    c.config_json = m.json();
    element host_config;
    c.host_config_json = user["HostConfig"].get(host_config) ? "{}" : simdjson::minify(host_config);
    if (c.host_config_json != "{}")
        if (auto r = check_host_config(host_config); !r) return ex.respond_error(r.error());
    c.created_ns = wall_clock_ns();
    auto logging = container_log_config(ctx, c.host_config_json);
    if (!logging) return ex.respond_error(logging.error());
    c.host_config_json = std::move(*logging);
    if (auto r = ctx.containers->insert(c); !r) return ex.respond_error(r.error());
    // Volumes of the mounts (named ones made when missing, anonymous ones for the image's
    // VOLUMEs and -v /path); a bad mount spec is Docker's 400.
    auto attached = ctx.volumes->attach(c.id, c.config_json, c.host_config_json);
    if (!attached) {
        auto made = ctx.volumes->anonymous_volumes(c.id);
        (void)ctx.containers->remove(c.id);
        ctx.volumes->remove_unused(made);
        return ex.respond_error(attached.error());
    }
    // Its networks' endpoints (HostConfig.NetworkMode, NetworkingConfig): a missing network
    // or a bad --ip / --network-alias is refused here, as dockerd does.
    if (ctx.container_networks) {
        element nc;
        std::string networking = user["NetworkingConfig"].get(nc) ? "" : simdjson::minify(nc);
        if (auto r = ctx.container_networks->created(c.id, c.host_config_json, networking); !r) {
            auto made = ctx.volumes->anonymous_volumes(c.id);
            (void)ctx.containers->remove(c.id);
            ctx.volumes->remove_unused(made);
            return ex.respond_error(r.error());
        }
    }
    std::vector<std::string> lowers(image->chain.rbegin(), image->chain.rend());
    if (auto r = ctx.storage->create_container_layer(c.id, lowers); !r) {
        if (ctx.container_networks) ctx.container_networks->removed(c.id);
        auto made = ctx.volumes->anonymous_volumes(c.id);
        (void)ctx.containers->remove(c.id);
        ctx.volumes->remove_unused(made);
        return ex.respond_error(r.error());
    }
    publish(ctx, "create", c, image_name);
    JsonWriter w;
    w.begin_object().field("Id", c.id).key("Warnings").begin_array().end_array().end_object();
    ex.respond_json(201, w.str());
}

std::string time_or_zero(int64_t ns) {
    return ns ? rfc3339_nano(ns) : std::string("0001-01-01T00:00:00Z");
}

// berth's own start timings (µs) of the last start, for harnesses that measure start-up: the
// rootfs mount, the spawn plan, the cgroup, stdio and cgroup.procs set-up, the clone (with
// vfork: until the child exec'd), the exec report seen by the loop, and all of it. null before
// a first start (so that a --format template naming it never fails).
void write_start_phases(JsonWriter& w, const jobs::ContainerEngine::StartTimings* t) {
    if (!t) {
        w.field_null("BerthStartPhases");
        return;
    }
    const drivers::StartPhases& p = t->exec;
    int64_t before_exec = p.plan_ns + p.cgroup_ns + p.place_ns + p.clone_ns;
    w.key("BerthStartPhases").begin_object();
    w.field("MountUs", t->mount_ns / 1000).field("NetworkUs", t->network_ns / 1000);
    w.field("PlanUs", p.plan_ns / 1000);
    w.field("CgroupUs", p.cgroup_ns / 1000).field("PlaceUs", p.place_ns / 1000);
    w.field("CloneUs", p.clone_ns / 1000).field("ExecUs", (p.exec_ns - before_exec) / 1000);
    w.field("TotalUs", (t->mount_ns + t->network_ns + p.exec_ns) / 1000);
    w.end_object();
}

void inspect_container(ApiContext& ctx, Exchange& ex) {
    auto c = ctx.containers->get(ex.request().params[0]);
    if (!c) return ex.respond_error(c.error());
    simdjson::dom::parser parser;
    simdjson::padded_string cfg(c->config_json);
    element doc;
    std::vector<std::string> argv;
    if (!parser.parse(cfg).get(doc)) {
        argv = strings(doc, "Entrypoint");
        for (auto& a : strings(doc, "Cmd")) argv.push_back(a);
    }
    std::string dir = ctx.storage->container_dir(c->id);
    JsonWriter w;
    w.begin_object().field("Id", c->id).field("Created", rfc3339_nano(c->created_ns));
    w.field("Path", argv.empty() ? std::string() : argv[0]);
    w.key("Args").begin_array();
    for (size_t i = 1; i < argv.size(); ++i) w.value(argv[i]);
    w.end_array();
    // As dockerd: a container waiting out its restart back-off is Running and Restarting.
    bool restarting = c->state == "restarting";
    w.key("State").begin_object().field("Status", c->state);
    w.field("Running", c->state == "running" || c->state == "paused" || restarting);
    w.field("Paused", c->state == "paused").field("Restarting", restarting);
    w.field("OOMKilled", c->oom_killed).field("Dead", c->state == "dead");
    w.field("Pid", c->pid).field("ExitCode", c->exit_code).field("Error", c->error);
    if (!c->health_json.empty()) w.key("Health").raw(c->health_json);
    w.field("StartedAt", time_or_zero(c->started_ns)).field("FinishedAt", time_or_zero(c->finished_ns));
    w.end_object();
    w.field("Image", c->image_id);
    w.field("ResolvConfPath", dir + "/resolv.conf").field("HostnamePath", dir + "/hostname");
    w.field("HostsPath", dir + "/hosts").field("LogPath", dir + "/" + c->id + "-json.log");
    w.field("Name", "/" + c->name).field("RestartCount", c->restart_count);
    w.field("Driver", ctx.system.storage_driver).field("Platform", "linux");
    w.field("MountLabel", "").field("ProcessLabel", "").field("AppArmorProfile", "");
    w.key("ExecIDs");
    if (auto execs = ctx.engine->exec_ids(c->id); execs.empty()) {
        w.null();
    } else {
        w.begin_array();
        for (const auto& e : execs) w.value(e);
        w.end_array();
    }
    w.key("HostConfig").raw(c->host_config_json);
    w.key("GraphDriver").begin_object().field("Name", ctx.system.storage_driver);
    w.key("Data").begin_object().field("MergedDir", dir + "/rootfs").end_object().end_object();
    w.key("Mounts").raw(ctx.volumes->mounts_json(c->id, c->config_json, c->host_config_json));
    w.key("Config").raw(c->config_json);
    w.key("NetworkSettings");
    if (ctx.container_networks) {
        ctx.container_networks->write_network_settings(w, *c);
    } else {
        w.begin_object().key("Networks").begin_object().end_object().end_object();
    }
    write_start_phases(w, ctx.engine->start_timings(c->id));
    w.end_object();
    ex.respond_json(200, w.str());
}

// An answer that may come later (start waits for the exec report, rm -f for the exit). The
// engine calls back exactly once; if the client went away first, the observer cleared `ex`.
struct LaterReply {
    Exchange* ex;
};

LaterReply* reply_later(Exchange& ex) {
    auto* p = new LaterReply{&ex};
    ex.observe({p, [](void* v) { static_cast<LaterReply*>(v)->ex = nullptr; }, nullptr, nullptr});
    return p;
}

void answer(LaterReply* p, const Result<>& r) {
    Exchange* ex = p->ex;
    delete p;
    if (!ex) return;
    if (r) ex->respond_empty(204);
    else if (r.error().kind == ErrorKind::not_modified) ex->respond_empty(304);
    else ex->respond_error(r.error());
}

void remove_container(ApiContext& ctx, Exchange& ex) {
    auto* later = reply_later(ex);
    ctx.engine->remove(
        ex.request().params[0], ex.request().query_bool("force"),
        [later](Result<> r) { answer(later, r); }, ex.request().query_bool("v"));
}

void rename_container(ApiContext& ctx, Exchange& ex) {
    auto c = ctx.containers->get(ex.request().params[0]);
    if (!c) return ex.respond_error(c.error());
    std::string name = ex.request().query_value("name").value_or("");
    if (name.starts_with('/')) name.erase(0, 1);
    if (!valid_name(name))
        return ex.respond_error(Error::invalid("Invalid container name (" + name +
                                               "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
    if (name == c->name)
        return ex.respond_error(Error::invalid("Renaming a container with the same name as its "
                                               "current name"));
    if (auto r = ctx.containers->rename(c->id, name); !r) return ex.respond_error(r.error());
    if (ctx.container_networks) ctx.container_networks->names_changed();  // its DNS name
    jobs::Event e;
    e.type = "container";
    e.action = "rename";
    e.actor_id = c->id;
    e.attributes = {{"name", name}, {"oldName", "/" + c->name}};
    ctx.events->publish(std::move(e));
    ex.respond_empty(204);
}

void start_container(ApiContext& ctx, Exchange& ex) {
    auto* later = reply_later(ex);
    ctx.engine->start(ex.request().params[0], [later](Result<> r) { answer(later, r); });
}

// "KILL", "SIGKILL" or "9" → 9; 0 for anything else.
int signal_number(std::string name) {
    int signo = 0;
    if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) signo = std::atoi(name.c_str());
    else {
        if (name.starts_with("SIG")) name = name.substr(3);
        static const std::map<std::string, int> names = {
            {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
            {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"STOP", SIGSTOP},
            {"CONT", SIGCONT}, {"WINCH", SIGWINCH}};
        auto it = names.find(name);
        if (it != names.end()) signo = it->second;
    }
    return signo > 0 && signo < 65 ? signo : 0;
}

void kill_container(ApiContext& ctx, Exchange& ex) {
    auto c = ctx.containers->get(ex.request().params[0]);
    if (!c) return ex.respond_error(c.error());
    std::string name = ex.request().query_value("signal").value_or("KILL");
    int signo = signal_number(name);
    if (!signo) return ex.respond_error(Error::invalid("Invalid signal: " + name));
    if (!ctx.engine->running(c->id) && c->state != "restarting")
        return ex.respond_error(Error::conflict("Container " + c->id + " is not running"));
    if (auto r = ctx.engine->kill(c->id, signo); !r) return ex.respond_error(r.error());
    ex.respond_empty(204);
}

// POST /containers/prune?filters={"until":[…],"label":[…],"label!":[…]}
void prune_containers(ApiContext& ctx, Exchange& ex) {
    auto filters = jobs::Filters::parse(ex.request().query_value("filters").value_or(""),
                                        {"until", "label", "label!"});
    if (!filters) return ex.respond_error(filters.error());
    auto until_r = filters->time_value("until", wall_clock_ns());
    if (!until_r) return ex.respond_error(until_r.error());
    std::optional<int64_t> until = *until_r;
    jobs::Filters f = *filters;
    simdjson::dom::parser parser;
    auto pruned = ctx.engine->prune([&](const graph::ContainerRecord& c) {
        if (until && c.created_ns >= *until) return false;
        std::map<std::string, std::string> labels;
        simdjson::padded_string cfg(c.config_json);
        element doc;
        if (!parser.parse(cfg).get(doc)) labels = string_map(doc, "Labels");
        return f.labels_match("label", labels) && f.labels_unmatch("label!", labels);
    });
    if (!pruned) return ex.respond_error(pruned.error());
    JsonWriter w;
    w.begin_object().key("ContainersDeleted");
    if (pruned->ids.empty()) w.null();
    else {
        w.begin_array();
        for (const auto& id : pruned->ids) w.value(id);
        w.end_array();
    }
    w.field("SpaceReclaimed", pruned->space_reclaimed).end_object();
    ex.respond_json(200, w.str());
}

// POST /containers/{id}/resize?h=&w=: the tty's window size (docker run -t sends it at start
// and on every SIGWINCH).
void resize_container(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto c = ctx.containers->get(req.params[0]);
    if (!c) return ex.respond_error(c.error());
    auto h = tty_dimension(req, "h"), w = tty_dimension(req, "w");
    if (!h || !w) return ex.respond_error(Error::invalid("invalid tty size: h and w must be numbers from 0 to 65535"));
    if (auto r = ctx.engine->resize(c->id, *h, *w); !r) return ex.respond_error(r.error());
    ex.respond_empty(200);
}

// POST /containers/{id}/stop?t=&signal=: the StopSignal (the request's, the container's, else
// SIGTERM), SIGKILL after t seconds (the container's StopTimeout, else 10).
void stop_container(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto c = ctx.containers->get(req.params[0]);
    if (!c) return ex.respond_error(c.error());
    simdjson::dom::parser parser;
    simdjson::padded_string cfg(c->config_json);
    element doc;
    std::string sig = req.query_value("signal").value_or("");
    int64_t timeout = 10;
    if (!parser.parse(cfg).get(doc)) {
        if (sig.empty()) sig = str(doc, "StopSignal");
        int64_t t;
        if (!doc["StopTimeout"].get(t)) timeout = t;
    }
    if (auto t = req.query_value("t"); t && !t->empty()) timeout = std::atoll(t->c_str());
    int signo = sig.empty() ? SIGTERM : signal_number(sig);
    if (!signo) return ex.respond_error(Error::invalid("Invalid signal: " + sig));
    auto* later = reply_later(ex);
    ctx.engine->stop(c->id, signo, int(timeout), [later](Result<> r) { answer(later, r); });
}

void restart_container(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto c = ctx.containers->get(req.params[0]);
    if (!c) return ex.respond_error(c.error());
    int64_t timeout = 10;
    if (auto t = req.query_value("t"); t && !t->empty()) timeout = std::atoll(t->c_str());
    auto* later = reply_later(ex);
    std::string id = c->id;
    ctx.engine->stop(id, SIGTERM, int(timeout), [&ctx, later, id](Result<> r) {
        if (!r && r.error().kind != ErrorKind::not_modified) return answer(later, r);
        ctx.engine->start(id, [&ctx, later, id](Result<> s) {
            if (s) ctx.engine->announce("restart", id);
            answer(later, s);
        });
    });
}

// POST /containers/{id}/wait?condition=: the header goes out at once (the CLI sends this
// before start), the body when the condition holds.
class WaitStream {
public:
    WaitStream(ApiContext& ctx, Exchange& ex, const std::string& id, jobs::WaitCondition cond)
        : ctx_(ctx), ex_(&ex) {
        ex.observe({this, &WaitStream::on_aborted, nullptr, nullptr});
        ex.begin_stream(200, "application/json");
        // A condition that already holds calls finish() (which frees this) before wait returns,
        // and returns 0: only a real token may be stored.
        uint64_t token = ctx.engine->wait(id, cond, [this](int code) { finish(code); });
        if (token) token_ = token;
    }

private:
    void finish(int code) {
        token_ = 0;
        JsonWriter w;
        w.begin_object().field("StatusCode", code).field_null("Error").end_object();
        Exchange* ex = ex_;
        delete this;
        ex->write(w.str() + "\n");
        ex->end();
    }
    static void on_aborted(void* self) {
        auto* w = static_cast<WaitStream*>(self);
        if (w->token_) w->ctx_.engine->cancel_wait(w->token_);
        delete w;
    }
    ApiContext& ctx_;
    Exchange* ex_;
    uint64_t token_ = 0;
};

void wait_container(ApiContext& ctx, Exchange& ex) {
    auto c = ctx.containers->get(ex.request().params[0]);
    if (!c) return ex.respond_error(c.error());
    std::string cond = ex.request().query_value("condition").value_or("not-running");
    jobs::WaitCondition wc;
    if (cond == "not-running" || cond.empty()) wc = jobs::WaitCondition::not_running;
    else if (cond == "next-exit") wc = jobs::WaitCondition::next_exit;
    else if (cond == "removed") wc = jobs::WaitCondition::removed;
    else return ex.respond_error(Error::invalid("invalid condition: \"" + cond + "\""));
    new WaitStream(ctx, ex, c->id, wc);
}

void attach_container(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto c = ctx.containers->get(req.params[0]);
    if (!c) return ex.respond_error(c.error());
    bool tty = c->config_json.find("\"Tty\":true") != std::string::npos;
    bool open_stdin = c->config_json.find("\"OpenStdin\":true") != std::string::npos;
    bool stdin_once = c->config_json.find("\"StdinOnce\":true") != std::string::npos;
    auto keys = parse_detach_keys(req.query_value("detachKeys").value_or(""));
    if (!keys) return ex.respond_error(keys.error());
    ctx.engine->announce("attach", c->id, {{"name", c->name}});
    new AttachStream(ctx, ex, c->id,
                     {tty, req.query_bool("stdout"), req.query_bool("stderr"),
                      open_stdin && req.query_bool("stdin"), stdin_once, std::move(*keys)});
}

}  // namespace

void register_container_routes(Router& router, ApiContext& ctx) {
    router.add("POST", "/containers/create", [&ctx](Exchange& ex) { create_container(ctx, ex); });
    router.add("GET", "/containers/json", [&ctx](Exchange& ex) { list_containers(ctx, ex); });
    router.add("GET", "/containers/{id}/json", [&ctx](Exchange& ex) { inspect_container(ctx, ex); });
    router.add("DELETE", "/containers/{id}", [&ctx](Exchange& ex) { remove_container(ctx, ex); });
    router.add("POST", "/containers/{id}/start", [&ctx](Exchange& ex) { start_container(ctx, ex); });
    router.add("POST", "/containers/{id}/wait", [&ctx](Exchange& ex) { wait_container(ctx, ex); });
    router.add("POST", "/containers/{id}/attach", [&ctx](Exchange& ex) { attach_container(ctx, ex); });
    router.add("POST", "/containers/{id}/kill", [&ctx](Exchange& ex) { kill_container(ctx, ex); });
    router.add("GET", "/containers/{id}/logs", [&ctx](Exchange& ex) { container_logs(ctx, ex); });
    router.add("POST", "/containers/prune", [&ctx](Exchange& ex) { prune_containers(ctx, ex); });
    router.add("POST", "/containers/{id}/resize", [&ctx](Exchange& ex) { resize_container(ctx, ex); });
    router.add("POST", "/containers/{id}/rename", [&ctx](Exchange& ex) { rename_container(ctx, ex); });
    for (bool frozen : {true, false})
        router.add("POST", frozen ? "/containers/{id}/pause" : "/containers/{id}/unpause",
                   [&ctx, frozen](Exchange& ex) {
                       if (auto r = ctx.engine->pause(ex.request().params[0], frozen); !r)
                           return ex.respond_error(r.error());
                       ex.respond_empty(204);
                   });
    router.add("POST", "/containers/{id}/stop", [&ctx](Exchange& ex) { stop_container(ctx, ex); });
    router.add("POST", "/containers/{id}/restart",
               [&ctx](Exchange& ex) { restart_container(ctx, ex); });
}

}  // namespace berth::http
