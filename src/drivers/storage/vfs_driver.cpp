// vfs over copy_tree: a container root is copied to containers/<id>/rootfs.tmp and renamed into
// place, so a crash mid-copy never leaves a half root that looks finished.
#include "kernel/files.hpp"
#include "drivers/storage/vfs_driver.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "drivers/storage/file_tree.hpp"

namespace berth::drivers {
namespace {

constexpr mode_t private_mode = 0700;
constexpr mode_t rootfs_mode = 0755;

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

Result<std::unique_ptr<VfsDriver>> VfsDriver::open(const std::string& data_root) {
    std::unique_ptr<VfsDriver> d{new VfsDriver(data_root)};
    if (auto r = d->make_roots(); !r) return fail(std::move(r.error()));
    return d;
}

Result<void> VfsDriver::populate_layer(std::string_view chain_id, std::string_view parent) {
    if (auto hex = chain_hex(chain_id); !hex) return fail(std::move(hex.error()));
    if (parent.empty()) return {};
    if (auto hex = chain_hex(parent); !hex) return fail(std::move(hex.error()));
    return copy_tree(layer_path(parent), layer_path(chain_id));
}

Result<void> VfsDriver::create_container_layer(std::string_view id,
                                               std::span<const std::string> lowers_top_first) {
    if (auto r = check_container_id(id); !r) return r;
    const std::string dir = container_dir(id);
    const std::string rootfs = dir + "/rootfs";
    if (exists(rootfs)) return {};  // made before; its contents are the container's now
    if (auto r = kernel::make_dir(dir, private_mode); !r) return r;
    const std::string tmp = rootfs + ".tmp";
    if (auto r = remove_tree(tmp); !r) return r;
    if (auto r = kernel::make_dir(tmp, rootfs_mode); !r) return r;
    if (!lowers_top_first.empty()) {
        if (auto hex = chain_hex(lowers_top_first.front()); !hex)
            return fail(std::move(hex.error()));
        if (auto r = copy_tree(layer_path(lowers_top_first.front()), tmp); !r) return r;
    }
    if (::rename(tmp.c_str(), rootfs.c_str()) != 0) return fail(Error::last_sys("rename " + tmp));
    return {};
}

Result<std::string> VfsDriver::mount(std::string_view id) {
    if (auto r = check_container_id(id); !r) return fail(std::move(r.error()));
    std::string rootfs = container_dir(id) + "/rootfs";
    if (!exists(rootfs)) return fail(Error::not_found("no container layer for " + std::string(id)));
    return rootfs;
}

uint64_t VfsDriver::container_layer_size(std::string_view id) const {
    if (!check_container_id(id)) return 0;
    return tree_size(container_dir(id) + "/rootfs");
}

Result<void> VfsDriver::remove_container_layer(std::string_view id) {
    return remove_container_pieces(id, {"rootfs", "rootfs.tmp"});
}

Result<StaleCleanup> VfsDriver::cleanup_stale(const std::set<std::string>& keep) {
    StaleCleanup out;
    auto stale = stale_container_ids(keep);
    if (!stale) return fail(std::move(stale.error()));
    for (const std::string& id : *stale) {
        if (auto r = remove_container_pieces(id, {"rootfs", "rootfs.tmp"}); !r)
            return fail(std::move(r.error()));
        out.removed.push_back(id);
    }
    // A copy a crash interrupted, in a container that stays: create_container_layer redoes it.
    for (const std::string& id : keep) {
        const std::string tmp = container_dir(id) + "/rootfs.tmp";
        if (exists(tmp) && remove_tree(tmp)) out.removed.push_back(tmp);
    }
    return out;
}

}  // namespace berth::drivers
