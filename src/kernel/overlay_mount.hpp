// overlayfs through the kernel: feature probes, a mount built with the new mount API (one
// "lowerdir+" per layer, Linux 6.8+, so the layer count is not bounded by a page of options),
// the mount(2) fallback with Docker's short relative lowerdir string, detach, and the mount
// table. The storage drivers decide what to mount; this file only makes the syscalls.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::kernel {

struct OverlayFeatures {
    bool filesystem = false;       // "overlay" is in /proc/filesystems
    bool mount_api = false;        // fsopen("overlay") works (Linux 5.2+)
    bool lowerdir_append = false;  // fsconfig "lowerdir+" is known (Linux 6.8+)
    bool index_param = false;      // the overlay module has an index option: mount with index=off
};
OverlayFeatures probe_overlay_features();

struct OverlaySpec {
    std::vector<std::string> lower_dirs;  // absolute, top layer first
    std::string upper_dir;                // absolute; empty with work_dir for a read-only mount
    std::string work_dir;
    bool index_off = false;
};

// fsopen("overlay"), "lowerdir+" for each lower dir, upperdir, workdir, [index=off], fsmount:
// a detached mount, not yet visible anywhere. Needs lowerdir_append.
Result<UniqueFd> overlay_fsmount(const OverlaySpec& spec);

// move_mount of a detached mount onto `target` in this mount namespace.
Result<void> attach_mount(int mount_fd, const std::string& target);

// Before Linux 6.8: mount(2) with one "lowerdir=a:b:c" string, whose page-size limit is why the
// lower dirs are given relative to `relative_to` (short links such as l/ABC…, Docker's trick).
// The chdir happens in a short-lived child, so the daemon's working directory never moves.
Result<void> overlay_mount_relative(const std::string& relative_to,
                                    std::span<const std::string> relative_lowers,
                                    const std::string& upper_dir, const std::string& work_dir,
                                    bool index_off, const std::string& target);

// umount2(MNT_DETACH): the mount leaves the tree at once, the kernel frees it when its last user
// goes. A path that is not a mount point (or does not exist) counts as unmounted.
Result<void> detach_mount(const std::string& target);

// True if `path` is the root of a mount (its device differs from its parent's, or statx says so).
bool is_mount_point(const std::string& path);
// The same for the entry `name` of the directory `dirfd` (no symlink followed): statx's
// STATX_ATTR_MOUNT_ROOT, which also sees a bind mount from the same filesystem; false where
// the kernel does not say (the caller's device check remains).
bool is_mount_root_at(int dirfd, const char* name);

// Mount points at or under `prefix` in /proc/self/mountinfo, deepest first, unescaped.
Result<std::vector<std::string>> mounts_under(const std::string& prefix);

// The filesystem of `path` as dockerd names it in /info ("extfs", "xfs", "btrfs", "tmpfs", …).
std::string backing_filesystem(const std::string& path);

// Whether readdir on `dir` reports file types (d_type); overlay needs it on the upper filesystem.
Result<bool> supports_d_type(const std::string& dir);

}  // namespace berth::kernel
