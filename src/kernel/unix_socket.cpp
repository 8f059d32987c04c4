#include "kernel/unix_socket.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <vector>

#include "kernel/lock_file.hpp"

namespace berth::kernel {

namespace {

Result<sockaddr_un> address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        return fail(Error::invalid("socket path too long (max " +
                                   std::to_string(sizeof addr.sun_path - 1) + "): " + path));
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// The gid of `name`, or -1 when the group does not exist.
long group_id(const std::string& name) {
    std::vector<char> buf(16384);
    group gr{};
    group* out = nullptr;
    if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &out) != 0 || !out) return -1;
    return long(out->gr_gid);
}

}  // namespace

Result<UnixListener> listen_unix(const std::string& path, const std::string& group,
                                 int backlog) {
    auto addr = address(path);
    if (!addr) return fail(addr.error());
    size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0)
        if (auto r = make_dirs(path.substr(0, slash), 0755); !r) return fail(r.error());

    UnixListener l;
    l.path = path;
    auto lock = lock_exclusive(path + ".lock", "socket " + path);
    if (!lock) return fail(lock.error());
    l.lock = std::move(*lock);

    // We hold the lock, so whatever is at the path is a leftover of a dead daemon.
    struct stat st{};
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return fail(Error::conflict(path + " exists and is not a socket; refusing to remove it"));
        if (unlink(path.c_str()) != 0) return fail(Error::last_sys("remove stale socket " + path));
    }

    l.fd = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!l.fd) return fail(Error::last_sys("socket"));
    // Bind under a restrictive umask so the socket is never briefly world-accessible.
    mode_t old = umask(0177);
    int rc = bind(l.fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
    umask(old);
    if (rc != 0) return fail(Error::last_sys("bind " + path));
    if (!group.empty()) {
        long gid = group_id(group);
        if (gid < 0) {
            l.group_warning = "group " + group + " not found; " + path + " stays root:root";
        } else if (chown(path.c_str(), 0, gid_t(gid)) != 0) {
            return fail(Error::last_sys("chown " + path + " to group " + group));
        }
    }
    if (chmod(path.c_str(), 0660) != 0) return fail(Error::last_sys("chmod " + path));
    if (listen(l.fd.get(), backlog) != 0) return fail(Error::last_sys("listen " + path));
    return l;
}

Result<UniqueFd> connect_unix(const std::string& path) {
    auto addr = address(path);
    if (!addr) return fail(addr.error());
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail(Error::last_sys("socket"));
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0)
        return fail(Error::last_sys("connect " + path));
    return fd;
}

}  // namespace berth::kernel
