// Small SQLite statement helpers for the stores that write their SQL inline (containers,
// volumes): an owned statement, text binding (NULL for an empty optional) and text columns.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <string_view>

#include "graph/store.hpp"

namespace berth::graph::sql {

struct Stmt {
    sqlite3_stmt* s = nullptr;
    Stmt() = default;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt() { sqlite3_finalize(s); }
};

inline Result<> prepare(sqlite3* db, std::string_view sql, Stmt& st) {
    if (sqlite3_prepare_v2(db, sql.data(), int(sql.size()), &st.s, nullptr) != SQLITE_OK)
        return fail(db_error(db, "prepare " + std::string(sql.substr(0, 40))));
    return {};
}

inline void bind(sqlite3_stmt* s, int i, std::string_view v) {
    sqlite3_bind_text(s, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
}

inline void bind(sqlite3_stmt* s, int i, const std::string& v) {
    bind(s, i, std::string_view(v));
}

inline void bind(sqlite3_stmt* s, int i, const std::optional<std::string>& v) {
    if (v)
        bind(s, i, std::string_view(*v));
    else
        sqlite3_bind_null(s, i);
}

inline std::string text(sqlite3_stmt* s, int col) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return p ? std::string(p, size_t(sqlite3_column_bytes(s, col))) : std::string();
}

inline std::optional<std::string> optional_text(sqlite3_stmt* s, int col) {
    if (sqlite3_column_type(s, col) == SQLITE_NULL) return std::nullopt;
    return text(s, col);
}

}  // namespace berth::graph::sql
