#include "kernel/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

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

}  // namespace berth::kernel
