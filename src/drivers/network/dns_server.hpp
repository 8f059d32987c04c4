// The embedded DNS server (Docker's 127.0.0.11) on berthd's own loop: one UDP socket and one TCP
// listener per container, bound to 127.0.0.11:53 inside its network namespace. Names berth knows
// are answered here; others are forwarded from one UDP socket in berthd's namespace to the host's
// resolvers. Every operation runs through loop Completions owned here; a removed listener keeps
// its sockets until its last operation has come back (cancelled), so no fd is closed under the
// ring. Everything is bounded: forwards in flight, replies queued, TCP connections, query sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"
#include "kernel/ipv4.hpp"
#include "kernel/tcp_socket.hpp"
#include "loop/loop.hpp"

namespace berth::drivers::net {

struct DnsServerStats {
    uint64_t queries = 0;           // well-formed queries over UDP and TCP
    uint64_t answered_locally = 0;  // names the resolver knew
    uint64_t forwarded = 0;         // sent to an upstream (retries to the next one included)
    uint64_t servfail = 0;          // no upstream, too many forwards, or every upstream silent
    uint64_t dropped = 0;           // replies or connections over a limit, oversized queries
};

class DnsServer {
  public:
    // Names of this berthd's containers as the querying container sees them: A records for
    // `name` (container name, network alias, short id …) on the networks `listener_key`'s
    // container shares. `name` is lowercase, without the trailing dot. Empty → not ours: forward.
    // Called on the loop thread for every A/AAAA query: an in-memory lookup, never blocking.
    using Resolver = std::function<std::vector<kernel::Ipv4Address>(uint64_t listener_key,
                                                                    std::string_view name)>;

    static constexpr uint16_t port = 53;
    static constexpr size_t upstreams_max = 3;   // as Docker's resolver (maxExtDNS)
    static constexpr size_t forwards_max = 256;  // in flight, all listeners together
    static constexpr size_t forwards_per_listener_max = 64;  // one container cannot take them all
    static constexpr int64_t forward_timeout_ns = 2'000'000'000;  // per upstream, then the next
    static constexpr size_t query_bytes_max = 1024;   // a question and EDNS fit well within
    static constexpr size_t replies_max = 32;         // UDP replies queued per listener
    static constexpr size_t tcp_connections_max = 8;  // per listener; more are closed at once
    static constexpr int64_t tcp_timeout_ns = 5'000'000'000;  // accept to answer sent
    static constexpr size_t upstream_response_bytes_max = 65535;

    // `upstreams`: the host's resolvers (port 53), reached from berthd's own namespace. Empty →
    // names the resolver does not know get SERVFAIL.
    DnsServer(loop::Loop& loop, Resolver resolver, std::vector<kernel::SocketAddress> upstreams);
    // The owner calls shutdown() and ticks the loop until in_flight() is 0 first (or has stopped
    // ticking the loop for good): a Completion must never die in flight.
    ~DnsServer();
    DnsServer(const DnsServer&) = delete;
    DnsServer& operator=(const DnsServer&) = delete;

    // A UDP socket and a TCP listener bound to 127.0.0.11:53 inside `netns_fd` (whose `lo` must
    // be up), served on the loop; `key` identifies the container's endpoint for the resolver.
    // A namespace whose listener was just removed can have one again once listeners_closing()
    // no longer counts the old one (the next tick): until then 127.0.0.11:53 is still bound.
    // Names the resolver does not know go to `upstreams` (the container's --dns, as dockerd's
    // resolver uses them), or to the server's when it is empty.
    Result<> add_listener(uint64_t key, int netns_fd,
                          std::vector<kernel::SocketAddress> upstreams = {});
    // Stops serving `key`: its operations are cancelled and its sockets closed once they have
    // come back (on the next ticks). Answers still being forwarded for it are dropped.
    void remove_listener(uint64_t key);
    size_t listeners() const { return listeners_.size(); }
    // Removed listeners whose operations have not all come back yet (their sockets still open).
    size_t listeners_closing() const { return closing_.size(); }
    // Removes every listener and stops forwarding (answers still on their way are dropped); the
    // loop's next ticks bring in_flight() to 0.
    void shutdown();
    // Operations of this server still with the loop, removed listeners' included.
    size_t in_flight() const;
    const DnsServerStats& stats() const { return stats_; }

    // Parses the upstream list the way Docker does from a resolv.conf text: nameserver lines,
    // IPv4 only, at most three, loopback servers kept (they are reached from berthd's own
    // namespace).
    static std::vector<kernel::SocketAddress> upstreams_from_resolv_conf(std::string_view text);

  private:
    struct Listener;
    struct Reply;
    struct TcpConnection;
    struct Forward;

    static void on_udp_receive(loop::Completion& c);
    static void on_reply_sent(loop::Completion& c);
    static void on_accept(loop::Completion& c);
    static void on_retry(loop::Completion& c);
    static void on_tcp_receive(loop::Completion& c);
    static void on_tcp_sent(loop::Completion& c);
    static void on_tcp_timer(loop::Completion& c);
    static void on_upstream_receive(loop::Completion& c);
    static void on_forward_sent(loop::Completion& c);
    static void on_forward_timer(loop::Completion& c);

    void arm_udp_receive(Listener& l);
    void arm_upstream_receive();
    // The bytes to send back for one query, or nothing when it was forwarded (or dropped).
    std::optional<std::vector<std::byte>> handle_query(Listener& l, std::span<const std::byte> m,
                                                       TcpConnection* via_tcp,
                                                       const sockaddr_storage* udp_peer,
                                                       socklen_t udp_peer_length);
    void send_udp(Listener& l, const sockaddr_storage& peer, socklen_t peer_length,
                  std::span<const std::byte> bytes);
    void tcp_respond(TcpConnection& t, std::span<const std::byte> bytes);
    void tcp_close(TcpConnection& t);
    void tcp_release_if_idle(TcpConnection& t);
    bool start_forward(Listener& l, std::span<const std::byte> query, TcpConnection* via_tcp,
                       const sockaddr_storage* udp_peer, socklen_t udp_peer_length);
    void send_forward(Forward& f);
    void finish_forward(Forward& f, std::span<const std::byte> response);
    void forward_servfail(Forward& f);
    void release_forward_if_idle(Forward& f);
    void detach_forwards(const Listener* l, const TcpConnection* t);
    uint16_t fresh_forward_id();
    void release_listener_if_idle(Listener& l);
    bool listener_idle(const Listener& l) const;

    loop::Loop& loop_;
    Resolver resolver_;
    std::vector<kernel::SocketAddress> upstreams_;
    DnsServerStats stats_;
    std::unordered_map<uint64_t, std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<Listener>> closing_;  // removed, waiting for their operations

    // Forwarding: one socket in berthd's namespace, opened with the first listener.
    kernel::UniqueFd upstream_fd_;
    loop::Completion upstream_receive_;
    std::unique_ptr<std::byte[]> upstream_buffer_;
    sockaddr_storage upstream_peer_{};
    iovec upstream_iov_{};
    msghdr upstream_msg_{};
    std::unique_ptr<Forward[]> forwards_;
    std::unordered_map<uint16_t, Forward*> forwards_by_id_;
    std::mt19937 ids_;  // forwarded ids: unpredictable enough that a stray answer rarely fits
};

}  // namespace berth::drivers::net
