// berth-bench: one start-up benchmark for any Docker-compatible daemon (issue 7). It speaks the
// Engine API over a Unix socket to berthd and, when it can start one, Debian's dockerd 20.10,
// interleaving them (A B A B …); times crun/runc on an OCI bundle of the same image; and writes
// a table, a JSON file with every sample and an SVG plot. See benchmarks/README.md.
// Exit status: 0 it measured (whatever the figures), 1 it could not (a daemon unreachable or
// refusing the image), 2 bad flags, 130 interrupted (partial results written, all cleaned up).
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "bench.hpp"
#include "image.hpp"
#include "report.hpp"
#include "scenarios.hpp"

#ifndef BERTHD_PATH
#define BERTHD_PATH "berthd"
#endif

using namespace berth::bench;

namespace {

void usage(FILE* to) {
    std::fprintf(
        to,
        "usage: berth-bench [--quick] [--scenarios LIST] [--socket PATH | --berthd PATH]\n"
        "                   [--docker-root DIR | --docker-socket PATH | --no-docker]\n"
        "                   [--runtimes LIST] [--networks LIST] [--no-bridge] [--runs N]\n"
        "                   [--warmup N] [--clients LIST] [--bridge-clients LIST] [--duration S]\n"
        "                   [--density N] [--density-other N] [--pull-mb N] [--pull-runs N]\n"
        "                   [--port-mb N] [--port-runs N] [--nofile N] [--out FILE] [--svg FILE]\n"
        "Measures container start-up through the Docker Engine API on berthd and dockerd.\n"
        "  --quick            a small run of every scenario (< 30 s), berthd alone (CI)\n"
        "  --scenarios LIST   latency,phases,throughput,density,pull,ports (default: all)\n"
        "  --socket PATH      measure the berthd running there (default: start the one built "
        "here)\n"
        "  --berthd PATH      the berthd binary to start (default: %s)\n"
        "  --docker-root DIR  a docker.io unpacked with dpkg-deb -x (default "
        "/opt/bench-docker/root)\n"
        "  --docker-socket P  measure the dockerd running there instead of starting one\n"
        "  --no-docker        berthd alone\n"
        "  --runtimes LIST    OCI runtimes timed on a bundle (default crun,runc; 'none')\n"
        "  --networks LIST    latency rows (default none,host,bridge)\n"
        "  --no-bridge        skip the bridge rows (latency, throughput) and the ports scenario\n"
        "  --runs N / --warmup N   latency and phases runs (default 200 / 20)\n"
        "  --clients LIST     throughput clients, --network none (default 1,8,32)\n"
        "  --bridge-clients LIST   throughput clients, --network bridge (default 8)\n"
        "  --duration S       of each throughput row (default 5)\n"
        "  --density N        sleep containers held by berthd (default 10000)\n"
        "  --density-other N  by other engines (default 300: dockerd needs ~5 MB each)\n"
        "  --pull-mb N        size of the pulled image (default 64); --pull-runs N (default 3)\n"
        "  --port-mb N        MiB sent per ports transfer (default 512); --port-runs N transfers\n"
        "                     on each path, direct and published (default 5)\n"
        "  --nofile N         RLIMIT_NOFILE of the daemons started here (default 1048576)\n"
        "  --out FILE         JSON results (default berth-bench.json); --svg FILE the plot\n",
        BERTHD_PATH);
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string x; std::getline(in, x, ',');)
        if (!x.empty()) out.push_back(x);
    return out;
}

bool to_int(const char* v, int& out) {
    char* end = nullptr;
    long x = std::strtol(v, &end, 10);
    if (end == v || *end || x < 0) return false;
    out = int(x);
    return true;
}

// A comma-separated list of client counts, each > 0.
bool client_counts(const char* v, std::vector<int>& out) {
    out.clear();
    for (const auto& c : split(v)) {
        int n = 0;
        if (!to_int(c.c_str(), n) || n == 0) return false;
        out.push_back(n);
    }
    return !out.empty();
}

