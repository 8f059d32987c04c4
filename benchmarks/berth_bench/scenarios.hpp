// The scenarios, each over the same engines through the same API client: latency (the
// `docker run --rm` sequence), phases (berth's start timings from inspect), throughput
// (lifecycles/s with C clients, per network), density (N held `sleep` containers), pull (from a
// registry on 127.0.0.1), ports (TCP MB/s to a published port and to the container directly).
// Engines take turns (A B A B …) so the machine's drift hits both.
#pragma once

#include <string>
#include <vector>

#include "bench.hpp"
#include "engines.hpp"
#include "http_client.hpp"

namespace berth::bench {

struct Context {
    Options& opt;
    Results& res;
    Progress& progress;
    Tracker& tracker;
    std::string run_id;  // the value of the label "berth-bench.run" on every container
    std::string image = "berth-bench/busybox:latest";
    std::string work_dir;  // temporary files of this run
};

// The sequence's steps as the client sees them (ms from the previous step's end): create,
// attach (101), wait (200 header), start (204: the program runs), output (the attached stream
// ends), exit (the wait's body: exited, and removed with --rm).
inline constexpr const char* lifecycle_steps[] = {"create", "attach", "wait",
                                                  "start",  "output", "exit"};

struct Lifecycle {
    bool ok = false;
    double ms = 0;
    double steps[6] = {};
    std::string error;
    std::string id;
};

// create → attach → wait → start → output to EOF → exit → (auto-)remove, as `docker run --rm`
// does it. With `keep` the container is not auto-removed (the caller inspects and removes it).
Lifecycle run_lifecycle(Context& ctx, ApiClient& c, const std::string& network, bool keep);

void run_latency(Context& ctx, const std::vector<Engine>& engines);
void run_oci_latency(Context& ctx);
void run_phases(Context& ctx, const std::vector<Engine>& engines);
void run_throughput(Context& ctx, const std::vector<Engine>& engines);
void run_density(Context& ctx, const std::vector<Engine>& engines);
void run_pull(Context& ctx, const std::vector<Engine>& engines);
// Published-port throughput against a direct connection, berthd only (ports.cpp).
void run_ports(Context& ctx, const std::vector<Engine>& engines);

// Loads the busybox image into every engine (POST /images/load); false when one refuses.
bool load_image(Context& ctx, const Engine& e, const std::string& archive, std::string& error);

}  // namespace berth::bench
