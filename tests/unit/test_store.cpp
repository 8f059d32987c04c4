// The metadata store against real SQLite files in a temporary directory: creation, WAL, the
// schema version and its refusal of newer databases, the engine ID, and the /info counts.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "graph/store.hpp"

namespace {

using berth::ErrorKind;
using berth::graph::Store;

class StoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-store-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr) << "mkdtemp: " << std::strerror(errno);
        tmp_ = tmpl;
        root_ = tmp_ + "/data";
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(tmp_, ec);
    }

    std::unique_ptr<Store> open_store() {
        auto store = Store::open(root_);
        EXPECT_TRUE(store.has_value()) << (store ? "" : store.error().message);
        return store ? std::move(*store) : nullptr;
    }

    std::string tmp_;
    std::string root_;
};

// Raw access to berth.db without the Store, to set up or inspect what it must not touch.
class RawDb {
  public:
    explicit RawDb(const std::string& path) {
        EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK) << path;
    }
    ~RawDb() { sqlite3_close(db_); }
    sqlite3* get() { return db_; }

  private:
    sqlite3* db_ = nullptr;
};

void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
    sqlite3_free(err);
}

// Returns the first column of the first row as text ("" when there is no row).
std::string query(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db);
    std::string out;
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
        auto text = sqlite3_column_text(stmt, 0);
        out = text ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
    return out;
}

TEST_F(StoreTest, open_creates_db_in_wal_mode_with_current_schema) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);

    struct stat st {};
    ASSERT_EQ(stat(root_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_TRUE(std::filesystem::exists(root_ + "/berth.db"));

    EXPECT_EQ(store->version(), Store::schema_version);
    EXPECT_EQ(query(store->db(), "PRAGMA journal_mode"), "wal");
    EXPECT_EQ(query(store->db(), "PRAGMA foreign_keys"), "1");
    EXPECT_EQ(query(store->db(), "PRAGMA synchronous"), "1");  // NORMAL
    for (const char* table : {"meta", "images", "layers", "image_layers", "tags", "containers",
                              "volumes", "networks"}) {
        EXPECT_EQ(query(store->db(), std::string("SELECT name FROM sqlite_master WHERE type = "
                                                 "'table' AND name = '") +
                                         table + "'"),
                  table);
    }
}

TEST_F(StoreTest, open_creates_missing_parent_directories) {
    root_ = tmp_ + "/a/b/c";
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(std::filesystem::exists(root_ + "/berth.db"));
}

TEST_F(StoreTest, reopen_keeps_rows_and_schema) {
    {
        auto store = open_store();
        ASSERT_NE(store, nullptr);
        exec(store->db(),
             "INSERT INTO volumes (name, driver, created_at) VALUES ('data', 'local', 1)");
    }
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->version(), Store::schema_version);
    EXPECT_EQ(query(store->db(), "SELECT driver FROM volumes WHERE name = 'data'"), "local");
}

TEST_F(StoreTest, reopen_keeps_engine_id_stable) {
    std::string first;
    {
        auto store = open_store();
        ASSERT_NE(store, nullptr);
        auto id = store->engine_id();
        ASSERT_TRUE(id) << id.error().message;
        first = *id;
        auto again = store->engine_id();
        ASSERT_TRUE(again) << again.error().message;
        EXPECT_EQ(*again, first);
    }
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    auto id = store->engine_id();
    ASSERT_TRUE(id) << id.error().message;
    EXPECT_EQ(*id, first);
}

TEST_F(StoreTest, engine_id_is_uuid_shaped) {
    const std::regex uuid_v4{
        "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
    std::set<std::string> seen;
    for (int i = 0; i < 5; ++i) {
        root_ = tmp_ + "/root" + std::to_string(i);
        auto store = open_store();
        ASSERT_NE(store, nullptr);
        auto id = store->engine_id();
        ASSERT_TRUE(id) << id.error().message;
        EXPECT_TRUE(std::regex_match(*id, uuid_v4)) << *id;
        seen.insert(*id);
    }
    EXPECT_EQ(seen.size(), 5u) << "fresh data roots must get distinct engine IDs";
}

TEST_F(StoreTest, counts_reflect_rows) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    auto empty = store->counts();
    ASSERT_TRUE(empty) << empty.error().message;
    EXPECT_EQ(empty->images, 0);
    EXPECT_EQ(empty->containers, 0);
    EXPECT_EQ(empty->containers_stopped, 0);

    exec(store->db(),
         "INSERT INTO images (id, config_json, created, created_at) VALUES"
         " ('sha256:aa', '{}', 1, 1), ('sha256:bb', '{}', 2, 2)");
    int n = 0;
    for (const char* state :
         {"created", "running", "running", "paused", "exited", "dead", "restarting"}) {
        std::string id = "c" + std::to_string(n++);
        exec(store->db(),
             "INSERT INTO containers (id, name, image_id, config_json,"
             " host_config_json, state, created_at) VALUES ('" +
                 id + "', '/" + id + "', 'sha256:aa', '{}', '{}', '" + state + "', 1)");
    }

    auto counts = store->counts();
    ASSERT_TRUE(counts) << counts.error().message;
    EXPECT_EQ(counts->images, 2);
    EXPECT_EQ(counts->containers, 7);
    EXPECT_EQ(counts->containers_running, 2);
    EXPECT_EQ(counts->containers_paused, 1);
    EXPECT_EQ(counts->containers_stopped, 4);  // created, exited, dead, restarting
}

