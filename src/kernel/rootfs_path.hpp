// Resolving paths inside a container's root without ever leaving it: openat2 with
// RESOLVE_IN_ROOT, so "..", absolute symlinks and symlink chains in an image stay inside.
// Usable from the spawn child: no allocation, only syscalls on caller buffers.
#pragma once

#include <fcntl.h>

namespace berth::kernel {

// openat2(root_fd, path, flags | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS [| extra]).
// Returns an fd or -errno.
int open_in_root(int root_fd, const char* path, int flags, unsigned long long extra_resolve = 0);

// Opens `path` inside the root with O_PATH; creates it when missing (every missing directory on
// the way, and the last component as a directory or an empty file). With `refuse_symlink`, a
// final component that is a symlink is refused with -ELOOP instead of followed (inside the root).
// Returns an fd or -errno.
int open_or_create_in_root(int root_fd, const char* path, bool as_file, bool refuse_symlink);

}  // namespace berth::kernel
