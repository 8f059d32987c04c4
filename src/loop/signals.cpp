#include "loop/signals.hpp"

#include <unistd.h>

namespace berth::loop {

Result<std::unique_ptr<SignalWatcher>> SignalWatcher::create(Loop& loop,
                                                             std::initializer_list<int> signals,
                                                             Handler handler, void* ctx) {
    std::unique_ptr<SignalWatcher> w(new SignalWatcher());
    w->loop_ = &loop;
    w->handler_ = handler;
    w->ctx_ = ctx;
    sigemptyset(&w->mask_);
    for (int s : signals) sigaddset(&w->mask_, s);
    if (pthread_sigmask(SIG_BLOCK, &w->mask_, nullptr) != 0)
        return fail(Error::last_sys("block signals"));
    w->fd_ = signalfd(-1, &w->mask_, SFD_CLOEXEC);
    if (w->fd_ < 0) return fail(Error::last_sys("signalfd"));
    w->completion_.context = w.get();
    w->completion_.callback = &SignalWatcher::on_read;
    w->arm();
    return w;
}

SignalWatcher::~SignalWatcher() {
    if (fd_ >= 0) ::close(fd_);
}

void SignalWatcher::arm() {
    loop_->read(completion_, fd_,
                std::span<std::byte>(reinterpret_cast<std::byte*>(&info_), sizeof info_));
}

void SignalWatcher::stop() {
    if (stopping_) return;
    stopping_ = true;
    loop_->cancel(completion_);
}

void SignalWatcher::on_read(Completion& c) {
    auto* w = static_cast<SignalWatcher*>(c.context);
    if (w->stopping_) return;
    if (c.result == int(sizeof w->info_)) w->handler_(w->ctx_, int(w->info_.ssi_signo));
    if (!w->stopping_) w->arm();
}

}  // namespace berth::loop
