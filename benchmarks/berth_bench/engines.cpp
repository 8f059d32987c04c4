#include "engines.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/time.hpp"
#include "http_client.hpp"

namespace berth::bench {

namespace {

std::string tail_of(const std::string& path, size_t bytes) {
    std::ifstream in(path);
    std::string s((std::istreambuf_iterator<char>(in)), {});
    return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

std::string make_dir(const char* prefix) {
    std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) return {};
    return tmpl;
}

// fork + exec with the log as stdout/stderr, its own process group (a Ctrl-C on the terminal
// reaches only berth-bench, which then cleans up and stops the daemon itself).
pid_t spawn(const std::vector<std::string>& argv, const StartOptions& o, const std::string& log) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    setpgid(0, 0);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) dup2(null, 0);
    if (o.nofile > 0) {
        // Raising the hard limit needs CAP_SYS_RESOURCE; without it, the soft one goes up to
        // the hard one (berth-bench reports the limit the daemon got).
        rlimit rl{rlim_t(o.nofile), rlim_t(o.nofile)};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            std::fprintf(stderr, "berth-bench: RLIMIT_NOFILE %ld refused (%s); keeping %llu\n",
                         o.nofile, std::strerror(errno), (unsigned long long)rl.rlim_max);
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    if (!o.path_prefix.empty()) {
        const char* path = std::getenv("PATH");
        std::string p = o.path_prefix + ":" + (path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
        setenv("PATH", p.c_str(), 1);
    }
    if (!o.lib_path.empty()) setenv("LD_LIBRARY_PATH", o.lib_path.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
}

std::optional<Engine> wait_ready(Engine e, const std::string& log, std::string& error) {
    int64_t deadline = monotonic_ns() + 30'000'000'000;
    ApiClient c(e.socket);
    while (monotonic_ns() < deadline) {
        int st = 0;
        if (waitpid(e.pid, &st, WNOHANG) == e.pid) {
            error = e.name + " exited during start-up; its log ends:\n" + tail_of(log, 1500);
            std::filesystem::remove_all(e.dir);
            return std::nullopt;
        }
        if (access(e.socket.c_str(), F_OK) == 0) {
            Response r = c.request("GET", "/_ping");
            if (r.status == 200) {
                Response v = c.request("GET", "/version");
                auto at = v.body.find("\"Version\":\"");
                if (at != std::string::npos)
                    e.version = v.body.substr(at + 11, v.body.find('"', at + 11) - at - 11);
                return e;
            }
        }
        usleep(20'000);
    }
    error = e.name + " did not answer /_ping within 30 s; its log ends:\n" + tail_of(log, 1500);
    stop_engine(e);
    return std::nullopt;
}

}  // namespace

std::optional<Engine> start_berthd(const StartOptions& o, std::string& error) {
    Engine e;
    e.name = e.kind = "berthd";
    e.ours = true;
    e.dir = make_dir("berth-bench-berthd");
    if (e.dir.empty()) {
        error = std::string("mkdtemp: ") + std::strerror(errno);
        return std::nullopt;
    }
    e.socket = e.dir + "/berth.sock";
    std::ofstream(e.dir + "/daemon.json") << "{}\n";
    std::string log = e.dir + "/berthd.log";
    e.pid = spawn({o.binary, "-H", "unix://" + e.socket, "--data-root", e.dir + "/data",
                   "--exec-root", e.dir + "/exec", "--pidfile", e.dir + "/berthd.pid",
                   "--config-file", e.dir + "/daemon.json",
                   // Its own cgroup parent: a berthd reconciles (kills) what it finds under its
                   // parent, and the host may run one with the default.
                   "--cgroup-parent", "berth-bench"},
                  o, log);
    if (e.pid < 0) {
        error = std::string("fork: ") + std::strerror(errno);
        return std::nullopt;
    }
    return wait_ready(std::move(e), log, error);
}

std::optional<Engine> start_dockerd(const StartOptions& o, std::string& error) {
    Engine e;
    e.name = "dockerd";
    e.kind = "dockerd";
    e.ours = true;
    // Its default bridge, iptables rules and docker-proxy live in berth-bench's own network
    // namespace (main.cpp), like berthd's: the host's network is not touched.
    e.bridge = true;
    e.dir = make_dir("berth-bench-dockerd");
    if (e.dir.empty()) {
        error = std::string("mkdtemp: ") + std::strerror(errno);
        return std::nullopt;
    }
    e.socket = e.dir + "/docker.sock";
    std::ofstream(e.dir + "/daemon.json") << "{}\n";
    std::string log = e.dir + "/dockerd.log";
    e.pid = spawn({o.binary,
                   "-H",
                   "unix://" + e.socket,
                   "--data-root",
                   e.dir + "/data",
                   "--exec-root",
                   e.dir + "/exec",
                   "--pidfile",
                   e.dir + "/docker.pid",
                   "--config-file",
                   e.dir + "/daemon.json",
                   "--cgroup-parent",
                   "berth-bench-docker",
                   "--containerd-namespace",
                   "berth-bench",
                   "--containerd-plugins-namespace",
                   "berth-bench-plugins"},
                  o, log);
    if (e.pid < 0) {
        error = std::string("fork: ") + std::strerror(errno);
        return std::nullopt;
    }
    auto ready = wait_ready(std::move(e), log, error);
    if (ready && !ready->version.empty()) ready->name = "docker-" + ready->version.substr(0, 5);
    return ready;
}

std::optional<Engine> attach_engine(const std::string& name, const std::string& socket,
                                    std::string& error) {
    Engine e;
    e.name = name;
    e.socket = socket;
    ApiClient c(socket);
    Response r = c.request("GET", "/version");
    if (r.status != 200) {
        error = "cannot reach a daemon on " + socket + ": " + r.message();
        return std::nullopt;
    }
    auto at = r.body.find("\"Version\":\"");
    if (at != std::string::npos)
        e.version = r.body.substr(at + 11, r.body.find('"', at + 11) - at - 11);
    e.kind = r.body.find("berth") != std::string::npos ? "berthd" : "dockerd";
    // The daemon's pid: the peer of a connection to its socket.
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket.c_str());
    ucred cred{};
    socklen_t len = sizeof cred;
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        e.pid = cred.pid;
    if (fd >= 0) ::close(fd);
    return e;
}

void stop_engine(Engine& e) {
    if (!e.ours || e.pid <= 0) return;
    kill(e.pid, SIGTERM);
    int64_t deadline = monotonic_ns() + 30'000'000'000;
    int st = 0;
    while (waitpid(e.pid, &st, WNOHANG) == 0) {
        if (monotonic_ns() > deadline) {
            std::fprintf(stderr, "berth-bench: %s did not stop within 30 s: SIGKILL\n",
                         e.name.c_str());
            kill(e.pid, SIGKILL);
            waitpid(e.pid, &st, 0);
            break;
        }
        usleep(20'000);
    }
    e.pid = -1;
    {  // its (empty) cgroup parent, in every hierarchy
        std::string parent = e.kind == "berthd" ? "berth-bench" : "berth-bench-docker";
        std::error_code ec;
        std::filesystem::remove("/sys/fs/cgroup/" + parent, ec);
        for (const auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup", ec))
            std::filesystem::remove(h.path() / parent, ec);
    }
    // What the daemon left mounted under its directory (dockerd keeps the host's netns bound in
    // exec/netns/default) is detached, deepest first; never rm through a mount.
    auto mounted = [&] {
        std::vector<std::string> points;
        std::ifstream mi("/proc/self/mountinfo");
        for (std::string line; std::getline(mi, line);) {
            std::istringstream f(line);
            std::string id, parent, dev, root, point;
            f >> id >> parent >> dev >> root >> point;
            if (point.starts_with(e.dir + "/")) points.push_back(point);
        }
        std::sort(points.rbegin(), points.rend());
        return points;
    };
    for (const std::string& p : mounted()) umount2(p.c_str(), MNT_DETACH);
    if (auto left = mounted(); !left.empty()) {
        std::fprintf(stderr, "berth-bench: %zu mounts are left under %s; not removing it\n",
                     left.size(), e.dir.c_str());
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(e.dir, ec);
}

namespace {

struct ProcTable {
    std::map<pid_t, pid_t> parent;
};

ProcTable scan_proc() {
    ProcTable t;
    DIR* d = opendir("/proc");
    if (!d) return t;
    while (dirent* de = readdir(d)) {
        pid_t pid = pid_t(std::atoi(de->d_name));
        if (pid <= 0) continue;
        std::ifstream st(std::string("/proc/") + de->d_name + "/stat");
        std::string s((std::istreambuf_iterator<char>(st)), {});
        auto close = s.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(s.substr(close + 2));
        std::string state;
        pid_t ppid = 0;
        rest >> state >> ppid;
        t.parent[pid] = ppid;
    }
    closedir(d);
    return t;
}

long status_field(pid_t pid, const char* key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    size_t n = std::strlen(key);
    for (std::string line; std::getline(in, line);)
        if (line.compare(0, n, key) == 0 && line.size() > n && line[n] == ':')
            return std::atol(line.c_str() + n + 1);
    return 0;
}

}  // namespace

EngineProcs engine_processes(const Engine& e, const std::vector<pid_t>& container_pids) {
    EngineProcs out;
    if (e.pid <= 0) return out;
    ProcTable t = scan_proc();
    std::set<pid_t> containers(container_pids.begin(), container_pids.end());
    // The daemon's descendants that are not inside a container.
    for (const auto& [pid, ppid] : t.parent) {
        pid_t p = pid;
        bool in_container = false;
        for (int depth = 0; p > 1 && depth < 64; ++depth) {
            if (containers.contains(p)) in_container = true;
            if (p == e.pid) {
                if (!in_container) out.daemon.insert(pid);
                break;
            }
            auto it = t.parent.find(p);
            if (it == t.parent.end()) break;
            p = it->second;
        }
    }
    out.daemon.insert(e.pid);
    // Between a container and init (or the daemon): helpers.
    for (pid_t c : container_pids) {
        auto it = t.parent.find(c);
        for (int depth = 0; it != t.parent.end() && it->second > 1 && depth < 64; ++depth) {
            pid_t p = it->second;
            if (out.daemon.contains(p)) break;
            out.helpers.insert(p);
            it = t.parent.find(p);
        }
    }
    return out;
}

ProcMem measure(const std::set<pid_t>& pids) {
    ProcMem m;
    for (pid_t pid : pids) {
        long rss = status_field(pid, "VmRSS");
        if (rss == 0 && access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0) continue;
        ++m.processes;
        m.rss_kb += rss;
        m.hwm_kb += status_field(pid, "VmHWM");
        m.threads += int(status_field(pid, "Threads"));
        std::ifstream sm("/proc/" + std::to_string(pid) + "/smaps_rollup");
        for (std::string line; std::getline(sm, line);)
            if (line.starts_with("Pss:")) m.pss_kb += std::atol(line.c_str() + 4);
    }
    return m;
}

void reset_peak(const std::set<pid_t>& pids) {
    for (pid_t pid : pids) std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5\n";
}

long open_files_limit(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("Max open files")) return std::atol(line.c_str() + 14);
    return 0;
}

long system_used_kb() {
    std::ifstream in("/proc/meminfo");
    long total = 0, avail = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("MemTotal:")) total = std::atol(line.c_str() + 9);
        if (line.starts_with("MemAvailable:")) avail = std::atol(line.c_str() + 13);
    }
    return total - avail;
}

}  // namespace berth::bench
