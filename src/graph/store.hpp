// The metadata store: berth.db under the data root (SQLite in WAL mode). A versioned schema with
// forward-only migrations (PRAGMA user_version); tables for images, layers, tags, containers,
// volumes and networks are declared now so later modules fill them.
// Every write is a transaction: a crash leaves the old state or the new one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.hpp"

struct sqlite3;

namespace berth::graph {

struct Counts {
    int64_t images = 0;
    int64_t containers = 0;
    int64_t containers_running = 0;
    int64_t containers_paused = 0;
    int64_t containers_stopped = 0;
};

// An SQLite failure as an Error: I/O-shaped ones (disk full, permissions, busy) are the host's
// doing and keep the OS errno; anything else is a bug in our SQL or a corrupt file.
Error db_error(sqlite3* db, std::string_view context);

class Store {
public:
    // The schema version this build writes. Opening a database from a newer berth fails with
    // a clear message instead of corrupting it.
    static constexpr int schema_version = 5;

    // Opens or creates <data_root>/berth.db, sets WAL, foreign keys, a busy timeout, and runs
    // the migrations up to schema_version in one transaction each.
    static Result<std::unique_ptr<Store>> open(const std::string& data_root);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    int version() const;
    Result<Counts> counts();

    // The engine ID shown by /info: created once (a random UUID, as dockerd's engine-id) and
    // kept in the store so it is stable across restarts.
    Result<std::string> engine_id();

    sqlite3* db() { return db_; }

private:
    Store() = default;
    Result<void> configure();
    Result<void> migrate();

    sqlite3* db_ = nullptr;
    std::string path_;  // <data_root>/berth.db, for error messages
};

}  // namespace berth::graph
