/* berth-init: pid 1 for `docker run --init`, mounted at /sbin/docker-init as dockerd mounts its
 * own. Starts the command, forwards every signal it can catch to it, reaps every process that
 * ends up its child (orphans re-parented to pid 1), and exits with the command's status
 * (128 + signal when it was killed). Static, no allocation: it lives in any image. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals the kernel raises for the process's own faults are not forwarded. */
static int forwardable(int sig) {
    return sig != SIGCHLD && sig != SIGKILL && sig != SIGSTOP && sig != SIGFPE && sig != SIGILL &&
           sig != SIGSEGV && sig != SIGBUS && sig != SIGABRT && sig != SIGTRAP && sig != SIGSYS &&
           sig != SIGTTIN && sig != SIGTTOU;
}

static int status_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

int main(int argc, char** argv) {
    int first = 1;
    if (first < argc && strcmp(argv[first], "--") == 0) ++first;
    if (first >= argc) {
        fprintf(stderr, "berth-init: usage: berth-init [--] command [args…]\n");
        return 2;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "berth-init: fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(argv[first], argv + first);
        fprintf(stderr, "berth-init: exec %s: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) continue; /* EINTR */
        if (sig != SIGCHLD) {
            if (forwardable(sig)) kill(child, sig);
            continue;
        }
        /* Reap everything that has ended; the command's end is ours. */
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0) break;
            if (pid == child) return status_code(status);
        }
    }
}
