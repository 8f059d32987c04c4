// Whole directory trees for the storage drivers: a faithful copy (the vfs driver's layers and
// container roots) and a removal that never crosses into a mounted filesystem. Both work on
// directory fds (openat family), so path length and symlinks in the tree do not matter.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.hpp"

namespace berth::drivers {

// Copies the contents of `src` into the existing directory `dst`: files (reflinked where the
// filesystem can, else copy_file_range), directories, symlinks, hard links (kept as links),
// device nodes, fifos; owner, mode (setuid/setgid/sticky), xattrs and times. `dst` takes the
// owner, mode, xattrs and times of `src` too.
Result<void> copy_tree(const std::string& src, const std::string& dst);

// rm -rf that refuses to touch a tree with anything mounted in it (a mount left on a container
// root must fail loudly, not be emptied through): mountinfo first, then a device check on every
// directory. A missing path is not an error.
Result<void> remove_tree(const std::string& path);

// The bytes of the files and symlinks in a tree, as `du --apparent-size` counts them: a hard
// link once, nothing across a mount, symlinks not followed. 0 for a missing path.
uint64_t tree_size(const std::string& path);

}  // namespace berth::drivers
