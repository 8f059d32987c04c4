// Small path-based file operations the storage drivers and the cgroup code share, kept here so
// the layers above call no raw syscalls for them.
#pragma once

#include <string>

#include "base/error.hpp"

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

}  // namespace berth::kernel
