// The API's Unix socket: created 0660 and owned by group `docker` where that group exists,
// as dockerd does; a lock file beside it keeps a second daemon off the same path.
#pragma once

#include <string>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::kernel {

struct UnixListener {
    UniqueFd fd;    // listening, non-blocking, close-on-exec
    UniqueFd lock;  // flock on "<path>.lock", held while the socket is ours
    std::string path;
    std::string group_warning;  // set when the group could not be applied
};

// Locks "<path>.lock", removes a stale socket left by a crash, binds, sets the mode and group,
// and listens. `group` empty: leave root's group.
Result<UnixListener> listen_unix(const std::string& path, const std::string& group,
                                 int backlog = 4096);

// Connects to a Unix socket (blocking, close-on-exec): for tests and tools.
Result<UniqueFd> connect_unix(const std::string& path);

}  // namespace berth::kernel
