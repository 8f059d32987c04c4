// overlayfs syscalls: fsopen/fsconfig/fsmount/move_mount for the mount itself, mount(2) in a
// forked child for kernels without "lowerdir+", umount2 for teardown, and the reads the
// storage driver needs to pick itself and to find leftovers (mountinfo, statfs, d_type).
#include "kernel/overlay_mount.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace berth::kernel {
namespace {

// Everything the kernel said about a failed fsconfig, from the context's message queue
// ("e overlayfs: failed to resolve 'x': -2"); far more useful than EINVAL alone.
std::string fs_context_log(int fs_fd) {
    std::string log;
    char buf[512];
    for (int i = 0; i < 8; ++i) {
        ssize_t n = ::read(fs_fd, buf, sizeof buf - 1);
        if (n <= 0) break;
        if (!log.empty()) log += "; ";
        log.append(buf, static_cast<size_t>(n));
    }
    return log;
}

Error fsconfig_error(int fs_fd, int err, std::string_view what) {
    Error e = Error::sys(err, what);
    if (std::string log = fs_context_log(fs_fd); !log.empty()) e.message += " (" + log + ")";
    return e;
}

Result<void> set_string(int fs_fd, const char* key, const std::string& value) {
    if (fsconfig(fs_fd, FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0)
        return fail(
            fsconfig_error(fs_fd, errno, std::string("overlay option ") + key + "=" + value));
    return {};
}

bool proc_filesystems_has_overlay() {
    std::ifstream in("/proc/filesystems");
    std::string line;
    while (std::getline(in, line))
        if (line.ends_with("\toverlay")) return true;
    return false;
}

// mountinfo writes space, tab, newline and backslash in paths as \ooo.
std::string unescape_mount_path(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned code = 0;
        if (s[i] == '\\' && i + 3 < s.size() &&
            std::from_chars(s.data() + i + 1, s.data() + i + 4, code, 8).ptr == s.data() + i + 4) {
            out += static_cast<char>(code);
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace

OverlayFeatures probe_overlay_features() {
    OverlayFeatures f;
    f.filesystem = proc_filesystems_has_overlay();
    // fsopen also loads the module on demand, so /proc/filesystems may only list it afterwards.
    UniqueFd fs(fsopen("overlay", FSOPEN_CLOEXEC));
    if (fs) {
        f.filesystem = true;
        f.mount_api = true;
        f.lowerdir_append = fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", "/", 0) == 0;
    } else if (!f.filesystem) {
        f.filesystem = proc_filesystems_has_overlay();
    }
    // Docker's overlay2 adds index=off whenever the kernel has the option: with the index on, a
    // lower dir shared by two mounts whose uppers differ makes the second mount fail.
    f.index_param = ::access("/sys/module/overlay/parameters/index", F_OK) == 0;
    return f;
}

Result<UniqueFd> overlay_fsmount(const OverlaySpec& spec) {
    UniqueFd fs(fsopen("overlay", FSOPEN_CLOEXEC));
    if (!fs) return fail(Error::last_sys("fsopen overlay"));
    for (const std::string& lower : spec.lower_dirs)
        if (auto r = set_string(fs.get(), "lowerdir+", lower); !r)
            return fail(std::move(r.error()));
    if (!spec.upper_dir.empty()) {
        if (auto r = set_string(fs.get(), "upperdir", spec.upper_dir); !r)
            return fail(std::move(r.error()));
        if (auto r = set_string(fs.get(), "workdir", spec.work_dir); !r)
            return fail(std::move(r.error()));
    }
    if (spec.index_off)
        if (auto r = set_string(fs.get(), "index", "off"); !r) return fail(std::move(r.error()));
    if (fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        return fail(fsconfig_error(fs.get(), errno,
                                   "create overlay of " + std::to_string(spec.lower_dirs.size()) +
                                       " layers on " + spec.upper_dir));
    UniqueFd mnt(fsmount(fs.get(), FSMOUNT_CLOEXEC, 0));
    if (!mnt) return fail(Error::last_sys("fsmount overlay"));
    return mnt;
}

Result<void> attach_mount(int mount_fd, const std::string& target) {
    if (move_mount(mount_fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
        return fail(Error::last_sys("move_mount onto " + target));
    return {};
}

Result<void> overlay_mount_relative(const std::string& relative_to,
                                    std::span<const std::string> relative_lowers,
                                    const std::string& upper_dir, const std::string& work_dir,
                                    bool index_off, const std::string& target) {
    std::string data = index_off ? "index=off,lowerdir=" : "lowerdir=";
    for (size_t i = 0; i < relative_lowers.size(); ++i) data += (i ? ":" : "") + relative_lowers[i];
    data += ",upperdir=" + upper_dir + ",workdir=" + work_dir;
    // mount(2) copies at most one page of options; the kernel would silently cut the rest.
    if (data.size() >= static_cast<size_t>(sysconf(_SC_PAGESIZE)))
        return fail(Error::sys(E2BIG, "overlay options for " +
                                          std::to_string(relative_lowers.size()) +
                                          " layers exceed a page"));
    // Only async-signal-safe calls in the child: chdir, mount, _exit. The errno is the status.
    pid_t pid = fork();
    if (pid < 0) return fail(Error::last_sys("fork for the overlay mount"));
    if (pid == 0) {
        if (chdir(relative_to.c_str()) != 0) _exit(errno & 0xff);
        if (mount("overlay", target.c_str(), "overlay", 0, data.c_str()) != 0) _exit(errno & 0xff);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return fail(Error::last_sys("wait for the overlay mount child"));
    if (!WIFEXITED(status)) return fail(Error::internal("overlay mount child died"));
    if (int err = WEXITSTATUS(status); err != 0)
        return fail(Error::sys(err, "mount overlay of " + std::to_string(relative_lowers.size()) +
                                        " layers on " + target));
    return {};
}

Result<void> detach_mount(const std::string& target) {
    if (umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return {};
    if (errno == EINVAL || errno == ENOENT) return {};  // not a mount point / already gone
    return fail(Error::last_sys("unmount " + target));
}

bool is_mount_root_at(int dirfd, const char* name) {
    struct statx sx {};
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0) return false;
    return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

bool is_mount_point(const std::string& path) {
    struct statx sx {};
    if (statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0)
        return false;
    if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
        return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
    struct stat self {
    }, parent{};
    if (lstat(path.c_str(), &self) != 0 || stat((path + "/..").c_str(), &parent) != 0) return false;
    return self.st_dev != parent.st_dev;
}

Result<std::vector<std::string>> mounts_under(const std::string& prefix) {
    std::ifstream in("/proc/self/mountinfo");
    if (!in) return fail(Error::last_sys("open /proc/self/mountinfo"));
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        // "36 35 98:0 /root /mnt/point rw,... - type source opts": the fifth field.
        std::istringstream fields(line);
        std::string field, point;
        for (int i = 0; i < 5 && fields >> field; ++i) point = field;
        point = unescape_mount_path(point);
        if (point == prefix || (point.starts_with(prefix) && point[prefix.size()] == '/'))
            out.push_back(std::move(point));
    }
    std::ranges::stable_sort(out, std::greater<>{}, &std::string::size);
    return out;
}

std::string backing_filesystem(const std::string& path) {
    struct statfs sf {};
    if (statfs(path.c_str(), &sf) != 0) return "<unknown>";
    // dockerd's FsNames, for the filesystems a data root is found on.
    switch (static_cast<unsigned long>(sf.f_type)) {
        case 0xEF53:
            return "extfs";
        case 0x58465342:
            return "xfs";
        case 0x9123683E:
            return "btrfs";
        case 0x01021994:
            return "tmpfs";
        case 0x794C7630:
            return "overlayfs";
        case 0x2FC12FC1:
            return "zfs";
        case 0xF2F52010:
            return "f2fs";
        case 0x6969:
            return "nfs";
        case 0x65735546:
            return "fuse";
        default:
            return "<unknown>";
    }
}

Result<bool> supports_d_type(const std::string& dir) {
    // "." can be synthesised as DT_DIR even where real entries say DT_UNKNOWN: look at a file.
    const std::string probe = dir + "/.berth-d_type-probe";
    UniqueFd f(::open(probe.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!f) return fail(Error::last_sys("create " + probe));
    f.reset();
    DIR* d = opendir(dir.c_str());
    if (!d) {
        int err = errno;
        ::unlink(probe.c_str());
        return fail(Error::sys(err, "open directory " + dir));
    }
    bool typed = false;
    while (dirent* e = readdir(d))
        if (std::string_view(e->d_name) == ".berth-d_type-probe") typed = e->d_type != DT_UNKNOWN;
    closedir(d);
    ::unlink(probe.c_str());
    return typed;
}

}  // namespace berth::kernel
