// Volumes through the API (moby api/swagger.yaml, "Volume"): POST /volumes/create, GET
// /volumes (filters dangling, driver, label, name), GET and DELETE /volumes/{name}, POST
// /volumes/prune (anonymous volumes only unless all=true, as API 1.42+), on jobs::VolumeService.
#include <simdjson.h>

#include <ctime>

#include "base/json.hpp"
#include "base/time.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "jobs/filters.hpp"
#include "jobs/volume_filters.hpp"
#include "jobs/volumes.hpp"

namespace berth::http {

namespace {

using simdjson::dom::element;

// CreatedAt as dockerd writes it: RFC 3339 to the second.
std::string created_at(int64_t ns) {
    time_t t = time_t(ns / 1'000'000'000);
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

void write_volume(JsonWriter& w, const graph::VolumeRecord& v, const std::string& mountpoint) {
    w.begin_object().field("CreatedAt", created_at(v.created_ns)).field("Driver", v.driver);
    w.key("Labels");
    if (v.labels_json)
        w.raw(*v.labels_json);
    else
        w.null();
    w.field("Mountpoint", mountpoint).field("Name", v.name);
    w.key("Options");
    if (v.options_json)
        w.raw(*v.options_json);
    else
        w.null();
    w.field("Scope", "local").end_object();
}

// {"k":"v"} of a create body; nullopt when absent or null, 400 when not an object of strings.
Result<std::optional<std::map<std::string, std::string>>> string_map(element body,
                                                                     const char* key) {
    element e;
    if (body[key].get(e) || e.is_null()) return std::optional<std::map<std::string, std::string>>{};
    simdjson::dom::object obj;
    if (e.get(obj)) return fail(Error::invalid(std::string(key) + " must be an object of strings"));
    std::map<std::string, std::string> out;
    for (auto [k, v] : obj) {
        std::string_view s;
        if (v.get(s))
            return fail(Error::invalid(std::string(key) + " must be an object of strings"));
        out.emplace(std::string(k), std::string(s));
    }
    return std::optional<std::map<std::string, std::string>>{std::move(out)};
}

void create_volume(ApiContext& ctx, Exchange& ex) {
    simdjson::dom::parser parser;
    simdjson::padded_string body(ex.request().body.empty() ? std::string("{}") : ex.request().body);
    element doc;
    simdjson::dom::object obj;
    if (auto err = parser.parse(body).get(doc); err || doc.get(obj))
        return ex.respond_error(Error::invalid("invalid JSON: expected a volume create object"));
    jobs::VolumeCreate req;
    std::string_view s;
    if (!doc["Name"].get(s)) req.name = std::string(s);
    if (!doc["Driver"].get(s) && !s.empty()) req.driver = std::string(s);
    auto labels = string_map(doc, "Labels");
    auto opts = string_map(doc, "DriverOpts");
    if (!labels || !opts) return ex.respond_error(!labels ? labels.error() : opts.error());
    req.labels = std::move(*labels);
    req.options = std::move(*opts);
    auto v = ctx.volumes->create(req);
    if (!v) return ex.respond_error(v.error());
    JsonWriter w;
    write_volume(w, *v, ctx.volumes->mountpoint(v->name));
    ex.respond_json(201, w.str());
}

void inspect_volume(ApiContext& ctx, Exchange& ex) {
    auto v = ctx.volumes->get(ex.request().params[0]);
    if (!v) return ex.respond_error(v.error());
    JsonWriter w;
    write_volume(w, *v, ctx.volumes->mountpoint(v->name));
    ex.respond_json(200, w.str());
}

void list_volumes(ApiContext& ctx, Exchange& ex) {
    auto f = jobs::Filters::parse(ex.request().query_value("filters").value_or(""),
                                  {"dangling", "driver", "label", "name"});
    if (!f) return ex.respond_error(f.error());
    auto all = ctx.volumes->list();
    auto used = ctx.volumes->used();
    if (!all || !used) return ex.respond_error(!all ? all.error() : used.error());
    JsonWriter w;
    w.begin_object().key("Volumes").begin_array();
    for (const auto& v : *all)
        if (jobs::volume_list_matches(*f, v, used->contains(v.name)))
            write_volume(w, v, ctx.volumes->mountpoint(v.name));
    w.end_array().key("Warnings").begin_array().end_array().end_object();
    ex.respond_json(200, w.str());
}

void remove_volume(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    if (auto r = ctx.volumes->remove(req.params[0], req.query_bool("force")); !r)
        return ex.respond_error(r.error());
    ex.respond_empty(204);
}

// POST /volumes/prune?filters={"all":["true"],"label":[…],"label!":[…]}: unused volumes; only
// anonymous ones unless `all` (API 1.42+; older clients prune every unused volume).
void prune_volumes(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto f =
        jobs::Filters::parse(req.query_value("filters").value_or(""), {"all", "label", "label!"});
    if (!f) return ex.respond_error(f.error());
    auto all = jobs::prune_all_volumes(*f, req.version < ApiVersion{1, 42});
    if (!all) return ex.respond_error(all.error());
    auto pruned = ctx.volumes->prune(
        [&](const graph::VolumeRecord& v) { return jobs::volume_prune_matches(*f, v, *all); });
    if (!pruned) return ex.respond_error(pruned.error());
    JsonWriter w;
    w.begin_object().key("VolumesDeleted");
    if (pruned->names.empty())
        w.null();
    else {
        w.begin_array();
        for (const auto& n : pruned->names) w.value(n);
        w.end_array();
    }
    w.field("SpaceReclaimed", pruned->space_reclaimed).end_object();
    ex.respond_json(200, w.str());
}

}  // namespace

void register_volume_routes(Router& router, ApiContext& ctx) {
    router.add("POST", "/volumes/create", [&ctx](Exchange& ex) { create_volume(ctx, ex); });
    router.add("GET", "/volumes", [&ctx](Exchange& ex) { list_volumes(ctx, ex); });
    router.add("POST", "/volumes/prune", [&ctx](Exchange& ex) { prune_volumes(ctx, ex); });
    router.add("GET", "/volumes/{name}", [&ctx](Exchange& ex) { inspect_volume(ctx, ex); });
    router.add("DELETE", "/volumes/{name}", [&ctx](Exchange& ex) { remove_volume(ctx, ex); });
}

}  // namespace berth::http
