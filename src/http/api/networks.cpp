// Networks through the API (moby api/swagger.yaml, "Network"): GET /networks (filters),
// GET /networks/{id} (verbose and scope ignored), POST /networks/create, DELETE
// /networks/{id}, POST /networks/prune, POST /networks/{id}/connect and /disconnect, on
// jobs::NetworkService. Container references are resolved here through the ContainerStore.
#include <simdjson.h>

#include "base/json.hpp"
#include "base/time.hpp"
#include "graph/containers.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "jobs/network_filters.hpp"
#include "jobs/networks.hpp"

namespace berth::http {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;
using StringMap = std::map<std::string, std::string>;

Error bad_body(const std::string& what) {
    return Error::invalid("invalid JSON: " + what);
}

// {"k":"v"}; absent or null → {}.
Result<StringMap> string_map(element parent, const char* key) {
    element e;
    StringMap out;
    if (parent[key].get(e) || e.is_null()) return out;
    object obj;
    if (e.get(obj)) return fail(bad_body(std::string(key) + " must be an object of strings"));
    for (auto [k, v] : obj) {
        std::string_view s;
        if (v.get(s)) return fail(bad_body(std::string(key) + " must be an object of strings"));
        out.emplace(std::string(k), std::string(s));
    }
    return out;
}

std::string string_field(element parent, const char* key) {
    std::string_view s;
    return parent[key].get(s) ? std::string() : std::string(s);
}

bool bool_field(element parent, const char* key) {
    bool b = false;
    return !parent[key].get(b) && b;
}

std::optional<bool> optional_bool(element parent, const char* key) {
    bool b = false;
    if (parent[key].get(b)) return std::nullopt;
    return b;
}

Result<> read_ipam(element doc, jobs::NetworkCreate& req) {
    element ipam;
    if (doc["IPAM"].get(ipam) || ipam.is_null()) return {};
    req.ipam_driver = string_field(ipam, "Driver");
    element configs;
    if (ipam["Config"].get(configs) || configs.is_null()) return {};
    simdjson::dom::array arr;
    if (configs.get(arr)) return fail(bad_body("IPAM.Config must be an array"));
    for (element c : arr) {
        jobs::NetworkCreate::IpamConfig cfg;
        cfg.subnet = string_field(c, "Subnet");
        cfg.ip_range = string_field(c, "IPRange");
        cfg.gateway = string_field(c, "Gateway");
        auto aux = string_map(c, "AuxiliaryAddresses");
        if (!aux) return fail(aux.error());
        cfg.aux_addresses = std::move(*aux);
        req.ipam.push_back(std::move(cfg));
    }
    return {};
}

Result<jobs::NetworkCreate> read_create(const std::string& body, simdjson::dom::parser& parser) {
    simdjson::padded_string padded(body.empty() ? std::string("{}") : body);
    element doc;
    object obj;
    if (auto err = parser.parse(padded).get(doc); err || doc.get(obj))
        return fail(bad_body("expected a network create object"));
    jobs::NetworkCreate req;
    req.name = string_field(doc, "Name");
    req.driver = string_field(doc, "Driver");
    req.scope = string_field(doc, "Scope");
    req.internal = bool_field(doc, "Internal");
    req.attachable = bool_field(doc, "Attachable");
    req.ingress = bool_field(doc, "Ingress");
    req.config_only = bool_field(doc, "ConfigOnly");
    element from;
    if (!doc["ConfigFrom"].get(from) && !from.is_null())
        req.config_from = string_field(from, "Network");
    req.enable_ipv4 = optional_bool(doc, "EnableIPv4");
    req.enable_ipv6 = optional_bool(doc, "EnableIPv6");
    auto options = string_map(doc, "Options");
    auto labels = string_map(doc, "Labels");
    if (!options || !labels) return fail(!options ? options.error() : labels.error());
    req.options = std::move(*options);
    req.labels = std::move(*labels);
    if (auto r = read_ipam(doc, req); !r) return fail(r.error());
    return req;
}

void create_network(ApiContext& ctx, Exchange& ex) {
    simdjson::dom::parser parser;
    auto req = read_create(ex.request().body, parser);
    if (!req) return ex.respond_error(req.error());
    auto n = ctx.networks->create(*req);
    if (!n) return ex.respond_error(n.error());
    JsonWriter w;
    w.begin_object().field("Id", n->id).field("Warning", "").end_object();
    ex.respond_json(201, w.str());
}

void inspect_network(ApiContext& ctx, Exchange& ex) {
    auto n = ctx.networks->find(ex.request().params[0]);
    if (!n) return ex.respond_error(n.error());
    ex.respond_json(200, ctx.networks->inspect_json(*n, true));
}

void list_networks(ApiContext& ctx, Exchange& ex) {
    auto f = jobs::NetworkListFilter::parse(ex.request().query_value("filters").value_or(""));
    if (!f) return ex.respond_error(f.error());
    auto all = ctx.networks->list();
    if (!all) return ex.respond_error(all.error());
    std::string body = "[";
    for (const auto& n : *all) {
        auto used = ctx.networks->attachments(n.id);
        if (!f->matches(n, used && !used->empty())) continue;
        if (body.size() > 1) body += ',';
        body += ctx.networks->inspect_json(n, false);
    }
    body += "]";
    ex.respond_json(200, body);
}

void remove_network(ApiContext& ctx, Exchange& ex) {
    if (auto r = ctx.networks->remove(ex.request().params[0]); !r)
        return ex.respond_error(r.error());
    ex.respond_empty(204);
}

void prune_networks(ApiContext& ctx, Exchange& ex) {
    auto f = jobs::NetworkPruneFilter::parse(ex.request().query_value("filters").value_or(""),
                                             wall_clock_ns());
    if (!f) return ex.respond_error(f.error());
    auto names = ctx.networks->prune([&](const graph::NetworkRecord& n) { return f->matches(n); });
    if (!names) return ex.respond_error(names.error());
    JsonWriter w;
    w.begin_object().key("NetworksDeleted");
    if (names->empty()) {
        w.null();
    } else {
        w.begin_array();
        for (const auto& n : *names) w.value(n);
        w.end_array();
    }
    w.end_object();
    ex.respond_json(200, w.str());
}

// {"Container": ref, "EndpointConfig": {...}, "Force": b}: the container's full ID.
Result<std::string> container_of(ApiContext& ctx, element doc) {
    auto c = ctx.containers->get(string_field(doc, "Container"));
    if (!c) return fail(c.error());
    return c->id;
}

Result<jobs::EndpointConfig> endpoint_config(element doc) {
    jobs::EndpointConfig cfg;
    element ec;
    if (doc["EndpointConfig"].get(ec) || ec.is_null()) return cfg;
    element ipam;
    if (!ec["IPAMConfig"].get(ipam) && !ipam.is_null())
        cfg.ipv4_address = string_field(ipam, "IPv4Address");
    element aliases;
    if (ec["Aliases"].get(aliases) || aliases.is_null()) return cfg;
    simdjson::dom::array arr;
    if (aliases.get(arr)) return fail(bad_body("Aliases must be an array of strings"));
    for (element a : arr) {
        std::string_view s;
        if (a.get(s)) return fail(bad_body("Aliases must be an array of strings"));
        cfg.aliases.emplace_back(s);
    }
    return cfg;
}

void connect_network(ApiContext& ctx, Exchange& ex, bool connect) {
    simdjson::dom::parser parser;
    const std::string& body = ex.request().body;
    simdjson::padded_string padded(body.empty() ? std::string("{}") : body);
    element doc;
    object obj;
    if (auto err = parser.parse(padded).get(doc); err || doc.get(obj))
        return ex.respond_error(bad_body("expected an object with Container"));
    auto container = container_of(ctx, doc);
    if (!container) return ex.respond_error(container.error());
    const std::string& ref = ex.request().params[0];
    Result<> r;
    if (connect) {
        auto cfg = endpoint_config(doc);
        if (!cfg) return ex.respond_error(cfg.error());
        r = ctx.networks->connect(ref, *container, *cfg);
    } else {
        r = ctx.networks->disconnect(ref, *container, bool_field(doc, "Force"));
    }
    if (!r) return ex.respond_error(r.error());
    ex.respond(200, "text/plain; charset=utf-8", "");
}

}  // namespace

void register_network_routes(Router& router, ApiContext& ctx) {
    router.add("GET", "/networks", [&ctx](Exchange& ex) { list_networks(ctx, ex); });
    router.add("POST", "/networks/create", [&ctx](Exchange& ex) { create_network(ctx, ex); });
    router.add("POST", "/networks/prune", [&ctx](Exchange& ex) { prune_networks(ctx, ex); });
    router.add("GET", "/networks/{id}", [&ctx](Exchange& ex) { inspect_network(ctx, ex); });
    router.add("DELETE", "/networks/{id}", [&ctx](Exchange& ex) { remove_network(ctx, ex); });
    router.add("POST", "/networks/{id}/connect",
               [&ctx](Exchange& ex) { connect_network(ctx, ex, true); });
    router.add("POST", "/networks/{id}/disconnect",
               [&ctx](Exchange& ex) { connect_network(ctx, ex, false); });
}

}  // namespace berth::http
