// The engines berth-bench measures: a berthd or dockerd it starts itself (private socket, data
// and exec roots, removed afterwards) or one already running on a socket; and what the tool
// reads about them from /proc: the daemon's process set, its memory (RSS, PSS, peak), threads
// and the helper processes that sit between it and its containers.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace berth::bench {

struct Engine {
    std::string name;  // "berthd", "docker-20.10"
    std::string kind;  // "berthd" or "dockerd"
    std::string socket;
    pid_t pid = -1;       // the daemon
    bool ours = false;    // started (and stopped) by berth-bench
    std::string dir;      // its private directory when ours
    std::string version;  // from GET /version
    bool bridge = true;   // has a default bridge network
};

struct StartOptions {
    std::string binary;       // berthd or dockerd
    std::string path_prefix;  // dirs added to PATH (dockerd's containerd, runc, docker-init)
    std::string lib_path;     // LD_LIBRARY_PATH for a private install
    long nofile = 0;          // RLIMIT_NOFILE for the daemon (0: inherit)
    int cpu = -1;             // pin the daemon to this CPU (-1: don't)
};

// Starts a daemon in a fresh temporary directory and waits (up to 30 s) for its socket to
// answer /_ping. On failure returns nullopt with `error` naming the cause and the log's tail.
std::optional<Engine> start_berthd(const StartOptions& o, std::string& error);
std::optional<Engine> start_dockerd(const StartOptions& o, std::string& error);
// A daemon already running on `socket`: its pid from the socket's peer credentials.
std::optional<Engine> attach_engine(const std::string& name, const std::string& socket,
                                    std::string& error);
// SIGTERM, wait (up to 30 s, then SIGKILL), then remove its directory if nothing is mounted
// under it any more. Does nothing for an engine we did not start.
void stop_engine(Engine& e);

struct ProcMem {
    long rss_kb = 0, pss_kb = 0, hwm_kb = 0;
    int processes = 0, threads = 0;
};

// The engine's processes: the daemon, its descendants that are not containers (dockerd's
// containerd), and the helpers: every ancestor of a container's first process between it and
// init that is not the daemon (containerd-shim). Containers are given by their first pids.
struct EngineProcs {
    std::set<pid_t> daemon;   // the daemon and its non-container descendants
    std::set<pid_t> helpers;  // per-container helpers (shims)
};
EngineProcs engine_processes(const Engine& e, const std::vector<pid_t>& container_pids);
ProcMem measure(const std::set<pid_t>& pids);
// Resets the peak RSS (VmHWM) of these processes (/proc/PID/clear_refs).
void reset_peak(const std::set<pid_t>& pids);
// The process's RLIMIT_NOFILE (soft), from /proc/PID/limits; 0 if unknown.
long open_files_limit(pid_t pid);
// MemTotal - MemAvailable, KiB.
long system_used_kb();

}  // namespace berth::bench
