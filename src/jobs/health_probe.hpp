// The engine's healthcheck job for one running container (jobs/health_probe.cpp): a timer for
// the next probe, the probe itself as a hidden exec whose output it collects, a deadline that
// kills a probe running past Timeout. Shared with container_engine.cpp, which owns the jobs.
#pragma once

#include <string>

#include "jobs/container_engine.hpp"
#include "jobs/health.hpp"
#include "loop/loop.hpp"

namespace berth::jobs {

struct ContainerEngine::HealthProbe final : OutputListener {
    ContainerEngine* engine = nullptr;
    std::string id;  // the container's
    Healthcheck check;
    HealthState state;
    int64_t started_mono_ns = 0;
    loop::Completion tick, deadline;
    std::string exec_id;  // the probe in flight, "" between probes
    std::string output;
    int64_t probe_start_ns = 0;
    bool timed_out = false;
    bool stopped = false;

    void on_output(int stream, std::span<const std::byte> data) override;
    void on_end() override;
    bool busy() const { return tick.in_flight() || deadline.in_flight(); }
    bool in_start_period() const;
    static void on_tick(loop::Completion& c);
    static void on_deadline(loop::Completion& c);
};

}  // namespace berth::jobs
