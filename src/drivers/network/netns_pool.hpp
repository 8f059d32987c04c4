// A warm pool of prepared network namespaces, so a bridge start takes one instead of making one
// (a netns plus a veth pair costs most of a millisecond; taking costs a pop). A filler thread
// refills it in bursts, when it is down to half: a refill after every take would compete with
// the very starts it serves (CPU on a small host, and the rtnl lock). A thread's network
// namespace is its own, so its unshare/netlink work never moves the loop thread. The loop takes
// without a lock or a wait (a single-producer/single-consumer ring); an empty pool falls back
// to preparing inline and is counted as a miss.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <semaphore>
#include <string>
#include <thread>

#include "base/error.hpp"
#include "kernel/fd.hpp"
#include "kernel/rtnetlink.hpp"

namespace berth::drivers::net {

// A network namespace with "eth0" inside (down, no address); its veth peer
// `host_link` lives in berthd's namespace, attached to `bridge` (when one was given) and up.
// Dropping it closes the netns: the kernel then destroys the namespace and both veth ends in
// the background (cleanup_net), which is what keeps teardown off the stop path.
struct PreparedNetns {
    kernel::UniqueFd netns;
    std::string host_link;
    int host_index = 0;
    std::string bridge;    // what host_link is attached to, "" for none
    bool hairpin = false;  // hairpin mode set on the bridge port
    std::optional<kernel::Rtnetlink> inside;  // a netlink socket already in `netns`
};

// Makes one: what the filler does, and the inline path on a miss.
Result<PreparedNetns> prepare_netns(const std::string& bridge, uint32_t mtu);

// A veth pair: `inside_name` made in `netns_fd`, the host end ("veth" and 7 hex digits, as
// dockerd names them) up on `bridge` with hairpin mode (a container reaches its own published
// ports through a host address), or only up when `bridge` is "". The result has no netns.
Result<PreparedNetns> add_veth(kernel::Rtnetlink& host, int netns_fd, std::string_view inside_name,
                               const std::string& bridge, uint32_t mtu);

class NetnsPool {
  public:
    static constexpr size_t capacity = 64;

    NetnsPool(std::string bridge, uint32_t mtu, size_t target);
    ~NetnsPool();  // stops the filler; what is pooled is closed
    NetnsPool(const NetnsPool&) = delete;
    NetnsPool& operator=(const NetnsPool&) = delete;

    void start();
    // One prepared namespace, or nullopt when the pool is empty (the caller prepares inline).
    std::optional<PreparedNetns> take();

    uint64_t hits() const { return hits_; }
    uint64_t misses() const { return misses_; }
    size_t ready() const { return head_.load() - tail_.load(); }
    const std::string& bridge() const { return bridge_; }
    // The filler's last error ("" when none): shown in the log once, the pool keeps trying.
    std::string last_error() const;

  private:
    void fill();

    std::string bridge_;
    uint32_t mtu_;
    size_t target_;
    std::array<PreparedNetns, capacity> ring_;
    std::atomic<uint64_t> head_{0};  // written by the filler
    std::atomic<uint64_t> tail_{0};  // written by the loop
    std::binary_semaphore low_{0};        // the pool is down to half (or stopping): refill
    std::atomic<bool> refill_asked_{true};  // low_ released and not yet taken by the filler
    std::atomic<bool> stopping_{false};
    std::thread filler_;
    uint64_t hits_ = 0, misses_ = 0;
    mutable std::atomic<bool> error_seen_{false};
    std::string error_;  // set once by the filler before error_seen_
};

}  // namespace berth::drivers::net
