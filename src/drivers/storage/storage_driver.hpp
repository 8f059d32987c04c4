// The storage driver: where unpacked layers live and how a container's root filesystem is made
// from them. Layers: <data-root>/layers/<chain hex>/diff. Containers: <data-root>/containers/<id>/
// (the driver owns only its pieces there: rootfs, and for overlay upper, work and lower).
// mount() returns a path in the daemon's mount namespace; see overlay_driver.hpp for why.
#pragma once

#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::drivers {

// What a layer directory holds, and so how the extractor writes whiteouts into it.
enum class LayerFormat : unsigned char {
    diff,       // this layer's changes only; whiteouts as overlayfs reads them (0/0 character
                // devices, trusted.overlay.opaque=y): graph::WhiteoutMode::overlay
    flattened,  // the parent's files plus this layer's changes, whiteouts applied by deleting
                // (vfs): graph::WhiteoutMode::apply
};

struct StaleCleanup {
    std::vector<std::string> unmounted;  // mount points detached
    std::vector<std::string> removed;    // container IDs whose storage went, and stray paths
};

class StorageDriver {
  public:
    virtual ~StorageDriver() = default;
    StorageDriver(const StorageDriver&) = delete;
    StorageDriver& operator=(const StorageDriver&) = delete;

    virtual std::string_view name() const = 0;  // "overlay2", "vfs": /info's Driver
    // /info's DriverStatus pairs.
    virtual std::vector<std::pair<std::string, std::string>> status() const = 0;
    virtual LayerFormat layer_format() const = 0;

    // ---- layers ----
    // <data-root>/layers/<hex>/diff. chain_id is "sha256:<64 hex>".
    std::string layer_path(std::string_view chain_id) const;
    // Makes <data-root>/layers/<hex>/ (dropping a diff a failed attempt left) and returns the
    // diff path, which does not exist yet: the extractor creates it.
    Result<std::string> prepare_layer(std::string_view chain_id);
    // After the extractor created the diff directory and before it writes: a flattened layer
    // starts as a copy of its parent. Nothing to do for diff layers.
    virtual Result<void> populate_layer(std::string_view chain_id,
                                        std::string_view parent_chain_id) = 0;
    virtual Result<void> remove_layer(std::string_view chain_id);
    // Chain IDs of every layer directory on disk (for the image store's start-up sweep).
    Result<std::vector<std::string>> list_layers() const;

    // ---- container layers ----
    // The writable layer over the image's layers (chain IDs, top layer first). Idempotent.
    virtual Result<void> create_container_layer(std::string_view id,
                                                std::span<const std::string> lowers_top_first) = 0;
    // The container's root filesystem, ready for the spawn plan. Mounting twice is harmless.
    virtual Result<std::string> mount(std::string_view id) = 0;
    virtual Result<void> unmount(std::string_view id) = 0;
    // An O_PATH fd on the container's root filesystem, for the daemon to read and write its
    // files (docker cp, export): the mounted root of a running container, or for a stopped one
    // a mount that lives only as long as the fd (nothing left in the mount table, even when
    // the caller dies). This default opens what mount() gives (vfs: a plain directory).
    virtual Result<kernel::UniqueFd> open_root(std::string_view id);
    // Unmounts if needed and removes the driver's pieces of containers/<id>/ (and the directory
    // itself when nothing else is left in it).
    virtual Result<void> remove_container_layer(std::string_view id) = 0;
    // The bytes its removal gives back (docker container prune's SpaceReclaimed): overlay's
    // upper dir, vfs's whole copied root.
    virtual uint64_t container_layer_size(std::string_view id) const = 0;
    // Start-up after a crash: detaches mounts and removes storage of every container not in
    // `keep` (the IDs in the store), and the driver's own leftovers. Mounts of kept containers
    // stay: the engine unmounts those it finds not running.
    virtual Result<StaleCleanup> cleanup_stale(const std::set<std::string>& keep) = 0;

    const std::string& data_root() const { return data_root_; }
    std::string layers_root() const { return data_root_ + "/layers"; }
    std::string containers_root() const { return data_root_ + "/containers"; }
    std::string container_dir(std::string_view id) const;

  protected:
    explicit StorageDriver(std::string data_root) : data_root_(std::move(data_root)) {}
    Result<void> make_roots();
    // Removes `pieces` of containers/<id>/, then the directory if it is empty.
    Result<void> remove_container_pieces(std::string_view id,
                                         std::initializer_list<std::string_view> pieces);
    // Every directory under containers/ whose name is not in `keep`.
    Result<std::vector<std::string>> stale_container_ids(const std::set<std::string>& keep) const;

    std::string data_root_;
};

// The 64 hex digits of a chain ID, or 400 for anything else (it becomes a path).
Result<std::string> chain_hex(std::string_view chain_id);
// Container IDs become path components: [A-Za-z0-9][A-Za-z0-9_.-]*.
Result<void> check_container_id(std::string_view id);

// daemon.json's "storage-driver": "overlay2", "vfs", or "" to pick overlay2 when the data root's
// filesystem can carry it (overlay in the kernel, d_type, a probe mount works) and vfs if not.
// `note` receives why the fallback was taken, for the daemon's log.
Result<std::unique_ptr<StorageDriver>> open_storage_driver(const std::string& data_root,
                                                           std::string_view requested,
                                                           std::string& note);

}  // namespace berth::drivers
