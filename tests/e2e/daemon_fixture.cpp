// The e2e fixtures: BerthDaemon (fork/exec of the built berthd in a private temp dir), RawClient
// (one Unix-socket connection with timeouts), a small HTTP/1.1 response parser, and a shell
// runner. Every fd here is close-on-exec so berthd and the shells inherit none of them.
#include "daemon_fixture.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#ifndef BERTHD_PATH
#error "BERTHD_PATH must name the berthd binary under test"
#endif

namespace berth::e2e {

namespace {

using Clock = std::chrono::steady_clock;

void sleep_ms(int ms) {
    struct timespec ts {
        ms / 1000, (ms % 1000) * 1'000'000L
    };
    nanosleep(&ts, nullptr);
}

int ms_left(Clock::time_point end) {
    auto left = std::chrono::duration_cast<Millis>(end - Clock::now()).count();
    return int(std::max<long long>(0, left));
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return std::string(s);
}

std::string shell_quote(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

}  // namespace

// --- BerthDaemon --------------------------------------------------------------------------------

BerthDaemon::BerthDaemon(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
    char tmpl[] = "/tmp/berth-e2e-XXXXXX";
    if (!mkdtemp(tmpl)) {
        ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
        return;
    }
    dir_ = tmpl;
    socket_path_ = dir_ + "/berth.sock";
    data_root_ = dir_ + "/data";
    exec_root_ = dir_ + "/exec";
    pidfile_ = dir_ + "/berthd.pid";
    // An empty daemon.json of our own, so a host's /etc/berth/daemon.json cannot leak in.
    write_temp_file(dir_, "daemon.json", "{}\n");
}

namespace {

// The cgroup parent of one test daemon, in every hierarchy (v1 and v2 layouts alike).
std::vector<std::filesystem::path> cgroup_parent_dirs(const std::string& parent) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    if (std::filesystem::is_directory("/sys/fs/cgroup/" + parent, ec))
        out.emplace_back("/sys/fs/cgroup/" + parent);
    for (const auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup", ec))
        if (std::filesystem::is_directory(h.path() / parent, ec)) out.push_back(h.path() / parent);
    return out;
}

// A daemon that died without stopping its containers (SIGKILL) leaves them running: they have
// no helper process to die with it. Kill what is left in its cgroups and remove them.
void remove_cgroup_parent(const std::string& parent) {
    std::error_code ec;
    for (int round = 0; round < 50; ++round) {
        bool left = false;
        for (const auto& dir : cgroup_parent_dirs(parent)) {
            for (const auto& child : std::filesystem::directory_iterator(dir, ec)) {
                if (!child.is_directory(ec)) continue;
                std::ifstream procs(child.path() / "cgroup.procs");
                for (pid_t pid; procs >> pid;) kill(pid, SIGKILL);
                if (rmdir(child.path().c_str()) != 0) left = true;
            }
            if (rmdir(dir.c_str()) != 0) left = true;
        }
        if (!left) return;
        usleep(20000);
    }
}

}  // namespace

namespace {

// Every mount point under `dir` (a daemon killed mid-way leaves its containers' roots mounted),
// detached deepest first, so that removing the directory never reaches through a mount.
void unmount_under(const std::string& dir) {
    std::ifstream in("/proc/self/mounts");
    std::vector<std::string> points;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string source, target;
        fields >> source >> target;
        if (target.starts_with(dir + "/")) points.push_back(target);
    }
    std::sort(points.rbegin(), points.rend());
    for (const auto& p : points) umount2(p.c_str(), MNT_DETACH);
}

}  // namespace

BerthDaemon::~BerthDaemon() {
    // A daemon still running is asked to stop (it stops its containers and unmounts their
    // roots), and killed if it has not after 5 s; what a killed one left mounted is detached.
    if (pid_ > 0) stop(SIGTERM, Millis(5000));
    if (!dir_.empty() && geteuid() == 0) unmount_under(dir_);
    if (netns_fd_ >= 0) ::close(netns_fd_);
    if (geteuid() == 0) remove_cgroup_parent(cgroup_parent());
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::string BerthDaemon::cgroup_parent() const {
    return "berth-e2e-" + std::filesystem::path(dir_).filename().string();
}

std::vector<std::string> BerthDaemon::argv() const {
    std::vector<std::string> a = {BERTHD_PATH,   "-H",        "unix://" + socket_path_,
                                  "--data-root", data_root_,  "--exec-root",
                                  exec_root_,    "--pidfile", pidfile_};
    bool has_config =
        std::find(extra_args_.begin(), extra_args_.end(), "--config-file") != extra_args_.end();
    if (!has_config) {
        a.push_back("--config-file");
        a.push_back(dir_ + "/daemon.json");
    }
    // Its own cgroup parent: a daemon reconciles (kills) what it finds under its parent that
    // it does not know, and other tests' daemons run at the same time.
    if (std::find(extra_args_.begin(), extra_args_.end(), "--cgroup-parent") == extra_args_.end()) {
        a.push_back("--cgroup-parent");
        a.push_back(cgroup_parent());
    }
    a.insert(a.end(), extra_args_.begin(), extra_args_.end());
    return a;
}

void BerthDaemon::use_host_network() {
    own_netns_ = false;
    extra_args_.push_back("--bridge");
    extra_args_.push_back("none");
}

namespace {

// A fresh network namespace with its loopback up, made on a short-lived thread (a thread's
// network namespace is its own) so the test process never leaves the host's.
int make_netns() {
    int fd = -1;
    std::thread([&fd] {
        if (unshare(CLONE_NEWNET) != 0) return;
        fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr {};
        std::strcpy(ifr.ifr_name, "lo");
        if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
            ifr.ifr_flags |= IFF_UP;
            ioctl(s, SIOCSIFFLAGS, &ifr);
        }
        if (s >= 0) ::close(s);
    }).join();
    return fd;
}

}  // namespace

std::string BerthDaemon::netns_path() const {
    return netns_fd_ < 0 ? "" : "/proc/" + std::to_string(getpid()) + "/fd/" +
                                    std::to_string(netns_fd_);
}

std::string BerthDaemon::in_netns(const std::string& cmd) const {
    if (netns_fd_ < 0) return cmd;
    return "nsenter --net=" + netns_path() + " sh -c " + shell_quote(cmd);
}

bool BerthDaemon::spawn() {
    if (own_netns_ && netns_fd_ < 0 && geteuid() == 0) {
        netns_fd_ = make_netns();
        if (netns_fd_ < 0) return false;
    }
    std::vector<std::string> args = argv();
    std::vector<char*> cargs;
    for (std::string& s : args) cargs.push_back(s.data());
    cargs.push_back(nullptr);

    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    int out = open((dir_ + "/berthd.stdout").c_str(), flags, 0644);
    int err = open((dir_ + "/berthd.stderr").c_str(), flags, 0644);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        // Only async-signal-safe calls from here to exec. The daemon dies with the test.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (netns_fd_ >= 0 && setns(netns_fd_, CLONE_NEWNET) != 0) _exit(126);
        execv(cargs[0], cargs.data());
        static const char msg[] = "e2e fixture: exec " BERTHD_PATH " failed\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    ::close(out);
    ::close(err);
    ::close(in);
    if (pid < 0) return false;
    pid_ = pid;
    return true;
}

int BerthDaemon::decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

std::optional<int> BerthDaemon::wait_exit(Millis deadline) {
    if (pid_ <= 0) return std::nullopt;
    auto end = Clock::now() + deadline;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            return decode_status(status);
        }
        if (Clock::now() >= end) return std::nullopt;
        sleep_ms(5);
    }
}

