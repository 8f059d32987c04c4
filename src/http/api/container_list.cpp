// GET /containers/json: `docker ps` as dockerd's daemon/list.go answers it. Newest first;
// stopped containers only with all, limit or a status filter; before/since cut the list at a
// container; limit keeps the newest N; size adds SizeRw and SizeRootFs. Status is dockerd's
// State.String() ("Up 2 seconds", "Exited (0) 3 seconds ago", "Created", "Up 5 seconds (Paused)").
#include <simdjson.h>

#include <cmath>
#include <map>
#include <set>

#include "base/json.hpp"
#include "base/time.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "graph/containers.hpp"
#include "graph/images.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "jobs/container_engine.hpp"
#include "jobs/container_networks.hpp"
#include "jobs/container_filters.hpp"
#include "jobs/health.hpp"
#include "jobs/volumes.hpp"

namespace berth::http {

namespace {

using simdjson::dom::element;

// units.HumanDuration, as `docker ps` shows ages (hours rounded, the rest truncated).
std::string human_duration(int64_t ns) {
    int64_t s = ns / 1'000'000'000;
    if (s < 1) return "Less than a second";
    if (s == 1) return "1 second";
    if (s < 60) return std::to_string(s) + " seconds";
    int64_t m = s / 60;
    if (m == 1) return "About a minute";
    if (m < 60) return std::to_string(m) + " minutes";
    int64_t h = std::llround(double(ns) / 3.6e12);
    if (h == 1) return "About an hour";
    if (h < 48) return std::to_string(h) + " hours";
    if (h < 24 * 7 * 2) return std::to_string(h / 24) + " days";
    if (h < 24 * 30 * 2) return std::to_string(h / 24 / 7) + " weeks";
    if (h < 24 * 365 * 2) return std::to_string(h / 24 / 30) + " months";
    return std::to_string(s / 3600 / 24 / 365) + " years";
}

// container.State.String().
std::string status_text(const graph::ContainerRecord& c, int64_t now) {
    if (c.state == "running") {
        // dockerd's Health.String(): "health: starting", "healthy", "unhealthy".
        std::string health = jobs::health_status_of(c.health_json);
        if (health == "none") return "Up " + human_duration(now - c.started_ns);
        if (health == "starting") health = "health: starting";
        return "Up " + human_duration(now - c.started_ns) + " (" + health + ")";
    }
    if (c.state == "paused") return "Up " + human_duration(now - c.started_ns) + " (Paused)";
    if (c.state == "restarting")
        return "Restarting (" + std::to_string(c.exit_code) + ") " +
               human_duration(now - c.finished_ns) + " ago";
    if (c.state == "removing") return "Removal In Progress";
    if (c.state == "dead") return "Dead";
    if (c.started_ns == 0) return "Created";
    if (c.finished_ns == 0) return "";
    return "Exited (" + std::to_string(c.exit_code) + ") " + human_duration(now - c.finished_ns) +
           " ago";
}

std::vector<std::string> strings(element obj, const char* key) {
    std::vector<std::string> out;
    simdjson::dom::array arr;
    if (obj[key].get(arr)) {
        std::string_view one;
        if (!obj[key].get(one)) out.emplace_back(one);
        return out;
    }
    for (element e : arr) {
        std::string_view s;
        if (!e.get(s)) out.emplace_back(s);
    }
    return out;
}

// One row's data from the stored Config and HostConfig.
struct Row {
    jobs::ContainerFacts facts;
    std::string command, image;
    std::string network_mode = "bridge";  // HostConfig.NetworkMode ("default" shown as bridge)
};

Row row_of(const graph::ContainerRecord& c) {
    Row r;
    jobs::ContainerFacts& f = r.facts;
    f.id = c.id;
    f.name = c.name;
    f.state = c.state;
    f.exit_code = c.exit_code;
    f.started = c.started_ns != 0;
    f.image_id = c.image_id;
    f.health = jobs::health_status_of(c.health_json);
    simdjson::dom::parser parser;
    element cfg, hc;
    simdjson::padded_string cj(c.config_json), hj(c.host_config_json);
    if (!parser.parse(cj).get(cfg)) {
        auto argv = strings(cfg, "Entrypoint");
        for (auto& a : strings(cfg, "Cmd")) argv.push_back(a);
        // dockerd's Path + Args, an argument with a space in single quotes.
        for (size_t i = 0; i < argv.size(); ++i) {
            bool quote = i > 0 && argv[i].find(' ') != std::string::npos;
            r.command += (i ? " " : "") + (quote ? "'" + argv[i] + "'" : argv[i]);
        }
        std::string_view image;
        if (!cfg["Image"].get(image)) r.image = image;
        simdjson::dom::object m;
        if (!cfg["Labels"].get(m))
            for (auto [k, v] : m)
                if (std::string_view s; !v.get(s)) f.labels.emplace(std::string(k), std::string(s));
        if (!cfg["ExposedPorts"].get(m))
            for (auto [k, v] : m) f.exposed.emplace(k);
    }
    simdjson::dom::parser hparser;
    bool have_hc = !hparser.parse(hj).get(hc);
    std::string_view mode;
    if (have_hc && !hc["NetworkMode"].get(mode) && !mode.empty() && mode != "default")
        r.network_mode = std::string(mode);
    if (have_hc)
        for (const std::string& b : strings(hc, "Binds")) {
            size_t c1 = b.find(':');
            f.mounts.push_back(b.substr(0, c1));
            if (c1 != std::string::npos)
                f.mounts.push_back(b.substr(c1 + 1, b.find(':', c1 + 1) - c1 - 1));
        }
    return r;
}

// The `ancestor` images and every image built on them (dockerd's populateImageFilterByParents);
// a name that resolves to nothing adds nothing.
Result<std::set<std::string>> ancestor_ids(ApiContext& ctx, const jobs::Filters& f) {
    std::set<std::string> out;
    auto all = ctx.images->list(false);
    if (!all) return fail(all.error());
    std::multimap<std::string, std::string> children;
    for (const auto& i : *all) children.emplace(i.parent_id, i.id);
    std::vector<std::string> todo;
    for (const std::string& name : f.values("ancestor"))
        if (auto id = ctx.images->resolve(name)) todo.push_back(*id);
    while (!todo.empty()) {
        std::string id = todo.back();
        todo.pop_back();
        if (!out.insert(id).second) continue;
        auto [b, e] = children.equal_range(id);
        for (auto it = b; it != e; ++it) todo.push_back(it->second);
    }
    return out;
}

// before/since: the named container's ID (404 with Docker's message when there is none).
Result<std::string> container_ref(ApiContext& ctx, const jobs::Filters& f, const char* key) {
    std::string id;
    for (const std::string& v : f.values(key)) {
        auto c = ctx.containers->get(v);
        if (!c) return fail(c.error());
        id = c->id;
    }
    return id;
}

void write_row(JsonWriter& w, ApiContext& ctx, const graph::ContainerRecord& c, const Row& r,
               bool size, int64_t now) {
    std::string image = r.image;
    // dockerd keeps the reference the container was made from while it still names its image.
    if (image != c.image_id) {
        auto id = ctx.images->resolve(image);
        if (!id || *id != c.image_id) image = c.image_id;
    }
    w.begin_object().field("Id", c.id);
    w.key("Names").begin_array().value("/" + c.name).end_array();
    w.field("Image", image).field("ImageID", c.image_id).field("Command", r.command);
    w.field("Created", c.created_ns / 1'000'000'000);
    w.key("Ports");
    if (ctx.container_networks) ctx.container_networks->write_list_ports(w, c);
    else w.begin_array().end_array();
    if (size) {
        uint64_t rw = ctx.storage->container_layer_size(c.id);
        auto img = ctx.images->inspect(c.image_id);
        w.field("SizeRw", rw).field("SizeRootFs", rw + uint64_t(img ? img->size : 0));
    }
    w.key("Labels").begin_object();
    for (const auto& [k, v] : r.facts.labels) w.field(k, v);
    w.end_object();
    w.field("State", c.state).field("Status", status_text(c, now));
    w.key("HostConfig").begin_object().field("NetworkMode", r.network_mode).end_object();
    w.key("NetworkSettings").begin_object().key("Networks");
    if (ctx.container_networks) ctx.container_networks->write_list_networks(w, c);
    else w.begin_object().end_object();
    w.end_object();
    w.key("Mounts").raw(ctx.volumes->mounts_json(c.id, c.config_json, c.host_config_json));
    w.end_object();
}

}  // namespace

void list_containers(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto filter = jobs::ContainerFilter::parse(req.query_value("filters").value_or(""));
    if (!filter) return ex.respond_error(filter.error());
    const jobs::Filters& f = filter->filters();
    if (f.has("ancestor")) {
        auto ids = ancestor_ids(ctx, f);
        if (!ids) return ex.respond_error(ids.error());
        filter->set_ancestors(std::move(*ids));
    }
    auto before = container_ref(ctx, f, "before");
    if (!before) return ex.respond_error(before.error());
    auto since = container_ref(ctx, f, "since");
    if (!since) return ex.respond_error(since.error());
    long limit = std::atol(req.query_value("limit").value_or("0").c_str());
    bool all = req.query_bool("all") || filter->implies_all() || limit > 0;
    bool size = req.query_bool("size");
    auto records = ctx.containers->list();  // newest first
    if (!records) return ex.respond_error(records.error());
    int64_t now = wall_clock_ns();
    std::string skip_until = *before;
    JsonWriter w;
    w.begin_array();
    long listed = 0;
    for (const auto& c : *records) {
        // dockerd: everything up to and including `before` is left out; `since` ends the list.
        if (!skip_until.empty()) {
            if (c.id == skip_until) skip_until.clear();
            continue;
        }
        if (!since->empty() && c.id == *since) break;
        bool active = c.state == "running" || c.state == "paused" || c.state == "restarting";
        if (!active && !all) continue;
        Row r = row_of(c);
        if (ctx.container_networks) {
            // Only what the filters ask for: a store read per container otherwise.
            if (filter->filters().has("network"))
                r.facts.networks = ctx.container_networks->networks_of(c.id);
            for (const auto& p : ctx.container_networks->published(c.id))
                r.facts.published.insert(std::to_string(p.host_port) + "/" +
                                         std::string(kernel::protocol_name(p.protocol)));
        }
        if (!filter->matches(r.facts)) continue;
        if (limit > 0 && listed == limit) break;
        write_row(w, ctx, c, r, size, now);
        ++listed;
    }
    w.end_array();
    ex.respond_json(200, w.str());
}

}  // namespace berth::http
