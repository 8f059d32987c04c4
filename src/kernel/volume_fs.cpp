// Volume filesystems and the copy-up of image content. The copy-up works only on fds: the
// source was opened inside the container root (RESOLVE_IN_ROOT), every entry below it is opened
// with O_NOFOLLOW relative to its parent, and the destination is created entry by entry with
// O_EXCL/mkdirat, so neither an image's symlinks nor a container's can redirect it.
#include "kernel/volume_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "kernel/files.hpp"
#include "kernel/overlay_mount.hpp"
#include "kernel/rootfs_path.hpp"

namespace berth::kernel {

namespace {

constexpr size_t copy_chunk_bytes = 1 << 20;

struct MountFlag {
    const char* name;
    unsigned long set, clear;
};

// mount(8)'s flag options, as Docker's local driver (moby/sys/mount) maps them.
constexpr MountFlag mount_flags[] = {
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"sync", MS_SYNCHRONOUS, 0},
    {"async", 0, MS_SYNCHRONOUS},
    {"dirsync", MS_DIRSYNC, 0},
    {"noatime", MS_NOATIME, 0},
    {"atime", 0, MS_NOATIME},
    {"nodiratime", MS_NODIRATIME, 0},
    {"diratime", 0, MS_NODIRATIME},
    {"relatime", MS_RELATIME, 0},
    {"strictatime", MS_STRICTATIME, 0},
    {"bind", MS_BIND, 0},
    {"rbind", MS_BIND | MS_REC, 0},
    {"defaults", 0, 0},
};

}  // namespace

Result<> mount_volume_fs(const std::string& type, const std::string& device,
                         const std::string& options, const std::string& target) {
    unsigned long flags = 0;
    std::string data;
    size_t start = 0;
    while (start <= options.size()) {
        size_t comma = options.find(',', start);
        std::string opt = options.substr(start, comma == std::string::npos ? comma : comma - start);
        start = comma == std::string::npos ? options.size() + 1 : comma + 1;
        if (opt.empty()) continue;
        bool known = false;
        for (const MountFlag& f : mount_flags)
            if (opt == f.name) {
                flags = (flags & ~f.clear) | f.set;
                known = true;
            }
        if (!known) data += (data.empty() ? "" : ",") + opt;
    }
    const char* fstype = (flags & MS_BIND) ? nullptr : type.c_str();
    if (::mount(device.c_str(), target.c_str(), fstype, flags & ~MS_RDONLY,
                data.empty() ? nullptr : data.c_str()) != 0)
        return fail(Error::last_sys("mount " + type + " " + device + " on " + target));
    // A bind ignores MS_RDONLY on the first call: a remount makes it read-only.
    if ((flags & MS_RDONLY) && ::mount(nullptr, target.c_str(), nullptr,
                                       MS_REMOUNT | MS_RDONLY | (flags & MS_BIND), nullptr) != 0) {
        int err = errno;
        ::umount2(target.c_str(), MNT_DETACH);
        return fail(Error::sys(err, "remount " + target + " read-only"));
    }
    return {};
}

Result<> rename_entry(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) != 0)
        return fail(Error::last_sys("rename " + from + " to " + to));
    return {};
}

Result<std::vector<std::string>> list_directory(const std::string& path) {
    auto fd = open_directory(path);
    if (!fd) return fail(std::move(fd.error()));
    return directory_entries(fd->get(), path);
}

Result<UniqueFd> open_directory(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return fail(Error::last_sys("open " + path));
    return fd;
}

Result<UniqueFd> open_directory_in_root(int root_fd, const std::string& path) {
    int fd = open_in_root(root_fd, path.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd == -ENOENT || fd == -ENOTDIR) return UniqueFd();
    if (fd < 0) return fail(Error::sys(-fd, "open " + path + " in the container's root"));
    return UniqueFd(fd);
}

Result<bool> directory_empty(int dir_fd) {
    auto names = directory_entries(dir_fd, "volume");
    if (!names) return fail(std::move(names.error()));
    return names->empty();
}

TreeCopyUp::TreeCopyUp(UniqueFd src, UniqueFd dst) {
    dst_root_ = dst.get();
    if (auto r = push_dir(std::move(src), std::move(dst), ""); !r) error_ = std::move(r.error());
}