testing::AssertionResult BerthDaemon::start(Millis deadline) {
    if (running()) return testing::AssertionFailure() << "berthd is already running";
    if (access(BERTHD_PATH, X_OK) != 0)
        return testing::AssertionFailure() << "berthd is not built at " BERTHD_PATH;
    // A socket left by a SIGKILLed daemon can still accept for a while (its ring is torn down
    // by the kernel after the process is gone): probe only the new daemon's.
    unlink(socket_path_.c_str());
    if (!spawn()) return testing::AssertionFailure() << "fork: " << std::strerror(errno);
    auto end = Clock::now() + deadline;
    for (;;) {
        if (auto code = wait_exit(Millis(0)))
            return testing::AssertionFailure()
                   << "berthd exited with " << *code << " before its socket accepted; its stderr:\n"
                   << stderr_text();
        if (RawClient probe(socket_path_); probe.connected()) return testing::AssertionSuccess();
        if (Clock::now() >= end) {
            stop(SIGKILL);
            return testing::AssertionFailure()
                   << "berthd's socket " << socket_path_ << " did not accept within "
                   << deadline.count() << " ms; its stderr:\n"
                   << stderr_text();
        }
        sleep_ms(10);
    }
}

int BerthDaemon::run_expecting_exit(Millis deadline) {
    if (running() || !spawn()) return -1;
    if (auto code = wait_exit(deadline)) return *code;
    stop(SIGKILL);
    return -1;
}

int BerthDaemon::stop(int signo, Millis deadline) {
    if (pid_ <= 0) return -1;
    kill(pid_, signo);
    if (auto code = wait_exit(deadline)) return *code;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1;
}

