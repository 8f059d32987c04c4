#include "kernel/lock_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <string>

namespace berth::kernel {

namespace {

std::string read_small(int fd) {
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return {};
    std::string s(buf, size_t(n));
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

Result<> write_pid(int fd) {
    std::string pid = std::to_string(getpid()) + "\n";
    if (ftruncate(fd, 0) != 0) return fail(Error::last_sys("truncate lock file"));
    if (pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
        return fail(Error::last_sys("write pid"));
    return {};
}

}  // namespace

Result<> make_dirs(const std::string& path, unsigned mode) {
    if (path.empty()) return {};
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        std::string part = path.substr(0, pos);
        if (part.empty()) continue;
        if (mkdir(part.c_str(), mode) != 0 && errno != EEXIST)
            return fail(Error::last_sys("mkdir " + part));
    }
    struct stat st{};
    if (stat(path.c_str(), &st) != 0) return fail(Error::last_sys("stat " + path));
    if (!S_ISDIR(st.st_mode)) return fail(Error::sys(ENOTDIR, path));
    return {};
}

Result<UniqueFd> lock_exclusive(const std::string& path, const std::string& what) {
    UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail(Error::last_sys("open lock file " + path));
    if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) return fail(Error::last_sys("lock " + path));
        std::string holder = read_small(fd.get());
        std::string msg = "another berthd is already running with " + what;
        if (!holder.empty()) msg += " (pid " + holder + ")";
        msg += "; lock held on " + path;
        return fail(Error::conflict(std::move(msg)));
    }
    if (auto r = write_pid(fd.get()); !r) return fail(std::move(r.error()).wrap(path));
    return fd;
}

Result<UniqueFd> write_pid_file(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0)
        if (auto r = make_dirs(path.substr(0, slash), 0755); !r) return fail(r.error());
    return lock_exclusive(path, "pid file " + path);
}

}  // namespace berth::kernel
