// NetworkStore: one statement per change, so a crash leaves the old row or the new one. Labels,
// options and aliases are JSON text in their columns. The foreign keys keep a network with
// endpoints from being deleted and drop a container's endpoints with the container.
#include "graph/networks.hpp"

#include <simdjson.h>
#include <sqlite3.h>

#include "base/json.hpp"
#include "graph/sql.hpp"

namespace berth::graph {

namespace {

using sql::bind;
using sql::prepare;
using sql::Stmt;
using sql::text;

// Our own columns: anything unreadable reads as empty rather than failing the listing.
std::vector<std::string> json_list(const std::string& json) {
    std::vector<std::string> out;
    simdjson::dom::parser p;
    simdjson::dom::array arr;
    if (p.parse(simdjson::padded_string(json)).get(arr)) return out;
    for (auto v : arr) {
        std::string_view s;
        if (!v.get(s)) out.emplace_back(s);
    }
    return out;
}

constexpr std::string_view network_columns =
    "SELECT id, name, driver, created, subnet, gateway, ip_range, subnet_given, internal, "
    "attachable, bridge, mtu, labels, options FROM networks ";

NetworkRecord network_row(sqlite3_stmt* s) {
    NetworkRecord n;
    n.id = text(s, 0);
    n.name = text(s, 1);
    n.driver = text(s, 2);
    n.created_ns = sqlite3_column_int64(s, 3);
    n.subnet = text(s, 4);
    n.gateway = text(s, 5);
    n.ip_range = text(s, 6);
    n.subnet_given = sqlite3_column_int(s, 7) != 0;
    n.internal = sqlite3_column_int(s, 8) != 0;
    n.attachable = sqlite3_column_int(s, 9) != 0;
    n.bridge = text(s, 10);
    n.mtu = sqlite3_column_int(s, 11);
    n.labels = json_string_map(text(s, 12));
    n.options = json_string_map(text(s, 13));
    return n;
}

// ?1 id, ?2 name, then the other columns in network_columns' order.
void bind_network(sqlite3_stmt* s, const NetworkRecord& n) {
    bind(s, 1, n.id);
    bind(s, 2, n.name);
    bind(s, 3, n.driver);
    sqlite3_bind_int64(s, 4, n.created_ns);
    bind(s, 5, n.subnet);
    bind(s, 6, n.gateway);
    bind(s, 7, n.ip_range);
    sqlite3_bind_int(s, 8, n.subnet_given);
    sqlite3_bind_int(s, 9, n.internal);
    sqlite3_bind_int(s, 10, n.attachable);
    bind(s, 11, n.bridge);
    sqlite3_bind_int(s, 12, n.mtu);
    bind(s, 13, json_object_of(n.labels));
    bind(s, 14, json_object_of(n.options));
}

Error no_such_network(std::string_view ref) {
    return Error::not_found("network " + std::string(ref) + " not found");
}

}  // namespace

Result<> NetworkStore::create(const NetworkRecord& n) {
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "INSERT INTO networks (id, name, driver, created, subnet, gateway, "
                         "ip_range, subnet_given, internal, attachable, bridge, mtu, labels, "
                         "options) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                         "?13, ?14)",
                         st);
        !r)
        return r;
    bind_network(st.s, n);
    int rc = sqlite3_step(st.s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return fail(Error::conflict("network with name " + n.name + " already exists"));
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "insert network " + n.name));
    return {};
}

Result<> NetworkStore::update(const NetworkRecord& n) {
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "UPDATE networks SET driver = ?3, created = ?4, subnet = ?5, "
                         "gateway = ?6, ip_range = ?7, subnet_given = ?8, internal = ?9, "
                         "attachable = ?10, bridge = ?11, mtu = ?12, labels = ?13, options = ?14 "
                         "WHERE id = ?1 AND name = ?2",
                         st);
        !r)
        return r;
    bind_network(st.s, n);
    if (sqlite3_step(st.s) != SQLITE_DONE)
        return fail(db_error(store_.db(), "update network " + n.name));
    if (sqlite3_changes(store_.db()) == 0) return fail(no_such_network(n.name));
    return {};
}

Result<std::vector<NetworkRecord>> NetworkStore::networks(std::string_view where,
                                                          std::string_view arg) {
    Stmt st;
    if (auto r = prepare(store_.db(), std::string(network_columns) + std::string(where), st); !r)
        return fail(r.error());
    bind(st.s, 1, arg);  // a statement without ?1 ignores it (SQLITE_RANGE)
    std::vector<NetworkRecord> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(network_row(st.s));
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "read networks"));
    return out;
}

