// The metadata store: opens berth.db (WAL), refuses a schema newer than this build, and runs the
// forward-only migrations, each in its own BEGIN IMMEDIATE transaction together with the new
// PRAGMA user_version, so a crash mid-migration leaves the old version and the old tables.
#include "graph/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "kernel/random.hpp"

namespace berth::graph {
namespace {

// Long enough to ride out another process's checkpoint or write; short enough that a wedged
// database shows up as an error rather than a hung request.
constexpr int busy_timeout_ms = 5000;
// dockerd creates its data root 0700: it holds every container's files and config.
constexpr mode_t data_root_mode = 0700;

struct Migration {
    int version;
    const char* sql;
};

// Schema 1. Times are unix nanoseconds. Every child column of a foreign key is indexed: SQLite
// scans the child table on each parent delete otherwise, and the same lookups serve
// `docker rmi` (tags and containers of an image) and layer garbage collection.
constexpr const char* schema_1 = R"sql(
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE images (
    id           TEXT PRIMARY KEY,          -- sha256:<hex> of the image config
    config_json  TEXT NOT NULL,
    created      INTEGER NOT NULL,          -- the config's "created"
    size         INTEGER NOT NULL DEFAULT 0,
    top_chain_id TEXT,                      -- NULL for an image with no layers
    created_at   INTEGER NOT NULL           -- when this daemon stored it
);
CREATE TABLE layers (
    chain_id        TEXT PRIMARY KEY,
    diff_id         TEXT NOT NULL,
    parent_chain_id TEXT REFERENCES layers(chain_id),
    size            INTEGER NOT NULL DEFAULT 0,
    blob_digest     TEXT,                   -- the compressed blob it came from, if pulled
    state           TEXT NOT NULL DEFAULT 'complete'
                    CHECK (state IN ('pending', 'complete'))  -- 'pending' while being written
);
CREATE INDEX layers_by_parent ON layers(parent_chain_id);
CREATE TABLE image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,              -- 0 = bottom layer
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX image_layers_by_chain ON image_layers(chain_id);
CREATE TABLE tags (
    reference TEXT PRIMARY KEY,             -- docker.io/library/busybox:latest or name@sha256:...
    image_id  TEXT NOT NULL REFERENCES images(id),
    kind      TEXT NOT NULL CHECK (kind IN ('tag', 'digest'))
);
CREATE INDEX tags_by_image ON tags(image_id);
CREATE TABLE containers (
    id               TEXT PRIMARY KEY,
    name             TEXT UNIQUE NOT NULL,
    image_id         TEXT REFERENCES images(id),
    config_json      TEXT NOT NULL,         -- Config
    host_config_json TEXT NOT NULL,         -- HostConfig
    state            TEXT NOT NULL DEFAULT 'created',  -- State.Status
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    exit_code        INTEGER,
    pid              INTEGER
);
CREATE INDEX containers_by_image ON containers(image_id);
CREATE TABLE volumes (
    name         TEXT PRIMARY KEY,
    driver       TEXT NOT NULL,
    labels_json  TEXT,
    options_json TEXT,
    created_at   INTEGER NOT NULL
);
CREATE TABLE networks (
    id          TEXT PRIMARY KEY,
    name        TEXT UNIQUE NOT NULL,
    driver      TEXT NOT NULL,
    config_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
)sql";

// Schema 2 (the image graph): images.parent_id is Docker's Parent (children make a delete a
// conflict; `docker rmi` prunes untagged parents); images.removed marks an image removed with
// `rmi -f` while a stopped container still uses it — hidden until no container does.
constexpr const char* schema_2 = R"sql(
ALTER TABLE images ADD COLUMN parent_id TEXT REFERENCES images(id);
ALTER TABLE images ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX images_by_parent ON images(parent_id);
CREATE INDEX layers_by_state ON layers(state) WHERE state = 'pending';
)sql";

// Schema 3 (container state beyond the status): State.OOMKilled and State.Error, RestartCount,
// whether the user stopped it (restart policies spare it), and State.Health as JSON.
constexpr const char* schema_3 = R"sql(
ALTER TABLE containers ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN error TEXT NOT NULL DEFAULT '';
ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN manually_stopped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN health_json TEXT NOT NULL DEFAULT '';
)sql";

