// spawn_bench: /bin/true in a full container, N times in a row, through the exec driver and the
// loop: pid/mnt/uts/ipc/cgroup namespaces (and an empty network namespace with --netns), a
// busybox root from Debian's busybox-static, Docker's default capabilities and seccomp, a
// memory limit. Reports start-to-exit latency percentiles, containers/s and where the time went.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "drivers/exec/exec_driver.hpp"
#include "kernel/cgroup.hpp"
#include "kernel/host.hpp"
#include "loop/loop.hpp"

using namespace berth;

namespace {

struct Options {
    int runs = 1000;
    int warmup = 50;
    bool netns = false;
    bool cgroup = true;
    bool quick = false;
    bool unconfined = false;  // no seccomp (to see its share)
    bool privileged = false;  // no masks, no seccomp, all caps
    bool favordynmods = true;  // what berthd does at start-up (see kernel/cgroup.hpp)
    bool vfork = false;        // CLONE_VM | CLONE_VFORK instead of clone3
    size_t heap_mb = 0;        // grow this process's touched heap first, as a big daemon's
};

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc) o.runs = std::atoi(argv[++i]);
        else if (a == "--warmup" && i + 1 < argc) o.warmup = std::atoi(argv[++i]);
        else if (a == "--netns") o.netns = true;
        else if (a == "--no-cgroup") o.cgroup = false;
        else if (a == "--quick") o.quick = true;
        else if (a == "--unconfined") o.unconfined = true;
        else if (a == "--privileged") o.privileged = true;
        else if (a == "--no-favordynmods") o.favordynmods = false;
        else if (a == "--vfork") o.vfork = true;
        else if (a == "--heap" && i + 1 < argc) o.heap_mb = size_t(std::atoll(argv[++i]));
        else {
            std::fprintf(stderr,
                         "usage: spawn_bench [--runs N] [--warmup N] [--netns] [--no-cgroup] "
                         "[--quick] [--unconfined] [--privileged] [--no-favordynmods] [--vfork] "
                         "[--heap MB]\n");
            std::exit(2);
        }
    }
    if (o.quick) {
        o.runs = 50;
        o.warmup = 5;
    }
    return o;
}

std::string make_rootfs() {
    char tmpl[] = "/tmp/berth-spawn-bench-XXXXXX";
    if (!mkdtemp(tmpl)) return {};
    std::string dir = tmpl;
    std::string root = dir + "/rootfs";
    for (const char* d : {"/rootfs", "/rootfs/bin", "/rootfs/etc", "/rootfs/proc", "/rootfs/dev",
                          "/rootfs/sys", "/rootfs/tmp", "/container"})
        mkdir((dir + d).c_str(), 0755);
    if (std::system(("cp /bin/busybox " + root + "/bin/busybox").c_str()) != 0) return {};
    symlink("busybox", (root + "/bin/true").c_str());
    FILE* f = std::fopen((root + "/etc/passwd").c_str(), "w");
    if (f) {
        std::fputs("root:x:0:0:root:/root:/bin/sh\n", f);
        std::fclose(f);
    }
    return dir;
}

int64_t pct(std::vector<int64_t> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
    return v[i];
}

