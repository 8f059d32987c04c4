// IPv4 addresses and prefixes as the network code uses them: host byte order inside, dotted
// text outside ("172.17.0.2", "172.17.0.0/16"). Parsing is strict (no leading zeros, no
// shortened forms), as Go's net.ParseIP/ParseCIDR that Docker's checks use.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::kernel {

// An Ethernet address, bytes in wire order (kernel/rtnetlink.hpp names the same alias).
using MacAddress = std::array<uint8_t, 6>;

struct Ipv4Address {
    uint32_t value = 0;  // host byte order: 172.17.0.1 is 0xAC110001

    static std::optional<Ipv4Address> parse(std::string_view text);
    std::string text() const;
    uint32_t network_order() const;  // for sockaddr_in / netlink attributes
    static Ipv4Address from_network_order(uint32_t be);
    bool unspecified() const { return value == 0; }
    bool loopback() const { return (value >> 24) == 127; }
    auto operator<=>(const Ipv4Address&) const = default;
};

struct Ipv4Prefix {
    Ipv4Address address;  // as written; network() masks it
    uint8_t length = 0;   // 0…32

    // "a.b.c.d/n"; host bits may be set (callers check network() == address where Docker does).
    static std::optional<Ipv4Prefix> parse(std::string_view text);
    std::string text() const;  // address/length as stored
    uint32_t mask() const { return length == 0 ? 0 : ~uint32_t(0) << (32 - length); }
    Ipv4Address network() const { return {address.value & mask()}; }
    Ipv4Address broadcast() const { return {address.value | ~mask()}; }
    bool contains(Ipv4Address a) const { return (a.value & mask()) == network().value; }
    bool overlaps(const Ipv4Prefix& o) const { return contains(o.network()) || o.contains(network()); }
    bool operator==(const Ipv4Prefix&) const = default;
};

}  // namespace berth::kernel
