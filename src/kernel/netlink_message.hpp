// Netlink messages built and read by hand (libmnl is not a dependency): a request is one
// nlmsghdr, the family's fixed header (ifinfomsg, ifaddrmsg, rtmsg) and type-length-value
// attributes, each padded to 4 bytes; a nested attribute's length is patched when it closes.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace berth::kernel {

// One request under construction. `what` names the operation and its object ("create bridge
// berth0") for the error its ACK may carry.
class NetlinkMessage {
  public:
    NetlinkMessage(uint16_t type, uint16_t flags, std::string what) : what_(std::move(what)) {
        nlmsghdr h{};
        h.nlmsg_type = type;
        h.nlmsg_flags = uint16_t(flags | NLM_F_REQUEST | NLM_F_ACK);
        append(&h, sizeof h);
    }

    // The family's fixed header (ifinfomsg, ifaddrmsg, rtmsg); put it before any attribute.
    template <class Header>
    void put_header(const Header& header) {
        append(&header, sizeof header);
    }

    void put(uint16_t type, const void* data, size_t length) {
        nlattr a{};
        a.nla_len = uint16_t(NLA_HDRLEN + length);
        a.nla_type = type;
        append(&a, sizeof a);
        append(data, length);
    }
    void put_u8(uint16_t type, uint8_t v) { put(type, &v, sizeof v); }
    void put_u32(uint16_t type, uint32_t v) { put(type, &v, sizeof v); }
    void put_s32(uint16_t type, int32_t v) { put(type, &v, sizeof v); }
    // Netlink strings carry their terminating NUL.
    void put_string(uint16_t type, std::string_view s) {
        std::string z(s);
        put(type, z.c_str(), z.size() + 1);
    }

    // A nested attribute: children go between begin_nested and end_nested.
    size_t begin_nested(uint16_t type) {
        size_t start = buffer_.size();
        nlattr a{};
        a.nla_type = uint16_t(type | NLA_F_NESTED);
        append(&a, sizeof a);
        return start;
    }
    void end_nested(size_t start) {
        uint16_t length = uint16_t(buffer_.size() - start);
        std::memcpy(buffer_.data() + start + offsetof(nlattr, nla_len), &length, sizeof length);
    }

    // The sequence number and final length, set just before sending.
    std::span<const std::byte> finish(uint32_t sequence) {
        auto* h = reinterpret_cast<nlmsghdr*>(buffer_.data());
        h->nlmsg_len = uint32_t(buffer_.size());
        h->nlmsg_seq = sequence;
        return buffer_;
    }
    const std::string& what() const { return what_; }

  private:
    // Appends `length` bytes and the zero padding to the next 4-byte boundary.
    void append(const void* data, size_t length) {
        size_t at = buffer_.size();
        buffer_.resize(at + NLMSG_ALIGN(length));
        if (length > 0) std::memcpy(buffer_.data() + at, data, length);
    }

    std::vector<std::byte> buffer_;  // operator new's alignment suits nlmsghdr
    std::string what_;
};

// One attribute of a received message: its type (flags masked off) and payload.
struct NetlinkAttribute {
    uint16_t type = 0;
    std::span<const std::byte> payload;

    template <class T>
    std::optional<T> as() const {
        if (payload.size() < sizeof(T)) return std::nullopt;
        T v;
        std::memcpy(&v, payload.data(), sizeof v);
        return v;
    }
    // Up to the first NUL, which the kernel includes.
    std::string_view text() const {
        std::string_view s(reinterpret_cast<const char*>(payload.data()), payload.size());
        return s.substr(0, s.find('\0'));
    }
};

// Calls fn(NetlinkAttribute) for each well-formed attribute in `area`; stops at a truncated one.
template <class Fn>
void for_each_attribute(std::span<const std::byte> area, Fn&& fn) {
    while (area.size() >= NLA_HDRLEN) {
        nlattr a;
        std::memcpy(&a, area.data(), sizeof a);
        if (a.nla_len < NLA_HDRLEN || a.nla_len > area.size()) return;
        fn(NetlinkAttribute{uint16_t(a.nla_type & NLA_TYPE_MASK),
                            area.subspan(NLA_HDRLEN, a.nla_len - NLA_HDRLEN)});
        area = area.subspan(std::min<size_t>(NLA_ALIGN(a.nla_len), area.size()));
    }
}

// A received message's fixed header (nullopt when the message is too short for it) and the
// attributes after it.
template <class Header>
std::optional<Header> message_header(const nlmsghdr& m) {
    if (m.nlmsg_len < NLMSG_LENGTH(sizeof(Header))) return std::nullopt;
    Header h;
    std::memcpy(&h, reinterpret_cast<const std::byte*>(&m) + NLMSG_HDRLEN, sizeof h);
    return h;
}
template <class Header>
std::span<const std::byte> message_attributes(const nlmsghdr& m) {
    size_t start = NLMSG_SPACE(sizeof(Header));
    if (m.nlmsg_len <= start) return {};
    return {reinterpret_cast<const std::byte*>(&m) + start, m.nlmsg_len - start};
}

}  // namespace berth::kernel