// Schema 4 (volumes): the volume mount points of each container (Docker's MountPoints of type
// volume), so rm and prune know a volume is in use and `rm -v` which ones the container made.
// A container's rows go with it; a volume with rows cannot be deleted.
constexpr const char* schema_4 = R"sql(
CREATE TABLE container_volumes (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume_name  TEXT NOT NULL REFERENCES volumes(name),
    destination  TEXT NOT NULL,
    mode         TEXT NOT NULL DEFAULT '',  -- MountPoint.Mode as inspect shows it ("z", "ro")
    rw           INTEGER NOT NULL DEFAULT 1,
    copy_data    INTEGER NOT NULL DEFAULT 1,  -- 0: volume-nocopy
    anonymous    INTEGER NOT NULL DEFAULT 0,  -- made for this container: rm -v and --rm remove it
    PRIMARY KEY (container_id, destination)
);
CREATE INDEX container_volumes_by_volume ON container_volumes(volume_name);
)sql";

// Schema 5 (networks): schema 1's `networks` placeholder was never written, so it is replaced by
// the columns the network service reads; `endpoints` are the containers' attachments (a row from
// create or connect on, its address filled while the container runs). A network with endpoints
// cannot be deleted; a container's endpoints go with it.
constexpr const char* schema_5 = R"sql(
DROP TABLE networks;
CREATE TABLE networks (
    id           TEXT PRIMARY KEY,          -- 64 hex digits
    name         TEXT UNIQUE NOT NULL,
    driver       TEXT NOT NULL,             -- bridge, host, null
    created      INTEGER NOT NULL,          -- unix nanoseconds
    subnet       TEXT NOT NULL DEFAULT '',  -- "172.18.0.0/16"; '' for host and null
    gateway      TEXT NOT NULL DEFAULT '',
    ip_range     TEXT NOT NULL DEFAULT '',
    subnet_given INTEGER NOT NULL DEFAULT 0,  -- the user chose the subnet: --ip is allowed
    internal     INTEGER NOT NULL DEFAULT 0,
    attachable   INTEGER NOT NULL DEFAULT 0,
    bridge       TEXT NOT NULL DEFAULT '',  -- interface: berth0, br-<id[:12]>, or the option's
    mtu          INTEGER NOT NULL DEFAULT 0,
    labels       TEXT NOT NULL DEFAULT '{}',
    options      TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE endpoints (
    network_id   TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    endpoint_id  TEXT NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',  -- '' while the container is not running
    mac          TEXT NOT NULL DEFAULT '',
    aliases      TEXT NOT NULL DEFAULT '[]',
    ip_requested TEXT NOT NULL DEFAULT '',  -- --ip / IPAMConfig.IPv4Address, kept across starts
    PRIMARY KEY (network_id, container_id)
);
CREATE INDEX endpoints_by_container ON endpoints(container_id);
)sql";

// Append only: a released migration is never edited, a change is a new entry.
constexpr std::array migrations{
    Migration{1, schema_1},
    Migration{2, schema_2},
    Migration{3, schema_3},
    Migration{4, schema_4},
    Migration{5, schema_5},
};

constexpr bool migrations_are_consecutive() {
    for (size_t i = 0; i < migrations.size(); ++i)
        if (migrations[i].version != static_cast<int>(i) + 1) return false;
    return true;
}
static_assert(migrations_are_consecutive());
static_assert(migrations.back().version == Store::schema_version);

struct StatementFinalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;


Result<Statement> prepare(sqlite3* db, std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK)
        return fail(db_error(db, "prepare \"" + std::string(sql) + "\""));
    return Statement{raw};
}