std::string BerthDaemon::stdout_text() const {
    return read_file(dir_ + "/berthd.stdout");
}
std::string BerthDaemon::stderr_text() const {
    return read_file(dir_ + "/berthd.stderr");
}

// --- RawClient ----------------------------------------------------------------------------------

RawClient::RawClient(const std::string& socket_path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) return;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fd_ = fd;
}

RawClient::~RawClient() {
    close();
}

RawClient::RawClient(RawClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), peer_closed_(other.peer_closed_) {}

void RawClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool RawClient::send(std::string_view bytes, Millis timeout) {
    if (fd_ < 0) return false;
    auto end = Clock::now() + timeout;
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
            bytes.remove_prefix(size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return false;  // EPIPE, ECONNRESET: the peer is gone
        pollfd p{fd_, POLLOUT, 0};
        if (poll(&p, 1, ms_left(end)) <= 0) return false;
        if (p.revents & (POLLERR | POLLHUP)) return false;
    }
    return true;
}

bool RawClient::read_once(std::string& out, Millis timeout) {
    if (fd_ < 0 || peer_closed_) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, int(timeout.count()));
    if (r <= 0) return false;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
        out.append(buf, size_t(n));
        return true;
    }
    if (n == 0 || errno == ECONNRESET || errno == EPIPE) peer_closed_ = true;
    return false;
}

std::string RawClient::read_some(Millis timeout) {
    std::string out;
    auto end = Clock::now() + timeout;
    do {
        read_once(out, Millis(ms_left(end)));
    } while (out.empty() && !peer_closed_ && Clock::now() < end);
    return out;
}

std::string RawClient::read_until_close(Millis timeout) {
    std::string out;
    auto end = Clock::now() + timeout;
    while (!peer_closed_ && Clock::now() < end) read_once(out, Millis(ms_left(end)));
    return out;
}

std::string RawClient::read_until(std::string_view marker, Millis timeout) {
    std::string out;
    auto end = Clock::now() + timeout;
    while (out.find(marker) == std::string::npos && !peer_closed_ && Clock::now() < end)
        read_once(out, Millis(ms_left(end)));
    return out;
}

std::string RawClient::read_response(Millis timeout, bool head_request) {
    std::string out;
    auto end = Clock::now() + timeout;
    for (;;) {
        auto r = parse_response(out, nullptr, head_request);
        if (r && r->complete) break;
        if (peer_closed_ || Clock::now() >= end) break;
        read_once(out, Millis(ms_left(end)));
    }
    return out;
}

bool RawClient::wait_for_close(Millis timeout) {
    read_until_close(timeout);
    return peer_closed_;
}

// --- HTTP responses -----------------------------------------------------------------------------

