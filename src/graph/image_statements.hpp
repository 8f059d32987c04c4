// Internal to the image store (images.cpp, image_delete.cpp): the SQL it runs, prepared once
// per ImageStore, a Query that resets its statement when dropped, and the transaction wrapper.
// Not for other modules: they go through ImageStore.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "graph/images.hpp"

namespace berth::graph::image_sql {

enum class Sql : unsigned char {
    layer_get,
    layer_insert,
    layer_commit,
    layer_delete_pending,
    layer_unreferenced,
    layer_delete,
    layers_complete,
    layers_drop_pending,
    layers_orphans,
    image_get,
    image_insert,
    image_unremove,
    image_parent,
    image_layer_insert,
    image_chain,
    image_by_prefix,
    image_children,
    image_tombstone,
    image_delete,
    images_removed_unused,
    images_list,
    tag_get,
    tag_put,
    tag_delete,
    tags_of,
    tags_all,
    container_first,
    container_count,
    container_counts,
    count_
};

struct SqlText {
    Sql id;
    const char* text;
};

// Docker counts paused and restarting containers as running (State.Running is true for them).
#define BERTH_RUNNING_STATES "('running', 'paused', 'restarting')"

inline constexpr std::array sql_texts{
    SqlText{Sql::layer_get,
            "SELECT chain_id, diff_id, ifnull(parent_chain_id, ''), ifnull(blob_digest, ''), size,"
            " state FROM layers WHERE chain_id = ?1"},
    SqlText{Sql::layer_insert,
            "INSERT INTO layers (chain_id, diff_id, parent_chain_id, blob_digest, size, state)"
            " VALUES (?1, ?2, nullif(?3, ''), nullif(?4, ''), 0, 'pending')"},
    SqlText{Sql::layer_commit,
            "UPDATE layers SET state = 'complete', size = ?2 WHERE chain_id = ?1 AND state = "
            "'pending'"},
    SqlText{Sql::layer_delete_pending,
            "DELETE FROM layers WHERE chain_id = ?1 AND state = 'pending'"
            " AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent_chain_id = ?1)"},
    SqlText{Sql::layer_unreferenced,
            "SELECT NOT EXISTS (SELECT 1 FROM image_layers WHERE chain_id = ?1)"
            " AND NOT EXISTS (SELECT 1 FROM layers WHERE parent_chain_id = ?1)"},
    SqlText{Sql::layer_delete, "DELETE FROM layers WHERE chain_id = ?1"},
    SqlText{Sql::layers_complete, "SELECT chain_id FROM layers WHERE state = 'complete'"},
    // A pending layer's descendants cannot be in any image (an image needs its whole chain
    // complete), so they go with it; one statement, so the parent keys are checked at its end.
    SqlText{
        Sql::layers_drop_pending,
        "WITH RECURSIVE doomed(chain_id) AS ("
        " SELECT chain_id FROM layers WHERE state = 'pending'"
        " UNION SELECT l.chain_id FROM layers l JOIN doomed d ON l.parent_chain_id = d.chain_id)"
        " DELETE FROM layers WHERE chain_id IN doomed"},
    SqlText{Sql::layers_orphans,
            "SELECT chain_id FROM layers l WHERE state = 'complete'"
            " AND NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id)"
            " AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent_chain_id = l.chain_id)"},
    SqlText{Sql::image_get,
            "SELECT id, config_json, ifnull(parent_id, ''), created, size, removed FROM images"
            " WHERE id = ?1"},
    SqlText{
        Sql::image_insert,
        "INSERT INTO images (id, config_json, created, size, top_chain_id, created_at, parent_id)"
        " VALUES (?1, ?2, ?3, ?4, nullif(?5, ''), ?6, nullif(?7, ''))"},
    SqlText{Sql::image_unremove, "UPDATE images SET removed = 0 WHERE id = ?1"},
    SqlText{Sql::image_parent, "UPDATE images SET parent_id = nullif(?2, '') WHERE id = ?1"},
    SqlText{Sql::image_layer_insert,
            "INSERT INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)"},
    SqlText{Sql::image_chain,
            "SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY position"},
    SqlText{Sql::image_by_prefix,
            "SELECT id FROM images WHERE removed = 0 AND substr(id, 8, length(?1)) = ?1 LIMIT 2"},
    SqlText{Sql::image_children,
            "SELECT count(*) FROM images WHERE parent_id = ?1 AND removed = 0"},
    SqlText{Sql::image_tombstone, "UPDATE images SET removed = 1, parent_id = NULL WHERE id = ?1"},
    SqlText{Sql::image_delete, "DELETE FROM images WHERE id = ?1"},
    SqlText{Sql::images_removed_unused,
            "SELECT id FROM images i WHERE removed = 1"
            " AND NOT EXISTS (SELECT 1 FROM containers c WHERE c.image_id = i.id)"},
    SqlText{Sql::images_list,
            "SELECT id, ifnull(parent_id, ''), created, size, config_json,"
            " EXISTS (SELECT 1 FROM images c WHERE c.parent_id = i.id AND c.removed = 0)"
            " FROM images i WHERE removed = 0 ORDER BY created DESC, id"},
    SqlText{Sql::tag_get, "SELECT image_id FROM tags WHERE reference = ?1"},
    SqlText{Sql::tag_put,
            "INSERT INTO tags (reference, image_id, kind) VALUES (?1, ?2, ?3)"
            " ON CONFLICT (reference) DO UPDATE SET image_id = excluded.image_id"},
    SqlText{Sql::tag_delete, "DELETE FROM tags WHERE reference = ?1"},
    SqlText{Sql::tags_of, "SELECT reference FROM tags WHERE image_id = ?1"},
    SqlText{Sql::tags_all, "SELECT image_id, reference FROM tags"},
    SqlText{Sql::container_first,
            "SELECT id FROM containers WHERE image_id = ?1"
            " AND (state IN " BERTH_RUNNING_STATES ") = ?2 ORDER BY created_at, id LIMIT 1"},
    SqlText{Sql::container_count, "SELECT count(*) FROM containers WHERE image_id = ?1"},
    SqlText{
        Sql::container_counts,
        "SELECT image_id, count(*) FROM containers WHERE image_id IS NOT NULL GROUP BY image_id"},
};
#undef BERTH_RUNNING_STATES

constexpr bool sql_texts_in_order() {
    for (size_t i = 0; i < sql_texts.size(); ++i)
        if (static_cast<size_t>(sql_texts[i].id) != i) return false;
    return sql_texts.size() == static_cast<size_t>(Sql::count_);
}
static_assert(sql_texts_in_order());

using graph::db_error;  // store.cpp: one mapping of SQLite errors for the whole graph

// One use of a prepared statement; reset and unbound when dropped, so it can be used again.
// A statement serves one Query at a time: binding a statement another Query has stepped fails
// (SQLITE_MISUSE), so a second use while the first is alive is a bug and asserts.
class Query {
  public:
    Query(sqlite3* db, sqlite3_stmt* s, bool& in_use) : db_(db), s_(s), in_use_(in_use) {
        assert(!in_use_ && "prepared statement used twice at once");
        in_use_ = true;
    }
    Query(const Query&) = delete;
    ~Query() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
        in_use_ = false;
    }
    Query& bind(int i, std::string_view v) {
        // A null pointer would bind NULL; an empty string is still a string.
        sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()),
                          SQLITE_TRANSIENT);
        return *this;
    }
    Query& bind(int i, int64_t v) {
        sqlite3_bind_int64(s_, i, v);
        return *this;
    }
    Result<bool> step() {
        int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        return fail(db_error(db_, sqlite3_sql(s_)));
    }
    Result<void> run() {
        auto r = step();
        if (!r) return fail(std::move(r.error()));
        return {};
    }
    std::string text(int col) const {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
        return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : "";
    }
    int64_t integer(int col) const { return sqlite3_column_int64(s_, col); }
    int changes() const { return sqlite3_changes(db_); }

  private:
    sqlite3* db_;
    sqlite3_stmt* s_;
    bool& in_use_;
};

