// The density scenario: N `sleep` containers started (8 clients) and held, the engine's memory
// and helper processes counted, the list timed, then all removed with force (8 clients).
#include <simdjson.h>
#include <unistd.h>

#include <thread>

#include "base/time.hpp"
#include "scenarios.hpp"

namespace berth::bench {

namespace {

constexpr int density_clients = 8;

std::string sleep_body(const Context& ctx) {
    return "{\"Image\":\"" + ctx.image +
           "\",\"Cmd\":[\"/bin/sleep\",\"1000000\"],"
           "\"Labels\":{\"berth-bench.run\":\"" +
           ctx.run_id +
           "\"},"
           "\"HostConfig\":{\"NetworkMode\":\"none\"}}";
}

// Starts up to `row.asked` containers; stops at the first failure (the engine's limit).
std::vector<std::string> start_all(Context& ctx, const Engine& e, DensityRow& row) {
    std::vector<std::string> ids(size_t(row.asked));
    std::atomic<int> next{0}, running{0};
    std::atomic<bool> broken{false};
    std::mutex mu;
    std::string body = sleep_body(ctx);
    int64_t t0 = monotonic_ns();
    std::vector<std::thread> threads;
    for (int k = 0; k < density_clients; ++k)
        threads.emplace_back([&] {
            ApiClient c(e.socket);
            for (int i; !broken && !g_stop && (i = next++) < row.asked;) {
                // Named here: berthd's generated names collide after ~1,700 (no retry as
                // dockerd does), which is not what this scenario measures.
                Response r = c.request(
                    "POST",
                    "/containers/create?name=berth-bench-" + ctx.run_id + "-" + std::to_string(i),
                    body);
                std::string id =
                    r.status == 201 ? r.body.substr(r.body.find("\"Id\":\"") + 6, 64) : "";
                if (!id.empty()) ctx.tracker.add(e.socket, id);
                Response s = id.empty() ? r : c.request("POST", "/containers/" + id + "/start");
                if (s.status != 204) {
                    std::lock_guard lock(mu);
                    if (!broken.exchange(true))
                        row.failure = (id.empty() ? "create" : "start") + std::string(" #") +
                                      std::to_string(i + 1) + ": " + s.message();
                    if (!id.empty() && c.request("DELETE", "/containers/" + id + "?force=1").ok())
                        ctx.tracker.remove(e.socket, id);
                    break;
                }
                ids[size_t(i)] = id;
                ++running;
                ctx.progress.step();
            }
        });
    for (auto& t : threads) t.join();
    row.start_s = double(monotonic_ns() - t0) / 1e9;
    row.running = running;
    std::erase(ids, std::string());
    return ids;
}

std::vector<pid_t> container_pids(const Engine& e, const std::vector<std::string>& ids) {
    std::vector<pid_t> pids;
    ApiClient c(e.socket);
    simdjson::dom::parser p;
    for (const auto& id : ids) {
        Response r = c.request("GET", "/containers/" + id + "/json");
        simdjson::padded_string body(r.body);
        int64_t pid = 0;
        if (r.ok() && !p.parse(body)["State"]["Pid"].get(pid) && pid > 0)
            pids.push_back(pid_t(pid));
    }
    return pids;
}

void remove_all(Context& ctx, const Engine& e, const std::vector<std::string>& ids,
                DensityRow& row) {
    std::atomic<size_t> next{0};
    int64_t t0 = monotonic_ns();
    ctx.progress.begin("density " + e.name + ": removing", int(ids.size()));
    std::vector<std::thread> threads;
    for (int k = 0; k < density_clients; ++k)
        threads.emplace_back([&] {
            ApiClient c(e.socket);
            for (size_t i; (i = next++) < ids.size();) {
                if (c.request("DELETE", "/containers/" + ids[i] + "?force=1").ok())
                    ctx.tracker.remove(e.socket, ids[i]);
                ctx.progress.step();
            }
        });
    for (auto& t : threads) t.join();
    row.remove_s = double(monotonic_ns() - t0) / 1e9;
    ctx.progress.end();
}

}  // namespace

void run_density(Context& ctx, const std::vector<Engine>& engines) {
    for (const Engine& e : engines) {
        if (g_stop) return;
        DensityRow row;
        row.engine = e.name;
        row.asked = e.kind == "berthd" ? ctx.opt.density : ctx.opt.density_other;
        if (e.pid <= 0) {
            note(ctx.res, "density " + e.name + ": skipped: its daemon's pid is unknown");
            continue;
        }
        usleep(300'000);
        row.nofile = open_files_limit(e.pid);
        row.before = measure(engine_processes(e, {}).daemon);
        row.system_before_kb = system_used_kb();
        ctx.progress.begin("density " + e.name + ": starting sleep containers", row.asked);
        std::vector<std::string> ids = start_all(ctx, e, row);
        ctx.progress.end();
        if (!row.failure.empty())
            note(ctx.res, "density " + e.name + ": " + std::to_string(row.running) + " of " +
                              std::to_string(row.asked) + " running; then " + row.failure);
        usleep(1'000'000);  // let exits of the failed and the daemon's deferred work settle
        std::vector<pid_t> pids = container_pids(e, ids);
        row.held = int(pids.size());
        if (row.held < row.running)
            note(ctx.res, "density " + e.name + ": only " + std::to_string(row.held) + " of the " +
                              std::to_string(row.running) +
                              " started containers are still running when measured");
        EngineProcs procs = engine_processes(e, pids);
        std::set<pid_t> all = procs.daemon;
        all.insert(procs.helpers.begin(), procs.helpers.end());
        row.after = measure(all);
        ProcMem helpers = measure(procs.helpers);
        row.helpers = helpers.processes;
        row.helper_threads = helpers.threads;
        row.system_after_kb = system_used_kb();
        ApiClient c(e.socket);
        for (int i = 0; i < 5 && !ids.empty(); ++i) {
            int64_t t0 = monotonic_ns();
            Response r = c.request("GET", "/containers/json");
            double ms = double(monotonic_ns() - t0) / 1e6;
            if (!r.ok()) continue;
            row.list_ms.push_back(ms);
            row.listed = 0;
            for (size_t at = 0; (at = r.body.find("\"Id\":", at)) != std::string::npos; at += 5)
                ++row.listed;
        }
        remove_all(ctx, e, ids, row);
        ctx.res.density.push_back(std::move(row));
    }
}

}  // namespace berth::bench
