// Small path-based file operations the storage drivers and the cgroup code share, kept here so
// the layers above call no raw syscalls for them.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::kernel {

// mkdir with `mode`; an existing entry at `path` is not an error.
Result<> make_dir(const std::string& path, unsigned mode);

// Written to `path`.tmp and renamed over `path`: a crash leaves the old file or the new one.
Result<> write_file_atomically(const std::string& path, const std::string& text);

// unlink; a missing file is not an error (log rotation and removal).
Result<> remove_file(const std::string& path);
// rename; a missing `from` is not an error (rotated log files shift up one by one).
Result<> rename_file(const std::string& from, const std::string& to);
// Whether `path` names anything (without following a last symlink).
bool path_exists(const std::string& path);

// The entries of the directory `fd` but . and .. (read through a dup; `where` names it in errors).
Result<std::vector<std::string>> directory_entries(int fd, const std::string& where);
// Owner, mode, xattrs and times of the open file or directory `src` onto `dst`. With
// `skip_unsupported_xattrs`, an xattr the destination's filesystem cannot hold (tmpfs and
// user.*) or the source cannot read is left out instead of failing the copy.
Result<> copy_metadata(int src, int dst, const struct stat& st, const std::string& where,
                       bool skip_unsupported_xattrs = false);
// rm -rf of `name` in `dirfd`, never following a symlink; a missing name is not an error.
Result<> remove_at(int dirfd, const std::string& name);
// Empties the directory `top` holding one directory fd at a time (any depth): down with
// O_NOFOLLOW, back up through "..", checking that ".." is the directory it came from.
Result<> remove_contents(UniqueFd top);

// Removes the symlinks in `dir` whose target is gone; returns their paths.
std::vector<std::string> remove_dangling_symlinks(const std::string& dir);

}  // namespace berth::kernel