Result<void> exec(sqlite3* db, const char* sql, std::string_view context) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
        return fail(db_error(db, context));
    return {};
}

// The first column of the first row of a one-row query (a PRAGMA or a count).
Result<int64_t> query_int(sqlite3* db, std::string_view sql) {
    auto stmt = prepare(db, sql);
    if (!stmt) return fail(std::move(stmt.error()));
    if (sqlite3_step(stmt->get()) != SQLITE_ROW)
        return fail(db_error(db, "run \"" + std::string(sql) + "\""));
    return sqlite3_column_int64(stmt->get(), 0);
}

Result<std::string> query_text(sqlite3* db, std::string_view sql) {
    auto stmt = prepare(db, sql);
    if (!stmt) return fail(std::move(stmt.error()));
    if (sqlite3_step(stmt->get()) != SQLITE_ROW)
        return fail(db_error(db, "run \"" + std::string(sql) + "\""));
    const unsigned char* text = sqlite3_column_text(stmt->get(), 0);
    return std::string(text ? reinterpret_cast<const char*>(text) : "");
}

Error newer_schema_error(int64_t found) {
    std::string m = "berth.db has schema version " + std::to_string(found);
    m += ", newer than this berthd supports (" + std::to_string(Store::schema_version) + ")";
    m += "; upgrade berthd";
    return Error::make(ErrorKind::system, std::move(m));
}

// mkdir -p with data_root_mode for every component it creates (as Go's MkdirAll(root, 0700)),
// then insists the result is a directory.
Result<void> ensure_data_root(const std::string& data_root) {
    if (data_root.empty()) return fail(Error::invalid("data root is empty"));
    for (size_t slash = data_root.find('/', 1);; slash = data_root.find('/', slash + 1)) {
        std::string prefix = data_root.substr(0, slash);
        if (mkdir(prefix.c_str(), data_root_mode) != 0 && errno != EEXIST)
            return fail(Error::last_sys("create data root " + prefix));
        if (slash == std::string::npos) break;
    }
    struct stat st {};
    if (stat(data_root.c_str(), &st) != 0) return fail(Error::last_sys("data root " + data_root));
    if (!S_ISDIR(st.st_mode)) return fail(Error::sys(ENOTDIR, "data root " + data_root));
    return {};
}

// RFC 4122 version 4: 122 random bits, 8-4-4-4-12 lowercase hex.
Result<std::string> random_uuid() {
    std::array<unsigned char, 16> bytes{};
    if (auto r = kernel::fill_random(bytes); !r) return fail(std::move(r.error()));
    bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
    bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // variant 10xx
    constexpr std::string_view hex = "0123456789abcdef";
    std::string uuid;
    uuid.reserve(36);
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) uuid += '-';
        uuid += hex[bytes[i] >> 4];
        uuid += hex[bytes[i] & 0x0f];
    }
    return uuid;
}

Result<std::optional<std::string>> read_meta(sqlite3* db, std::string_view key) {
    auto stmt = prepare(db, "SELECT value FROM meta WHERE key = ?1");
    if (!stmt) return fail(std::move(stmt.error()));
    sqlite3_bind_text(stmt->get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_DONE) return std::optional<std::string>{};
    if (rc != SQLITE_ROW) return fail(db_error(db, "read meta " + std::string(key)));
    auto text = reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0));
    return std::optional<std::string>{text ? text : ""};
}

