// A tar of a file or a directory tree, produced piece by piece so an HTTP stream can apply
// back-pressure (docker cp from a container, docker export). It holds directory fds, never
// paths: every step is an *at() call that does not follow the entry's own symlink, so a tree
// changing under it (a running container) can neither lead it elsewhere nor make it loop.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "graph/tar_writer.hpp"
#include "kernel/fd.hpp"

namespace berth::graph {

class TreeArchive {
  public:
    // The directory `dir_fd` (opened O_RDONLY | O_DIRECTORY) and everything under it. Its own
    // entry is named `top_name` + "/" unless `top_name` is empty (export: no entry for the root);
    // the names below it start with `child_prefix` ("etc/", "./", or "" for export).
    static std::unique_ptr<TreeArchive> directory(kernel::UniqueFd dir_fd, std::string top_name,
                                                  std::string child_prefix);
    // One entry that is not a directory (a file, a symlink archived as a link, a device…):
    // `name` in `parent_fd` (O_RDONLY | O_DIRECTORY), archived as `archive_name`.
    static std::unique_ptr<TreeArchive> single(kernel::UniqueFd parent_fd, std::string name,
                                               std::string archive_name);

    ~TreeArchive();
    TreeArchive(const TreeArchive&) = delete;
    TreeArchive& operator=(const TreeArchive&) = delete;

    // Appends about `max` bytes (at least) of the archive to `out`; false once it is complete.
    Result<bool> produce(std::string& out, size_t max);

  private:
    struct Frame {
        kernel::UniqueFd fd;
        std::vector<std::string> names;
        size_t next = 0;
        std::string prefix;
    };
    TreeArchive();
    Result<> start();
    Result<> entry(int dirfd, const std::string& name, const std::string& rel);
    Result<> directory_entry(int dirfd, const std::string& name, TarEntry& e);
    Result<> file_data(size_t max);

    std::unique_ptr<TarWriter> tar_;
    std::string* out_ = nullptr;
    std::vector<Frame> stack_;
    // single(): the entry still to write.
    kernel::UniqueFd single_parent_;
    std::string single_name_, single_archive_name_;
    // directory(): the top's own entry, written first.
    kernel::UniqueFd top_fd_;
    std::string top_name_, top_prefix_;
    bool started_ = false, finished_ = false;
    // The regular file whose data is being written, and how much of it is left.
    kernel::UniqueFd file_;
    uint64_t file_left_ = 0;
    std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first name of multi-link inodes
};

}  // namespace berth::graph
