#include "kernel/container_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "kernel/rootfs_path.hpp"

namespace berth::kernel {

namespace {

std::string quoted(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

Result<std::string> fd_path(int fd) {
    std::string proc = "/proc/self/fd/" + std::to_string(fd);
    std::string out(4096, '\0');
    ssize_t n = ::readlink(proc.c_str(), out.data(), out.size());
    if (n < 0) return fail(Error::last_sys("readlink " + proc));
    if (size_t(n) >= out.size()) return fail(Error::sys(ENAMETOOLONG, "readlink " + proc));
    out.resize(size_t(n));
    return out;
}


// Go's filepath.Base: the last element, trailing slashes ignored; "" → ".", "///" → "/".
std::string base_name(std::string_view p) {
    if (p.empty()) return ".";
    while (p.size() > 1 && p.ends_with('/')) p.remove_suffix(1);
    if (p == "/") return "/";
    size_t slash = p.rfind('/');
    return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

// Where a symlink leads, fully resolved inside the root; for a dangling one, as far as it goes
// (moby's FollowSymlinkInScope): its target joined to its directory, cleaned.
Result<std::string> link_target(int root_fd, int link_fd, std::string_view path) {
    auto followed = open_in_container(root_fd, path, O_PATH);
    if (followed) return path_in_container(root_fd, followed->get());
    std::string target(4096, '\0');
    ssize_t n = ::readlinkat(link_fd, "", target.data(), target.size());
    if (n < 0) return fail(Error::last_sys("readlink " + quoted(path)));
    target.resize(size_t(n));
    if (target.starts_with('/')) return clean_absolute(target);
    std::string dir = clean_absolute(path);
    dir.resize(dir.rfind('/') + 1);
    return clean_absolute(dir + target);
}

}  // namespace

// Go's filepath.Clean of an absolute path: "/a/./b/../c/" → "/a/c" ("/" stays "/").
std::string clean_absolute(std::string_view p) {
    std::vector<std::string_view> parts;
    while (!p.empty()) {
        size_t slash = p.find('/');
        std::string_view c = p.substr(0, slash);
        p = slash == std::string_view::npos ? std::string_view{} : p.substr(slash + 1);
        if (c.empty() || c == ".") continue;
        if (c == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(c);
    }
    std::string out;
    for (auto c : parts) out += "/" + std::string(c);
    return out.empty() ? "/" : out;
}

Result<UniqueFd> open_dir_path(const std::string& path) {
    UniqueFd fd{::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (!fd) return fail(Error::last_sys("open " + path));
    return fd;
}

Result<UniqueFd> open_in_container(int root_fd, std::string_view path, int flags) {
    std::string p{path.empty() ? "/" : path};
    UniqueFd fd{open_in_root(root_fd, p.c_str(), flags)};
    if (fd) return fd;
    int err = -fd.release();
    if (err == ENOENT) return fail(Error{ErrorKind::not_found, err, "no such file " + quoted(p)});
    return fail(Error::sys(err, "open " + quoted(p) + " in the container"));
}

Result<std::string> path_in_container(int root_fd, int fd) {
    auto root = fd_path(root_fd);
    if (!root) return fail(std::move(root.error()));
    auto path = fd_path(fd);
    if (!path) return fail(std::move(path.error()));
    if (*root == "/") return *path;
    if (*path == *root) return std::string("/");
    if (path->starts_with(*root + "/")) return path->substr(root->size());
    return fail(Error::internal(quoted(*path) + " is not under the container's root"));
}

Result<ContainerPathStat> stat_in_container(int root_fd, std::string_view path) {
    auto fd = open_in_container(root_fd, path, O_PATH | O_NOFOLLOW);
    if (!fd) return fail(std::move(fd.error()));
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return fail(Error::last_sys("lstat " + quoted(path)));
    ContainerPathStat out;
    out.name = base_name(path);
    out.size = st.st_size;
    out.mode = st.st_mode;
    out.mtime = st.st_mtim;
    if (S_ISLNK(st.st_mode)) {
        auto target = link_target(root_fd, fd->get(), path);
        if (!target) return fail(std::move(target.error()));
        out.link_target = std::move(*target);
    }
    return out;
}

Result<ContainerDir> resolve_dir_in_container(int root_fd, std::string_view path) {
    auto fd = open_in_container(root_fd, path, O_PATH);
    if (!fd) return fail(std::move(fd.error()));
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return fail(Error::last_sys("stat " + quoted(path)));
    if (!S_ISDIR(st.st_mode))
        return fail(
            Error{ErrorKind::invalid_parameter, ENOTDIR, quoted(path) + " is not a directory"});
    auto resolved = path_in_container(root_fd, fd->get());
    if (!resolved) return fail(std::move(resolved.error()));
    return ContainerDir{std::move(*fd), std::move(*resolved)};
}

}  // namespace berth::kernel
