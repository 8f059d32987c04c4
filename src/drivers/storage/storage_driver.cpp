// The driver-independent half: layer and container paths, their validation, the layer
// directory lifecycle, and the choice between overlay2 and vfs at start-up.
#include "kernel/files.hpp"
#include "drivers/storage/storage_driver.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "drivers/storage/file_tree.hpp"
#include "drivers/storage/overlay_driver.hpp"
#include "drivers/storage/vfs_driver.hpp"
#include "kernel/container_path.hpp"

namespace berth::drivers {
namespace {

// dockerd creates its layer and container roots 0710/0700: they hold every image's files.
constexpr mode_t private_dir_mode = 0700;

bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

Result<std::vector<std::string>> directory_names(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = opendir(dir.c_str());
    if (!d) {
        if (errno == ENOENT) return out;
        return fail(Error::last_sys("open directory " + dir));
    }
    while (dirent* e = readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") out.emplace_back(n);
    }
    closedir(d);
    return out;
}

}  // namespace

Result<std::string> chain_hex(std::string_view chain_id) {
    constexpr std::string_view prefix = "sha256:";
    if (!chain_id.starts_with(prefix) || chain_id.size() != prefix.size() + 64 ||
        !is_lower_hex(chain_id.substr(prefix.size())))
        return fail(Error::invalid("invalid layer chain ID \"" + std::string(chain_id) + "\""));
    return std::string(chain_id.substr(prefix.size()));
}

Result<void> check_container_id(std::string_view id) {
    auto ok = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '-';
    };
    if (id.empty() || id.front() == '.' || id.front() == '-' || !std::ranges::all_of(id, ok))
        return fail(Error::invalid("invalid container ID \"" + std::string(id) + "\""));
    return {};
}

std::string StorageDriver::layer_path(std::string_view chain_id) const {
    std::string_view hex = chain_id.starts_with("sha256:") ? chain_id.substr(7) : chain_id;
    return layers_root() + "/" + std::string(hex) + "/diff";
}

std::string StorageDriver::container_dir(std::string_view id) const {
    return containers_root() + "/" + std::string(id);
}

Result<void> StorageDriver::make_roots() {
    if (auto r = kernel::make_dir(data_root_, private_dir_mode); !r) return r;
    if (auto r = kernel::make_dir(layers_root(), private_dir_mode); !r) return r;
    return kernel::make_dir(containers_root(), private_dir_mode);
}

Result<std::string> StorageDriver::prepare_layer(std::string_view chain_id) {
    auto hex = chain_hex(chain_id);
    if (!hex) return fail(std::move(hex.error()));
    if (auto r = kernel::make_dir(layers_root() + "/" + *hex, private_dir_mode); !r)
        return fail(std::move(r.error()));
    std::string diff = layer_path(chain_id);
    if (auto r = remove_tree(diff); !r) return fail(std::move(r.error()));
    return diff;
}

Result<kernel::UniqueFd> StorageDriver::open_root(std::string_view id) {
    auto path = mount(id);
    if (!path) return fail(std::move(path.error()));
    return kernel::open_dir_path(*path);
}

Result<void> StorageDriver::remove_layer(std::string_view chain_id) {
    auto hex = chain_hex(chain_id);
    if (!hex) return fail(std::move(hex.error()));
    return remove_tree(layers_root() + "/" + *hex);
}

Result<std::vector<std::string>> StorageDriver::list_layers() const {
    auto names = directory_names(layers_root());
    if (!names) return fail(std::move(names.error()));
    std::vector<std::string> out;
    for (const std::string& n : *names)
        if (n.size() == 64 && is_lower_hex(n)) out.push_back("sha256:" + n);
    return out;
}

Result<void> StorageDriver::remove_container_pieces(
    std::string_view id, std::initializer_list<std::string_view> pieces) {
    if (auto r = check_container_id(id); !r) return r;
    const std::string dir = container_dir(id);
    for (std::string_view p : pieces)
        if (auto r = remove_tree(dir + "/" + std::string(p)); !r) return r;
    // Logs and config of the container belong to others; the directory goes only when empty.
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        return fail(Error::last_sys("remove " + dir));
    return {};
}

Result<std::vector<std::string>> StorageDriver::stale_container_ids(
    const std::set<std::string>& keep) const {
    auto names = directory_names(containers_root());
    if (!names) return fail(std::move(names.error()));
    std::vector<std::string> out;
    for (std::string& n : *names)
        if (!keep.contains(n) && check_container_id(n)) out.push_back(std::move(n));
    return out;
}

Result<std::unique_ptr<StorageDriver>> open_storage_driver(const std::string& data_root,
                                                           std::string_view requested,
                                                           std::string& note) {
    note.clear();
    using Opened = Result<std::unique_ptr<StorageDriver>>;
    auto vfs = [&]() -> Opened {
        auto d = VfsDriver::open(data_root);
        if (!d) return fail(std::move(d.error()));
        return std::unique_ptr<StorageDriver>(std::move(*d));
    };
    if (requested == "vfs") return vfs();
    if (!requested.empty() && requested != "overlay2")
        return fail(Error::invalid("error initializing graphdriver: driver not supported: " +
                                   std::string(requested)));
    auto overlay = OverlayDriver::open(data_root);
    if (overlay) return std::unique_ptr<StorageDriver>(std::move(*overlay));
    if (requested == "overlay2")
        return fail(std::move(overlay.error()).wrap("error initializing graphdriver: overlay2"));
    note = "overlay2 is not usable on " + data_root + " (" + overlay.error().message +
           "); falling back to vfs";
    return vfs();
}

}  // namespace berth::drivers