Result<> TreeCopyUp::push_dir(UniqueFd src, UniqueFd dst, std::string rel) {
    Dir d;
    auto names = directory_entries(src.get(), rel.empty() ? "." : rel);
    if (names) d.names = std::move(*names);
    d.src = std::move(src);
    d.dst = std::move(dst);
    d.rel = std::move(rel);
    stack_.push_back(std::move(d));
    if (!names) return fail(std::move(names.error()));
    return {};
}

Result<bool> TreeCopyUp::step(uint64_t budget_bytes, size_t budget_entries) {
    if (error_) return fail(*error_);
    uint64_t bytes = budget_bytes;
    size_t done_entries = 0;
    while (!stack_.empty()) {
        if (file_active_) {
            auto finished = copy_file_bytes(bytes);
            if (!finished) return fail(std::move(finished.error()));
            if (!*finished) return false;  // the byte budget ran out mid-file
            continue;
        }
        if (bytes == 0 || done_entries >= budget_entries) return false;
        Dir& d = stack_.back();
        if (d.next == d.names.size()) {
            Dir top = std::move(stack_.back());
            stack_.pop_back();
            if (auto r = finish_dir(top); !r) return fail(std::move(r.error()));
            continue;
        }
        std::string name = d.names[d.next++];
        ++done_entries;
        if (auto r = entry(d, name); !r) return fail(std::move(r.error()));
    }
    return true;
}

Result<> TreeCopyUp::finish_dir(Dir& d) {
    struct stat st {};
    if (fstat(d.src.get(), &st) != 0) return fail(Error::last_sys("stat " + d.rel));
    // The volume root takes owner and mode only (Docker's copyOwnership), not times.
    if (d.rel.empty()) {
        if (fchown(d.dst.get(), st.st_uid, st.st_gid) != 0 ||
            fchmod(d.dst.get(), st.st_mode & 07777) != 0)
            return fail(Error::last_sys("set owner and mode of the volume"));
        return {};
    }
    return copy_metadata(d.src.get(), d.dst.get(), st, d.rel, true);
}

