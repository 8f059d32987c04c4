// ContainerStore: container records in berth.db (the `containers` table): what `docker create`
// made, found as Docker finds them (full ID, unique ID prefix, or name), listed for `docker ps`,
// and removed. Every change is one statement, so a crash leaves the old record or the new one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "graph/store.hpp"

namespace berth::graph {

struct ContainerRecord {
    std::string id;    // 64 hex digits
    std::string name;  // without the leading '/'
    std::string image_id;
    std::string config_json;       // the merged Config, as inspect shows it
    std::string host_config_json;  // HostConfig as given
    std::string state = "created";  // State.Status
    int64_t created_ns = 0;
    int64_t started_ns = 0, finished_ns = 0;
    int exit_code = 0;
    int pid = 0;
    bool oom_killed = false;
    std::string error;  // State.Error: why the last start failed
    int restart_count = 0;
    bool manually_stopped = false;  // docker stop/kill: restart policies leave it stopped
    std::string health_json;        // State.Health, "" without a healthcheck
};

class ContainerStore {
public:
    explicit ContainerStore(Store& store) : store_(store) {}

    // 409 when the name is taken (Docker's message names the holder).
    Result<> insert(const ContainerRecord& c);
    // Docker's lookup: exact ID, exact name (with or without '/'), then a unique ID prefix.
    Result<ContainerRecord> get(std::string_view ref);
    Result<std::vector<ContainerRecord>> list();
    Result<> update_state(const ContainerRecord& c);
    Result<> remove(std::string_view id);
    // 409 when the name is taken, as insert.
    Result<> rename(std::string_view id, const std::string& name);
    // Whether `name` is free.
    Result<bool> name_free(std::string_view name);
    // docker update: the whole HostConfig replaced in one statement.
    Result<> update_host_config(std::string_view id, const std::string& host_config_json);

private:
    Result<std::vector<ContainerRecord>> query(std::string_view where, std::string_view arg);
    Store& store_;
};

}  // namespace berth::graph