std::optional<Options> parse(int argc, char** argv) {
    Options o;
    o.berthd = BERTHD_PATH;
    bool docker_asked = false;
    std::vector<std::string> rest(argv + 1, argv + argc);
    for (const auto& a : rest)
        if (a == "--quick") {  // first, so that explicit flags override it
            o.quick = true;
            o.runs = 10, o.warmup = 2, o.clients = {1, 8}, o.duration_s = 1;
            o.density = 50, o.density_other = 20, o.pull_mb = 4, o.pull_runs = 1;
            o.port_mb = 64, o.port_runs = 2;
            o.docker = false, o.runtimes.clear();
        }
    for (size_t i = 0; i < rest.size(); ++i) {
        const std::string& a = rest[i];
        auto val = [&]() -> const char* {
            return i + 1 < rest.size() ? rest[++i].c_str() : nullptr;
        };
        const char* v = nullptr;
        bool ok = true;
        if (a == "--quick") continue;
        if (a == "-h" || a == "--help") return usage(stdout), std::exit(0), std::nullopt;
        if (a == "--no-docker") {
            o.docker = false;
            continue;
        }
        if (a == "--no-bridge") {
            o.bridge = false;
            continue;
        }
        if (!(v = val())) {
            std::fprintf(stderr, "berth-bench: %s: unknown flag or missing value\n", a.c_str());
            return std::nullopt;
        }
        if (a == "--socket")
            o.socket = v;
        else if (a == "--berthd")
            o.berthd = v;
        else if (a == "--docker-root")
            o.docker_root = v, o.docker = docker_asked = true;
        else if (a == "--docker-socket")
            o.docker_socket = v, o.docker = docker_asked = true;
        else if (a == "--runtimes")
            o.runtimes = std::string(v) == "none" ? std::vector<std::string>{} : split(v);
        else if (a == "--scenarios") {
            auto s = split(v);
            o.scenarios = {s.begin(), s.end()};
        } else if (a == "--networks")
            o.networks = split(v);
        else if (a == "--runs")
            ok = to_int(v, o.runs);
        else if (a == "--warmup")
            ok = to_int(v, o.warmup);
        else if (a == "--density")
            ok = to_int(v, o.density);
        else if (a == "--density-other")
            ok = to_int(v, o.density_other);
        else if (a == "--pull-mb")
            ok = to_int(v, o.pull_mb) && o.pull_mb > 0;
        else if (a == "--pull-runs")
            ok = to_int(v, o.pull_runs);
        else if (a == "--port-mb")
            ok = to_int(v, o.port_mb) && o.port_mb > 0;
        else if (a == "--port-runs")
            ok = to_int(v, o.port_runs) && o.port_runs > 0;
        else if (a == "--duration")
            ok = (o.duration_s = std::atof(v)) > 0;
        else if (a == "--nofile") {
            int n = 0;
            ok = to_int(v, n);
            o.nofile = n;
        } else if (a == "--out")
            o.out = v;
        else if (a == "--svg")
            o.svg = v;
        else if (a == "--clients")
            ok = client_counts(v, o.clients);
        else if (a == "--bridge-clients")
            ok = client_counts(v, o.bridge_clients);
        else {
            std::fprintf(stderr, "berth-bench: unknown flag %s\n", a.c_str());
            return std::nullopt;
        }
        if (!ok) {
            std::fprintf(stderr, "berth-bench: %s: bad value %s\n", a.c_str(), v);
            return std::nullopt;
        }
    }
    for (const auto& s : o.scenarios)
        if (s != "latency" && s != "phases" && s != "throughput" && s != "density" && s != "pull" &&
            s != "ports") {
            std::fprintf(stderr, "berth-bench: unknown scenario %s\n", s.c_str());
            return std::nullopt;
        }
    (void)docker_asked;
    return o;
}

void on_signal(int) {
    if (g_stop.exchange(true)) return;
    const char msg[] =
        "\nberth-bench: interrupted: stopping, saving partial results, cleaning up\n";
    (void)!write(2, msg, sizeof msg - 1);
}

// Our own daemon died mid-run: say so (with its log) instead of a stream of failed requests.
bool alive(Engine& e, Results& r) {
    if (!e.ours || e.pid <= 0) return true;
    int st = 0;
    if (waitpid(e.pid, &st, WNOHANG) != e.pid) return true;
    std::ifstream log(e.dir + (e.kind == "berthd" ? "/berthd.log" : "/dockerd.log"));
    std::string s((std::istreambuf_iterator<char>(log)), {});
    note(r, e.name + " exited during the run (status " + std::to_string(st) +
                "); its log ends: " + (s.size() > 800 ? s.substr(s.size() - 800) : s));
    e.pid = -1;
    return false;
}

std::optional<Engine> docker_engine(const Options& o, Results& r) {
    std::string error;
    if (!o.docker_socket.empty()) {
        auto e = attach_engine("dockerd", o.docker_socket, error);
        if (!e) note(r, "docker: skipped: " + error);
        return e;
    }
    std::string dockerd = o.docker_root + "/usr/sbin/dockerd";
    if (access(dockerd.c_str(), X_OK) != 0) {
        note(r, "docker: skipped: no dockerd in " + o.docker_root +
                    " (apt-get download docker.io "
                    "containerd runc tini, then dpkg-deb -x each into it)");
        return std::nullopt;
    }
    StartOptions so;
    so.binary = dockerd;
    so.path_prefix = o.docker_root + "/usr/bin:" + o.docker_root + "/usr/sbin";
    so.lib_path = o.docker_root + "/usr/lib/x86_64-linux-gnu";
    so.nofile = o.nofile;
    auto e = start_dockerd(so, error);
    if (!e) note(r, "docker: skipped: " + error);
    return e;
}

// unshare(CLONE_NEWNET) with loopback up, before any thread or daemon is started.
bool enter_private_netns() {
    if (unshare(CLONE_NEWNET) != 0) return false;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    bool ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    close(s);
    return ok;
}

