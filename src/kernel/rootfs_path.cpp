#include "kernel/rootfs_path.hpp"

#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace berth::kernel {

int open_in_root(int root_fd, const char* path, int flags, unsigned long long extra) {
    open_how how{};
    how.flags = uint64_t(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra;
    long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    return fd < 0 ? -errno : int(fd);
}

namespace {

// Splits a copy of `path` (in `buf`) at its last '/': returns the last component; `buf` keeps
// the parent ("" for the root).
const char* split_last(char* buf, size_t cap, const char* path) {
    size_t n = strnlen(path, cap);
    if (n >= cap) return nullptr;
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    char* slash = strrchr(buf, '/');
    if (!slash) {
        memmove(buf + 1, buf, n + 1);
        buf[0] = '\0';
        return buf + 1;
    }
    *slash = '\0';
    return slash + 1;
}

// mkdir -p inside the root, one component at a time, each resolved with RESOLVE_IN_ROOT.
int make_dirs_in_root(int root_fd, const char* path) {
    char buf[4096];
    size_t n = strnlen(path, sizeof buf);
    if (n >= sizeof buf) return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; ++i) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        int fd = open_in_root(root_fd, buf, O_PATH | O_DIRECTORY);
        if (fd == -ENOENT) {
            char parent[4096];
            const char* name = split_last(parent, sizeof parent, buf);
            if (!name) return -ENAMETOOLONG;
            int pfd = open_in_root(root_fd, parent[0] ? parent : "/", O_PATH | O_DIRECTORY);
            if (pfd < 0) return pfd;
            int rc = mkdirat(pfd, name, 0755);
            int err = errno;
            close(pfd);
            if (rc != 0 && err != EEXIST) return -err;
            fd = open_in_root(root_fd, buf, O_PATH | O_DIRECTORY);
        }
        if (fd < 0) return fd;
        close(fd);
        buf[i] = saved;
    }
    return 0;
}

}  // namespace

namespace {

int create_in_root(int root_fd, const char* path, bool as_file, bool refuse_symlink, int depth) {
    char parent[4096];
    const char* name = split_last(parent, sizeof parent, path);
    if (!name) return -ENAMETOOLONG;
    if (name[0] == '\0') return open_in_root(root_fd, "/", O_PATH | O_DIRECTORY);
    if (parent[0]) {
        int rc = make_dirs_in_root(root_fd, parent);
        if (rc < 0) return rc;
    }
    int pfd = open_in_root(root_fd, parent[0] ? parent : "/", O_PATH | O_DIRECTORY);
    if (pfd < 0) return pfd;
    struct stat st {};
    int fd;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
            if (refuse_symlink) {
                close(pfd);
                return -ELOOP;
            }
            // Follow it, but inside the root; a dangling link gets its target created there
            // (as runc's securejoin does), never on the host.
            int fd = open_in_root(root_fd, path, O_PATH);
            if (fd != -ENOENT || depth >= 8) {
                close(pfd);
                return fd;
            }
            char link[4096];
            ssize_t n = readlinkat(pfd, name, link, sizeof link - 1);
            if (n < 0) {
                int err = errno;
                close(pfd);
                return -err;
            }
            link[n] = '\0';
            char joined[4096];
            if (link[0] == '/') {
                memcpy(joined, link, size_t(n) + 1);
            } else {
                int len = snprintf(joined, sizeof joined, "%s/%s", parent, link);
                if (len < 0 || size_t(len) >= sizeof joined) {
                    close(pfd);
                    return -ENAMETOOLONG;
                }
            }
            close(pfd);
            return create_in_root(root_fd, joined, as_file, refuse_symlink, depth + 1);
        }
        fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    } else if (as_file) {
        fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            close(fd);
            fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        }
    } else {
        fd = mkdirat(pfd, name, 0755) == 0 || errno == EEXIST
                 ? openat(pfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC)
                 : -1;
    }
    int err = errno;
    close(pfd);
    return fd < 0 ? -err : fd;
}

}  // namespace

int open_or_create_in_root(int root_fd, const char* path, bool as_file, bool refuse_symlink) {
    return create_in_root(root_fd, path, as_file, refuse_symlink, 0);
}

}  // namespace berth::kernel
