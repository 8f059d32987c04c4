// Strict dotted-quad parsing and printing for kernel::Ipv4Address and Ipv4Prefix.
#include "kernel/ipv4.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace berth::kernel {

namespace {

// One decimal octet: 1–3 digits, no leading zero unless it is "0", at most 255.
std::optional<uint32_t> octet(std::string_view s) {
    if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    uint32_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + uint32_t(c - '0');
    }
    if (v > 255) return std::nullopt;
    return v;
}

}  // namespace

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view text) {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
        size_t dot = text.find('.');
        if ((i < 3) != (dot != std::string_view::npos)) return std::nullopt;  // exactly 3 dots
        auto o = octet(text.substr(0, dot));
        if (!o) return std::nullopt;
        value = value << 8 | *o;
        text = i < 3 ? text.substr(dot + 1) : std::string_view();
    }
    return Ipv4Address{value};
}

std::string Ipv4Address::text() const {
    std::string out;
    out.reserve(15);
    for (int shift = 24; shift >= 0; shift -= 8) {
        if (shift != 24) out += '.';
        out += std::to_string((value >> shift) & 0xFF);
    }
    return out;
}

uint32_t Ipv4Address::network_order() const { return htonl(value); }

Ipv4Address Ipv4Address::from_network_order(uint32_t be) { return {ntohl(be)}; }

std::optional<Ipv4Prefix> Ipv4Prefix::parse(std::string_view text) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto address = Ipv4Address::parse(text.substr(0, slash));
    std::string_view len = text.substr(slash + 1);
    if (!address || len.empty() || len.size() > 2 || (len.size() > 1 && len[0] == '0'))
        return std::nullopt;
    unsigned n = 0;
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (ec != std::errc() || end != len.data() + len.size() || n > 32) return std::nullopt;
    return Ipv4Prefix{*address, uint8_t(n)};
}

std::string Ipv4Prefix::text() const { return address.text() + "/" + std::to_string(length); }

}  // namespace berth::kernel
