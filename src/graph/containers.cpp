#include "graph/containers.hpp"

#include <sqlite3.h>

#include "graph/sql.hpp"

namespace berth::graph {

namespace {

using sql::bind;
using sql::prepare;
using sql::Stmt;
using sql::text;

constexpr std::string_view columns =
    "SELECT id, name, coalesce(image_id, ''), config_json, host_config_json, state, created_at, "
    "coalesce(started_at, 0), coalesce(finished_at, 0), coalesce(exit_code, 0), "
    "coalesce(pid, 0), oom_killed, error, restart_count, manually_stopped, health_json "
    "FROM containers ";

}  // namespace

Result<bool> ContainerStore::name_free(std::string_view name) {
    auto found = query("WHERE name = ?1", name);
    if (!found) return fail(found.error());
    return found->empty();
}

Result<> ContainerStore::insert(const ContainerRecord& c) {
    auto holder = query("WHERE name = ?1", c.name);
    if (!holder) return fail(holder.error());
    if (!holder->empty())
        return fail(Error::conflict("Conflict. The container name \"/" + c.name +
                                    "\" is already in use by container \"" + holder->front().id +
                                    "\". You have to remove (or rename) that container to be able "
                                    "to reuse that name."));
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "INSERT INTO containers (id, name, image_id, config_json, "
                         "host_config_json, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         st);
        !r)
        return r;
    bind(st.s, 1, c.id);
    bind(st.s, 2, c.name);
    bind(st.s, 3, c.image_id);
    bind(st.s, 4, c.config_json);
    bind(st.s, 5, c.host_config_json);
    bind(st.s, 6, c.state);
    sqlite3_bind_int64(st.s, 7, c.created_ns);
    if (sqlite3_step(st.s) != SQLITE_DONE) return fail(db_error(store_.db(), "insert container"));
    return {};
}

Result<std::vector<ContainerRecord>> ContainerStore::query(std::string_view where,
                                                           std::string_view arg) {
    Stmt st;
    std::string sql = std::string(columns) + std::string(where) + " ORDER BY created_at DESC";
    if (auto r = prepare(store_.db(), sql, st); !r) return fail(r.error());
    if (!arg.empty() || where.find("?1") != std::string_view::npos) bind(st.s, 1, arg);
    std::vector<ContainerRecord> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        ContainerRecord c;
        c.id = text(st.s, 0);
        c.name = text(st.s, 1);
        c.image_id = text(st.s, 2);
        c.config_json = text(st.s, 3);
        c.host_config_json = text(st.s, 4);
        c.state = text(st.s, 5);
        c.created_ns = sqlite3_column_int64(st.s, 6);
        c.started_ns = sqlite3_column_int64(st.s, 7);
        c.finished_ns = sqlite3_column_int64(st.s, 8);
        c.exit_code = sqlite3_column_int(st.s, 9);
        c.pid = sqlite3_column_int(st.s, 10);
        c.oom_killed = sqlite3_column_int(st.s, 11) != 0;
        c.error = text(st.s, 12);
        c.restart_count = sqlite3_column_int(st.s, 13);
        c.manually_stopped = sqlite3_column_int(st.s, 14) != 0;
        c.health_json = text(st.s, 15);
        out.push_back(std::move(c));
    }
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "list containers"));
    return out;
}

Result<ContainerRecord> ContainerStore::get(std::string_view ref) {
    std::string_view name = ref.starts_with('/') ? ref.substr(1) : ref;
    for (auto where : {"WHERE id = ?1", "WHERE name = ?1"}) {
        auto r = query(where, where[6] == 'i' ? ref : name);
        if (!r) return fail(r.error());
        if (!r->empty()) return r->front();
    }
    bool hex = !ref.empty() && ref.find_first_not_of("0123456789abcdef") == std::string_view::npos;
    if (hex) {
        auto r = query("WHERE substr(id, 1, length(?1)) = ?1", ref);
        if (!r) return fail(r.error());
        if (r->size() == 1) return r->front();
        if (r->size() > 1)
            return fail(Error::invalid("multiple IDs found with provided prefix: " + std::string(ref)));
    }
    return fail(Error::not_found("No such container: " + std::string(ref)));
}

Result<std::vector<ContainerRecord>> ContainerStore::list() { return query("", ""); }

Result<> ContainerStore::update_state(const ContainerRecord& c) {
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "UPDATE containers SET state = ?2, started_at = ?3, finished_at = ?4, "
                         "exit_code = ?5, pid = ?6, oom_killed = ?7, error = ?8, "
                         "restart_count = ?9, manually_stopped = ?10, health_json = ?11 "
                         "WHERE id = ?1",
                         st);
        !r)
        return r;
    bind(st.s, 1, c.id);
    bind(st.s, 2, c.state);
    sqlite3_bind_int64(st.s, 3, c.started_ns);
    sqlite3_bind_int64(st.s, 4, c.finished_ns);
    sqlite3_bind_int(st.s, 5, c.exit_code);
    sqlite3_bind_int(st.s, 6, c.pid);
    sqlite3_bind_int(st.s, 7, c.oom_killed);
    bind(st.s, 8, c.error);
    sqlite3_bind_int(st.s, 9, c.restart_count);
    sqlite3_bind_int(st.s, 10, c.manually_stopped);
    bind(st.s, 11, c.health_json);
    if (sqlite3_step(st.s) != SQLITE_DONE) return fail(db_error(store_.db(), "update container"));
    return {};
}

Result<> ContainerStore::update_host_config(std::string_view id,
                                            const std::string& host_config_json) {
    Stmt st;
    if (auto r =
            prepare(store_.db(), "UPDATE containers SET host_config_json = ?2 WHERE id = ?1", st);
        !r)
        return r;
    bind(st.s, 1, id);
    bind(st.s, 2, host_config_json);
    if (sqlite3_step(st.s) != SQLITE_DONE)
        return fail(db_error(store_.db(), "update container host config"));
    if (sqlite3_changes(store_.db()) == 0)
        return fail(Error::not_found("No such container: " + std::string(id)));
    return {};
}

Result<> ContainerStore::rename(std::string_view id, const std::string& name) {
    auto holder = query("WHERE name = ?1", name);
    if (!holder) return fail(holder.error());
    if (!holder->empty())
        return fail(Error::conflict("Conflict. The container name \"/" + name +
                                    "\" is already in use by container \"" + holder->front().id +
                                    "\". You have to remove (or rename) that container to be able "
                                    "to reuse that name."));
    Stmt st;
    if (auto r = prepare(store_.db(), "UPDATE containers SET name = ?2 WHERE id = ?1", st); !r)
        return r;
    bind(st.s, 1, id);
    bind(st.s, 2, name);
    if (sqlite3_step(st.s) != SQLITE_DONE) return fail(db_error(store_.db(), "rename container"));
    return {};
}

Result<> ContainerStore::remove(std::string_view id) {
    Stmt st;
    if (auto r = prepare(store_.db(), "DELETE FROM containers WHERE id = ?1", st); !r) return r;
    bind(st.s, 1, id);
    if (sqlite3_step(st.s) != SQLITE_DONE) return fail(db_error(store_.db(), "remove container"));
    return {};
}

}  // namespace berth::graph
