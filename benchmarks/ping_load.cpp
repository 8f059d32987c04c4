// ping_load: drives `GET /_ping` over berthd's Unix socket with N keep-alive connections (one
// request in flight on each, no pipelining) on berth's own io_uring loop, then measures the
// daemon's memory per idle connection. It starts its own berthd (pinned to one CPU) on a
// temporary socket and data root unless --socket names a running one.
// Output: a table for people and one JSON line for machines. Exit status: 0 when the tool
// worked whatever the figures; 1 for a tool failure (daemon did not start, over 1% errors);
// 2 for bad flags; 3 when the daemon did not exit 0 on SIGTERM.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/time.hpp"
#include "kernel/fd.hpp"
#include "kernel/process.hpp"
#include "kernel/unix_socket.hpp"
#include "loop/loop.hpp"

#ifndef BERTHD_PATH
#define BERTHD_PATH "berthd"
#endif

namespace {

using berth::Error;
using berth::fail;
using berth::monotonic_ns;
using berth::Result;
using berth::kernel::UniqueFd;

constexpr std::string_view ping_request =
    "GET /_ping HTTP/1.1\r\n"
    "Host: api.moby.localhost\r\n"
    "User-Agent: ping_load\r\n"
    "\r\n";

constexpr size_t response_bytes_max = 4096;
constexpr int64_t daemon_ready_timeout_ns = 10'000'000'000;
constexpr int64_t daemon_exit_timeout_ns = 20'000'000'000;
constexpr int64_t drain_timeout_ns = 2'000'000'000;
constexpr int64_t idle_settle_ns = 500'000'000;
constexpr time_t blocking_timeout_s = 5;
constexpr double error_share_max = 0.01;
constexpr double other_cpu_warn_pct = 10;

struct Options {
    std::string socket;  // empty: start our own berthd
    std::string berthd = BERTHD_PATH;
    int connections = 64;
    double duration_s = 5;
    double warmup_s = 1;
    int idle = 1000;
    int server_cpu = 0;  // -1: no pinning
    int client_cpu = 1;
    bool quick = false;
};

void usage(FILE* to) {
    std::fprintf(
        to,
        "usage: ping_load [--connections N] [--duration S] [--warmup S] [--idle N]\n"
        "                 [--server-cpu N] [--client-cpu N] [--socket PATH]\n"
        "                 [--berthd PATH] [--quick]\n"
        "Drives GET /_ping over berthd's Unix socket with N keep-alive connections and\n"
        "reports requests/s, latency percentiles and memory per idle connection.\n"
        "  --connections N  concurrent keep-alive connections (default 64)\n"
        "  --duration S     measured seconds after the warm-up (default 5)\n"
        "  --warmup S       seconds of load before measuring (default 1)\n"
        "  --idle N         idle connections for the memory figure (default 1000, 0: skip)\n"
        "  --server-cpu N   pin the berthd we start to CPU N (default 0, -1: don't)\n"
        "  --client-cpu N   pin this tool to CPU N (default 1, -1: don't)\n"
        "  --socket PATH    use a running daemon instead of starting one\n"
        "  --berthd PATH    the berthd binary (default: the one built alongside)\n"
        "  --quick          CI smoke run: 1 s, 16 connections, 200 idle\n");
}

std::optional<Options> parse_options(int argc, char** argv) {
    Options o;
    bool connections_set = false, duration_set = false, warmup_set = false, idle_set = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "ping_load: %s needs a value\n", argv[i]);
                return nullptr;
            }
            return argv[++i];
        };
        auto number = [&](double& out) {
            const char* v = value();
            if (!v) return false;
            char* end = nullptr;
            out = std::strtod(v, &end);
            if (end == v || *end != '\0') {
                std::fprintf(stderr, "ping_load: %s: not a number: %s\n", a.data(), v);
                return false;
            }
            return true;
        };
        double n = 0;
        if (a == "--help" || a == "-h") {
            usage(stdout);
            std::exit(0);
        } else if (a == "--quick") {
            o.quick = true;
        } else if (a == "--socket" || a == "--berthd") {
            const char* v = value();
            if (!v) return std::nullopt;
            (a == "--socket" ? o.socket : o.berthd) = v;
        } else if (a == "--connections" && number(n) && n >= 1) {
            o.connections = int(n);
            connections_set = true;
        } else if (a == "--duration" && number(n) && n > 0) {
            o.duration_s = n;
            duration_set = true;
        } else if (a == "--warmup" && number(n) && n >= 0) {
            o.warmup_s = n;
            warmup_set = true;
        } else if (a == "--idle" && number(n) && n >= 0) {
            o.idle = int(n);
            idle_set = true;
        } else if (a == "--server-cpu" && number(n)) {
            o.server_cpu = int(n);
        } else if (a == "--client-cpu" && number(n)) {
            o.client_cpu = int(n);
        } else {
            std::fprintf(stderr, "ping_load: bad or unknown argument: %s\n", argv[i]);
            usage(stderr);
            return std::nullopt;
        }
    }
    if (o.quick) {
        if (!connections_set) o.connections = 16;
        if (!duration_set) o.duration_s = 1;
        if (!warmup_set) o.warmup_s = 0.2;
        if (!idle_set) o.idle = 200;
    }
    return o;
}

