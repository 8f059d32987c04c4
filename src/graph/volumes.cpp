// VolumeStore: one statement per change, so a crash leaves the old row or the new one. The
// foreign keys of container_volumes keep a mounted volume from being deleted and drop a
// container's mount points with the container.
#include "graph/volumes.hpp"

#include <sqlite3.h>

#include "graph/sql.hpp"

namespace berth::graph {

namespace {

using sql::bind;
using sql::optional_text;
using sql::prepare;
using sql::Stmt;
using sql::text;

VolumeRecord volume_row(sqlite3_stmt* s) {
    VolumeRecord v;
    v.name = text(s, 0);
    v.driver = text(s, 1);
    v.labels_json = optional_text(s, 2);
    v.options_json = optional_text(s, 3);
    v.created_ns = sqlite3_column_int64(s, 4);
    return v;
}

constexpr std::string_view volume_columns =
    "SELECT name, driver, labels_json, options_json, created_at FROM volumes ";

}  // namespace

Result<> VolumeStore::insert(const VolumeRecord& v) {
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "INSERT INTO volumes (name, driver, labels_json, options_json, "
                         "created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                         st);
        !r)
        return r;
    bind(st.s, 1, std::string_view(v.name));
    bind(st.s, 2, std::string_view(v.driver));
    bind(st.s, 3, v.labels_json);
    bind(st.s, 4, v.options_json);
    sqlite3_bind_int64(st.s, 5, v.created_ns);
    int rc = sqlite3_step(st.s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return fail(Error::conflict("volume name " + v.name + " is already in use"));
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "insert volume " + v.name));
    return {};
}

Result<VolumeRecord> VolumeStore::get(std::string_view name) {
    Stmt st;
    if (auto r = prepare(store_.db(), std::string(volume_columns) + "WHERE name = ?1", st); !r)
        return fail(r.error());
    bind(st.s, 1, name);
    int rc = sqlite3_step(st.s);
    if (rc == SQLITE_ROW) return volume_row(st.s);
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "read volume"));
    return fail(Error::not_found("get " + std::string(name) + ": no such volume"));
}

Result<std::vector<VolumeRecord>> VolumeStore::list() {
    Stmt st;
    if (auto r = prepare(store_.db(), std::string(volume_columns) + "ORDER BY name", st); !r)
        return fail(r.error());
    std::vector<VolumeRecord> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(volume_row(st.s));
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "list volumes"));
    return out;
}

Result<> VolumeStore::remove(std::string_view name) {
    Stmt st;
    if (auto r = prepare(store_.db(), "DELETE FROM volumes WHERE name = ?1", st); !r) return r;
    bind(st.s, 1, name);
    if (sqlite3_step(st.s) != SQLITE_DONE)
        return fail(db_error(store_.db(), "remove volume " + std::string(name)));
    return {};
}

Result<> VolumeStore::add_mount(const VolumeMount& m) {
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "INSERT INTO container_volumes (container_id, volume_name, destination, "
                         "mode, rw, copy_data, anonymous) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         st);
        !r)
        return r;
    bind(st.s, 1, std::string_view(m.container_id));
    bind(st.s, 2, std::string_view(m.volume_name));
    bind(st.s, 3, std::string_view(m.destination));
    bind(st.s, 4, std::string_view(m.mode));
    sqlite3_bind_int(st.s, 5, m.rw);
    sqlite3_bind_int(st.s, 6, m.copy_data);
    sqlite3_bind_int(st.s, 7, m.anonymous);
    if (sqlite3_step(st.s) != SQLITE_DONE)
        return fail(db_error(store_.db(), "record volume " + m.volume_name + " of container"));
    return {};
}

Result<std::vector<VolumeMount>> VolumeStore::mounts(std::string_view where, std::string_view arg) {
    Stmt st;
    std::string sql =
        "SELECT container_id, volume_name, destination, mode, rw, copy_data, anonymous FROM "
        "container_volumes " +
        std::string(where) + " ORDER BY destination";
    if (auto r = prepare(store_.db(), sql, st); !r) return fail(r.error());
    bind(st.s, 1, arg);
    std::vector<VolumeMount> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        VolumeMount m;
        m.container_id = text(st.s, 0);
        m.volume_name = text(st.s, 1);
        m.destination = text(st.s, 2);
        m.mode = text(st.s, 3);
        m.rw = sqlite3_column_int(st.s, 4) != 0;
        m.copy_data = sqlite3_column_int(st.s, 5) != 0;
        m.anonymous = sqlite3_column_int(st.s, 6) != 0;
        out.push_back(std::move(m));
    }
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "read volume mounts"));
    return out;
}

Result<std::vector<VolumeMount>> VolumeStore::mounts_of(std::string_view container_id) {
    return mounts("WHERE container_id = ?1", container_id);
}

Result<std::vector<std::string>> VolumeStore::users(std::string_view name) {
    Stmt st;
    if (auto r = prepare(store_.db(),
                         "SELECT v.container_id FROM container_volumes v JOIN containers c ON "
                         "c.id = v.container_id WHERE v.volume_name = ?1 ORDER BY c.created_at",
                         st);
        !r)
        return fail(r.error());
    bind(st.s, 1, name);
    std::vector<std::string> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(text(st.s, 0));
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "read volume users"));
    return out;
}

Result<std::vector<std::string>> VolumeStore::used_names() {
    Stmt st;
    if (auto r = prepare(store_.db(), "SELECT DISTINCT volume_name FROM container_volumes", st); !r)
        return fail(r.error());
    std::vector<std::string> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(text(st.s, 0));
    if (rc != SQLITE_DONE) return fail(db_error(store_.db(), "read used volumes"));
    return out;
}

}  // namespace berth::graph
