// copy_tree and remove_tree on directory fds. Metadata is applied in the order that keeps it:
// owner before mode (chown clears setuid), xattrs before times, a directory's times after its
// children (creating them changes its mtime).
#include "drivers/storage/file_tree.hpp"

#include <dirent.h>
#include <ftw.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <utility>
#include <vector>

#include "kernel/fd.hpp"
#include "kernel/files.hpp"
#include "kernel/overlay_mount.hpp"

namespace berth::drivers {
namespace {

using kernel::UniqueFd;

constexpr size_t copy_chunk_bytes = 1 << 20;

Result<void> copy_bytes(int src, int dst, off_t size, const std::string& where) {
    if (size == 0 || ioctl(dst, FICLONE, src) == 0) return {};
    off_t done = 0;
    while (done < size) {
        ssize_t n = copy_file_range(src, nullptr, dst, nullptr, copy_chunk_bytes, 0);
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
            break;  // not between these files: plain read/write below
        if (n < 0) return fail(Error::last_sys("copy " + where));
        if (n == 0) return {};
        done += n;
    }
    std::vector<char> buf(copy_chunk_bytes);
    for (;;) {
        ssize_t n = ::read(src, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::last_sys("read " + where));
        if (n == 0) return {};
        for (ssize_t off = 0; off < n;) {
            ssize_t w = ::write(dst, buf.data() + off, static_cast<size_t>(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return fail(Error::last_sys("write " + where));
            off += w;
        }
    }
}

class TreeCopy {
  public:
    TreeCopy(int src_root, int dst_root) : src_root_(src_root), dst_root_(dst_root) {}
    Result<void> dir(int src, int dst, const std::string& rel);

  private:
    Result<void> entry(int src, int dst, const std::string& name, const std::string& rel);
    Result<void> file(int src, int dst, const std::string& name, const struct stat& st,
                      const std::string& rel);
    Result<void> special(int src, int dst, const std::string& name, const struct stat& st,
                         const std::string& rel);

    int src_root_, dst_root_;
    // Hard links: the first copy of each multiply-linked inode, by path under dst_root_.
    std::map<std::pair<dev_t, ino_t>, std::string> linked_;
};

Result<void> TreeCopy::dir(int src, int dst, const std::string& rel) {
    auto names = kernel::directory_entries(src, rel.empty() ? "." : rel);
    if (!names) return fail(std::move(names.error()));
    for (const std::string& n : *names)
        if (auto r = entry(src, dst, n, rel.empty() ? n : rel + "/" + n); !r) return r;
    struct stat st {};
    if (fstat(src, &st) != 0) return fail(Error::last_sys("stat " + rel));
    return kernel::copy_metadata(src, dst, st, rel.empty() ? "." : rel);
}

Result<void> TreeCopy::entry(int src, int dst, const std::string& name, const std::string& rel) {
    struct stat st {};
    if (fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(Error::last_sys("stat " + rel));
    if (S_ISDIR(st.st_mode)) {
        UniqueFd s(openat(src, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!s) return fail(Error::last_sys("open " + rel));
        if (mkdirat(dst, name.c_str(), 0700) != 0) return fail(Error::last_sys("mkdir " + rel));
        UniqueFd d(openat(dst, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d) return fail(Error::last_sys("open " + rel));
        return dir(s.get(), d.get(), rel);
    }
    if (!S_ISLNK(st.st_mode) && st.st_nlink > 1) {
        auto [it, first] = linked_.try_emplace({st.st_dev, st.st_ino}, rel);
        if (!first) {
            if (linkat(dst_root_, it->second.c_str(), dst, name.c_str(), 0) != 0)
                return fail(Error::last_sys("link " + rel + " to " + it->second));
            return {};
        }
    }
    if (S_ISREG(st.st_mode)) return file(src, dst, name, st, rel);
    return special(src, dst, name, st, rel);
}

Result<void> TreeCopy::file(int src, int dst, const std::string& name, const struct stat& st,
                            const std::string& rel) {
    UniqueFd s(openat(src, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!s) return fail(Error::last_sys("open " + rel));
    UniqueFd d(
        openat(dst, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!d) return fail(Error::last_sys("create " + rel));
    if (auto r = copy_bytes(s.get(), d.get(), st.st_size, rel); !r) return r;
    return kernel::copy_metadata(s.get(), d.get(), st, rel);
}

// Symlinks, devices, fifos, sockets: no fd to copy xattrs through, so owner, mode and times only.
Result<void> TreeCopy::special(int src, int dst, const std::string& name, const struct stat& st,
                               const std::string& rel) {
    if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = readlinkat(src, name.c_str(), target.data(), target.size());
        if (n < 0) return fail(Error::last_sys("readlink " + rel));
        target.resize(static_cast<size_t>(n));
        if (symlinkat(target.c_str(), dst, name.c_str()) != 0)
            return fail(Error::last_sys("symlink " + rel));
    } else if (mknodat(dst, name.c_str(), st.st_mode, st.st_rdev) != 0) {
        return fail(Error::last_sys("mknod " + rel));
    }
    if (fchownat(dst, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(Error::last_sys("chown " + rel));
    if (!S_ISLNK(st.st_mode) && fchmodat(dst, name.c_str(), st.st_mode & 07777, 0) != 0)
        return fail(Error::last_sys("chmod " + rel));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (utimensat(dst, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(Error::last_sys("set times of " + rel));
    return {};
}

// The first mount found below the directory `fd` (device `dev`): a directory on another device
// or the root of a mount (a bind from the same filesystem), "" if none. Walks directories only
// through the tree itself, so its cost is the tree's, not the host's mount table's (which holds
// a mount per running container).
Result<std::string> mount_below(int fd, dev_t dev, const std::string& where) {
    auto names = kernel::directory_entries(fd, where);
    if (!names) return fail(std::move(names.error()));
    for (const std::string& n : *names) {
        struct stat st {};
        if (fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
        const std::string path = where + "/" + n;
        if (st.st_dev != dev || kernel::is_mount_root_at(fd, n.c_str())) return path;
        UniqueFd sub(openat(fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub) continue;
        auto found = mount_below(sub.get(), dev, path);
        if (!found || !found->empty()) return found;
    }
    return std::string();
}

// Empties the directory `fd` (device `dev`) and its subdirectories, never leaving `dev`.
Result<void> remove_contents(int fd, dev_t dev, const std::string& where) {
    auto names = kernel::directory_entries(fd, where);
    if (!names) return fail(std::move(names.error()));
    for (const std::string& n : *names) {
        const std::string path = where + "/" + n;
        struct stat st {};
        if (fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;
            return fail(Error::last_sys("stat " + path));
        }
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev || kernel::is_mount_root_at(fd, n.c_str()))
                return fail(Error::sys(EBUSY, "remove " + path + " (a mount point)"));
            UniqueFd sub(openat(fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) return fail(Error::last_sys("open " + path));
            if (auto r = remove_contents(sub.get(), dev, path); !r) return r;
        }
        if (unlinkat(fd, n.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT)
            return fail(Error::last_sys("remove " + path));
    }
    return {};
}

}  // namespace

Result<void> copy_tree(const std::string& src, const std::string& dst) {
    UniqueFd s(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!s) return fail(Error::last_sys("open " + src));
    UniqueFd d(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) return fail(Error::last_sys("open " + dst));
    TreeCopy copy(s.get(), d.get());
    if (auto r = copy.dir(s.get(), d.get(), ""); !r)
        return fail(std::move(r.error()).wrap("copy " + src + " to " + dst));
    return {};
}

Result<void> remove_tree(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return fail(Error::last_sys("stat " + path));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            return fail(Error::last_sys("remove " + path));
        return {};
    }
    struct stat parent {};
    if ((stat((path + "/..").c_str(), &parent) == 0 && parent.st_dev != st.st_dev) ||
        kernel::is_mount_point(path))
        return fail(Error::sys(EBUSY, "remove " + path + " (a mount point)"));
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return fail(Error::last_sys("open " + path));
    // Refuse before touching anything: emptying siblings first and failing at the mount
    // point later would leave half a container behind.
    auto mount = mount_below(fd.get(), st.st_dev, path);
    if (!mount) return fail(std::move(mount.error()));
    if (!mount->empty())
        return fail(Error::sys(EBUSY, "remove " + path + ": " + *mount + " is mounted"));
    if (auto r = remove_contents(fd.get(), st.st_dev, path); !r) return r;
    fd.reset();
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
        return fail(Error::last_sys("remove " + path));
    return {};
}

namespace {
// nftw has no context argument; the walk runs on the one reactor thread.
thread_local uint64_t walk_bytes = 0;
thread_local std::set<std::pair<dev_t, ino_t>>* walk_links = nullptr;
}  // namespace

uint64_t tree_size(const std::string& path) {
    std::set<std::pair<dev_t, ino_t>> links;
    walk_bytes = 0;
    walk_links = &links;
    nftw(path.c_str(), [](const char*, const struct stat* st, int type, FTW*) {
        if (type != FTW_F && type != FTW_SL) return 0;
        if (st->st_nlink > 1 && !walk_links->insert({st->st_dev, st->st_ino}).second) return 0;
        walk_bytes += uint64_t(st->st_size);
        return 0;
    }, 32, FTW_PHYS | FTW_MOUNT);
    walk_links = nullptr;
    return walk_bytes;
}

}  // namespace berth::drivers
