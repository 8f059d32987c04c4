// berth's NAT and filter rules: one nftables table (`ip berth`) that berthd owns entirely,
// driven in-process through libnftables. Published ports are elements of four maps, so
// publishing or unpublishing a port never changes a rule; rules change only with the bridges.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "kernel/ipv4.hpp"

struct nft_ctx;

namespace berth::kernel {

enum class Protocol : uint8_t { tcp, udp };

std::string_view protocol_name(Protocol protocol);  // "tcp", "udp"

// One berth bridge as the rules see it. An internal bridge (`docker network create
// --internal`) gets no masquerade and can reach nothing outside itself.
struct NatBridge {
    std::string name;
    Ipv4Prefix subnet;
    bool internal = false;
};

// A published port (`-p host_ip:host_port:container_port/protocol`), resolved: host_port is
// the real port (never 0), host_ip 0.0.0.0 means every host address.
struct PortForward {
    Protocol protocol = Protocol::tcp;
    Ipv4Address host_ip;  // 0.0.0.0 = any
    uint16_t host_port = 0;
    Ipv4Address container_ip;
    uint16_t container_port = 0;
    bool operator==(const PortForward&) const = default;
};

// The nftables table. The netlink socket is opened by open() in the calling thread's network
// namespace and stays there: every later call acts on that namespace, whichever thread makes
// it. Not thread-safe; each call is one nft transaction (all or nothing).
class NatTable {
  public:
    // "berth" unless a test or a second daemon wants its own. Fails cleanly (no exit) when the
    // kernel has no nfnetlink.
    static Result<NatTable> open(std::string table_name = "berth");

    // Deletes the table if present and creates it anew with the chains for `bridges` and the map
    // elements for `forwards`, atomically: there is no moment without rules. Idempotent; used at
    // start-up (so nothing stays published that no container owns) and when a network comes or
    // goes.
    Result<> rebuild(std::span<const NatBridge> bridges, std::span<const PortForward> forwards);
    // Publishes `forwards`. The same forward twice is no error; a host port already forwarded
    // elsewhere is (EEXIST).
    Result<> add(std::span<const PortForward> forwards);
    // Unpublishes `forwards`; ones already gone are not an error.
    Result<> remove(std::span<const PortForward> forwards);
    // Deletes the table if it exists.
    Result<> destroy();

    const std::string& name() const { return name_; }

  private:
    struct ContextFree {
        void operator()(nft_ctx* ctx) const;
    };
    NatTable(std::unique_ptr<nft_ctx, ContextFree> ctx, std::string name)
        : ctx_(std::move(ctx)), name_(std::move(name)) {}
    Result<> run(const std::string& commands);

    std::unique_ptr<nft_ctx, ContextFree> ctx_;
    std::string name_;
};

// The nft command text each call sends (exposed for the unit tests; the kernel tests check
// what it does).
std::string nat_rebuild_commands(std::string_view table, std::span<const NatBridge> bridges,
                                 std::span<const PortForward> forwards);
std::string nat_add_commands(std::string_view table, std::span<const PortForward> forwards);
std::string nat_remove_commands(std::string_view table, std::span<const PortForward> forwards);

// Sysctls a bridge needs, written in the calling thread's network namespace:
// net.ipv4.ip_forward=1, and net.ipv4.conf.<bridge>.route_localnet=1, which lets traffic to a
// port published on 127.0.0.1 leave through the bridge once DNAT has rewritten it.
Result<> enable_forwarding();

// The names berth lets a bridge have (--bridge, com.docker.network.bridge.name): 1 to 15 of
// [A-Za-z0-9_.-], not "." or "..". They go into nft text and /proc/sys paths, so the network
// service refuses anything else with a 400 before a bridge is made.
bool valid_interface_name(std::string_view name);
Result<> enable_route_localnet(std::string_view bridge);

}  // namespace berth::kernel
