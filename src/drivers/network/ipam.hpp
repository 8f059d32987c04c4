// IPv4 address management as libnetwork's default IPAM does it for local networks: one
// network's addresses (the subnet's network and broadcast addresses and the gateway are never
// handed out), Docker's MAC for an address, and the subnet a network gets without --subnet.
// Pure: no kernel state, no store; the engine restores allocations with reserve().
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "base/error.hpp"
#include "kernel/ipv4.hpp"

namespace berth::drivers::net {

struct AddressPool {
    kernel::Ipv4Prefix subnet;                   // network address (host bits clear)
    std::optional<kernel::Ipv4Prefix> ip_range;  // --ip-range: where allocate() picks
    kernel::Ipv4Address gateway;                 // never handed out
};

// One network's addresses. allocate() goes round the ip-range (or the subnet) from after the
// last address it handed out, as libnetwork's "serial" mode: berth releases a stopped
// container's address while the kernel is still destroying its namespace (whose eth0 has that
// address and its MAC), so an address is not handed out again until the range wraps.
class Ipam {
  public:
    explicit Ipam(AddressPool pool);

    const AddressPool& pool() const { return pool_; }
    // ipamapi.ErrNoAvailableIPs (unavailable) when the range is full.
    Result<kernel::Ipv4Address> allocate();
    // A chosen address (--ip, or one restored from the store): 400 "no configured subnet or
    // ip-range contain the IP address X" outside the subnet, 403 "Address already in use" when
    // taken (the network, broadcast and gateway addresses count as taken, as in libnetwork).
    Result<> reserve(kernel::Ipv4Address a);
    // Frees an address handed out; the network, broadcast and gateway addresses stay taken.
    void release(kernel::Ipv4Address a);
    bool in_use(kernel::Ipv4Address a) const;
    // Addresses handed out to endpoints.
    size_t allocated() const { return used_.size() - fixed_.size(); }

  private:
    bool fixed(uint32_t a) const { return fixed_.contains(a); }

    AddressPool pool_;
    std::set<uint32_t> fixed_;  // network, broadcast, gateway (as they exist for this length)
    std::set<uint32_t> used_;   // fixed_ and every address handed out
    uint64_t next_ = 0;         // where the next search starts (after the last handed out)
};

// The gateway a network gets when none is given: the first address libnetwork's allocator
// hands out from the ip-range (or the subnet), i.e. the subnet's first host address.
kernel::Ipv4Address default_gateway(const kernel::Ipv4Prefix& subnet,
                                    const std::optional<kernel::Ipv4Prefix>& ip_range);

// Docker's MAC for an IPv4 address: 02:42 then the four address bytes.
kernel::MacAddress mac_for(kernel::Ipv4Address a);
// "02:42:ac:11:00:02".
std::string mac_text(const kernel::MacAddress& mac);

// The subnet for a network created without --subnet: the first of libnetwork's local default
// pools (172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/20 in steps of /20) that overlaps
// neither `taken` (other networks) nor `host_routes` (default routes are ignored). 400 "all
// predefined address pools have been fully subnetted" when none is left.
Result<kernel::Ipv4Prefix> choose_subnet(std::span<const kernel::Ipv4Prefix> taken,
                                         std::span<const kernel::Ipv4Prefix> host_routes);

}  // namespace berth::drivers::net