Result<> TreeCopyUp::entry(Dir& d, const std::string& name) {
    std::string rel = d.rel.empty() ? name : d.rel + "/" + name;
    struct stat st {};
    if (fstatat(d.src.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(Error::last_sys("stat " + rel));
    if (S_ISDIR(st.st_mode)) {
        UniqueFd s(
            openat(d.src.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!s) return fail(Error::last_sys("open " + rel));
        if (mkdirat(d.dst.get(), name.c_str(), 0700) != 0)
            return fail(Error::last_sys("mkdir " + rel));
        UniqueFd t(
            openat(d.dst.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!t) return fail(Error::last_sys("open " + rel));
        return push_dir(std::move(s), std::move(t), rel);  // `d` is invalid from here
    }
    if (!S_ISLNK(st.st_mode) && st.st_nlink > 1) {
        auto [it, first] = linked_.try_emplace({st.st_dev, st.st_ino}, rel);
        if (!first) {
            if (linkat(dst_root_, it->second.c_str(), d.dst.get(), name.c_str(), 0) != 0)
                return fail(Error::last_sys("link " + rel + " to " + it->second));
            return {};
        }
    }
    if (!S_ISREG(st.st_mode)) return special(d, name, st, rel);
    file_.src.reset(openat(d.src.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!file_.src) return fail(Error::last_sys("open " + rel));
    file_.dst.reset(openat(d.dst.get(), name.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!file_.dst) return fail(Error::last_sys("create " + rel));
    file_.st = st;
    file_.rel = rel;
    file_.done = 0;
    file_active_ = true;
    return {};
}

// Up to `budget` bytes of the open file; true (and the metadata set) once it is complete.
Result<bool> TreeCopyUp::copy_file_bytes(uint64_t& budget) {
    std::vector<char> buf;
    while (file_.done < file_.st.st_size) {
        if (budget == 0) return false;
        size_t want = size_t(std::min<uint64_t>(budget, copy_chunk_bytes));
        ssize_t n = copy_file_range(file_.src.get(), nullptr, file_.dst.get(), nullptr, want, 0);
        if (n < 0 && errno != EINTR) {
            // Not between these filesystems: read and write.
            if (buf.empty()) buf.resize(copy_chunk_bytes);
            n = ::read(file_.src.get(), buf.data(), want);
            if (n < 0) return fail(Error::last_sys("read " + file_.rel));
            for (ssize_t off = 0; off < n;) {
                ssize_t w = ::write(file_.dst.get(), buf.data() + off, size_t(n - off));
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return fail(Error::last_sys("write " + file_.rel));
                off += w;
            }
        }
        if (n == 0) break;  // the file shrank under us
        if (n > 0) {
            file_.done += n;
            budget -= std::min<uint64_t>(budget, uint64_t(n));
        }
    }
    file_active_ = false;
    auto r = copy_metadata(file_.src.get(), file_.dst.get(), file_.st, file_.rel, true);
    file_.src.reset();
    file_.dst.reset();
    if (!r) return fail(std::move(r.error()));
    return true;
}

// Symlinks, devices, fifos, sockets: owner, mode and times (no fd to copy xattrs through).
Result<> TreeCopyUp::special(Dir& d, const std::string& name, const struct stat& st,
                             const std::string& rel) {
    if (S_ISLNK(st.st_mode)) {
        std::string target(size_t(st.st_size) + 1, '\0');
        ssize_t n = readlinkat(d.src.get(), name.c_str(), target.data(), target.size());
        if (n < 0) return fail(Error::last_sys("readlink " + rel));
        target.resize(size_t(n));
        if (symlinkat(target.c_str(), d.dst.get(), name.c_str()) != 0)
            return fail(Error::last_sys("symlink " + rel));
    } else if (S_ISSOCK(st.st_mode)) {
        return {};  // a socket is not content
    } else if (mknodat(d.dst.get(), name.c_str(), st.st_mode, st.st_rdev) != 0) {
        return fail(Error::last_sys("mknod " + rel));
    }
    if (fchownat(d.dst.get(), name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(Error::last_sys("chown " + rel));
    if (!S_ISLNK(st.st_mode) && fchmodat(d.dst.get(), name.c_str(), st.st_mode & 07777, 0) != 0)
        return fail(Error::last_sys("chmod " + rel));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (utimensat(d.dst.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(Error::last_sys("set times of " + rel));
    return {};
}

TreeRemove::TreeRemove(std::string path) : path_(std::move(path)) {}

Result<bool> TreeRemove::step(size_t budget_entries) {
    if (!started_) {
        started_ = true;
        // A bind mount from the same filesystem has the same st_dev: mountinfo tells.
        auto mounts = mounts_under(path_);
        if (!mounts) return fail(std::move(mounts.error()));
        if (!mounts->empty())
            return fail(
                Error::sys(EBUSY, "remove " + path_ + ": " + mounts->front() + " is mounted"));
        auto top = open_directory(path_);
        if (!top) return top.error().sys_errno == ENOENT ? Result<bool>(true) : fail(top.error());
        struct stat st {};
        if (fstat(top->get(), &st) != 0) return fail(Error::last_sys("stat " + path_));
        dev_ = st.st_dev;
        auto names = directory_entries(top->get(), path_);
        if (!names) return fail(std::move(names.error()));
        stack_.push_back(Dir{std::move(*top), "", std::move(*names), 0});
    }
    for (size_t done = 0; !stack_.empty() && done < budget_entries; ++done) {
        Dir& d = stack_.back();
        if (d.next == d.names.size()) {
            std::string name = std::move(d.name);
            stack_.pop_back();
            if (stack_.empty()) break;
            if (unlinkat(stack_.back().fd.get(), name.c_str(), AT_REMOVEDIR) != 0 &&
                errno != ENOENT)
                return fail(Error::last_sys("remove " + path_ + "/…/" + name));
            continue;
        }
        const std::string& n = d.names[d.next++];
        struct stat st {};
        if (fstatat(d.fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;
            return fail(Error::last_sys("stat " + path_ + "/…/" + n));
        }
        if (!S_ISDIR(st.st_mode)) {
            if (unlinkat(d.fd.get(), n.c_str(), 0) != 0 && errno != ENOENT)
                return fail(Error::last_sys("remove " + path_ + "/…/" + n));
            continue;
        }
        if (st.st_dev != dev_)
            return fail(Error::sys(EBUSY, "remove " + path_ + ": a mount inside"));
        UniqueFd sub(
            openat(d.fd.get(), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub) return fail(Error::last_sys("open " + path_ + "/…/" + n));
        auto names = directory_entries(sub.get(), n);
        if (!names) return fail(std::move(names.error()));
        std::string name = n;  // `d` may move when the stack grows
        stack_.push_back(Dir{std::move(sub), std::move(name), std::move(*names), 0});
    }
    if (!stack_.empty()) return false;
    if (::rmdir(path_.c_str()) != 0 && errno != ENOENT)
        return fail(Error::last_sys("remove " + path_));
    return true;
}

}  // namespace berth::kernel
