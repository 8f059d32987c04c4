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

}  // namespace berth::kernel
