#include "kernel/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "kernel/fd.hpp"

namespace berth::kernel {

Result<> make_dir(const std::string& path, unsigned mode) {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
        return fail(Error::last_sys("create " + path));
    return {};
}

Result<> write_file_atomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    UniqueFd fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (!fd) return fail(Error::last_sys("create " + tmp));
    ssize_t n = ::write(fd.get(), text.data(), text.size());
    if (n != static_cast<ssize_t>(text.size()))
        return fail(Error::sys(n < 0 ? errno : EIO, "write " + tmp));
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(Error::last_sys("rename " + tmp));
    return {};
}

Result<> remove_file(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return fail(Error::last_sys("remove " + path));
    return {};
}

Result<> rename_file(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
        return fail(Error::last_sys("rename " + from + " to " + to));
    return {};
}

bool path_exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

namespace {

struct DirCloser {
    void operator()(DIR* d) const { closedir(d); }
};

Result<> copy_xattrs(int src, int dst, const std::string& where, bool skip_unsupported) {
    ssize_t size = flistxattr(src, nullptr, 0);
    if (size < 0 && (errno == ENOTSUP || skip_unsupported)) return {};
    if (size < 0) return fail(Error::last_sys("list xattrs of " + where));
    if (size == 0) return {};
    std::string names(size_t(size), '\0');
    size = flistxattr(src, names.data(), names.size());
    if (size < 0) return fail(Error::last_sys("list xattrs of " + where));
    names.resize(size_t(size));
    for (size_t at = 0; at < names.size();) {
        const char* name = names.c_str() + at;
        at += std::strlen(name) + 1;
        ssize_t n = fgetxattr(src, name, nullptr, 0);
        std::string value(size_t(n < 0 ? 0 : n), '\0');
        if (n >= 0) n = fgetxattr(src, name, value.data(), value.size());
        if (n < 0) {
            if (skip_unsupported) continue;
            return fail(Error::last_sys(std::string("read xattr ") + name + " of " + where));
        }
        if (fsetxattr(dst, name, value.data(), size_t(n), 0) != 0 &&
            !(skip_unsupported && (errno == ENOTSUP || errno == EOPNOTSUPP)))
            return fail(Error::last_sys(std::string("set xattr ") + name + " on " + where));
    }
    return {};
}

}  // namespace

Result<std::vector<std::string>> directory_entries(int fd, const std::string& where) {
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return fail(Error::last_sys("dup " + where));
    std::unique_ptr<DIR, DirCloser> d(fdopendir(dup));
    if (!d) {
        ::close(dup);
        return fail(Error::last_sys("read directory " + where));
    }
    rewinddir(d.get());
    std::vector<std::string> out;
    errno = 0;
    while (dirent* e = readdir(d.get())) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") out.emplace_back(n);
    }
    if (errno != 0) return fail(Error::last_sys("read directory " + where));
    return out;
}

Result<> copy_metadata(int src, int dst, const struct stat& st, const std::string& where,
                       bool skip_unsupported_xattrs) {
    if (fchown(dst, st.st_uid, st.st_gid) != 0) return fail(Error::last_sys("chown " + where));
    if (fchmod(dst, st.st_mode & 07777) != 0) return fail(Error::last_sys("chmod " + where));
    if (auto r = copy_xattrs(src, dst, where, skip_unsupported_xattrs); !r) return r;
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (futimens(dst, times) != 0) return fail(Error::last_sys("set times of " + where));
    return {};
}

std::vector<std::string> remove_dangling_symlinks(const std::string& dir) {
    std::vector<std::string> removed;
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return removed;
    auto names = directory_entries(fd.get(), dir);
    if (!names) return removed;
    for (const std::string& n : *names) {
        struct stat st {};
        if (n[0] == '.' || fstatat(fd.get(), n.c_str(), &st, 0) == 0 || errno != ENOENT) continue;
        if (unlinkat(fd.get(), n.c_str(), 0) == 0) removed.push_back(dir + "/" + n);
    }
    return removed;
}

// ---- removal confined to a tree (image layers being extracted) ----

// Unlinks every entry of `dirfd` that is not a directory; returns the name of a subdirectory
// still there, or "" when none is left.
namespace {

Result<std::string> unlink_files(int dirfd) {
    int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return fail(Error::last_sys("dup"));
    DIR* d = fdopendir(dup);
    if (!d) {
        close(dup);
        return fail(Error::last_sys("fdopendir"));
    }
    rewinddir(d);
    std::string subdir;
    Result<std::string> out = subdir;
    while (dirent* de = readdir(d)) {
        std::string_view n = de->d_name;
        if (n == "." || n == "..") continue;
        if (de->d_type != DT_DIR && unlinkat(dirfd, de->d_name, 0) == 0) continue;
        if (de->d_type == DT_DIR || errno == EISDIR) {
            if (subdir.empty()) subdir = n;
        } else if (errno != ENOENT) {
            out = fail(Error::last_sys("remove " + std::string(n)));
            break;
        }
    }
    closedir(d);
    if (out) out = subdir;
    return out;
}

}  // namespace

// Empties the directory `top`, never following a symlink and holding one directory fd at a
// time (any depth works): it walks down with O_NOFOLLOW and back up through "..", checking
// that ".." is the directory it came from.
Result<> remove_contents(UniqueFd top) {
    struct Parent {
        std::string child;
        dev_t dev;
        ino_t ino;
    };
    std::vector<Parent> stack;
    UniqueFd cur = std::move(top);
    for (;;) {
        auto sub = unlink_files(cur.get());
        if (!sub) return fail(std::move(sub.error()));
        struct stat st {};
        if (!sub->empty()) {
            if (fstat(cur.get(), &st) != 0) return fail(Error::last_sys("stat"));
            UniqueFd child{
                openat(cur.get(), sub->c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
            if (!child) return fail(Error::last_sys("open " + *sub));
            stack.push_back({std::move(*sub), st.st_dev, st.st_ino});
            cur = std::move(child);
            continue;
        }
        if (stack.empty()) return {};
        UniqueFd parent{openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
        if (!parent || fstat(parent.get(), &st) != 0 || st.st_dev != stack.back().dev ||
            st.st_ino != stack.back().ino)
            return fail(Error::internal("remove: directory moved while being removed"));
        if (unlinkat(parent.get(), stack.back().child.c_str(), AT_REMOVEDIR) != 0 &&
            errno != ENOENT)
            return fail(Error::last_sys("remove " + stack.back().child));
        stack.pop_back();
        cur = std::move(parent);
    }
}

// rm -rf of `name` in `dirfd`, not following symlinks; a missing name is not an error.
Result<> remove_at(int dirfd, const std::string& name) {
    if (unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return {};
    if (errno != EISDIR) return fail(Error::last_sys("remove " + name));
    UniqueFd fd{openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
    if (!fd) return fail(Error::last_sys("open " + name));
    if (auto r = remove_contents(std::move(fd)); !r) return r;
    if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        return fail(Error::last_sys("remove " + name));
    return {};
}

}  // namespace berth::kernel
