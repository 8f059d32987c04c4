// Ipam: a sorted set of taken addresses; allocate() walks it from the start of the range, so
// the cost is the run of taken addresses at the front, not the size of the subnet.
#include "drivers/network/ipam.hpp"

#include <array>

namespace berth::drivers::net {

namespace {

using kernel::Ipv4Address;
using kernel::Ipv4Prefix;

// libnetwork (ipams/defaultipam newPoolData) reserves the network and broadcast addresses
// except in a /31 (RFC 3021 point-to-point) and a /32.
bool has_network_and_broadcast(const Ipv4Prefix& p) {
    return p.length <= 30;
}

}  // namespace

Ipam::Ipam(AddressPool pool) : pool_(std::move(pool)) {
    pool_.subnet.address = pool_.subnet.network();
    if (pool_.ip_range) pool_.ip_range->address = pool_.ip_range->network();
    if (has_network_and_broadcast(pool_.subnet)) {
        fixed_.insert(pool_.subnet.network().value);
        fixed_.insert(pool_.subnet.broadcast().value);
    }
    if (pool_.subnet.contains(pool_.gateway)) fixed_.insert(pool_.gateway.value);
    used_ = fixed_;
}

Result<Ipv4Address> Ipam::allocate() {
    const Ipv4Prefix& range = pool_.ip_range ? *pool_.ip_range : pool_.subnet;
    // 64-bit so that a range ending at 255.255.255.255 does not wrap.
    const uint64_t first = range.network().value, last = range.broadcast().value;
    uint64_t start = next_ >= first && next_ <= last ? next_ : first;
    // From after the last one handed out to the end, then from the start of the range.
    for (auto [from, to] : {std::pair{start, last}, std::pair{first, start - 1}}) {
        uint64_t candidate = from;
        for (auto it = used_.lower_bound(uint32_t(candidate)); candidate <= to && from <= to;
             ++candidate, ++it)
            if (it == used_.end() || *it != candidate) {
                used_.insert(uint32_t(candidate));
                next_ = candidate + 1;
                return Ipv4Address{uint32_t(candidate)};
            }
    }
    return fail(Error::make(ErrorKind::unavailable, "no available addresses on this pool"));
}

Result<> Ipam::reserve(Ipv4Address a) {
    if (!pool_.subnet.contains(a))
        return fail(
            Error::invalid("no configured subnet or ip-range contain the IP address " + a.text()));
    if (!used_.insert(a.value).second)
        return fail(Error::make(ErrorKind::forbidden, "Address already in use"));
    return {};
}

void Ipam::release(Ipv4Address a) {
    if (!fixed(a.value)) used_.erase(a.value);
}

bool Ipam::in_use(Ipv4Address a) const {
    return used_.contains(a.value);
}

Ipv4Address default_gateway(const Ipv4Prefix& subnet, const std::optional<Ipv4Prefix>& ip_range) {
    // What a fresh allocator hands out first: only the subnet's own addresses are taken yet (the
    // placeholder gateway lies outside the subnet, so it takes nothing).
    Ipam fresh(AddressPool{subnet, ip_range, Ipv4Address{subnet.network().value - 1}});
    if (auto a = fresh.allocate()) return *a;
    return subnet.network();
}

kernel::MacAddress mac_for(Ipv4Address a) {
    return {0x02,
            0x42,
            uint8_t(a.value >> 24),
            uint8_t(a.value >> 16),
            uint8_t(a.value >> 8),
            uint8_t(a.value)};
}

std::string mac_text(const kernel::MacAddress& mac) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(17);
    for (size_t i = 0; i < mac.size(); ++i) {
        if (i) out += ':';
        out += hex[mac[i] >> 4];
        out += hex[mac[i] & 15];
    }
    return out;
}

namespace {

// libnetwork's ipamutils localScopeDefaultNetworks: a base split into prefixes of `size`.
struct DefaultPool {
    const char* base;
    uint8_t size;
};
constexpr std::array default_pools{
    DefaultPool{"172.17.0.0/16", 16},  DefaultPool{"172.18.0.0/16", 16},
    DefaultPool{"172.19.0.0/16", 16},  DefaultPool{"172.20.0.0/14", 16},
    DefaultPool{"172.24.0.0/14", 16},  DefaultPool{"172.28.0.0/14", 16},
    DefaultPool{"192.168.0.0/16", 20},
};

bool overlaps_any(const Ipv4Prefix& p, std::span<const Ipv4Prefix> others, bool skip_default) {
    for (const Ipv4Prefix& o : others)
        if (!(skip_default && o.length == 0) && p.overlaps(o)) return true;
    return false;
}

}  // namespace

Result<Ipv4Prefix> choose_subnet(std::span<const Ipv4Prefix> taken,
                                 std::span<const Ipv4Prefix> host_routes) {
    for (const DefaultPool& pool : default_pools) {
        Ipv4Prefix base = *Ipv4Prefix::parse(pool.base);
        uint64_t step = uint64_t(1) << (32 - pool.size);
        for (uint64_t a = base.network().value; a <= base.broadcast().value; a += step) {
            Ipv4Prefix candidate{Ipv4Address{uint32_t(a)}, pool.size};
            if (!overlaps_any(candidate, taken, false) &&
                !overlaps_any(candidate, host_routes, true))
                return candidate;
        }
    }
    return fail(Error::invalid("all predefined address pools have been fully subnetted"));
}

}  // namespace berth::drivers::net