// The first column of every row.
inline Result<std::vector<std::string>> texts(Query&& q) {
    std::vector<std::string> out;
    for (;;) {
        auto row = q.step();
        if (!row) return fail(std::move(row.error()));
        if (!*row) return out;
        out.push_back(q.text(0));
    }
}

inline Result<std::optional<std::string>> one_text(Query&& q) {
    auto row = q.step();
    if (!row) return fail(std::move(row.error()));
    if (!*row) return std::optional<std::string>{};
    return std::optional<std::string>{q.text(0)};
}

inline Result<int64_t> one_int(Query&& q) {
    auto row = q.step();
    if (!row) return fail(std::move(row.error()));
    return *row ? q.integer(0) : 0;
}

inline Error no_such_image(std::string_view shown) {
    return Error::not_found("No such image: " + std::string(shown));
}

inline bool is_digest_ref(const Reference& r) {
    return !r.digest().empty();
}

}  // namespace berth::graph::image_sql

namespace berth::graph {

class ImageStore::Statements {
  public:
    explicit Statements(sqlite3* db) : db_(db) {}
    ~Statements() {
        for (sqlite3_stmt* s : prepared_) sqlite3_finalize(s);
    }
    Result<void> prepare_all() {
        for (const image_sql::SqlText& t : image_sql::sql_texts) {
            sqlite3_stmt* s = nullptr;
            if (sqlite3_prepare_v3(db_, t.text, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) !=
                SQLITE_OK)
                return fail(image_sql::db_error(db_, std::string("prepare \"") + t.text + "\""));
            prepared_[static_cast<size_t>(t.id)] = s;
        }
        return {};
    }
    image_sql::Query operator()(image_sql::Sql id) {
        auto i = static_cast<size_t>(id);
        return image_sql::Query(db_, prepared_[i], in_use_[i]);
    }
    sqlite3* db() const { return db_; }

  private:
    sqlite3* db_;
    std::array<sqlite3_stmt*, static_cast<size_t>(image_sql::Sql::count_)> prepared_{};
    std::array<bool, static_cast<size_t>(image_sql::Sql::count_)> in_use_{};
};

template <class F>
auto ImageStore::in_transaction(F&& body) -> decltype(body()) {
    sqlite3* db = store_.db();
    // IMMEDIATE: take the write lock before reading, so what we checked is what we change.
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        return fail(image_sql::db_error(db, "begin"));
    auto r = body();
    if (r && sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
        r = fail(image_sql::db_error(db, "commit"));
    if (!r && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return r;
}

}  // namespace berth::graph
