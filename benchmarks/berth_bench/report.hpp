// berth-bench's output: the tables on the terminal (absolute figures and ratios to berthd, pair
// by pair), the JSON file with every sample and the machine's description, and the SVG plot
// (latency CDF per engine and network mode, throughput bars), written by hand: no plotting
// dependency.
#pragma once

#include <string>
#include <vector>

#include "bench.hpp"

namespace berth::bench {

void print_tables(const Options& opt, const Results& r);
// Kernel, CPU, cores, memory, cgroup mode, OS: for the JSON and the plot's caption.
struct Machine {
    std::string kernel, cpu, os, cgroup_mode;
    std::string load_start, load_end;  // /proc/loadavg's 1, 5, 15 min: others' work disturbs
    int cores = 0;
    long mem_mib = 0;
};
Machine describe_machine();
std::string load_average();
bool write_json(const std::string& path, const Options& opt, const Machine& m,
                const std::vector<Engine>& engines, const Results& r, const std::string& command);
bool write_svg(const std::string& path, const Machine& m, const Results& r,
               const std::string& command);

}  // namespace berth::bench
