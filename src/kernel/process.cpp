#include "kernel/process.hpp"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>

namespace berth::kernel {

Result<long> raise_open_file_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return fail(Error::last_sys("getrlimit NOFILE"));
    // Thousands of containers hold a pidfd and pipes each: as root, lift the hard limit too, to
    // the kernel's ceiling (fs.nr_open, at most 2^20), as dockerd's LimitNOFILE=infinity does.
    rlim_t ceiling = 1 << 20;
    if (FILE* f = fopen("/proc/sys/fs/nr_open", "re")) {
        unsigned long v = 0;
        if (fscanf(f, "%lu", &v) == 1 && v < ceiling) ceiling = v;
        fclose(f);
    }
    if (rl.rlim_max < ceiling) {
        rlimit up{ceiling, ceiling};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;  // not root: keep what we have
    }
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

namespace berth::kernel {

void block_signals_in_this_thread() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

}  // namespace berth::kernel
