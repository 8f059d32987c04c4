// docker cp and docker export: a container's files stat'ed, archived and written through an fd
// on its root (StorageDriver::open_root), never through a host path, so every path is resolved
// inside the container. Each job owns that fd: for a stopped container it is the only thing
// keeping its temporary root mounted, and the mount goes with the job, whatever ends it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "kernel/container_path.hpp"
#include "kernel/fd.hpp"

namespace berth::graph {
class TreeArchive;
class TreeExtractor;
}  // namespace berth::graph

namespace berth::jobs {

// A mount of the container that docker cp resolves paths across: a bind (HostConfig.Binds,
// "src:dst[:ro]") or a tmpfs (HostConfig.Tmpfs).
struct ContainerMount {
    std::string target;  // clean, absolute, in the container
    std::string source;  // bind: the host directory
    bool tmpfs = false;
    bool read_only = false;
};
std::vector<ContainerMount> container_mounts(const std::string& host_config_json);

// The container as docker cp sees it: its root and the mounts over it. A path at or under a
// bind's target is resolved inside the bind's source (confined there as in the root); under a
// tmpfs of a running container it is refused (its files live in the container's namespace
// only); symlinks in the root that lead into a mount are resolved in the root, not the mount.
struct ContainerFs {
    kernel::UniqueFd root;
    std::vector<ContainerMount> mounts;
    bool running = false;
    bool readonly_rootfs = false;  // HostConfig.ReadonlyRootfs
};

// dockerd's containerStatPath; a missing path is 404 "Could not find the file <path> in
// container <name>" with the container named as the client named it.
Result<kernel::ContainerPathStat> stat_container_path(const ContainerFs& fs, std::string_view path,
                                                      std::string_view container_ref);

// GET /containers/{id}/archive (one path) and GET /containers/{id}/export (the whole root).
class ArchiveRead {
  public:
    // Names as dockerd's containerArchivePath gives them: a directory "/etc" becomes "etc/…",
    // "/etc/." becomes "./…"; anything else is one entry under its own name, a symlink as a
    // link (the CLI follows it itself with -L).
    static Result<std::unique_ptr<ArchiveRead>> path(ContainerFs fs, std::string_view path,
                                                     std::string_view container_ref);
    // docker export: every file of the root, named relative to it ("bin/sh"), no "./" entry.
    static Result<std::unique_ptr<ArchiveRead>> whole_root(kernel::UniqueFd root);
    ~ArchiveRead();

    const kernel::ContainerPathStat& stat() const { return stat_; }
    // Appends about `max` bytes of the archive; false once it is complete.
    Result<bool> produce(std::string& out, size_t max);

  private:
    ArchiveRead() = default;
    kernel::UniqueFd root_, mount_root_;
    kernel::ContainerPathStat stat_;
    std::unique_ptr<graph::TreeArchive> tar_;
};

struct ExtractOptions {
    bool no_overwrite_dir_nondir = false;
    // docker cp -a: the container's Config.User (empty: the archive's owners stay).
    std::string copy_uid_gid_user;
};

// PUT /containers/{id}/archive: a tar extracted into the directory at a path of the container.
class ExtractToDir {
  public:
    // The path is followed to the end inside the root (a symlink to a directory is a target):
    // 404 as stat_container_path when missing, 400 "extraction point is not a directory",
    // 400 for a read-only rootfs or bind, in dockerd's words.
    static Result<std::unique_ptr<ExtractToDir>> create(ContainerFs fs, std::string_view path,
                                                        std::string_view container_ref,
                                                        const ExtractOptions& options);
    ~ExtractToDir();

    Result<> feed(std::span<const std::byte> bytes);
    Result<> finish();

  private:
    ExtractToDir() = default;
    kernel::UniqueFd root_, mount_root_;
    std::unique_ptr<graph::TreeExtractor> extractor_;
};

}  // namespace berth::jobs