TEST_F(StoreTest, foreign_keys_are_enforced_and_image_layers_cascade) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    sqlite3* db = store->db();
    EXPECT_NE(sqlite3_exec(db,
                           "INSERT INTO tags (reference, image_id, kind)"
                           " VALUES ('docker.io/library/busybox:latest', 'sha256:none', 'tag')",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << "a tag must not point at a missing image";

    exec(db, "INSERT INTO layers (chain_id, diff_id) VALUES ('sha256:l1', 'sha256:d1')");
    exec(db,
         "INSERT INTO images (id, config_json, created, created_at, top_chain_id)"
         " VALUES ('sha256:img', '{}', 1, 1, 'sha256:l1')");
    exec(db,
         "INSERT INTO image_layers (image_id, position, chain_id)"
         " VALUES ('sha256:img', 0, 'sha256:l1')");
    exec(db, "DELETE FROM images WHERE id = 'sha256:img'");
    EXPECT_EQ(query(db, "SELECT count(*) FROM image_layers"), "0");
    EXPECT_EQ(query(db, "SELECT count(*) FROM layers"), "1") << "layers outlive their images";
}

TEST_F(StoreTest, newer_schema_is_refused_and_left_untouched) {
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
    const std::string path = root_ + "/berth.db";
    {
        RawDb raw{path};
        exec(raw.get(), "CREATE TABLE future (x INTEGER); PRAGMA user_version = 99");
    }

    auto store = Store::open(root_);
    ASSERT_FALSE(store) << "a database from a newer berthd must not be opened";
    EXPECT_NE(store.error().message.find("schema version 99"), std::string::npos)
        << store.error().message;
    EXPECT_NE(store.error().message.find("upgrade berthd"), std::string::npos)
        << store.error().message;
    EXPECT_NE(store.error().message.find(path), std::string::npos) << store.error().message;

    RawDb raw{path};
    EXPECT_EQ(query(raw.get(), "PRAGMA user_version"), "99");
    EXPECT_EQ(query(raw.get(), "PRAGMA journal_mode"), "delete") << "not even WAL was set";
    EXPECT_EQ(query(raw.get(), "SELECT count(*) FROM sqlite_master WHERE name = 'images'"), "0");
}

TEST_F(StoreTest, failed_migration_leaves_old_version_and_no_partial_tables) {
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
    const std::string path = root_ + "/berth.db";
    {
        // A stray `images` table makes migration 1 fail after it has created `meta`.
        RawDb raw{path};
        exec(raw.get(), "CREATE TABLE images (x INTEGER)");
    }

    auto store = Store::open(root_);
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("migrate to schema 1"), std::string::npos)
        << store.error().message;

    RawDb raw{path};
    EXPECT_EQ(query(raw.get(), "PRAGMA user_version"), "0");
    EXPECT_EQ(query(raw.get(), "SELECT count(*) FROM sqlite_master WHERE name = 'meta'"), "0")
        << "the whole migration must roll back";
}

TEST_F(StoreTest, open_fails_clearly_on_unwritable_path) {
    const std::string file = tmp_ + "/plain-file";
    std::ofstream{file} << "not a directory";

    root_ = file + "/data";
    auto under_file = Store::open(root_);
    ASSERT_FALSE(under_file);
    EXPECT_EQ(under_file.error().kind, ErrorKind::system);
    EXPECT_EQ(under_file.error().sys_errno, ENOTDIR);
    EXPECT_NE(under_file.error().message.find(root_), std::string::npos)
        << under_file.error().message;

    auto is_file = Store::open(file);
    ASSERT_FALSE(is_file);
    EXPECT_EQ(is_file.error().sys_errno, ENOTDIR);
    EXPECT_NE(is_file.error().message.find(file), std::string::npos) << is_file.error().message;
}

TEST_F(StoreTest, open_fails_clearly_on_a_file_that_is_not_a_database) {
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
    const std::string path = root_ + "/berth.db";
    std::ofstream{path} << std::string(4096, 'x');

    auto store = Store::open(root_);
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("open berth.db at " + path), std::string::npos)
        << store.error().message;
    EXPECT_NE(store.error().message.find("not a database"), std::string::npos)
        << store.error().message;
}

}  // namespace