Result<> pin_to_cpu(pid_t pid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0)
        return fail(Error::last_sys("pin to CPU " + std::to_string(cpu)));
    return {};
}

// The CPUs `pid` may run on, as "0" or "0,1" (0: this process).
std::string cpu_list(pid_t pid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(pid, sizeof set, &set) != 0) return "?";
    std::string s;
    for (int i = 0; i < CPU_SETSIZE; ++i)
        if (CPU_ISSET(i, &set)) s += (s.empty() ? "" : ",") + std::to_string(i);
    return s;
}

// --- the daemon under test ---------------------------------------------------------------------

struct Daemon {
    pid_t pid = -1;
    bool ours = false;  // started (and stopped) by us
    std::string dir;    // temporary: socket, data root, exec root, pid file, log
    std::string socket;
    std::string log;

    std::string log_tail() const {
        std::ifstream in(log);
        std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (all.size() > 2000) all = "…" + all.substr(all.size() - 2000);
        return all;
    }
};

// One blocking GET /_ping on `fd`; returns the status code. A daemon that does not answer
// within blocking_timeout_s is an error, not a hang.
Result<int> blocking_ping(int fd) {
    timeval tv{blocking_timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t off = 0;
    while (off < ping_request.size()) {
        ssize_t n = ::send(fd, ping_request.data() + off, ping_request.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(Error::last_sys("send"));
        }
        off += size_t(n);
    }
    std::array<char, response_bytes_max> buf;
    size_t have = 0;
    while (have < buf.size()) {
        ssize_t n = ::recv(fd, buf.data() + have, buf.size() - have, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(Error::last_sys("recv"));
        }
        if (n == 0) return fail(Error::internal("the daemon closed the connection"));
        have += size_t(n);
        std::string_view r(buf.data(), have);
        size_t end = r.find("\r\n\r\n");
        if (end == r.npos) continue;
        size_t cl = 0;
        if (size_t p = r.find("Content-Length: "); p != r.npos && p < end)
            cl = std::strtoul(r.data() + p + 16, nullptr, 10);
        if (have < end + 4 + cl) continue;
        if (r.size() < 12 || !r.starts_with("HTTP/1.1 "))
            return fail(Error::internal("not an HTTP/1.1 response"));
        return int(std::strtol(r.data() + 9, nullptr, 10));
    }
    return fail(Error::internal("response larger than " + std::to_string(response_bytes_max)));
}

// The pid of the process that owns the other end of a Unix socket.
pid_t peer_pid(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    return cred.pid;
}

Result<Daemon> start_daemon(const Options& o) {
    Daemon d;
    d.ours = true;
    char tmpl[] = "/tmp/berth-ping-load-XXXXXX";
    if (!mkdtemp(tmpl)) return fail(Error::last_sys("mkdtemp"));
    d.dir = tmpl;
    d.socket = d.dir + "/berth.sock";
    d.log = d.dir + "/berthd.log";
    {
        // An empty daemon.json so that /etc/berth/daemon.json cannot change the run.
        std::ofstream cfg(d.dir + "/daemon.json");
        cfg << "{}\n";
    }
    std::vector<std::string> args = {
        o.berthd,
        "--host=unix://" + d.socket,
        "--data-root=" + d.dir + "/data",
        "--exec-root=" + d.dir + "/exec",
        "--pidfile=" + d.dir + "/berthd.pid",
        "--config-file=" + d.dir + "/daemon.json",
        "--log-level=warn",
        // The API alone is measured: no default bridge (nothing made in the host's network)
        // and a cgroup parent of its own.
        "--bridge=none",
        "--cgroup-parent=berth-ping-load",
    };
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = fork();
    if (pid < 0) return fail(Error::last_sys("fork"));
    if (pid == 0) {
        // The child: only async-signal-safe calls until exec.
        prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the tool
        if (o.server_cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(o.server_cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(126);
        }
        int log = open(d.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (log >= 0) {
            dup2(log, STDOUT_FILENO);
            dup2(log, STDERR_FILENO);
        }
        execv(argv[0], argv.data());
        _exit(127);
    }
    d.pid = pid;

    // Ready = a /_ping answered 200.
    int64_t deadline = monotonic_ns() + daemon_ready_timeout_ns;
    while (true) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            d.pid = -1;
            std::string why = WIFEXITED(status)
                                  ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                  : "killed by signal " + std::to_string(WTERMSIG(status));
            if (WIFEXITED(status) && WEXITSTATUS(status) == 126)
                why += " (could not pin it to CPU " + std::to_string(o.server_cpu) + ")";
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                why += " (could not run " + o.berthd + ")";
            return fail(Error::internal("berthd " + why + "; its log:\n" + d.log_tail()));
        }
        if (auto fd = berth::kernel::connect_unix(d.socket)) {
            if (auto st = blocking_ping(fd->get()); st && *st == 200) return d;
        }
        if (monotonic_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            d.pid = -1;
            return fail(Error::internal("berthd did not answer /_ping within 10 s; its log:\n" +
                                        d.log_tail()));
        }
        usleep(5'000);
    }
}

struct Stopped {
    bool clean = false;
    std::string how;
    double ms = 0;
};

Stopped stop_daemon(Daemon& d) {
    Stopped s;
    if (d.pid <= 0) {
        s.how = "not running";
        return s;
    }
    int64_t t0 = monotonic_ns();
    kill(d.pid, SIGTERM);
    int status = 0;
    while (true) {
        pid_t r = waitpid(d.pid, &status, WNOHANG);
        if (r == d.pid) break;
        if (monotonic_ns() - t0 > daemon_exit_timeout_ns) {
            kill(d.pid, SIGKILL);
            waitpid(d.pid, &status, 0);
            s.how = "did not exit within 20 s of SIGTERM (killed)";
            d.pid = -1;
            return s;
        }
        usleep(1'000);
    }
    d.pid = -1;
    s.ms = double(monotonic_ns() - t0) / 1e6;
    // Its (empty) cgroup parent, in every hierarchy.
    std::error_code ec;
    std::filesystem::remove("/sys/fs/cgroup/berth-ping-load", ec);
    for (const auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup", ec))
        std::filesystem::remove(h.path() / "berth-ping-load", ec);
    if (WIFEXITED(status)) {
        s.clean = WEXITSTATUS(status) == 0;
        s.how = "exit " + std::to_string(WEXITSTATUS(status));
    } else {
        s.how = "killed by signal " + std::to_string(WTERMSIG(status));
    }
    return s;
}

// --- /proc readings ----------------------------------------------------------------------------

// VmRSS of `pid` in KiB, or -1.
long vm_rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("VmRSS:")) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

// CPU time (user + system) of `pid` in ns, or -1.
int64_t cpu_ns(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t p = stat.rfind(')');
    if (p == stat.npos) return -1;
    // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
    const char* s = stat.c_str() + p + 2;
    unsigned long long utime = 0, stime = 0;
    if (std::sscanf(s, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return -1;
    return int64_t((utime + stime) * 1'000'000'000ULL / uint64_t(sysconf(_SC_CLK_TCK)));
}

// Busy CPU time of the whole machine (all CPUs, everything but idle and iowait) in ns, or -1:
// what berthd and this tool did not use of it was other work disturbing the measurement.
int64_t machine_busy_ns() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                       steal = 0;
    if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
        cpu != "cpu")
        return -1;
    return int64_t((user + nice + system + irq + softirq + steal) * 1'000'000'000ULL /
                   uint64_t(sysconf(_SC_CLK_TCK)));
}

int64_t self_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// --- the load ----------------------------------------------------------------------------------

class Load;

// One keep-alive connection: send and recv are both queued at once for each request, so a
// response needs one trip through the ring, not two.
struct Conn {
    Load* load = nullptr;
    UniqueFd fd;
    berth::loop::Completion send, recv;
    size_t sent = 0;
    size_t have = 0;
    int64_t start_ns = 0;
    bool broken = false;        // an error: shut down, reconnect once both ops are back
    bool next_waiting = false;  // the response came before the send's completion
    std::array<char, response_bytes_max> buf;
};

struct Figures {
    uint64_t requests = 0;
    uint64_t errors = 0;
    double seconds = 0;
    std::vector<uint32_t> latency_ns;  // one per measured request
    int64_t server_cpu_ns = -1;
    int64_t client_cpu_ns = 0;
    int64_t machine_busy_ns = -1;
};

class Load {
  public:
    Load(berth::loop::Loop& loop, const std::string& socket, pid_t server)
        : loop_(loop), socket_(socket), server_(server) {}

    Result<> open(int n) {
        conns_.reserve(size_t(n));
        for (int i = 0; i < n; ++i) {
            auto c = std::make_unique<Conn>();
            c->load = this;
            c->send.context = c->recv.context = c.get();
            c->send.callback = &Load::on_send;
            c->recv.callback = &Load::on_recv;
            auto fd = berth::kernel::connect_unix(socket_);
            if (!fd) return fail(std::move(fd.error()).wrap("open load connection"));
            c->fd = std::move(*fd);
            conns_.push_back(std::move(c));
        }
        return {};
    }

    Result<Figures> run(double warmup_s, double duration_s) {
        const int64_t t0 = monotonic_ns();
        const int64_t measure_from = t0 + int64_t(warmup_s * 1e9);
        const int64_t measure_to = measure_from + int64_t(duration_s * 1e9);
        figures_.latency_ns.reserve(size_t(std::min(duration_s * 300'000, 5e7)));
        for (auto& c : conns_) start_request(*c);
        int64_t server_cpu0 = -1, client_cpu0 = 0, machine_busy0 = -1, started_ns = 0;
        while (true) {
            if (auto r = loop_.tick(10'000'000); !r) return fail(r.error());
            int64_t now = loop_.now_ns();
            if (!measuring_ && !stopping_ && now >= measure_from) {
                measuring_ = true;
                started_ns = now;
                figures_.requests = figures_.errors = 0;
                figures_.latency_ns.clear();
                server_cpu0 = server_ > 0 ? cpu_ns(server_) : -1;
                client_cpu0 = self_cpu_ns();
                machine_busy0 = machine_busy_ns();
            }
            if (measuring_ && now >= measure_to) {
                measuring_ = false;
                stopping_ = true;
                figures_.seconds = double(now - started_ns) / 1e9;
                if (server_cpu0 >= 0) figures_.server_cpu_ns = cpu_ns(server_) - server_cpu0;
                figures_.client_cpu_ns = self_cpu_ns() - client_cpu0;
                if (machine_busy0 >= 0)
                    figures_.machine_busy_ns = machine_busy_ns() - machine_busy0;
            }
            if (stopping_ && (busy_ == 0 || now - measure_to > drain_timeout_ns)) break;
        }
        if (busy_ != 0)
            return fail(Error::internal(std::to_string(busy_) +
                                        " requests still unanswered 2 s after the load ended"));
        return std::move(figures_);
    }

    size_t size() const { return conns_.size(); }

  private:
    void start_request(Conn& c) {
        c.sent = 0;
        c.have = 0;
        c.next_waiting = false;
        c.start_ns = monotonic_ns();
        ++busy_;
        loop_.send(c.send, c.fd.get(), std::as_bytes(std::span(ping_request)));
        loop_.recv(c.recv, c.fd.get(), std::as_writable_bytes(std::span(c.buf)));
    }

    // The response is complete (or the connection broke): count it and go again.
    void request_done(Conn& c, bool ok) {
        --busy_;
        if (measuring_) {
            if (ok) {
                ++figures_.requests;
                int64_t ns = loop_.now_ns() - c.start_ns;
                figures_.latency_ns.push_back(uint32_t(std::clamp<int64_t>(ns, 0, UINT32_MAX)));
            } else {
                ++figures_.errors;
            }
        }
        if (stopping_ || c.broken) return;
        if (c.send.in_flight()) {
            c.next_waiting = true;  // its completion is later in this same batch
            return;
        }
        start_request(c);
    }

    void break_conn(Conn& c) {
        if (c.broken) return;
        c.broken = true;
        c.next_waiting = false;
        ::shutdown(c.fd.get(), SHUT_RDWR);  // ends whichever operation is still queued
        request_done(c, false);
        maybe_reconnect(c);
    }

    void maybe_reconnect(Conn& c) {
        if (!c.broken || c.send.in_flight() || c.recv.in_flight()) return;
        c.fd.reset();
        c.broken = false;
        if (stopping_) return;
        auto fd = berth::kernel::connect_unix(socket_);
        if (!fd) {
            ++figures_.errors;
            return;  // this connection stays down
        }
        c.fd = std::move(*fd);
        start_request(c);
    }

    static void on_send(berth::loop::Completion& comp) {
        auto& c = *static_cast<Conn*>(comp.context);
        Load& l = *c.load;
        if (c.broken) return l.maybe_reconnect(c);
        if (comp.result < 0) return l.break_conn(c);
        c.sent += size_t(comp.result);
        if (c.sent < ping_request.size()) {
            l.loop_.send(c.send, c.fd.get(), std::as_bytes(std::span(ping_request.substr(c.sent))));
            return;
        }
        if (c.next_waiting) l.start_request(c);
    }

    static void on_recv(berth::loop::Completion& comp) {
        auto& c = *static_cast<Conn*>(comp.context);
        Load& l = *c.load;
        if (c.broken) return l.maybe_reconnect(c);
        if (comp.result <= 0) return l.break_conn(c);  // 0: the daemon closed it
        c.have += size_t(comp.result);
        std::string_view r(c.buf.data(), c.have);
        size_t end = r.find("\r\n\r\n");
        if (end == r.npos) {
            if (c.have == c.buf.size()) return l.break_conn(c);
            return l.recv_more(c);
        }
        size_t body = 0;
        if (size_t p = find_content_length(r.substr(0, end)); p != r.npos)
            body = std::strtoul(r.data() + p, nullptr, 10);
        if (c.have < end + 4 + body) return l.recv_more(c);
        bool ok = c.have == end + 4 + body && r.starts_with("HTTP/1.1 200 ");
        l.request_done(c, ok);
    }

    void recv_more(Conn& c) {
        loop_.recv(c.recv, c.fd.get(), std::as_writable_bytes(std::span(c.buf).subspan(c.have)));
    }

    // The offset of Content-Length's value in `head`, any case; npos if absent.
    static size_t find_content_length(std::string_view head) {
        static constexpr std::string_view name = "content-length:";
        for (size_t p = head.find("\r\n"); p != head.npos; p = head.find("\r\n", p + 2)) {
            std::string_view line = head.substr(p + 2);
            if (line.size() < name.size()) break;
            bool same = true;
            for (size_t i = 0; i < name.size() && same; ++i)
                same = char(line[i] | 0x20) == name[i] || line[i] == name[i];
            if (!same) continue;
            size_t v = p + 2 + name.size();
            while (v < head.size() && head[v] == ' ') ++v;
            return v;
        }
        return head.npos;
    }

    berth::loop::Loop& loop_;
    std::string socket_;
    pid_t server_;
    std::vector<std::unique_ptr<Conn>> conns_;
    Figures figures_;
    bool measuring_ = false;
    bool stopping_ = false;
    size_t busy_ = 0;  // requests sent and not yet answered
};

struct Latency {
    double p50 = 0, p90 = 0, p99 = 0, max = 0;  // µs
};

Latency percentiles(std::vector<uint32_t>& ns) {
    Latency l;
    if (ns.empty()) return l;
    std::sort(ns.begin(), ns.end());
    auto at = [&](double q) {
        size_t i = size_t(q * double(ns.size() - 1) + 0.5);
        return double(ns[std::min(i, ns.size() - 1)]) / 1e3;
    };
    l.p50 = at(0.50);
    l.p90 = at(0.90);
    l.p99 = at(0.99);
    l.max = double(ns.back()) / 1e3;
    return l;
}

// --- memory per idle connection ----------------------------------------------------------------

struct IdleFigures {
    int opened = 0;
    int errors = 0;
    long rss_before_kib = -1;
    long rss_after_kib = -1;
    double bytes_per_conn = -1;
    std::string problem;
};

// Opens `n` connections that each complete one /_ping and then sit idle; the daemon's VmRSS
// before and after (500 ms later) gives the cost of one. The load connections stay open
// meanwhile, so what they freed cannot be reused and hide the cost.
IdleFigures measure_idle(const std::string& socket, pid_t server, int n) {
    IdleFigures f;
    f.rss_before_kib = vm_rss_kib(server);
    std::vector<UniqueFd> idle;
    idle.reserve(size_t(n));
    for (int i = 0; i < n; ++i) {
        auto fd = berth::kernel::connect_unix(socket);
        if (!fd) {
            f.problem = fd.error().message;
            break;
        }
        auto st = blocking_ping(fd->get());
        if (!st || *st != 200) {
            ++f.errors;
            f.problem = st ? "status " + std::to_string(*st) : st.error().message;
            continue;
        }
        idle.push_back(std::move(*fd));
    }
    f.opened = int(idle.size());
    timespec settle{0, idle_settle_ns};
    nanosleep(&settle, nullptr);
    f.rss_after_kib = vm_rss_kib(server);
    if (f.opened > 0 && f.rss_before_kib >= 0 && f.rss_after_kib >= 0)
        f.bytes_per_conn = double(f.rss_after_kib - f.rss_before_kib) * 1024.0 / f.opened;
    return f;
}

// --- report ------------------------------------------------------------------------------------

struct Report {
    const Options* o = nullptr;
    std::string socket;
    pid_t server = -1;
    std::string server_cpus = "?";  // read while it runs
    bool server_pinned = false;
    Figures load;
    Latency lat;
    IdleFigures idle;
    Stopped stopped;
    bool stopped_known = false;

    double rps() const { return load.seconds > 0 ? double(load.requests) / load.seconds : 0; }
    static double pct(int64_t cpu, double s) { return cpu < 0 || s <= 0 ? -1 : cpu / (s * 1e7); }
    // CPU the rest of the machine used during the measurement (% of one core), or -1.
    double other_cpu_pct() const {
        if (load.machine_busy_ns < 0 || load.server_cpu_ns < 0) return -1;
        return std::max(
            0.0, pct(load.machine_busy_ns - load.server_cpu_ns - load.client_cpu_ns, load.seconds));
    }

    void print_table() const {
        auto yes = [](bool b) { return b ? "yes" : "NO"; };
        std::printf("ping_load: GET /_ping over unix://%s\n", socket.c_str());
        std::printf("  %-12s pid %d on CPU %s%s; client on CPU %s\n", "berthd", int(server),
                    server_cpus.c_str(), server_pinned ? " (pinned by ping_load)" : "",
                    cpu_list(0).c_str());
        std::printf(
            "  %-12s %d keep-alive, 1 request in flight each; warm-up %.1f s, "
            "measured %.2f s\n",
            "connections", o->connections, o->warmup_s, load.seconds);
        std::printf("  %-12s %" PRIu64 " ok, %" PRIu64 " errors\n", "requests", load.requests,
                    load.errors);
        std::printf("  %-12s %.0f requests/s\n", "throughput", rps());
        std::printf("  latency µs   p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n", lat.p50, lat.p90,
                    lat.p99, lat.max);
        double scpu = pct(load.server_cpu_ns, load.seconds);
        double ccpu = pct(load.client_cpu_ns, load.seconds);
        double other = other_cpu_pct();
        if (scpu >= 0)
            std::printf(
                "  %-12s berthd %.0f%%, client %.0f%%, other processes %.0f%% "
                "(100%% = one core)\n",
                "cpu", scpu, ccpu, other);
        if (other > other_cpu_warn_pct)
            std::printf(
                "  %-12s other processes were busy during the run: the figures are "
                "disturbed\n",
                "WARNING");
        if (o->idle > 0) {
            if (idle.bytes_per_conn >= 0)
                std::printf(
                    "  %-12s %d open after one /_ping each: VmRSS %ld → %ld KiB, %.0f "
                    "bytes per connection\n",
                    "idle conns", idle.opened, idle.rss_before_kib, idle.rss_after_kib,
                    idle.bytes_per_conn);
            else
                std::printf("  %-12s not measured\n", "idle conns");
            if (!idle.problem.empty())
                std::printf("  %-12s %d of %d idle connections failed: %s\n", "",
                            o->idle - idle.opened, o->idle, idle.problem.c_str());
        }
        if (stopped_known)
            std::printf("  %-12s SIGTERM → %s after %.1f ms\n", "shutdown", stopped.how.c_str(),
                        stopped.ms);
        std::printf("  %-12s ≥100000 requests/s: %s; p99 < 2000 µs: %s", "target",
                    yes(rps() >= 100'000), yes(load.requests > 0 && lat.p99 < 2000));
        if (o->idle > 0 && idle.bytes_per_conn >= 0)
            std::printf("; idle < 8192 bytes: %s", yes(idle.bytes_per_conn < 8192));
        std::printf("\n");
    }

    void print_json() const {
        std::printf(
            "{\"rps\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
            "\"max_us\":%.1f,\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
            ",\"connections\":%d,\"seconds\":%.3f,\"server_cpu_pct\":%.1f,"
            "\"client_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f,\"idle_connections\":%d,"
            "\"idle_bytes_per_conn\":%.0f,\"berthd_exit_clean\":%s}\n",
            rps(), lat.p50, lat.p90, lat.p99, lat.max, load.requests, load.errors, o->connections,
            load.seconds, pct(load.server_cpu_ns, load.seconds),
            pct(load.client_cpu_ns, load.seconds), other_cpu_pct(), idle.opened,
            idle.bytes_per_conn,
            !stopped_known  ? "null"
            : stopped.clean ? "true"
                            : "false");
    }
};

int run(const Options& o) {
    if (auto r = berth::kernel::raise_open_file_limit(); !r)
        std::fprintf(stderr, "ping_load: %s\n", r.error().message.c_str());
    else if (*r < o.connections + o.idle + 64)
        std::fprintf(stderr,
                     "ping_load: the open-file limit (%ld) is below what --connections "
                     "and --idle need\n",
                     *r);
    signal(SIGPIPE, SIG_IGN);

    Report rep;
    rep.o = &o;
    Daemon d;
    if (o.socket.empty()) {
        auto started = start_daemon(o);
        if (!started) {
            std::fprintf(stderr, "ping_load: %s\n", started.error().message.c_str());
            return 1;
        }
        d = std::move(*started);
        rep.server_pinned = o.server_cpu >= 0;
    } else {
        d.socket = o.socket;
        auto fd = berth::kernel::connect_unix(d.socket);
        if (!fd) {
            std::fprintf(stderr, "ping_load: %s\n", fd.error().message.c_str());
            return 1;
        }
        d.pid = peer_pid(fd->get());  // for VmRSS and CPU time; never signalled
    }
    rep.socket = d.socket;
    rep.server = d.pid;
    if (d.pid > 0) rep.server_cpus = cpu_list(d.pid);
    if (o.client_cpu >= 0) {
        if (auto r = pin_to_cpu(0, o.client_cpu); !r)
            std::fprintf(stderr, "ping_load: %s; running unpinned\n", r.error().message.c_str());
    }

    int code = 0;
    std::string failure;
    {
        auto loop = berth::loop::Loop::create();
        if (!loop) {
            failure = loop.error().message;
        } else {
            Load load(**loop, d.socket, d.pid);
            if (auto r = load.open(o.connections); !r) {
                failure = r.error().message;
            } else if (auto figures = load.run(o.warmup_s, o.duration_s); !figures) {
                failure = figures.error().message;
            } else {
                rep.load = std::move(*figures);
                rep.lat = percentiles(rep.load.latency_ns);
                if (o.idle > 0 && d.pid > 0) rep.idle = measure_idle(d.socket, d.pid, o.idle);
            }
        }
    }  // the load connections close here, before the daemon is asked to stop
    if (d.ours) {
        rep.stopped = stop_daemon(d);
        rep.stopped_known = true;
    }

    if (!failure.empty()) {
        std::fprintf(stderr, "ping_load: %s\n", failure.c_str());
        code = 1;
    } else {
        rep.print_table();
        rep.print_json();
        uint64_t total = rep.load.requests + rep.load.errors;
        if (rep.load.requests == 0) {
            std::fprintf(stderr, "ping_load: no request was answered\n");
            code = 1;
        } else if (double(rep.load.errors) > error_share_max * double(total)) {
            std::fprintf(stderr, "ping_load: %" PRIu64 " of %" PRIu64 " requests failed\n",
                         rep.load.errors, total);
            code = 1;
        } else if (o.idle > 0 && rep.idle.opened < o.idle * (1 - error_share_max)) {
            std::fprintf(stderr, "ping_load: only %d of %d idle connections opened\n",
                         rep.idle.opened, o.idle);
            code = 1;
        }
    }
    if (rep.stopped_known && !rep.stopped.clean) {
        std::fprintf(stderr, "ping_load: berthd did not shut down cleanly on SIGTERM: %s\n",
                     rep.stopped.how.c_str());
        if (code == 0) code = 3;
    }
    if (d.ours) {
        if (code != 0) std::fprintf(stderr, "berthd's log:\n%s\n", d.log_tail().c_str());
        std::error_code ec;
        std::filesystem::remove_all(d.dir, ec);
    }
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    auto o = parse_options(argc, argv);
    if (!o) return 2;
    return run(*o);
}
