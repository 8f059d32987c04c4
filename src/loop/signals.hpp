// Signals through signalfd, read by the ring: the handler runs on the loop thread like any
// other callback, so shutdown needs no async-signal-safe tricks.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include <initializer_list>

#include "loop/loop.hpp"

namespace berth::loop {

class SignalWatcher {
public:
    using Handler = void (*)(void* ctx, int signo);

    // Blocks `signals` for the calling thread and starts reading them on `loop`.
    static Result<std::unique_ptr<SignalWatcher>> create(Loop& loop,
                                                         std::initializer_list<int> signals,
                                                         Handler handler, void* ctx);
    ~SignalWatcher();
    // Stops reading; safe to call more than once.
    void stop();
    bool idle() const { return !completion_.in_flight(); }

private:
    SignalWatcher() = default;
    static void on_read(Completion& c);
    void arm();

    Loop* loop_ = nullptr;
    int fd_ = -1;
    bool stopping_ = false;
    Handler handler_ = nullptr;
    void* ctx_ = nullptr;
    sigset_t mask_{};
    signalfd_siginfo info_{};
    Completion completion_;
};

}  // namespace berth::loop