std::string HttpResponse::header(std::string_view name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

namespace {

// Decodes a chunked body from `raw`; returns bytes used when the last chunk was seen.
std::optional<size_t> dechunk(std::string_view raw, std::string& body) {
    size_t pos = 0;
    for (;;) {
        size_t eol = raw.find("\r\n", pos);
        if (eol == std::string_view::npos) return std::nullopt;
        size_t size = std::strtoul(std::string(raw.substr(pos, eol - pos)).c_str(), nullptr, 16);
        pos = eol + 2;
        if (size == 0) {
            // No trailers from berthd: the last chunk is "0\r\n\r\n".
            if (raw.substr(pos, 2) != "\r\n") return std::nullopt;
            return pos + 2;
        }
        if (raw.size() < pos + size + 2) {
            body.append(raw.substr(pos, std::min(size, raw.size() - pos)));
            return std::nullopt;
        }
        body.append(raw.substr(pos, size));
        pos += size + 2;
    }
}

}  // namespace

std::optional<HttpResponse> parse_response(std::string_view raw, size_t* consumed,
                                           bool head_request) {
    size_t head_end = raw.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return std::nullopt;
    HttpResponse r;
    std::string_view head = raw.substr(0, head_end);
    size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    size_t sp = status_line.find(' ');
    if (!status_line.starts_with("HTTP/1.") || sp == std::string_view::npos) return std::nullopt;
    r.status = std::atoi(std::string(status_line.substr(sp + 1, 3)).c_str());
    while (eol != std::string_view::npos) {
        size_t start = eol + 2;
        eol = head.find("\r\n", start);
        std::string_view line = head.substr(
            start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
        size_t colon = line.find(':');
        if (colon != std::string_view::npos)
            r.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
    }
    std::string_view rest = raw.substr(head_end + 4);
    size_t used = 0;
    bool no_body = head_request || r.status == 204 || r.status == 304 || r.status < 200;
    r.chunked = lower(r.header("Transfer-Encoding")).find("chunked") != std::string::npos;
    if (no_body) {
        r.complete = true;
    } else if (r.chunked) {
        auto n = dechunk(rest, r.body);
        r.complete = n.has_value();
        used = n.value_or(0);
    } else if (auto cl = r.header("Content-Length"); !cl.empty()) {
        size_t len = std::strtoul(cl.c_str(), nullptr, 10);
        r.body = std::string(rest.substr(0, len));
        r.complete = rest.size() >= len;
        used = len;
    } else {
        r.body = std::string(rest);  // delimited by the close
        used = rest.size();
    }
    if (consumed) *consumed = head_end + 4 + used;
    return r;
}

HttpResponse http_request(const std::string& socket_path, std::string_view method,
                          std::string_view path, Millis timeout) {
    RawClient c(socket_path);
    if (!c.connected()) return {};
    std::string req = std::string(method) + " " + std::string(path) +
                      " HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n";
    if (!c.send(req)) return {};
    bool head = method == "HEAD";
    std::string raw = c.read_until_close(timeout);
    return parse_response(raw, nullptr, head).value_or(HttpResponse{});
}

HttpResponse http_post_json(const std::string& socket_path, std::string_view path,
                            std::string_view body) {
    RawClient c(socket_path);
    if (!c.connected()) return {};
    std::string req = "POST " + std::string(path) +
                      " HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
    if (!c.send(req)) return {};
    std::string raw = c.read_until_close(Millis(10000));
    return parse_response(raw).value_or(HttpResponse{});
}

HttpResponse http_get(const std::string& socket_path, std::string_view path) {
    return http_request(socket_path, "GET", path);
}

// --- commands and files -------------------------------------------------------------------------

CommandResult run_command(const std::string& cmd, const std::vector<std::string>& env) {
    CommandResult result;
    char err_path[] = "/tmp/berth-e2e-stderr-XXXXXX";
    int err_fd = mkostemp(err_path, O_CLOEXEC);
    if (err_fd < 0) return result;
    ::close(err_fd);
    std::string script;
    for (const std::string& e : env) {
        size_t eq = e.find('=');
        script += "export " + e.substr(0, eq) + "=" + shell_quote(e.substr(eq + 1)) + "; ";
    }
    script += "{ " + cmd + "\n} 2>" + shell_quote(err_path);
    FILE* p = popen(script.c_str(), "r");
    if (p) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0) result.output.append(buf, n);
        int status = pclose(p);
        if (WIFEXITED(status))
            result.exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
            result.exit_code = 128 + WTERMSIG(status);
    }
    result.error = read_file(err_path);
    unlink(err_path);
    return result;
}

CommandResult docker(const BerthDaemon& daemon, const std::string& args) {
    return run_command("unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH; docker " + args,
                       {"DOCKER_HOST=" + daemon.docker_host()});
}

std::string json_field(std::string_view json, std::string_view key) {
    std::string needle = "\"" + std::string(key) + "\":";
    size_t pos = json.find(needle);
    if (pos == std::string_view::npos) return {};
    pos += needle.size();
    if (pos < json.size() && json[pos] == '"') {
        size_t end = json.find('"', pos + 1);
        return std::string(json.substr(pos + 1, end - pos - 1));
    }
    size_t end = json.find_first_of(",}]", pos);
    return std::string(json.substr(pos, end - pos));
}

bool file_exists(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string write_temp_file(const std::string& dir, const std::string& name,
                            const std::string& text) {
    std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
}

// --- daemon facts for leak checks ---------------------------------------------------------------

long info_number(const BerthDaemon& d, const char* field) {
    HttpResponse r = http_get(d.socket_path(), "/info");
    std::string v = json_field(r.body, field);
    return v.empty() ? -1 : std::stol(v);
}

// Makes room for `fds` open files in this process.
bool ensure_fd_limit(rlim_t fds) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
    if (rl.rlim_cur >= fds) return true;
    rl.rlim_cur = std::min(fds, rl.rlim_max);
    return setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= fds;
}

// berthd's open fds once the count holds still (the start-up probe's close may be in flight).
long fd_count(const BerthDaemon& d) {
    return info_number(d, "NFd") - info_number(d, "BerthNetworkReserveFds");
}

long settled_fd_count(const BerthDaemon& d) {
    // The same value four times over 200 ms (the pool refills in bursts, exited namespaces are
    // closed every 100 ms).
    auto now = [&] { return fd_count(d); };
    long last = now();
    for (int i = 0, same = 0; i < 60 && same < 4; ++i) {
        struct timespec ts {
            0, 50'000'000
        };
        nanosleep(&ts, nullptr);
        long v = now();
        same = v == last ? same + 1 : 0;
        last = v;
    }
    return last;
}

}  // namespace berth::e2e
