#include "graph/tree_archive.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace berth::graph {

namespace {

using kernel::UniqueFd;
using Type = TarEntry::Type;

constexpr size_t file_chunk_bytes = 64 << 10;
// One open directory fd per level: a hostile container's endless nesting must not use up the
// daemon's fds. Far deeper than PATH_MAX lets any path name.
constexpr size_t tree_depth_max = 2048;

Result<std::vector<std::string>> sorted_names(int dirfd, const std::string& rel) {
    int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup < 0) return fail(Error::last_sys("open " + rel));
    DIR* d = ::fdopendir(dup);
    if (!d) {
        ::close(dup);
        return fail(Error::last_sys("opendir " + rel));
    }
    std::vector<std::string> names;
    while (dirent* de = ::readdir(d)) {
        std::string_view n = de->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

// Docker archives one xattr, security.capability (files that carry file capabilities).
void add_capability(int fd, TarEntry& e) {
    char val[1024];
    ssize_t n = ::fgetxattr(fd, "security.capability", val, sizeof val);
    if (n > 0) e.xattrs.emplace_back("security.capability", std::string(val, size_t(n)));
}

TarEntry entry_of(const struct stat& st, std::string rel) {
    TarEntry e;
    e.path = std::move(rel);
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime_s = st.st_mtim.tv_sec;  // whole seconds, as Docker's archives
    return e;
}

}  // namespace

TreeArchive::TreeArchive() = default;
TreeArchive::~TreeArchive() = default;

std::unique_ptr<TreeArchive> TreeArchive::directory(UniqueFd dir_fd, std::string top_name,
                                                    std::string child_prefix) {
    std::unique_ptr<TreeArchive> a(new TreeArchive());
    a->top_fd_ = std::move(dir_fd);
    a->top_name_ = std::move(top_name);
    a->top_prefix_ = std::move(child_prefix);
    return a;
}

std::unique_ptr<TreeArchive> TreeArchive::single(UniqueFd parent_fd, std::string name,
                                                 std::string archive_name) {
    std::unique_ptr<TreeArchive> a(new TreeArchive());
    a->single_parent_ = std::move(parent_fd);
    a->single_name_ = std::move(name);
    a->single_archive_name_ = std::move(archive_name);
    return a;
}

Result<> TreeArchive::start() {
    tar_ = std::make_unique<TarWriter>([this](std::span<const std::byte> d) -> Result<> {
        out_->append(reinterpret_cast<const char*>(d.data()), d.size());
        return {};
    });
    if (single_parent_) return entry(single_parent_.get(), single_name_, single_archive_name_);
    if (!top_name_.empty()) {
        struct stat st {};
        if (::fstat(top_fd_.get(), &st) != 0) return fail(Error::last_sys("stat " + top_name_));
        TarEntry e = entry_of(st, top_name_.ends_with('/') ? top_name_ : top_name_ + "/");
        e.type = Type::directory;
        if (auto r = tar_->begin_entry(e); !r) return r;
        if (auto r = tar_->end_entry(); !r) return r;
    }
    auto names = sorted_names(top_fd_.get(), top_name_);
    if (!names) return fail(std::move(names.error()));
    stack_.push_back({std::move(top_fd_), std::move(*names), 0, top_prefix_});
    return {};
}

Result<> TreeArchive::directory_entry(int dirfd, const std::string& name, TarEntry& e) {
    if (stack_.size() >= tree_depth_max)
        return fail(Error::invalid("archive: " + e.path.substr(0, 64) + "…: nested too deeply"));
    UniqueFd fd{::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
    if (!fd) return fail(Error::last_sys("open " + e.path));
    e.type = Type::directory;
    std::string prefix = e.path + "/";
    e.path = prefix;
    if (auto r = tar_->begin_entry(e); !r) return r;
    if (auto r = tar_->end_entry(); !r) return r;
    auto names = sorted_names(fd.get(), e.path);
    if (!names) return fail(std::move(names.error()));
    stack_.push_back({std::move(fd), std::move(*names), 0, std::move(prefix)});
    return {};
}

// One entry of a directory; what vanished since the directory was read (a running container)
// is left out, sockets too (as Docker does).
Result<> TreeArchive::entry(int dirfd, const std::string& name, const std::string& rel) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return {};
        return fail(Error::last_sys("lstat " + rel));
    }
    TarEntry e = entry_of(st, rel);
    if (S_ISDIR(st.st_mode)) return directory_entry(dirfd, name, e);
    if (S_ISSOCK(st.st_mode)) return {};
    if (st.st_nlink > 1) {
        auto [it, fresh] = links_.try_emplace({st.st_dev, st.st_ino}, rel);
        if (!fresh) {
            e.type = Type::hardlink;
            e.link_target = it->second;
            if (auto r = tar_->begin_entry(e); !r) return r;
            return tar_->end_entry();
        }
    }
    if (S_ISREG(st.st_mode)) {
        // Opened O_PATH and checked first: a running container can swap in a fifo or a device
        // between the stat and the open, and the reactor must neither block on nor open it.
        // The checked inode is then reopened for reading through its fd: it cannot change type.
        UniqueFd path{::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC)};
        if (!path && errno == ENOENT) return {};  // gone since the stat
        if (!path) return fail(Error::last_sys("open " + rel));
        struct stat now {};
        if (::fstat(path.get(), &now) != 0) return fail(Error::last_sys("stat " + rel));
        if (!S_ISREG(now.st_mode) || now.st_ino != st.st_ino || now.st_dev != st.st_dev)
            return {};  // replaced since the stat: left out, like an entry that vanished
        std::string proc = "/proc/self/fd/" + std::to_string(path.get());
        UniqueFd fd{::open(proc.c_str(), O_RDONLY | O_CLOEXEC)};
        if (!fd) return fail(Error::last_sys("open " + rel));
        st.st_size = now.st_size;
        add_capability(fd.get(), e);
        e.type = Type::file;
        e.size = uint64_t(st.st_size);
        e.mode = now.st_mode & 07777;
        if (auto r = tar_->begin_entry(e); !r) return r;
        if (e.size == 0) return tar_->end_entry();
        file_ = std::move(fd);
        file_left_ = e.size;
        return {};
    }
    if (S_ISLNK(st.st_mode)) {
        std::string target(size_t(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
        if (n < 0) return fail(Error::last_sys("readlink " + rel));
        target.resize(size_t(n));
        e.type = Type::symlink;
        e.link_target = std::move(target);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        e.type = S_ISCHR(st.st_mode) ? Type::char_device : Type::block_device;
        e.dev_major = major(st.st_rdev);
        e.dev_minor = minor(st.st_rdev);
    } else {
        e.type = Type::fifo;
    }
    if (auto r = tar_->begin_entry(e); !r) return r;
    return tar_->end_entry();
}

// A chunk of the current file. A file that shrank since its header was written is padded with
// zeros and one that grew is cut at the size the header gave: the archive stays well formed.
Result<> TreeArchive::file_data(size_t max) {
    std::string buf(std::min<uint64_t>({file_left_, file_chunk_bytes, max}), '\0');
    ssize_t n;
    do {
        n = ::read(file_.get(), buf.data(), buf.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fail(Error::last_sys("read"));
    if (n == 0)
        std::fill(buf.begin(), buf.end(), '\0');
    else
        buf.resize(size_t(n));
    if (auto r = tar_->data(std::as_bytes(std::span(buf.data(), buf.size()))); !r) return r;
    file_left_ -= buf.size();
    if (file_left_ > 0) return {};
    file_.reset();
    return tar_->end_entry();
}

Result<bool> TreeArchive::produce(std::string& out, size_t max) {
    if (finished_) return false;
    out_ = &out;
    size_t start_size = out.size();
    if (!started_) {
        started_ = true;
        if (auto r = start(); !r) return fail(std::move(r.error()));
    }
    while (out.size() - start_size < max) {
        if (file_) {
            if (auto r = file_data(max); !r) return fail(std::move(r.error()));
            continue;
        }
        if (stack_.empty()) {
            if (auto r = tar_->finish(); !r) return fail(std::move(r.error()));
            finished_ = true;
            return false;
        }
        Frame& f = stack_.back();
        if (f.next == f.names.size()) {
            stack_.pop_back();
            continue;
        }
        std::string name = f.names[f.next++];
        if (auto r = entry(f.fd.get(), name, f.prefix + name); !r)
            return fail(std::move(r.error()));
    }
    return true;
}

}  // namespace berth::graph