// The berthd to measure: the running one on --socket, or one started here.
std::optional<Engine> berth_engine(const Options& opt, std::string& error) {
    if (!opt.socket.empty()) {
        auto e = attach_engine("berthd", opt.socket, error);
        if (e) e->name = "berthd";
        return e;
    }
    if (geteuid() != 0) {
        error = "needs root to start berthd (or --socket PATH of a running one)";
        return std::nullopt;
    }
    StartOptions so;
    so.binary = opt.berthd;
    so.nofile = opt.nofile;
    return start_berthd(so, error);
}

// The busybox image in every engine; an engine other than berthd that refuses it is dropped.
bool prepare_image(Context& ctx, std::vector<Engine>& engines, std::string& error) {
    std::string archive = build_archive(ctx.work_dir + "/image", ctx.image, 0, error);
    if (archive.empty()) return false;
    for (size_t i = 0; i < engines.size();) {
        if (load_image(ctx, engines[i], archive, error)) {
            ++i;
            continue;
        }
        if (i == 0) return false;
        note(ctx.res, error + ": " + engines[i].name + " skipped");
        stop_engine(engines[i]);
        engines.erase(engines.begin() + long(i));
    }
    return true;
}

// Each selected scenario in turn; between them, an engine whose daemon died is dropped (berthd
// dying ends the run: 1).
int run_scenarios(Context& ctx, std::vector<Engine>& engines) {
    int rc = 0;
    auto check = [&] {
        for (auto it = engines.begin(); it != engines.end();) {
            if (alive(*it, ctx.res))
                ++it;
            else if (it == engines.begin())
                return rc = 1, false;
            else
                it = engines.erase(it);
        }
        return true;
    };
    auto wants = [&](const char* s) { return check() && !g_stop && ctx.opt.scenarios.contains(s); };
    if (wants("latency")) {
        run_latency(ctx, engines);
        if (!ctx.opt.runtimes.empty() && !g_stop) run_oci_latency(ctx);
    }
    if (wants("phases")) run_phases(ctx, engines);
    if (wants("throughput")) run_throughput(ctx, engines);
    if (wants("density")) run_density(ctx, engines);
    if (wants("pull")) run_pull(ctx, engines);
    if (wants("ports")) run_ports(ctx, engines);
    check();
    return rc;
}

void save(const Options& opt, const std::vector<Engine>& engines, const Results& res,
          const std::string& command, const std::string& load_start) {
    print_tables(opt, res);
    Machine m = describe_machine();
    m.load_start = load_start;
    std::printf("\nload average (1, 5, 15 min) at the start: %s, at the end: %s\n",
                m.load_start.c_str(), m.load_end.c_str());
    if (write_json(opt.out, opt, m, engines, res, command))
        std::printf("\nresults: %s", opt.out.c_str());
    else
        std::fprintf(stderr, "berth-bench: could not write %s\n", opt.out.c_str());
    if (write_svg(opt.svg, m, res, command))
        std::printf(", plot: %s\n", opt.svg.c_str());
    else
        std::fprintf(stderr, "berth-bench: could not write %s\n", opt.svg.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = parse(argc, argv);
    if (!parsed) {
        usage(stderr);
        return 2;
    }
    Options opt = *parsed;
    std::string command = "berth-bench";
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    Results res;
    // Daemons started here, their registry and every connection live in a network namespace
    // of berth-bench's own: bridges, veths and NAT rules never touch the host's network.
    if (geteuid() == 0 && opt.socket.empty() && opt.docker_socket.empty()) {
        if (!enter_private_netns()) {
            std::fprintf(stderr, "berth-bench: a network namespace of its own: %s\n",
                         std::strerror(errno));
            return 1;
        }
        note(res,
             "network: berthd, dockerd and the registry run in berth-bench's own network "
             "namespace (loopback up; the host's network is untouched)");
    }
    std::string error, load_start = load_average();
    auto berth = berth_engine(opt, error);
    if (!berth) {
        std::fprintf(stderr, "berth-bench: %s\n", error.c_str());
        return 1;
    }
    std::vector<Engine> engines = {*berth};
    if (opt.docker && !g_stop)
        if (auto d = docker_engine(opt, res)) engines.push_back(*d);
    char tmpl[] = "/tmp/berth-bench-run-XXXXXX";
    std::string work = mkdtemp(tmpl) ? tmpl : "";
    Tracker tracker;
    Progress progress;
    Context ctx{opt, res, progress, tracker, std::to_string(getpid()), "berth-bench/busybox:latest",
                work};
    int rc = 1;
    if (work.empty()) error = std::string("mkdtemp: ") + std::strerror(errno);
    if (!work.empty() && prepare_image(ctx, engines, error)) {
        rc = run_scenarios(ctx, engines);
        res.interrupted = g_stop;
        if (int left = tracker.clean_up(engines, ctx.run_id))
            note(res, "cleanup: removed " + std::to_string(left) + " containers left by this run");
        for (const Engine& e : engines)
            if (!e.ours) ApiClient(e.socket).request("DELETE", "/images/" + ctx.image);
        save(opt, engines, res, command, load_start);
    } else {
        std::fprintf(stderr, "berth-bench: %s\n", error.c_str());
    }
    for (Engine& e : engines) stop_engine(e);
    if (!work.empty()) std::filesystem::remove_all(work);
    return res.interrupted ? 130 : rc;
}