Result<NetworkRecord> NetworkStore::get(std::string_view id) {
    auto found = networks("WHERE id = ?1", id);
    if (!found) return fail(found.error());
    if (found->empty()) return fail(no_such_network(id));
    return std::move(found->front());
}

Result<NetworkRecord> NetworkStore::get_by_name(std::string_view name) {
    auto found = networks("WHERE name = ?1", name);
    if (!found) return fail(found.error());
    if (found->empty()) return fail(no_such_network(name));
    return std::move(found->front());
}

Result<std::vector<NetworkRecord>> NetworkStore::find_by_id_prefix(std::string_view prefix) {
    // substr rather than LIKE: an ID prefix from a client may hold '%' or '_'.
    return networks("WHERE substr(id, 1, length(?1)) = ?1 ORDER BY name", prefix);
}

Result<std::vector<NetworkRecord>> NetworkStore::list() {
    return networks("ORDER BY name", {});
}

Result<> NetworkStore::remove(std::string_view id) {
    Stmt st;
    if (auto r = prepare(store_.db(), "DELETE FROM networks WHERE id = ?1", st); !r) return r;
    bind(st.s, 1, id);
    int rc = sqlite3_step(st.s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return fail(Error::make(ErrorKind::forbidden,
                                "network " + std::string(id) + " has active endpoints"));
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "remove network " + std::string(id)));
    return {};
}

Result<std::vector<EndpointRecord>> NetworkStore::endpoints(std::string_view where,
                                                            std::string_view arg) {
    Stmt st;
    std::string q =
        "SELECT e.network_id, e.container_id, e.endpoint_id, e.ip, e.mac, e.aliases, "
        "e.ip_requested FROM endpoints e JOIN containers c ON c.id = e.container_id " +
        std::string(where) + " ORDER BY c.created_at, e.network_id";
    if (auto r = prepare(store_.db(), q, st); !r) return fail(r.error());
    bind(st.s, 1, arg);
    std::vector<EndpointRecord> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        EndpointRecord e;
        e.network_id = text(st.s, 0);
        e.container_id = text(st.s, 1);
        e.endpoint_id = text(st.s, 2);
        e.ip = text(st.s, 3);
        e.mac = text(st.s, 4);
        e.aliases = json_list(text(st.s, 5));
        e.ip_requested = text(st.s, 6);
        out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "read endpoints"));
    return out;
}

Result<std::vector<EndpointRecord>> NetworkStore::endpoints_of_network(
    std::string_view network_id) {
    return endpoints("WHERE e.network_id = ?1", network_id);
}

Result<std::vector<EndpointRecord>> NetworkStore::endpoints_of_container(
    std::string_view container_id) {
    return endpoints("WHERE e.container_id = ?1", container_id);
}

Result<> NetworkStore::put_endpoint(const EndpointRecord& e) {
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "INSERT OR REPLACE INTO endpoints (network_id, container_id, endpoint_id, "
                         "ip, mac, aliases, ip_requested) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         st);
        !r)
        return r;
    bind(st.s, 1, e.network_id);
    bind(st.s, 2, e.container_id);
    bind(st.s, 3, e.endpoint_id);
    bind(st.s, 4, e.ip);
    bind(st.s, 5, e.mac);
    bind(st.s, 6, json_array_of(e.aliases));
    bind(st.s, 7, e.ip_requested);
    int rc = sqlite3_step(st.s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return fail(Error::not_found("endpoint of container " + e.container_id + " on network " +
                                     e.network_id + ": no such container or network"));
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "write endpoint"));
    return {};
}

Result<> NetworkStore::remove_endpoint(std::string_view network_id, std::string_view container_id) {
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "DELETE FROM endpoints WHERE network_id = ?1 AND container_id = ?2", st);
        !r)
        return r;
    bind(st.s, 1, network_id);
    bind(st.s, 2, container_id);
    if (sqlite3_step(st.s) != SQLITE_DONE) return fail(db_error(store_.db(), "remove endpoint"));
    return {};
}

Result<> NetworkStore::remove_endpoints_of_container(std::string_view container_id) {
    Stmt st;
    if (auto r = prepare(store_.db(), "DELETE FROM endpoints WHERE container_id = ?1", st); !r)
        return r;
    bind(st.s, 1, container_id);
    if (sqlite3_step(st.s) != SQLITE_DONE)
        return fail(db_error(store_.db(), "remove endpoints of container"));
    return {};
}

}  // namespace berth::graph
