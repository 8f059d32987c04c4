// Volumes of the `local` driver: <data-root>/volumes/<name>/_data, records in the VolumeStore,
// and their life with containers: created (or found) at container create, mounted (options'
// filesystem, image content copied into an empty volume) at start, unmounted at exit, the
// anonymous ones removed with the container when asked. The reactor thread owns all of it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "drivers/exec/container_spec.hpp"
#include "graph/volumes.hpp"
#include "kernel/volume_fs.hpp"
#include "loop/loop.hpp"

namespace berth::jobs {

class EventBus;

// POST /volumes/create's body.
struct VolumeCreate {
    std::string name;  // "" → 64 random hex digits
    std::string driver = "local";
    std::optional<std::map<std::string, std::string>> labels, options;
};

// What a start adds to the exec driver's spec: volume binds and --mount binds/tmpfs.
struct StartMounts {
    std::vector<drivers::BindMount> binds;
    std::vector<drivers::TmpfsMount> tmpfs;
};

// Docker 23+'s label on volumes made for one container: prune takes only these by default.
inline constexpr const char* anonymous_volume_label = "com.docker.volume.anonymous";

class VolumeService {
  public:
    // Copy-up of image content runs in steps of this much per loop tick, so a big image
    // directory delays that container's start but never the other clients.
    static constexpr uint64_t copy_step_bytes = 4 << 20;
    static constexpr size_t copy_step_entries = 256;
    // Removed volumes' files go this many entries per tick.
    static constexpr size_t trash_step_entries = 1024;

    VolumeService(loop::Loop& loop, graph::VolumeStore& store, EventBus& events,
                  std::string data_root);
    ~VolumeService();

    std::string mountpoint(const std::string& name) const;
    // Idempotent for an existing name with the same driver (`created` says which it was).
    Result<graph::VolumeRecord> create(const VolumeCreate& req, bool* created = nullptr);
    Result<graph::VolumeRecord> get(const std::string& name);
    Result<std::vector<graph::VolumeRecord>> list();
    // Names of the volumes some container mounts.
    Result<std::set<std::string>> used();
    // 409 while a container uses it; `force` makes a missing volume a success.
    Result<> remove(const std::string& name, bool force);
    struct Pruned {
        std::vector<std::string> names;
        uint64_t space_reclaimed = 0;
    };
    // Unused volumes `selected` picks.
    Result<Pruned> prune(const std::function<bool(const graph::VolumeRecord&)>& selected);

    // docker create: the volumes of the container's mounts, made where missing, and recorded
    // as its mount points.
    Result<> attach(const std::string& container_id, std::string_view config_json,
                    std::string_view host_config_json);
    // docker start: the mounts to add to the spec, after mounting the volumes' filesystems and
    // copying image content into empty volumes (over several ticks for big trees). `done` runs
    // exactly once, possibly before prepare returns.
    void prepare(const std::string& container_id, const std::string& rootfs,
                 std::string_view config_json, std::string_view host_config_json,
                 std::function<void(Result<StartMounts>)> done);
    // The container stopped (or failed to start): its volumes are unmounted.
    void release(const std::string& container_id);
    // The volumes made for this container (rm -v and --rm remove them).
    std::vector<std::string> anonymous_volumes(const std::string& container_id);
    // Removes those of `names` that no container uses any more.
    void remove_unused(const std::vector<std::string>& names);
    // inspect's Mounts array for a container.
    std::string mounts_json(const std::string& container_id, std::string_view config_json,
                            std::string_view host_config_json);
    // Start-up: leftovers of a crash (removals half done, mounts, directories without records
    // and records without directories) are settled.
    Result<> reconcile();

  private:
    struct CopyJob;
    Result<> activate(const graph::VolumeRecord& v);
    void deactivate(const std::string& name);
    void publish(const std::string& action, const std::string& name,
                 std::vector<std::pair<std::string, std::string>> extra = {});
    Result<std::string> create_anonymous(const std::string& container_id);
    Result<> plan_copies(CopyJob& job);
    void run_copy(CopyJob* job);
    void finish_copy(CopyJob* job, Result<> r);
    static void on_copy_tick(loop::Completion& c);
    void empty_trash(const std::string& path);
    static void on_trash_tick(loop::Completion& c);

    loop::Loop& loop_;
    graph::VolumeStore& store_;
    EventBus& events_;
    std::string root_;                   // <data-root>/volumes
    std::map<std::string, int> active_;  // volume → running containers mounting it
    std::set<std::string> fs_mounted_;   // volumes whose options' filesystem is mounted
    std::set<std::string> filling_;      // volumes a copy-up is writing into
    std::map<std::string, std::vector<std::string>> mounted_by_;  // container → its volumes
    std::deque<kernel::TreeRemove> trash_;  // removed volumes' directories being emptied
    loop::Completion trash_tick_;
};

}  // namespace berth::jobs
