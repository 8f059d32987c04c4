// berth-bench's shared model: the options, the results every scenario fills (every sample is
// kept for the JSON file), the stop flag set by Ctrl-C, and the progress line on the terminal.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engines.hpp"

namespace berth::bench {

// Set by SIGINT/SIGTERM: scenarios stop at the next lifecycle and the tool cleans up.
extern std::atomic<bool> g_stop;

struct Options {
    std::string berthd;  // binary to start (default: built alongside)
    std::string socket;  // use a running berthd instead
    std::string docker_root = "/opt/bench-docker/root";    // a private docker.io install
    std::string docker_socket;                             // use a running dockerd instead
    bool docker = true;                                    // measure dockerd too (when found)
    std::vector<std::string> runtimes = {"crun", "runc"};  // OCI rows (when found)
    std::set<std::string> scenarios = {"latency", "phases", "throughput",
                                       "density", "pull",   "ports"};
    std::vector<std::string> networks = {"none", "host", "bridge"};
    bool bridge = true;  // bridge rows (every engine runs in berth-bench's own network namespace)
    int runs = 200, warmup = 20;
    std::vector<int> clients = {1, 8, 32};
    std::vector<int> bridge_clients = {8};  // throughput rows over the default bridge
    double duration_s = 5;
    int density = 10000, density_other = 300;  // containers held (berthd / others)
    int pull_mb = 64, pull_runs = 3;
    int port_mb = 512, port_runs = 5;  // ports: MiB per transfer, transfers per path
    long nofile = 1048576;             // RLIMIT_NOFILE of the daemons we start
    std::string out = "berth-bench.json", svg = "berth-bench.svg";
    bool quick = false;
};

struct Series {                // one latency row
    std::string engine, mode;  // mode: network mode, or "oci" for a runtime's `run`
    std::vector<double> ms;
    std::map<std::string, std::vector<double>> steps;  // client-side steps of each run, ms
    int errors = 0;
    std::string first_error;
};

struct PhaseRow {
    std::string engine;
    std::vector<double> lifecycle_ms;
    std::map<std::string, std::vector<double>> us;     // phase name → samples
    std::map<std::string, std::vector<double>> steps;  // client-side steps, ms (and "remove")
    int errors = 0;
    std::string first_error;
};

struct ThroughputRow {
    std::string engine;
    std::string network = "none";
    int clients = 0;
    int lifecycles = 0, errors = 0;
    double seconds = 0;
    std::vector<double> ms;
    std::string first_error;
};

struct DensityRow {
    std::string engine;
    int asked = 0, running = 0;  // running: started successfully
    int held = 0;           // still running when measured (pid found): the per-container divisor
    int listed = 0;         // items in GET /containers/json then
    long nofile = 0;        // the daemon's open-files limit
    std::string failure;    // why fewer than asked are running
    double start_s = 0;     // to start them all (8 clients)
    ProcMem before, after;  // the engine's processes (daemon + helpers)
    int helpers = 0, helper_threads = 0;
    long system_before_kb = 0, system_after_kb = 0;
    std::vector<double> list_ms;  // GET /containers/json?all=0
    double remove_s = 0;          // DELETE ?force=1 of all of them (8 clients)
};

struct PullRow {
    std::string engine;
    uint64_t bytes = 0;  // compressed bytes pulled
    std::vector<double> seconds;
    std::vector<long> peak_growth_kb;
    int errors = 0;
    std::string first_error;
};

// Published-port throughput (berthd): the same TCP sink in a container on the default bridge,
// reached directly (container IP) and through the published port (127.0.0.1, nftables DNAT).
struct PortsRow {
    std::string engine;
    std::string container_ip;
    int host_port = 0;
    int mb = 0;                             // MiB per transfer
    std::vector<double> direct, published;  // MB/s (10^6 bytes) of each transfer
    int errors = 0;
    std::string first_error;
};

struct Results {
    std::vector<Series> latency;
    std::vector<PhaseRow> phases;
    std::vector<ThroughputRow> throughput;
    std::vector<DensityRow> density;
    std::vector<PullRow> pull;
    std::vector<PortsRow> ports;
    std::vector<std::string> notes;  // skipped rows and why, failures
    bool interrupted = false;
};

// A progress bar on stderr (only when it is a terminal).
class Progress {
  public:
    void begin(std::string label, int total);
    void step(int n = 1);
    void end();

  private:
    void draw();
    std::mutex mu_;
    std::string label_;
    int total_ = 0, done_ = 0;
    int64_t last_draw_ns_ = 0;
    bool tty_ = false, active_ = false;
};

// Containers this run created, by engine socket: removed at the end and on Ctrl-C.
class Tracker {
  public:
    void add(const std::string& socket, const std::string& id);
    void remove(const std::string& socket, const std::string& id);
    // Force-removes whatever is left on every engine, and anything labelled with this run.
    int clean_up(const std::vector<Engine>& engines, const std::string& run_id);

  private:
    std::mutex mu_;
    std::map<std::string, std::set<std::string>> ids_;
};

double percentile(std::vector<double> v, double p);
void note(Results& r, const std::string& line);  // printed at once and kept for the report

}  // namespace berth::bench
