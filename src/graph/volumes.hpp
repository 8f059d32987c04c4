// VolumeStore: volume records in berth.db (the `volumes` table) and the volume mount points of
// containers (`container_volumes`, schema 3) that make a volume "in use". Only metadata: the
// files under <data-root>/volumes/<name>/_data belong to jobs::VolumeService.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "graph/store.hpp"

namespace berth::graph {

struct VolumeRecord {
    std::string name;
    std::string driver = "local";
    std::optional<std::string> labels_json;   // {"k":"v"}; nullopt shows as null
    std::optional<std::string> options_json;  // DriverOpts: {"type":"tmpfs",…}
    int64_t created_ns = 0;
};

// One volume mounted into a container (Docker's MountPoint with Type "volume").
struct VolumeMount {
    std::string container_id;
    std::string volume_name;
    std::string destination;
    std::string mode;  // "z", "ro", "" as inspect shows it
    bool rw = true;
    bool copy_data = true;  // false with volume-nocopy
    bool anonymous = false;
};

class VolumeStore {
  public:
    explicit VolumeStore(Store& store) : store_(store) {}

    // 409 when the name exists.
    Result<> insert(const VolumeRecord& v);
    // 404 "no such volume" when absent.
    Result<VolumeRecord> get(std::string_view name);
    Result<std::vector<VolumeRecord>> list();
    // Refused by the foreign key while a container mounts it (callers check users() first).
    Result<> remove(std::string_view name);

    Result<> add_mount(const VolumeMount& m);
    Result<std::vector<VolumeMount>> mounts_of(std::string_view container_id);
    // The containers that mount `name`, oldest first.
    Result<std::vector<std::string>> users(std::string_view name);
    // Every volume name with at least one container mounting it.
    Result<std::vector<std::string>> used_names();

  private:
    Result<std::vector<VolumeMount>> mounts(std::string_view where, std::string_view arg);
    Store& store_;
};

}  // namespace berth::graph
