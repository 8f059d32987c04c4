// Exclusive locks that keep two berthd processes apart: flock(2) on a file, held for the life
// of the process (the kernel drops it when the process dies, so a crash never leaves a stale
// lock). Also the pid file, written only while its lock is held.
#pragma once

#include <string>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::kernel {

// Creates `path` if needed and takes an exclusive, non-blocking flock on it. If another process
// holds it, fails with a conflict whose message names `what` and the holder's pid when the file
// records one.
Result<UniqueFd> lock_exclusive(const std::string& path, const std::string& what);

// Locks and writes the pid file: "<pid>\n". A pid file locked by a live berthd is refused.
Result<UniqueFd> write_pid_file(const std::string& path);

// mkdir -p with `mode` for the directories it creates.
Result<> make_dirs(const std::string& path, unsigned mode);

}  // namespace berth::kernel
