#include "scenarios.hpp"

#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "base/json.hpp"
#include "base/time.hpp"

namespace berth::bench {

namespace {

double ms_since(int64_t t0) {
    return double(monotonic_ns() - t0) / 1e6;
}

std::string create_body(const Context& ctx, const std::vector<std::string>& cmd,
                        const std::string& network, bool attach, bool auto_remove) {
    JsonWriter w;
    w.begin_object().field("Image", ctx.image).key("Cmd").begin_array();
    for (const auto& a : cmd) w.value(a);
    w.end_array().field("AttachStdout", attach).field("AttachStderr", attach);
    w.key("Labels").begin_object().field("berth-bench.run", ctx.run_id).end_object();
    w.key("HostConfig").begin_object().field("NetworkMode", network);
    w.field("AutoRemove", auto_remove).end_object().end_object();
    return w.take();
}

std::string id_of(const Response& r) {
    auto at = r.body.find("\"Id\":\"");
    return at == std::string::npos ? std::string() : r.body.substr(at + 6, 64);
}

// Removes what a failed lifecycle left.
void discard(Context& ctx, ApiClient& c, const std::string& id) {
    if (id.empty()) return;
    Response r = c.request("DELETE", "/containers/" + id + "?force=1");
    if (r.ok() || r.status == 404) ctx.tracker.remove(c.path(), id);
}

}  // namespace

Lifecycle run_lifecycle(Context& ctx, ApiClient& c, const std::string& network, bool keep) {
    Lifecycle l;
    int64_t t0 = monotonic_ns(), last = t0;
    auto step = [&](int i) {
        int64_t now = monotonic_ns();
        l.steps[i] = double(now - last) / 1e6;
        last = now;
    };
    Response r = c.request("POST", "/containers/create",
                           create_body(ctx, {"/bin/true"}, network, true, !keep));
    if (r.status != 201) {
        l.error = "create: " + r.message();
        return l;
    }
    step(0);
    l.id = id_of(r);
    ctx.tracker.add(c.path(), l.id);
    auto failed = [&](const std::string& what, const Response& why) {
        l.error = what + ": " + why.message();
        c.close();
        discard(ctx, c, l.id);
        return l;
    };
    if (r = c.attach(l.id); r.status != 101 && r.status != 200) return failed("attach", r);
    step(1);
    std::string cond = keep ? "next-exit" : "removed";
    if (r = c.begin("POST", "/containers/" + l.id + "/wait?condition=" + cond); r.status != 200)
        return failed("wait", r);
    step(2);
    if (r = c.request("POST", "/containers/" + l.id + "/start"); r.status != 204)
        return failed("start", r);
    step(3);
    c.drain_attach();
    step(4);
    r = c.finish_body();
    if (r.status != 200 || r.body.find("\"StatusCode\":0") == std::string::npos)
        return failed("wait", r.status ? Response{0, {}, "exit: " + r.body} : r);
    step(5);
    l.ms = ms_since(t0);
    l.ok = true;
    if (!keep) ctx.tracker.remove(c.path(), l.id);
    return l;
}

namespace {

void keep_steps(std::map<std::string, std::vector<double>>& to, const Lifecycle& l) {
    for (size_t i = 0; i < std::size(lifecycle_steps); ++i)
        to[lifecycle_steps[i]].push_back(l.steps[i]);
}

}  // namespace

void run_latency(Context& ctx, const std::vector<Engine>& engines) {
    for (const std::string& mode : ctx.opt.networks) {
        if (mode == "bridge" && !ctx.opt.bridge) {
            note(ctx.res, "latency, bridge: skipped (--no-bridge)");
            continue;
        }
        std::vector<const Engine*> here;
        for (const Engine& e : engines) {
            if (mode == "bridge" && !e.bridge) {
                note(ctx.res,
                     "latency, bridge: skipped for " + e.name +
                         ": started with --bridge=none (it must not touch the host's network)");
                continue;
            }
            here.push_back(&e);
            ctx.res.latency.push_back(Series{e.name, mode, {}, {}, 0, {}});
        }
        size_t first = ctx.res.latency.size() - here.size();
        std::vector<std::unique_ptr<ApiClient>> clients;
        for (const Engine* e : here) clients.push_back(std::make_unique<ApiClient>(e->socket));
        int total = ctx.opt.warmup + ctx.opt.runs;
        ctx.progress.begin("latency --network " + mode, total * int(here.size()));
        for (int i = 0; i < total && !g_stop; ++i) {
            for (size_t k = 0; k < here.size() && !g_stop; ++k) {  // A B A B …
                Series& s = ctx.res.latency[first + k];
                Lifecycle l = run_lifecycle(ctx, *clients[k], mode, false);
                ctx.progress.step();
                if (i < ctx.opt.warmup && l.ok) continue;
                if (l.ok) {
                    s.ms.push_back(l.ms);
                    keep_steps(s.steps, l);
                    continue;
                }
                if (s.errors++ == 0) {
                    s.first_error = l.error;
                    note(ctx.res, "latency " + mode + " " + s.engine + ": " + l.error);
                }
            }
        }
        ctx.progress.end();
    }
}

void run_phases(Context& ctx, const std::vector<Engine>& engines) {
    for (const Engine& e : engines) {
        if (e.kind != "berthd") {
            note(ctx.res, "phases: " + e.name + " shows no per-phase start timings in inspect");
            continue;
        }
        PhaseRow row{e.name, {}, {}, {}, 0, {}};
        ApiClient c(e.socket);
        int total = ctx.opt.warmup + ctx.opt.runs;
        ctx.progress.begin("phases " + e.name, total);
        simdjson::dom::parser parser;
        for (int i = 0; i < total && !g_stop; ++i) {
            Lifecycle l = run_lifecycle(ctx, c, "none", true);
            ctx.progress.step();
            Response in = l.ok ? c.request("GET", "/containers/" + l.id + "/json") : Response{};
            int64_t rm0 = monotonic_ns();
            if (!l.id.empty()) discard(ctx, c, l.id);
            double rm_ms = double(monotonic_ns() - rm0) / 1e6;
            simdjson::dom::object phases;
            simdjson::padded_string body(in.body);
            if (!l.ok || parser.parse(body)["BerthStartPhases"].get(phases)) {
                if (row.errors++ == 0) {
                    row.first_error = l.ok ? "inspect has no BerthStartPhases" : l.error;
                    note(ctx.res, "phases " + e.name + ": " + row.first_error);
                }
                continue;
            }
            if (i < ctx.opt.warmup) continue;
            row.lifecycle_ms.push_back(l.ms);
            keep_steps(row.steps, l);
            row.steps["remove"].push_back(rm_ms);
            for (auto [k, v] : phases) {
                int64_t us = 0;
                if (!v.get(us)) row.us[std::string(k)].push_back(double(us));
            }
        }
        ctx.progress.end();
        ctx.res.phases.push_back(std::move(row));
    }
}

namespace {

// One row: `clients` threads running lifecycles on `network` for --duration seconds.
ThroughputRow throughput_row(Context& ctx, const Engine& e, int clients,
                             const std::string& network) {
    ThroughputRow row{e.name, network, clients, 0, 0, 0, {}, {}};
    std::mutex mu;
    int64_t deadline = monotonic_ns() + int64_t(ctx.opt.duration_s * 1e9);
    ctx.progress.begin("throughput " + e.name + " --network " + network + ", " +
                           std::to_string(clients) + " clients",
                       int(ctx.opt.duration_s * 10));
    std::vector<std::thread> threads;
    int64_t t0 = monotonic_ns();
    for (int k = 0; k < clients; ++k)
        threads.emplace_back([&] {
            ApiClient c(e.socket);
            while (!g_stop && monotonic_ns() < deadline) {
                Lifecycle l = run_lifecycle(ctx, c, network, false);
                std::lock_guard lock(mu);
                if (l.ok) {
                    ++row.lifecycles;
                    row.ms.push_back(l.ms);
                } else if (row.errors++ == 0) {
                    row.first_error = l.error;
                }
                // Many failures in a row: the engine is broken; stop this row.
                if (row.errors > 20 && row.errors > row.lifecycles) break;
            }
        });
    while (monotonic_ns() < deadline && !g_stop) {
        usleep(100'000);
        ctx.progress.step(1);
    }
    for (auto& t : threads) t.join();
    row.seconds = double(monotonic_ns() - t0) / 1e9;
    ctx.progress.end();
    if (row.errors)
        note(ctx.res, "throughput " + e.name + " " + network + " x" + std::to_string(clients) +
                          ": " + std::to_string(row.errors) +
                          " failed lifecycles, first: " + row.first_error);
    return row;
}

}  // namespace

// --network none at every --clients count, then bridge at every --bridge-clients count; the
// engines take turns at each count (A B).
void run_throughput(Context& ctx, const std::vector<Engine>& engines) {
    for (int clients : ctx.opt.clients)
        for (const Engine& e : engines) {
            if (g_stop) return;
            ctx.res.throughput.push_back(throughput_row(ctx, e, clients, "none"));
        }
    if (!ctx.opt.bridge) {
        note(ctx.res, "throughput, bridge: skipped (--no-bridge)");
        return;
    }
    for (const Engine& e : engines)
        if (!e.bridge)
            note(ctx.res, "throughput, bridge: skipped for " + e.name +
                              ": started with --bridge=none (it must not touch the host's "
                              "network)");
    for (int clients : ctx.opt.bridge_clients)
        for (const Engine& e : engines) {
            if (g_stop) return;
            if (e.bridge) ctx.res.throughput.push_back(throughput_row(ctx, e, clients, "bridge"));
        }
}

bool load_image(Context& ctx, const Engine& e, const std::string& archive, std::string& error) {
    std::ifstream in(archive, std::ios::binary);
    std::string tar((std::istreambuf_iterator<char>(in)), {});
    ApiClient c(e.socket);
    Response r = c.request("POST", "/images/load?quiet=1", tar, "application/x-tar");
    if (!r.ok() || r.body.find("\"error") != std::string::npos) {
        error = "loading the busybox image into " + e.name +
                " failed: " + (r.ok() ? r.body.substr(0, 300) : r.message());
        return false;
    }
    (void)ctx;
    return true;
}

}  // namespace berth::bench
