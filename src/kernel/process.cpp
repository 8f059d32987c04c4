#include "kernel/process.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

namespace berth::kernel {

Result<long> raise_open_file_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return fail(Error::last_sys("getrlimit NOFILE"));
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return fail(Error::last_sys("setrlimit NOFILE"));
    }
    return long(rl.rlim_cur);
}

int count_open_fds() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n - 1;  // the directory stream's own fd
}

void ignore_sigpipe() { signal(SIGPIPE, SIG_IGN); }

}  // namespace berth::kernel
