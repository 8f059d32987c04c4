#include "report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "base/json.hpp"

namespace berth::bench {

namespace {

// The berthd row a row is compared with: the same network mode (an OCI runtime's: none).
const Series* berth_series(const Results& r, const std::string& mode) {
    for (const auto& s : r.latency)
        if (s.engine == "berthd" && s.mode == (mode == "oci" ? "none" : mode) && !s.ms.empty())
            return &s;
    return nullptr;
}

std::string ratio(double x, double base) {
    if (base <= 0 || x <= 0) return "";
    char b[32];
    std::snprintf(b, sizeof b, "%.1fx", x / base);
    return b;
}

double median(const std::vector<double>& v) {
    return percentile(v, 50);
}

void print_latency(const Options& opt, const Results& r) {
    std::printf(
        "\nlatency: the `docker run --rm` sequence of `true` (create, attach, wait, start, "
        "exit, remove); %d runs after %d warm-up\n",
        opt.runs, opt.warmup);
    std::printf("%-14s %-7s %9s %9s %9s %9s %6s %6s  %s\n", "engine", "network", "p50 ms", "p90 ms",
                "p99 ms", "max ms", "runs", "errors", "p50 vs berthd");
    for (const auto& s : r.latency) {
        const Series* b = berth_series(r, s.mode);
        std::printf("%-14s %-7s %9.2f %9.2f %9.2f %9.2f %6zu %6d  %s\n", s.engine.c_str(),
                    s.mode.c_str(), median(s.ms), percentile(s.ms, 90), percentile(s.ms, 99),
                    percentile(s.ms, 100), s.ms.size(), s.errors,
                    b && &s != b ? ratio(median(s.ms), median(b->ms)).c_str() : "");
    }
}

// Where the sequence's time goes as the client sees it: p50 of each step, per row.
void print_steps(const Results& r) {
    const char* steps[] = {"create", "attach", "wait", "start", "output", "exit", "remove"};
    std::printf(
        "\nsteps of the sequence as the client sees them, p50 ms (start: until the 204, "
        "the program runs; output: until the attached stream ends; exit: until the wait "
        "answers, with --rm after the removal)\n");
    std::printf("%-22s", "engine, network");
    for (const char* s : steps) std::printf(" %8s", s);
    std::printf("\n");
    auto row = [&](const std::string& name, const std::map<std::string, std::vector<double>>& m) {
        std::printf("%-22s", name.c_str());
        for (const char* s : steps) {
            auto it = m.find(s);
            if (it == m.end() || it->second.empty())
                std::printf(" %8s", "-");
            else
                std::printf(" %8.2f", median(it->second));
        }
        std::printf("\n");
    };
    for (const auto& s : r.latency)
        if (!s.steps.empty()) row(s.engine + ", " + s.mode + ", --rm", s.steps);
    for (const auto& p : r.phases) row(p.engine + ", none, rm after", p.steps);
}

void print_phases(const Results& r) {
    for (const auto& p : r.phases) {
        std::printf(
            "\nphases: %s's start timings from inspect (BerthStartPhases), %zu runs of "
            "`true`, --network none\n",
            p.engine.c_str(), p.lifecycle_ms.size());
        std::printf("%-10s %12s %10s %10s %10s %9s\n", "phase", "sum ms", "mean us", "p50 us",
                    "p99 us", "share");
        double total = 0;
        if (auto it = p.us.find("TotalUs"); it != p.us.end())
            for (double v : it->second) total += v;
        for (const char* k :
             {"MountUs", "PlanUs", "CgroupUs", "PlaceUs", "CloneUs", "ExecUs", "TotalUs"}) {
            auto it = p.us.find(k);
            if (it == p.us.end()) continue;
            double sum = 0;
            for (double v : it->second) sum += v;
            std::printf("%-10s %12.1f %10.0f %10.0f %10.0f %8.1f%%\n", k, sum / 1000,
                        sum / double(it->second.size()), median(it->second),
                        percentile(it->second, 99), total > 0 ? 100 * sum / total : 0);
        }
        double lc = 0;
        for (double v : p.lifecycle_ms) lc += v;
        std::printf(
            "%-10s %12.1f %10.0f %10.0f %10.0f   (the whole sequence; TotalUs is %.0f%% "
            "of it)\n",
            "lifecycle", lc, 1000 * lc / double(std::max<size_t>(1, p.lifecycle_ms.size())),
            1000 * median(p.lifecycle_ms), 1000 * percentile(p.lifecycle_ms, 99),
            lc > 0 ? 100 * total / 1000 / lc : 0);
    }
}

void print_throughput(const Results& r) {
    if (r.throughput.empty()) return;
    std::printf(
        "\nthroughput: lifecycles/s with C concurrent clients, per network (issue 6's target: "
        "200/s or more over the bridge with 8 clients)\n");
    std::printf("%-14s %-7s %7s %11s %11s %9s %7s  %s\n", "engine", "network", "clients",
                "lifecycles", "per second", "p50 ms", "errors", "vs berthd");
    for (const auto& t : r.throughput) {
        double rate = t.seconds > 0 ? t.lifecycles / t.seconds : 0;
        double base = 0;
        for (const auto& b : r.throughput)
            if (b.engine == "berthd" && b.network == t.network && b.clients == t.clients &&
                b.seconds > 0)
                base = b.lifecycles / b.seconds;
        std::printf("%-14s %-7s %7d %11d %11.1f %9.2f %7d  %s\n", t.engine.c_str(),
                    t.network.c_str(), t.clients, t.lifecycles, rate, median(t.ms), t.errors,
                    t.engine != "berthd" && base > 0 ? ratio(base, rate).c_str() : "");
    }
}

void print_ports(const Results& r) {
    if (r.ports.empty()) return;
    std::printf(
        "\nports: TCP into a container on the default bridge, MB/s (10^6 bytes) per fresh "
        "connection, direct (container IP) and published (127.0.0.1, DNAT); target: "
        "published/direct 0.9 or better\n");
    std::printf("%-14s %9s %5s %12s %12s %12s %12s %9s %7s\n", "engine", "MiB each", "runs",
                "direct p50", "direct min", "publ. p50", "publ. min", "publ./dir", "errors");
    for (const auto& p : r.ports) {
        double d = median(p.direct), q = median(p.published);
        std::printf("%-14s %9d %5zu %12.0f %12.0f %12.0f %12.0f %9.2f %7d\n", p.engine.c_str(),
                    p.mb, std::min(p.direct.size(), p.published.size()), d, percentile(p.direct, 0),
                    q, percentile(p.published, 0), d > 0 ? q / d : 0, p.errors);
    }
}

void print_density(const Results& r) {
    if (r.density.empty()) return;
    std::printf(
        "\ndensity: `sleep` containers held (--network none); memory of the engine's "
        "processes (daemon + helpers), per container\n");
    std::printf("%-14s %13s %9s %10s %10s %10s %8s %8s %9s %9s\n", "engine", "held/asked",
                "start/s", "RSS KiB", "PSS KiB", "system KiB", "helpers", "threads", "list ms",
                "remove s");
    for (const auto& d : r.density) {
        double n = std::max(1, d.held);
        std::printf("%-14s %6d/%-6d %9.1f %10.1f %10.1f %10.1f %8d %8d %9.2f %9.2f\n",
                    d.engine.c_str(), d.held, d.asked, d.start_s > 0 ? d.running / d.start_s : 0,
                    double(d.after.rss_kb - d.before.rss_kb) / n,
                    double(d.after.pss_kb - d.before.pss_kb) / n,
                    double(d.system_after_kb - d.system_before_kb) / n, d.helpers, d.after.threads,
                    median(d.list_ms), d.remove_s);
        std::printf("  %s: %d started, %d held when measured, %d listed, open-files limit %ld\n",
                    d.engine.c_str(), d.running, d.held, d.listed, d.nofile);
        if (!d.failure.empty())
            std::printf("  %s stopped starting: %s\n", d.engine.c_str(), d.failure.c_str());
    }
}

void print_pull(const Results& r) {
    if (r.pull.empty()) return;
    std::printf("\npull: from docker-registry on 127.0.0.1 (gzip layers), after one warm-up\n");
    std::printf("%-14s %9s %9s %9s %15s %7s  %s\n", "engine", "MB", "p50 s", "MB/s",
                "peak RSS + MiB", "errors", "time vs berthd");
    double base = 0;
    for (const auto& p : r.pull)
        if (p.engine == "berthd") base = median(p.seconds);
    for (const auto& p : r.pull) {
        double mb = double(p.bytes) / 1e6, s = median(p.seconds);
        long peak = p.peak_growth_kb.empty()
                        ? 0
                        : *std::max_element(p.peak_growth_kb.begin(), p.peak_growth_kb.end());
        std::printf("%-14s %9.1f %9.2f %9.1f %15.1f %7d  %s\n", p.engine.c_str(), mb, s,
                    s > 0 ? mb / s : 0, double(peak) / 1024, p.errors,
                    p.engine != "berthd" ? ratio(s, base).c_str() : "");
    }
}

}  // namespace

void print_tables(const Options& opt, const Results& r) {
    if (!r.latency.empty()) print_latency(opt, r);
    print_phases(r);
    if (!r.latency.empty() || !r.phases.empty()) print_steps(r);
    print_throughput(r);
    print_density(r);
    print_pull(r);
    print_ports(r);
    if (!r.notes.empty()) {
        std::printf("\nnotes:\n");
        for (const auto& n : r.notes) std::printf("  %s\n", n.c_str());
    }
    if (r.interrupted) std::printf("\ninterrupted: the figures above are partial\n");
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

Machine describe_machine() {
    Machine m;
    m.load_end = load_average();
    utsname u{};
    if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
    m.cores = int(sysconf(_SC_NPROCESSORS_ONLN));
    std::ifstream cpu("/proc/cpuinfo");
    for (std::string line; std::getline(cpu, line);)
        if (line.starts_with("model name")) {
            m.cpu = line.substr(line.find(':') + 2);
            break;
        }
    std::ifstream mem("/proc/meminfo");
    for (std::string line; std::getline(mem, line);)
        if (line.starts_with("MemTotal:")) m.mem_mib = std::atol(line.c_str() + 9) / 1024;
    std::ifstream os("/etc/os-release");
    for (std::string line; std::getline(os, line);)
        if (line.starts_with("PRETTY_NAME=")) {
            m.os = line.substr(12);
            std::erase(m.os, '"');
        }
    // cgroup2fs at the root: unified; a v1 tree with a "unified" v2 mount beside: hybrid.
    bool unified = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    bool hybrid = access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0;
    m.cgroup_mode = unified  ? "v2 (unified)"
                    : hybrid ? "hybrid (v1 + v2 without controllers)"
                             : "v1";
    return m;
}

}  // namespace berth::bench