struct Run {
    bool done = false;
    bool ok = false;
    std::string error;
    int exit_code = -1;
};

}  // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    if (geteuid() != 0) {
        std::fprintf(stderr, "spawn_bench needs root (namespaces, mounts, cgroups)\n");
        return 1;
    }
    if (access("/bin/busybox", X_OK) != 0) {
        std::fprintf(stderr, "spawn_bench needs /bin/busybox (apt-get install busybox-static)\n");
        return 1;
    }
    std::string dir = make_rootfs();
    if (dir.empty()) return 1;
    auto loop = loop::Loop::create();
    if (!loop) {
        std::fprintf(stderr, "%s\n", loop.error().message.c_str());
        return 1;
    }
    auto layout = kernel::detect_cgroups();
    if (!layout) return 1;
    std::unique_ptr<kernel::CgroupManager> cgroups;
    std::string parent = "berth-bench-" + std::to_string(getpid());
    if (o.cgroup && o.favordynmods) {
        auto f = kernel::favor_dynamic_cgroup_changes(*layout);
        if (!f) std::fprintf(stderr, "favordynmods: %s\n", f.error().message.c_str());
        else if (*f) std::printf("(set favordynmods on the cgroup root, as berthd does)\n");
    }
    if (o.cgroup) {
        auto m = kernel::CgroupManager::create(*layout, parent);
        if (!m) {
            std::fprintf(stderr, "cgroups: %s\n", m.error().message.c_str());
            return 1;
        }
        cgroups = std::move(*m);
    }
    // A daemon holding thousands of containers has a big heap: fork copies its page tables.
    std::vector<std::unique_ptr<char[]>> heap;
    for (size_t i = 0; i < o.heap_mb; ++i) {
        heap.emplace_back(new char[1 << 20]);
        std::memset(heap.back().get(), int(i), 1 << 20);
    }
    drivers::ExecDriver driver(**loop, cgroups.get(), *layout,
                               o.vfork ? kernel::SpawnMode::vfork : kernel::SpawnMode::fork);

    drivers::ContainerSpec spec;
    spec.rootfs = dir + "/rootfs";
    spec.container_dir = dir + "/container";
    spec.args = {"/bin/true"};
    spec.network = o.netns ? drivers::NetworkMode::none : drivers::NetworkMode::host;
    if (o.cgroup) spec.resources.memory = 64 * 1024 * 1024;
    if (o.unconfined) spec.seccomp = drivers::SeccompMode::unconfined;
    spec.privileged = o.privileged;

    std::vector<int64_t> total, plan, cg, clone, place, exec;
    int failures = 0;
    int64_t bench_start = 0;
    for (int i = 0; i < o.warmup + o.runs; ++i) {
        if (i == o.warmup) bench_start = monotonic_ns();
        char id[65];
        std::snprintf(id, sizeof id, "%064d", i);
        spec.id = id;
        Run run;
        drivers::ContainerEvents ev{&run,
                                    [](void* ctx, drivers::Container&, const Result<>& r) {
                                        auto* x = static_cast<Run*>(ctx);
                                        if (!r) {
                                            x->error = r.error().message;
                                            x->done = true;
                                        }
                                    },
                                    [](void* ctx, drivers::Container&, const drivers::ExitStatus& s) {
                                        auto* x = static_cast<Run*>(ctx);
                                        x->ok = true;
                                        x->exit_code = s.exit_code;
                                        x->done = true;
                                    }};
        int64_t t0 = monotonic_ns();
        auto c = driver.start(spec, ev);
        if (!c) {
            std::fprintf(stderr, "start: %s\n", c.error().message.c_str());
            return 1;
        }
        while (!run.done) (void)(*loop)->tick(100'000'000);
        int64_t t = monotonic_ns() - t0;  // what a client waits for: the exit
        // Teardown (cgroup removal) runs after the exit, as in the daemon; let it finish
        // before the next start so runs do not overlap.
        while ((*loop)->in_flight() > 0) (void)(*loop)->tick(100'000'000);
        if (!run.ok || run.exit_code != 0) {
            if (++failures < 3) std::fprintf(stderr, "run %d: %s exit %d\n", i, run.error.c_str(), run.exit_code);
            continue;
        }
        if (i < o.warmup) continue;
        const auto& ph = (*c)->phases();
        total.push_back(t);
        plan.push_back(ph.plan_ns);
        cg.push_back(ph.cgroup_ns);
        clone.push_back(ph.clone_ns);
        place.push_back(ph.place_ns);
        exec.push_back(ph.exec_ns);
    }
    int64_t wall = monotonic_ns() - bench_start;
    auto ms = [](int64_t ns) { return double(ns) / 1e6; };
    std::printf("spawn_bench: /bin/true in a container, %d runs (%d warm-up), network namespace: %s, "
                "cgroup: %s, spawn: %s, extra heap: %zu MiB\n",
                o.runs, o.warmup, o.netns ? "new, empty" : "host", o.cgroup ? "memory 64 MiB" : "none",
                o.vfork ? "CLONE_VM|CLONE_VFORK" : "clone3", o.heap_mb);
    std::printf("  start-to-exit   p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   max %.3f ms\n",
                ms(pct(total, .5)), ms(pct(total, .9)), ms(pct(total, .99)), ms(pct(total, 1)));
    std::printf("  throughput      %.0f containers/s (sequential)\n",
                total.empty() ? 0.0 : double(total.size()) / (double(wall) / 1e9));
    std::printf("  phases (p50)    plan %.3f   cgroup %.3f   place %.3f   clone %.3f   "
                "until exec %.3f ms\n",
                ms(pct(plan, .5)), ms(pct(cg, .5)), ms(pct(place, .5)), ms(pct(clone, .5)),
                ms(pct(exec, .5)));
    std::printf("  phases (p99)    plan %.3f   cgroup %.3f   place %.3f   clone %.3f   "
                "until exec %.3f ms\n",
                ms(pct(plan, .99)), ms(pct(cg, .99)), ms(pct(place, .99)), ms(pct(clone, .99)),
                ms(pct(exec, .99)));
    std::printf("{\"runs\":%zu,\"failures\":%d,\"vfork\":%s,\"heap_mb\":%zu,\"netns\":%s,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"per_s\":%.1f}\n",
                total.size(), failures, o.vfork ? "true" : "false", o.heap_mb,
                o.netns ? "true" : "false", ms(pct(total, .5)),
                ms(pct(total, .9)), ms(pct(total, .99)),
                total.empty() ? 0.0 : double(total.size()) / (double(wall) / 1e9));
    cgroups.reset();
    std::system(("find /sys/fs/cgroup -maxdepth 3 -type d -name " + parent +
                 " -exec rmdir {} + 2>/dev/null; rm -rf " + dir).c_str());
    return failures > o.runs / 100 ? 1 : 0;
}
