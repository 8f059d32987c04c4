// The kernel side of volumes: the filesystem a `local` volume with options (type/device/o)
// mounts on its _data directory, and the copy of an image's directory into a new volume done in
// bounded steps on directory fds (nothing followed out of either tree).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::kernel {

// mount(2) of `type` from `device` on `target` with the comma-separated `options`: the ones
// mount(8) knows as flags (ro, nosuid, nodev, noexec, noatime, bind, rbind, …) become MS_*
// flags, the rest is the filesystem's data ("size=64m,uid=1000"). As Docker's local driver.
Result<> mount_volume_fs(const std::string& type, const std::string& device,
                         const std::string& options, const std::string& target);

// rename(2) of one directory entry (a volume's directory to its trash name).
Result<> rename_entry(const std::string& from, const std::string& to);
// The names in a directory, without . and ..
Result<std::vector<std::string>> list_directory(const std::string& path);

// A directory opened without following a symlink at its last component.
Result<UniqueFd> open_directory(const std::string& path);
// A directory inside a container root, resolved as the container would (RESOLVE_IN_ROOT).
// -ENOENT/-ENOTDIR come back as an empty fd: nothing to copy.
Result<UniqueFd> open_directory_in_root(int root_fd, const std::string& path);
// Whether the directory holds nothing but . and ..
Result<bool> directory_empty(int dir_fd);

// Copies the contents of `src` into the empty directory `dst`: directories, files, symlinks
// (as links, never followed), hard links, devices, fifos; owner, mode, xattrs and times. `dst`
// takes `src`'s owner and mode at the end (Docker's copyOwnership). Each step() does a bounded
// amount of work so the reactor can run between steps.
class TreeCopyUp {
  public:
    TreeCopyUp(UniqueFd src, UniqueFd dst);
    // Copies until about `budget_bytes` of file data or `budget_entries` entries are done.
    // Returns true when the whole tree is copied.
    Result<bool> step(uint64_t budget_bytes, size_t budget_entries);

  private:
    struct Dir {
        UniqueFd src, dst;
        std::string rel;  // path under the roots, "" for the roots
        std::vector<std::string> names;
        size_t next = 0;
    };
    struct File {
        UniqueFd src, dst;
        struct stat st {};
        std::string rel;
        off_t done = 0;
    };
    Result<> push_dir(UniqueFd src, UniqueFd dst, std::string rel);
    Result<> entry(Dir& d, const std::string& name);
    Result<> special(Dir& d, const std::string& name, const struct stat& st,
                     const std::string& rel);
    Result<bool> copy_file_bytes(uint64_t& budget);
    Result<> finish_dir(Dir& d);

    std::vector<Dir> stack_;
    File file_;
    bool file_active_ = false;
    int dst_root_ = -1;  // the bottom frame's dst
    std::map<std::pair<dev_t, ino_t>, std::string> linked_;
    std::optional<Error> error_;  // the root could not be read
};

// rm -rf of a directory in bounded steps on fds, never crossing into another filesystem (a
// mount left inside fails it with EBUSY instead of being emptied through).
class TreeRemove {
  public:
    explicit TreeRemove(std::string path);
    // Removes about `budget_entries` entries; true once `path` itself is gone.
    Result<bool> step(size_t budget_entries);

  private:
    struct Dir {
        UniqueFd fd;
        std::string name;  // in the parent frame; "" for the top
        std::vector<std::string> names;
        size_t next = 0;
    };
    std::string path_;
    dev_t dev_ = 0;
    bool started_ = false;
    std::vector<Dir> stack_;
};

}  // namespace berth::kernel
