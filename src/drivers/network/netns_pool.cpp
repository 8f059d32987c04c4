// The warm netns pool: prepare_netns (netns, veth pair, loopback up, host end on the bridge)
// and the filler thread feeding a lock-free SPSC ring the loop thread pops from.
#include "drivers/network/netns_pool.hpp"

#include <chrono>

#include "kernel/netns.hpp"
#include "kernel/process.hpp"
#include "kernel/random.hpp"
#include "kernel/rtnetlink.hpp"

namespace berth::drivers::net {

Result<PreparedNetns> add_veth(kernel::Rtnetlink& host, int netns_fd, std::string_view inside_name,
                               const std::string& bridge, uint32_t mtu) {
    PreparedNetns p;
    auto suffix = kernel::random_hex(4);
    if (!suffix) return fail(suffix.error());
    p.host_link = "veth" + suffix->substr(0, 7);
    auto index = host.create_veth(p.host_link, inside_name, netns_fd, mtu);
    if (!index) return fail(index.error());
    p.host_index = *index;
    auto undo = [&](Error e) -> Result<PreparedNetns> {
        (void)host.delete_link(p.host_index);  // takes the inside end with it
        return fail(std::move(e));
    };
    kernel::LinkChange up;
    up.up = true;
    if (!bridge.empty()) {
        auto master = host.link_index(bridge);
        if (!master) return undo(master.error());
        up.master = *master;
        p.bridge = bridge;
    }
    if (auto r = host.set_link(p.host_index, up); !r) return undo(r.error());
    if (!bridge.empty()) {
        if (auto r = host.set_bridge_port_hairpin(p.host_index, true); !r) return undo(r.error());
        p.hairpin = true;
    }
    return p;
}

Result<PreparedNetns> prepare_netns(const std::string& bridge, uint32_t mtu) {
    auto ns = kernel::create_netns();
    if (!ns) return fail(ns.error());
    if (auto r = kernel::disable_ipv6_for_new_links(ns->get()); !r) return fail(r.error());
    auto host = kernel::Rtnetlink::open();
    if (!host) return fail(host.error());
    // A failure here drops the new namespace, and the veth inside goes with it.
    auto p = add_veth(*host, ns->get(), "eth0", bridge, mtu);
    if (!p) return p;
    p->netns = std::move(*ns);
    auto inside = kernel::Rtnetlink::open_in(p->netns.get());
    if (!inside) return fail(inside.error());
    p->inside = std::move(*inside);
    return p;
}

NetnsPool::NetnsPool(std::string bridge, uint32_t mtu, size_t target)
    : bridge_(std::move(bridge)), mtu_(mtu), target_(std::min(target, capacity)) {}

NetnsPool::~NetnsPool() {
    stopping_ = true;
    if (!refill_asked_.exchange(true)) low_.release();
    if (filler_.joinable()) filler_.join();
}

void NetnsPool::start() {
    if (target_ == 0 || filler_.joinable()) return;
    low_.release();
    filler_ = std::thread([this] { fill(); });
}

std::optional<PreparedNetns> NetnsPool::take() {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    std::optional<PreparedNetns> p;
    if (tail != head_.load(std::memory_order_acquire)) {
        p = std::move(ring_[tail % capacity]);
        tail_.store(tail + 1, std::memory_order_release);
        ++hits_;
    } else {
        ++misses_;
    }
    // One wake-up per refill: a second release of the binary semaphore would be undefined.
    if (filler_.joinable() && ready() <= target_ / 2 && !refill_asked_.exchange(true))
        low_.release();
    return p;
}

std::string NetnsPool::last_error() const { return error_seen_.load() ? error_ : ""; }

void NetnsPool::fill() {
    kernel::block_signals_in_this_thread();
    for (;;) {
        low_.acquire();
        refill_asked_ = false;
        while (!stopping_ && ready() < target_) {
            auto p = prepare_netns(bridge_, mtu_);
            if (!p) {
                if (!error_seen_.load()) {
                    error_ = p.error().message;
                    error_seen_ = true;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            uint64_t head = head_.load(std::memory_order_relaxed);
            ring_[head % capacity] = std::move(*p);
            head_.store(head + 1, std::memory_order_release);
        }
        if (stopping_) return;
    }
}

}  // namespace berth::drivers::net
