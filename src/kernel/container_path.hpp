// Paths of a container's files as docker cp sees them: stat'ed, opened and named inside the
// container's root fd, every step resolved with RESOLVE_IN_ROOT (rootfs_path.hpp), so no symlink
// in the container (absolute, a ".." chain, or one swapped in meanwhile) can lead outside it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::kernel {

// Go's filepath.Clean of an absolute path: "/a/./b/../c/" → "/a/c" ("/" stays "/").
std::string clean_absolute(std::string_view p);

// An O_PATH directory fd on `path` in the daemon's mount namespace (a container's root).
Result<UniqueFd> open_dir_path(const std::string& path);

// What `docker cp` learns of a path (moby's container.PathStat, before it becomes JSON).
struct ContainerPathStat {
    std::string name;  // the last element of the path as asked ("." for "/x/.")
    int64_t size = 0;
    mode_t mode = 0;  // st_mode: type and permission bits
    timespec mtime{};
    std::string link_target;  // a symlink's target resolved inside the root, absolute
};

// lstat of `path` inside the root (the directories on the way followed inside it, the last
// element not, except where a trailing "/" or "/." asks for it), as dockerd's Stat does.
// A missing path is ErrorKind::not_found.
Result<ContainerPathStat> stat_in_container(int root_fd, std::string_view path);

// The path, absolute inside the root, of what `fd` (opened under `root_fd`) is.
Result<std::string> path_in_container(int root_fd, int fd);

// The directory at `path` with every symlink followed inside the root (a link to a directory
// is that directory), as an fd (O_PATH) and its absolute path inside the root. Missing is
// ErrorKind::not_found; anything but a directory ErrorKind::invalid_parameter with ENOTDIR.
struct ContainerDir {
    UniqueFd fd;
    std::string path;
};
Result<ContainerDir> resolve_dir_in_container(int root_fd, std::string_view path);

// Opens `path` inside the root following every symlink (inside it); `flags` as openat's.
Result<UniqueFd> open_in_container(int root_fd, std::string_view path, int flags);

}  // namespace berth::kernel
