// The engine's record of one docker exec (jobs/exec.cpp), shared with container_engine.cpp,
// which owns the records and must see them whole to destroy them.
#pragma once

#include <memory>
#include <vector>

#include "drivers/exec/exec_driver.hpp"
#include "jobs/container_engine.hpp"

namespace berth::jobs {

struct ContainerEngine::Exec {
    ContainerEngine* engine = nullptr;
    ExecState state;
    uint64_t seq = 0;  // creation order
    bool started = false;
    bool hidden = false;  // a healthcheck probe: not in the container's ExecIDs
    std::unique_ptr<drivers::Container> proc;
    std::vector<OutputListener*> listeners;
    StartDone start_done;

    static void started_cb(void* ctx, drivers::Container&, const Result<>& res) {
        auto* e = static_cast<Exec*>(ctx);
        e->engine->on_exec_started(*e, res);
    }
    static void exited_cb(void* ctx, drivers::Container&, const drivers::ExitStatus& st) {
        auto* e = static_cast<Exec*>(ctx);
        e->engine->on_exec_exited(*e, st);
    }
    static void output_cb(void* ctx, drivers::Container&, int stream,
                          std::span<const std::byte> data) {
        auto* e = static_cast<Exec*>(ctx);
        bool full = false;
        for (OutputListener* l : std::vector<OutputListener*>(e->listeners)) {
            l->on_output(stream, data);
            full = full || l->saturated();
        }
        if (full && e->proc) e->proc->pause_output();
    }
    void end_listeners() {
        for (OutputListener* l : std::vector<OutputListener*>(listeners)) l->on_end();
        listeners.clear();
    }
};

}  // namespace berth::jobs
