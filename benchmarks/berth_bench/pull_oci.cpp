// The pull scenario (an image of real files put into Debian's docker-registry on 127.0.0.1 and
// pulled by each engine in turn: MB/s of compressed bytes and the peak RSS growth of the
// engine's processes) and the OCI runtime rows (`crun run` / `runc run` of `true` on a bundle
// of the same busybox root: no daemon, no API, the floor an engine adds to).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/time.hpp"
#include "image.hpp"
#include "scenarios.hpp"

namespace berth::bench {

namespace {

// One pull; false with `error` on failure.
bool pull_once(const Engine& e, const std::string& ref, double& secs, long& growth_kb,
               std::string& error) {
    ApiClient c(e.socket);
    std::string repo = ref.substr(0, ref.rfind(':'));
    (void)c.request("DELETE", "/images/" + ref + "?force=1");
    EngineProcs procs = engine_processes(e, {});
    reset_peak(procs.daemon);
    ProcMem before = measure(procs.daemon);
    int64_t t0 = monotonic_ns();
    Response r = c.request("POST", "/images/create?fromImage=" + url_encode(repo) + "&tag=latest");
    secs = double(monotonic_ns() - t0) / 1e9;
    ProcMem after = measure(engine_processes(e, {}).daemon);
    growth_kb = after.hwm_kb - before.rss_kb;
    if (r.status != 200 || r.body.find("\"errorDetail\"") != std::string::npos) {
        error = r.status == 200 ? r.body.substr(r.body.find("\"errorDetail\""), 300) : r.message();
        return false;
    }
    return true;
}

std::string runtime_path(const Options& opt, const std::string& name) {
    for (const std::string& dir :
         {opt.docker_root + "/usr/bin", opt.docker_root + "/usr/sbin", std::string("/usr/bin"),
          std::string("/usr/sbin"), std::string("/usr/local/bin")})
        if (access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
    return {};
}

// `<runtime> --root STATE run --bundle B ID`, output to a file; the exit status.
int run_runtime(const Options& opt, const std::string& bin, const std::string& state,
                const std::string& bundle, const std::string& id, const std::string& log) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) dup2(null, 0);
        std::string lib = opt.docker_root + "/usr/lib/x86_64-linux-gnu";
        setenv("LD_LIBRARY_PATH", lib.c_str(), 1);
        execl(bin.c_str(), bin.c_str(), "--root", state.c_str(), "run", "--bundle", bundle.c_str(),
              id.c_str(), nullptr);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

void run_pull(Context& ctx, const std::vector<Engine>& engines) {
    std::string dir = ctx.work_dir + "/pull";
    std::filesystem::create_directories(dir + "/registry");
    std::string error;
    ctx.progress.begin("pull: building a " + std::to_string(ctx.opt.pull_mb) + " MB image", 1);
    std::string archive = build_archive(dir, "berth-bench/pull:latest", ctx.opt.pull_mb, error);
    Registry reg;
    uint64_t bytes = 0;
    bool ready = !archive.empty() && start_registry(dir + "/registry", reg, error) &&
                 push_archive(reg, archive, "berth-bench/pull:latest", bytes, error);
    ctx.progress.end();
    if (!ready) {
        note(ctx.res, "pull: skipped: " + error);
        stop_registry(reg);
        return;
    }
    std::string ref = reg.host + "/berth-bench/pull:latest";
    size_t first = ctx.res.pull.size();
    for (const Engine& e : engines) ctx.res.pull.push_back(PullRow{e.name, bytes, {}, {}, 0, {}});
    int total = 1 + ctx.opt.pull_runs;  // one warm-up
    ctx.progress.begin("pull", total * int(engines.size()));
    for (int i = 0; i < total && !g_stop; ++i)
        for (size_t k = 0; k < engines.size() && !g_stop; ++k) {  // A B A B …
            PullRow& row = ctx.res.pull[first + k];
            double secs = 0;
            long growth = 0;
            bool ok = pull_once(engines[k], ref, secs, growth, error);
            ctx.progress.step();
            if (!ok && row.errors++ == 0) {
                row.first_error = error;
                note(ctx.res, "pull " + row.engine + ": " + error);
            }
            if (!ok || i == 0) continue;
            row.seconds.push_back(secs);
            row.peak_growth_kb.push_back(growth);
        }
    ctx.progress.end();
    for (const Engine& e : engines)
        ApiClient(e.socket).request("DELETE", "/images/" + ref + "?force=1");
    stop_registry(reg);
}

void run_oci_latency(Context& ctx) {
    std::string bundle = ctx.work_dir + "/bundle", error;
    std::vector<std::pair<std::string, std::string>> found;  // name, binary
    for (const std::string& rt : ctx.opt.runtimes) {
        std::string bin = runtime_path(ctx.opt, rt);
        if (bin.empty())
            note(ctx.res, "latency, oci: " + rt + " is not installed: skipped");
        else
            found.emplace_back(rt, bin);
    }
    if (found.empty()) return;
    if (!build_bundle(bundle, "[\"/bin/true\"]", error)) {
        note(ctx.res, "latency, oci: skipped: " + error);
        return;
    }
    size_t first = ctx.res.latency.size();
    for (const auto& [name, bin] : found)
        ctx.res.latency.push_back(Series{name, "oci", {}, {}, 0, {}});
    std::vector<bool> broken(found.size());
    int total = ctx.opt.warmup + ctx.opt.runs;
    ctx.progress.begin("latency: OCI runtimes' run", total * int(found.size()));
    for (int i = 0; i < total && !g_stop; ++i)
        for (size_t k = 0; k < found.size() && !g_stop; ++k) {
            ctx.progress.step();
            if (broken[k]) continue;
            Series& s = ctx.res.latency[first + k];
            std::string state = ctx.work_dir + "/" + found[k].first + "-state";
            std::string log = ctx.work_dir + "/" + found[k].first + ".log";
            std::string id = "berth-bench-" + ctx.run_id + "-" + std::to_string(i);
            int64_t t0 = monotonic_ns();
            int rc = run_runtime(ctx.opt, found[k].second, state, bundle, id, log);
            double ms = double(monotonic_ns() - t0) / 1e6;
            if (rc == 0) {
                if (i >= ctx.opt.warmup) s.ms.push_back(ms);
                continue;
            }
            std::ifstream in(log);
            std::string why((std::istreambuf_iterator<char>(in)), {});
            while (!why.empty() && why.back() == '\n') why.pop_back();
            s.first_error = "exit " + std::to_string(rc) + ": " + why.substr(0, 300);
            ++s.errors;
            broken[k] = true;  // a runtime that cannot run here fails every time
            note(ctx.res,
                 "latency, oci: " + found[k].first + " fails on this machine: " + s.first_error);
            std::string del =
                found[k].second + " --root " + state + " delete -f " + id + " >/dev/null 2>&1";
            shell(del);
        }
    ctx.progress.end();
}

}  // namespace berth::bench
