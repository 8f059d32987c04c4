// Runs one container through the exec driver on a private loop and collects what a user sees:
// the start error, the exit status, stdout and stderr.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "base/time.hpp"
#include "drivers/exec/exec_driver.hpp"
#include "kernel/host.hpp"
#include "loop/loop.hpp"

namespace berth::testing {

struct RunResult {
    bool started = false;
    std::string start_error;
    drivers::ExitStatus exit;
    bool exited = false;
    std::string out, err;
    drivers::StartPhases phases;
    int signal_after_start = 0;
};

inline std::string read_all(int fd) {
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, size_t(n));
    return s;
}

inline std::string test_container_id() {
    static int n = 0;
    char buf[65];
    snprintf(buf, sizeof buf, "%012x%052d", unsigned(getpid()) * 1000u + unsigned(++n), 0);
    return std::string(buf, 64);
}

// `signal_after_start`: sent to the container once it runs (0: none).
inline RunResult run_container(drivers::ContainerSpec spec,
                               kernel::CgroupManager* cgroups = nullptr,
                               int signal_after_start = 0,
                               kernel::SpawnMode mode = kernel::SpawnMode::vfork) {
    RunResult r;
    r.signal_after_start = signal_after_start;
    auto loop = loop::Loop::create();
    if (!loop) {
        r.start_error = loop.error().message;
        return r;
    }
    auto layout = kernel::detect_cgroups();
    drivers::ExecDriver driver(**loop, cgroups, layout ? *layout : kernel::CgroupInfo{}, mode);
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return r;
    spec.stdio[1] = out[1];
    spec.stdio[2] = err[1];
    if (spec.id.empty()) spec.id = test_container_id();
    drivers::ContainerEvents ev;
    ev.ctx = &r;
    ev.started = [](void* ctx, drivers::Container& c, const Result<>& res) {
        auto* rr = static_cast<RunResult*>(ctx);
        if (res) {
            rr->started = true;
            if (rr->signal_after_start) (void)c.signal(rr->signal_after_start);
        } else {
            rr->start_error = res.error().message;
            rr->exit = c.exit_status();
            rr->exited = true;  // nothing more will come
        }
    };
    ev.exited = [](void* ctx, drivers::Container&, const drivers::ExitStatus& st) {
        auto* rr = static_cast<RunResult*>(ctx);
        rr->exit = st;
        rr->exited = true;
    };
    auto c = driver.start(spec, ev);
    close(out[1]);
    close(err[1]);
    if (!c) {
        r.start_error = c.error().message;
    } else {
        int64_t end = monotonic_ns() + 20'000'000'000;
        while (!r.exited && monotonic_ns() < end) (void)(*loop)->tick(10'000'000);
        while ((*loop)->in_flight() > 0 && monotonic_ns() < end) (void)(*loop)->tick(10'000'000);
        r.phases = (*c)->phases();
    }
    r.out = read_all(out[0]);
    r.err = read_all(err[0]);
    close(out[0]);
    close(err[0]);
    return r;
}

}  // namespace berth::testing

namespace berth::testing {

// Runs with the driver's own stdio: output through ContainerEvents::output, `input` written to
// stdin (then closed) once the container runs.
struct Captured {
    bool started = false;
    std::string start_error;
    drivers::ExitStatus exit;
    bool exited = false;
    std::string out, err;
    std::string input;
};

inline Captured run_captured(drivers::ContainerSpec spec, std::string input = {}) {
    Captured r;
    r.input = std::move(input);
    auto loop = loop::Loop::create();
    if (!loop) return r;
    auto layout = kernel::detect_cgroups();
    drivers::ExecDriver driver(**loop, nullptr, layout ? *layout : kernel::CgroupInfo{});
    if (spec.id.empty()) spec.id = test_container_id();
    spec.capture_output = true;
    spec.open_stdin = !r.input.empty() || spec.open_stdin;
    drivers::ContainerEvents ev;
    ev.ctx = &r;
    ev.started = [](void* ctx, drivers::Container& c, const Result<>& res) {
        auto* rr = static_cast<Captured*>(ctx);
        if (!res) {
            rr->start_error = res.error().message;
            rr->exited = true;
            return;
        }
        rr->started = true;
        if (c.stdin_fd() >= 0) {
            // Small inputs fit in the pipe or tty buffer: a plain write is enough for tests.
            if (!rr->input.empty())
                (void)!write(c.stdin_fd(), rr->input.data(), rr->input.size());
            c.close_stdin();
        }
    };
    ev.exited = [](void* ctx, drivers::Container&, const drivers::ExitStatus& st) {
        auto* rr = static_cast<Captured*>(ctx);
        rr->exit = st;
        rr->exited = true;
    };
    ev.output = [](void* ctx, drivers::Container&, int stream, std::span<const std::byte> d) {
        auto* rr = static_cast<Captured*>(ctx);
        (stream == 2 ? rr->err : rr->out).append(reinterpret_cast<const char*>(d.data()), d.size());
    };
    auto c = driver.start(spec, ev);
    if (!c) {
        r.start_error = c.error().message;
        return r;
    }
    int64_t end = monotonic_ns() + 20'000'000'000;
    while (!r.exited && monotonic_ns() < end) (void)(*loop)->tick(10'000'000);
    while ((*loop)->in_flight() > 0 && monotonic_ns() < end) (void)(*loop)->tick(10'000'000);
    return r;
}

}  // namespace berth::testing