// INSERT OR IGNORE: if another writer got there first, its value stands.
Result<void> insert_meta_if_absent(sqlite3* db, std::string_view key, std::string_view value) {
    auto stmt = prepare(db, "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)");
    if (!stmt) return fail(std::move(stmt.error()));
    sqlite3_bind_text(stmt->get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_text(stmt->get(), 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    if (sqlite3_step(stmt->get()) != SQLITE_DONE)
        return fail(db_error(db, "write meta " + std::string(key)));
    return {};
}

Result<void> run_migration(sqlite3* db, const Migration& m) {
    // Re-read inside the write lock: another berthd may have migrated since we last looked.
    auto current = query_int(db, "PRAGMA user_version");
    if (!current) return fail(std::move(current.error()));
    if (*current > Store::schema_version) return fail(newer_schema_error(*current));
    if (*current >= m.version) return {};
    if (*current != m.version - 1)
        return fail(Error::internal("schema version " + std::to_string(*current) +
                                    " cannot migrate to " + std::to_string(m.version)));
    if (auto r = exec(db, m.sql, "create tables"); !r) return r;
    // PRAGMA takes no bound parameters; the value is our own integer.
    std::string set_version = "PRAGMA user_version = " + std::to_string(m.version);
    return exec(db, set_version.c_str(), "set user_version");
}

Result<void> apply_migration(sqlite3* db, const Migration& m) {
    // IMMEDIATE takes the write lock up front, so two daemons racing on one fresh data root
    // serialize here instead of failing with SQLITE_BUSY halfway through.
    if (auto r = exec(db, "BEGIN IMMEDIATE", "begin"); !r) return r;
    auto r = run_migration(db, m);
    if (r) r = exec(db, "COMMIT", "commit");
    // A failed statement or COMMIT can leave the transaction open; nothing of it may stay.
    if (!r && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return r;
}

}  // namespace

// I/O-shaped failures are the host's doing (disk full, permissions) and keep the OS errno;
// anything else from SQLite is a bug in our SQL or a corrupt file.
Error db_error(sqlite3* db, std::string_view context) {
    std::string message{context};
    message += ": ";
    message += sqlite3_errmsg(db);
    switch (sqlite3_errcode(db) & 0xff) {
        case SQLITE_IOERR:
        case SQLITE_CANTOPEN:
        case SQLITE_FULL:
        case SQLITE_PERM:
        case SQLITE_READONLY:
        case SQLITE_BUSY: {
            Error e = Error::make(ErrorKind::system, std::move(message));
            e.sys_errno = sqlite3_system_errno(db);
            return e;
        }
        default:
            return Error::internal(std::move(message));
    }
}

Result<std::unique_ptr<Store>> Store::open(const std::string& data_root) {
    if (auto r = ensure_data_root(data_root); !r) return fail(std::move(r.error()));
    std::unique_ptr<Store> store{new Store()};
    store->path_ = data_root + "/berth.db";
    const std::string context = "open berth.db at " + store->path_;
    // NOMUTEX: only the reactor thread touches the store. SQLite opens its files O_CLOEXEC, so
    // containers never inherit them.
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
#ifdef SQLITE_OPEN_EXRESCODE
    flags |= SQLITE_OPEN_EXRESCODE;
#endif
    if (sqlite3_open_v2(store->path_.c_str(), &store->db_, flags, nullptr) != SQLITE_OK) {
        if (!store->db_) return fail(Error::make(ErrorKind::system, context + ": out of memory"));
        return fail(db_error(store->db_, context));  // ~Store closes the half-open handle
    }
#ifndef SQLITE_OPEN_EXRESCODE
    sqlite3_extended_result_codes(store->db_, 1);
#endif
    if (auto r = store->configure(); !r) return fail(std::move(r.error()).wrap(context));
    if (auto r = store->migrate(); !r) return fail(std::move(r.error()).wrap(context));
    return store;
}

Result<void> Store::configure() {
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    // READWRITE silently falls back to read-only on a write-protected file.
    if (sqlite3_db_readonly(db_, "main") == 1)
        return fail(Error{ErrorKind::system, EACCES, "the file is write-protected"});
    // Refuse a newer schema before anything writes: even the journal mode is kept in the file
    // header, and an older berthd must leave a newer one's database exactly as it was.
    auto version = query_int(db_, "PRAGMA user_version");
    if (!version) return fail(std::move(version.error()));
    if (*version > schema_version) return fail(newer_schema_error(*version));

    auto mode = query_text(db_, "PRAGMA journal_mode = WAL");
    if (!mode) return fail(std::move(mode.error()));
    // SQLite answers with the mode it kept: WAL needs shared memory (mmap of berth.db-shm),
    // which some network filesystems lack.
    if (*mode != "wal") {
        std::string m = "journal_mode stayed '" + *mode + "' instead of 'wal'";
        m += "; is the data root on a filesystem without shared-memory support?";
        return fail(Error::make(ErrorKind::system, std::move(m)));
    }
    // In WAL mode NORMAL survives a daemon crash; power loss can drop the last commits but never
    // corrupts the file, and it saves an fsync per transaction on the start path.
    if (auto r = exec(db_, "PRAGMA synchronous = NORMAL", "set synchronous"); !r) return r;
    if (auto r = exec(db_, "PRAGMA foreign_keys = ON", "enable foreign keys"); !r) return r;
    auto fk = query_int(db_, "PRAGMA foreign_keys");
    if (!fk) return fail(std::move(fk.error()));
    if (*fk != 1) return fail(Error::internal("this SQLite ignores foreign keys"));
    return {};
}

Result<void> Store::migrate() {
    auto current = query_int(db_, "PRAGMA user_version");
    if (!current) return fail(std::move(current.error()));
    // The common case (an up-to-date database) takes no write lock at all.
    if (*current == schema_version) return {};
    for (const Migration& m : migrations) {
        if (m.version <= *current) continue;
        if (auto r = apply_migration(db_, m); !r)
            return fail(
                std::move(r.error()).wrap("migrate to schema " + std::to_string(m.version)));
    }
    return {};
}

Store::~Store() {
    sqlite3_close_v2(db_);
}

// -1 if the database cannot be read at all; callers show it, they never branch on it.
int Store::version() const {
    auto v = query_int(db_, "PRAGMA user_version");
    return v ? static_cast<int>(*v) : -1;
}

Result<Counts> Store::counts() {
    // One statement, one snapshot. As in dockerd's /info, every state other than running and
    // paused (created, restarting, exited, dead, removing) counts as stopped.
    auto stmt = prepare(db_,
                        // Images removed with `rmi -f` but still used stay hidden (schema 2).
                        "SELECT (SELECT count(*) FROM images WHERE removed = 0), count(*),"
                        " count(*) FILTER (WHERE state = 'running'),"
                        " count(*) FILTER (WHERE state = 'paused')"
                        " FROM containers");
    if (!stmt) return fail(std::move(stmt.error()));
    if (sqlite3_step(stmt->get()) != SQLITE_ROW) return fail(db_error(db_, "count objects"));
    Counts c;
    c.images = sqlite3_column_int64(stmt->get(), 0);
    c.containers = sqlite3_column_int64(stmt->get(), 1);
    c.containers_running = sqlite3_column_int64(stmt->get(), 2);
    c.containers_paused = sqlite3_column_int64(stmt->get(), 3);
    c.containers_stopped = c.containers - c.containers_running - c.containers_paused;
    return c;
}

Result<std::string> Store::engine_id() {
    constexpr std::string_view key = "engine_id";
    auto existing = read_meta(db_, key);
    if (!existing) return fail(std::move(existing.error()));
    if (*existing) return std::move(**existing);

    auto fresh = random_uuid();
    if (!fresh) return fail(std::move(fresh.error()).wrap("create engine id"));
    if (auto r = insert_meta_if_absent(db_, key, *fresh); !r) return fail(std::move(r.error()));
    // Re-read rather than return `fresh`: a concurrent writer's ID may be the one that stuck.
    auto stored = read_meta(db_, key);
    if (!stored) return fail(std::move(stored.error()));
    if (!*stored) return fail(Error::internal("engine_id vanished right after it was written"));
    return std::move(**stored);
}

}  // namespace berth::graph
