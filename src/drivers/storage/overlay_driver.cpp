// overlay2 over the kernel layer in kernel/overlay_mount: the container's lower chain is kept in
// containers/<id>/lower (chain IDs, top first) so mount() needs nothing but the ID. With
// "lowerdir+" every lower dir is its own fsconfig call; without it, Docker's layers/l/<short>
// links keep the single lowerdir string within a page.
#include "kernel/files.hpp"
#include "drivers/storage/overlay_driver.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "drivers/storage/file_tree.hpp"
#include "kernel/container_path.hpp"

namespace berth::drivers {
namespace {

// The upper dir's root becomes the container's "/": world-readable like Docker's 0755 diff dir.
constexpr mode_t upper_mode = 0755;
constexpr mode_t private_mode = 0700;
// Length of a layers/l/ link name: Docker's 26 (base32 of 128 random bits); ours are the
// first 26 hex digits of the chain ID (104 bits), stable so no state file is needed.
constexpr size_t short_link_chars = 26;

std::string container_of(const std::string& mount_point, const std::string& containers_root) {
    std::string rest = mount_point.substr(containers_root.size() + 1);
    return rest.substr(0, rest.find('/'));
}

}  // namespace

Result<std::unique_ptr<OverlayDriver>> OverlayDriver::open(const std::string& data_root) {
    return open(data_root, kernel::probe_overlay_features());
}

Result<std::unique_ptr<OverlayDriver>> OverlayDriver::open(const std::string& data_root,
                                                           const kernel::OverlayFeatures& f) {
    if (!f.filesystem) return fail(Error::sys(ENODEV, "overlay is not in /proc/filesystems"));
    std::unique_ptr<OverlayDriver> d{new OverlayDriver(data_root, f, "", false)};
    if (auto r = d->make_roots(); !r) return fail(std::move(r.error()));
    d->backing_fs_ = kernel::backing_filesystem(d->layers_root());
    auto typed = kernel::supports_d_type(d->layers_root());
    if (!typed) return fail(std::move(typed.error()));
    d->d_type_ = *typed;
    // dockerd refuses overlay2 without d_type: whiteouts and copy-up misbehave.
    if (!d->d_type_)
        return fail(Error::invalid("the backing " + d->backing_fs_ +
                                   " filesystem is formatted without d_type support"));
    if (auto r = d->probe(); !r) return fail(std::move(r.error()).wrap("overlay probe mount"));
    return d;
}

// Two lowers, an upper and a work dir in a scratch directory on the data root's filesystem,
// mounted the way containers will be: it fails here, not at the first `docker run`.
Result<void> OverlayDriver::probe() {
    const std::string dir = layers_root() + "/.probe-" + std::to_string(::getpid());
    if (auto r = remove_tree(dir); !r) return r;
    Result<void> out = kernel::make_dir(dir, private_mode);
    for (const char* sub : {"/l1", "/l2", "/upper", "/work", "/merged"})
        if (out) out = kernel::make_dir(dir + sub, private_mode);
    if (out && features_.lowerdir_append) {
        auto mnt = kernel::overlay_fsmount(kernel::OverlaySpec{
            {dir + "/l1", dir + "/l2"}, dir + "/upper", dir + "/work", features_.index_param});
        if (!mnt) out = fail(std::move(mnt.error()));  // never attached: closing frees it
    } else if (out) {
        std::vector<std::string> lowers{"l1", "l2"};
        out = kernel::overlay_mount_relative(dir, lowers, dir + "/upper", dir + "/work",
                                             features_.index_param, dir + "/merged");
        if (out) out = kernel::detach_mount(dir + "/merged");
    }
    if (auto r = remove_tree(dir); !r && out) out = std::move(r);
    return out;
}

std::vector<std::pair<std::string, std::string>> OverlayDriver::status() const {
    return {{"Backing Filesystem", backing_fs_},
            {"Supports d_type", d_type_ ? "true" : "false"},
            {"Using metacopy", "false"},
            {"Native Overlay Diff", "true"},
            {"userxattr", "false"}};
}

Result<void> OverlayDriver::remove_layer(std::string_view chain_id) {
    auto hex = chain_hex(chain_id);
    if (!hex) return fail(std::move(hex.error()));
    const std::string link = layers_root() + "/l/" + hex->substr(0, short_link_chars);
    if (auto r = kernel::remove_file(link); !r) return r;
    return StorageDriver::remove_layer(chain_id);
}

Result<void> OverlayDriver::create_container_layer(std::string_view id,
                                                   std::span<const std::string> lowers_top_first) {
    if (auto r = check_container_id(id); !r) return r;
    std::string lower_file;
    for (const std::string& chain : lowers_top_first) {
        if (auto hex = chain_hex(chain); !hex) return fail(std::move(hex.error()));
        if (!kernel::path_exists(layer_path(chain)))
            return fail(Error::not_found("layer " + chain + " is not unpacked"));
        lower_file += chain + "\n";
    }
    const std::string dir = container_dir(id);
    if (auto r = kernel::make_dir(dir, private_mode); !r) return r;
    if (auto r = kernel::make_dir(dir + "/upper", upper_mode); !r) return r;
    if (auto r = kernel::make_dir(dir + "/work", private_mode); !r) return r;
    if (auto r = kernel::make_dir(dir + "/rootfs", upper_mode); !r) return r;
    return kernel::write_file_atomically(dir + "/lower", lower_file);
}

Result<std::vector<std::string>> OverlayDriver::read_lowers(std::string_view id) const {
    const std::string path = container_dir(id) + "/lower";
    std::ifstream in(path);
    if (!in) return fail(Error::not_found("no container layer for " + std::string(id)));
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(std::move(line));
    return out;
}

Result<std::string> OverlayDriver::mount(std::string_view id) {
    if (auto r = check_container_id(id); !r) return fail(std::move(r.error()));
    const std::string dir = container_dir(id);
    const std::string rootfs = dir + "/rootfs";
    auto lowers = read_lowers(id);
    if (!lowers) return fail(std::move(lowers.error()));
    // An image without layers: the upper dir alone is the root, as Docker's overlay2 does it.
    if (lowers->empty()) return dir + "/upper";
    if (kernel::is_mount_point(rootfs)) return rootfs;
    if (!features_.lowerdir_append) {
        if (auto r = mount_relative(*lowers, dir, rootfs); !r) return fail(std::move(r.error()));
        return rootfs;
    }
    kernel::OverlaySpec spec{{}, dir + "/upper", dir + "/work", features_.index_param};
    spec.lower_dirs.reserve(lowers->size());
    for (const std::string& chain : *lowers) spec.lower_dirs.push_back(layer_path(chain));
    auto mnt = kernel::overlay_fsmount(spec);
    if (!mnt) return fail(std::move(mnt.error()).wrap("mount rootfs of " + std::string(id)));
    if (auto r = kernel::attach_mount(mnt->get(), rootfs); !r) return fail(std::move(r.error()));
    return rootfs;
}

Result<kernel::UniqueFd> OverlayDriver::open_root(std::string_view id) {
    if (auto r = check_container_id(id); !r) return fail(std::move(r.error()));
    const std::string dir = container_dir(id);
    const std::string rootfs = dir + "/rootfs";
    auto lowers = read_lowers(id);
    if (!lowers) return fail(std::move(lowers.error()));
    if (lowers->empty()) return kernel::open_dir_path(dir + "/upper");
    if (kernel::is_mount_point(rootfs)) return kernel::open_dir_path(rootfs);
    if (!features_.lowerdir_append) {
        // One thread: nothing can start the container between the mount and the detach.
        if (auto r = mount_relative(*lowers, dir, rootfs); !r) return fail(std::move(r.error()));
        auto fd = kernel::open_dir_path(rootfs);
        if (auto r = kernel::detach_mount(rootfs); !r) return fail(std::move(r.error()));
        return fd;
    }
    kernel::OverlaySpec spec{{}, dir + "/upper", dir + "/work", features_.index_param};
    spec.lower_dirs.reserve(lowers->size());
    for (const std::string& chain : *lowers) spec.lower_dirs.push_back(layer_path(chain));
    auto mnt = kernel::overlay_fsmount(spec);
    if (!mnt) return fail(std::move(mnt.error()).wrap("mount rootfs of " + std::string(id)));
    return std::move(*mnt);
}

// layers/l/<26 hex> → ../<hex>/diff, made on first use.
Result<std::string> OverlayDriver::short_link(std::string_view chain_id) {
    auto hex = chain_hex(chain_id);
    if (!hex) return fail(std::move(hex.error()));
    std::string name = "l/" + hex->substr(0, short_link_chars);
    if (auto r = kernel::make_dir(layers_root() + "/l", private_mode); !r)
        return fail(std::move(r.error()));
    const std::string target = "../" + *hex + "/diff";
    const std::string link = layers_root() + "/" + name;
    if (::symlink(target.c_str(), link.c_str()) != 0 && errno != EEXIST)
        return fail(Error::last_sys("create " + link));
    return name;
}

Result<void> OverlayDriver::mount_relative(const std::vector<std::string>& lowers,
                                           const std::string& dir, const std::string& target) {
    std::vector<std::string> relative;
    relative.reserve(lowers.size());
    for (const std::string& chain : lowers) {
        auto name = short_link(chain);
        if (!name) return fail(std::move(name.error()));
        relative.push_back(std::move(*name));
    }
    return kernel::overlay_mount_relative(layers_root(), relative, dir + "/upper", dir + "/work",
                                          features_.index_param, target);
}

Result<void> OverlayDriver::unmount(std::string_view id) {
    if (auto r = check_container_id(id); !r) return r;
    return kernel::detach_mount(container_dir(id) + "/rootfs");
}

uint64_t OverlayDriver::container_layer_size(std::string_view id) const {
    if (!check_container_id(id)) return 0;
    return tree_size(container_dir(id) + "/upper");
}

Result<void> OverlayDriver::remove_container_layer(std::string_view id) {
    if (auto r = unmount(id); !r) return r;
    return remove_container_pieces(id, {"rootfs", "upper", "work", "lower", "lower.tmp"});
}

void OverlayDriver::remove_dangling_links(StaleCleanup& out) {
    for (std::string& link : kernel::remove_dangling_symlinks(layers_root() + "/l"))
        out.removed.push_back(std::move(link));
}

void OverlayDriver::remove_probe_dirs(StaleCleanup& out) {
    DIR* d = opendir(layers_root().c_str());
    if (!d) return;
    std::vector<std::string> probes;
    while (dirent* e = readdir(d))
        if (std::string_view(e->d_name).starts_with(".probe-")) probes.emplace_back(e->d_name);
    closedir(d);
    for (const std::string& n : probes)
        if (remove_tree(layers_root() + "/" + n)) out.removed.push_back(layers_root() + "/" + n);
}

Result<StaleCleanup> OverlayDriver::cleanup_stale(const std::set<std::string>& keep) {
    StaleCleanup out;
    auto mounts = kernel::mounts_under(containers_root());
    if (!mounts) return fail(std::move(mounts.error()));
    for (const std::string& m : *mounts) {
        if (keep.contains(container_of(m, containers_root()))) continue;
        if (auto r = kernel::detach_mount(m); !r) return fail(std::move(r.error()));
        out.unmounted.push_back(m);
    }
    auto probes = kernel::mounts_under(layers_root());  // a probe interrupted mid-way
    if (!probes) return fail(std::move(probes.error()));
    for (const std::string& m : *probes)
        if (kernel::detach_mount(m)) out.unmounted.push_back(m);
    auto stale = stale_container_ids(keep);
    if (!stale) return fail(std::move(stale.error()));
    for (const std::string& id : *stale) {
        if (auto r = remove_container_pieces(id, {"rootfs", "upper", "work", "lower", "lower.tmp"});
            !r)
            return fail(std::move(r.error()));
        out.removed.push_back(id);
    }
    remove_dangling_links(out);
    remove_probe_dirs(out);
    return out;
}

}  // namespace berth::drivers
