#include "kernel/random.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace berth::kernel {

namespace {

Result<void> read_urandom(std::span<unsigned char> out) {
    int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(Error::last_sys("open /dev/urandom"));
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::read(fd, out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            Error e = Error::sys(n < 0 ? errno : EIO, "read /dev/urandom");
            ::close(fd);
            return fail(std::move(e));
        }
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    return {};
}

}  // namespace

Result<void> fill_random(std::span<unsigned char> out) {
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
        if (n >= 0) {
            done += static_cast<size_t>(n);
        } else if (errno == ENOSYS) {
            return read_urandom(out);
        } else if (errno != EINTR) {
            return fail(Error::last_sys("getrandom"));
        }
    }
    return {};
}

Result<std::string> random_hex(size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    if (auto r = fill_random(raw); !r) return fail(std::move(r.error()));
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes * 2);
    for (unsigned char c : raw) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

}  // namespace berth::kernel
