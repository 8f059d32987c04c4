// forget_udp_flows: a ctnetlink dump of the IPv4 table, filtered here by the reply tuple's
// source, then one IPCTNL_MSG_CT_DELETE per matching entry by its original tuple.
#include "kernel/conntrack.hpp"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>
#include <vector>

#include "kernel/fd.hpp"
#include "kernel/netlink_message.hpp"

namespace berth::kernel {

namespace {

constexpr uint16_t ct_message(uint16_t type) {
    return uint16_t((NFNL_SUBSYS_CTNETLINK << 8) | type);
}

struct Tuple {
    uint32_t source = 0;  // network order
    uint16_t source_port = 0;
    uint8_t protocol = 0;
};

// CTA_TUPLE_ORIG / CTA_TUPLE_REPLY: CTA_TUPLE_IP {CTA_IP_V4_SRC, …}, CTA_TUPLE_PROTO
// {CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, …}.
Tuple read_tuple(std::span<const std::byte> area) {
    Tuple t;
    for_each_attribute(area, [&](const NetlinkAttribute& a) {
        if (a.type == CTA_TUPLE_IP)
            for_each_attribute(a.payload, [&](const NetlinkAttribute& ip) {
                if (ip.type == CTA_IP_V4_SRC) t.source = ip.as<uint32_t>().value_or(0);
            });
        if (a.type == CTA_TUPLE_PROTO)
            for_each_attribute(a.payload, [&](const NetlinkAttribute& p) {
                if (p.type == CTA_PROTO_NUM) t.protocol = p.as<uint8_t>().value_or(0);
                if (p.type == CTA_PROTO_SRC_PORT) t.source_port = p.as<uint16_t>().value_or(0);
            });
    });
    return t;
}

class CtSocket {
  public:
    static Result<CtSocket> open() {
        int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0) return fail(Error::last_sys("ctnetlink socket"));
        return CtSocket(UniqueFd(fd));
    }
    // Sends one request and hands every data message of the answer to `on_message`; ends at
    // the ACK (or NLMSG_DONE for a dump). ENOENT (already gone) is not an error.
    template <class Fn>
    Result<> exchange(NetlinkMessage& m, Fn&& on_message) {
        auto bytes = m.finish(++sequence_);
        if (::send(fd_.get(), bytes.data(), bytes.size(), 0) != ssize_t(bytes.size()))
            return fail(Error::last_sys(m.what()));
        for (;;) {
            ssize_t n = ::recv(fd_.get(), buffer_.data(), buffer_.size(), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail(Error::last_sys(m.what() + ": receive"));
            size_t left = size_t(n);
            for (auto* h = reinterpret_cast<nlmsghdr*>(buffer_.data()); NLMSG_OK(h, left);
                 h = NLMSG_NEXT(h, left)) {
                if (h->nlmsg_seq != sequence_) continue;
                if (h->nlmsg_type == NLMSG_DONE) return {};
                if (h->nlmsg_type == NLMSG_ERROR) {
                    auto e = message_header<nlmsgerr>(*h);
                    if (!e || e->error == 0 || e->error == -ENOENT) return {};
                    return fail(Error::sys(-e->error, m.what()));
                }
                on_message(*h);
            }
        }
    }

  private:
    explicit CtSocket(UniqueFd fd) : fd_(std::move(fd)), buffer_(64 * 1024) {}
    UniqueFd fd_;
    std::vector<std::byte> buffer_;
    uint32_t sequence_ = 0;
};

}  // namespace

Result<size_t> forget_udp_flows(std::span<const PortForward> forwards) {
    std::vector<PortForward> udp;
    for (const auto& f : forwards)
        if (f.protocol == Protocol::udp) udp.push_back(f);
    if (udp.empty()) return size_t(0);
    auto ct = CtSocket::open();
    if (!ct) return fail(ct.error());
    const nfgenmsg header{AF_INET, NFNETLINK_V0, 0};
    NetlinkMessage dump(ct_message(IPCTNL_MSG_CT_GET), NLM_F_DUMP, "list conntrack entries");
    dump.put_header(header);
    std::vector<std::vector<std::byte>> doomed;  // their CTA_TUPLE_ORIG payloads
    auto listed = ct->exchange(dump, [&](const nlmsghdr& h) {
        std::optional<std::vector<std::byte>> orig;
        Tuple reply;
        for_each_attribute(message_attributes<nfgenmsg>(h), [&](const NetlinkAttribute& a) {
            if (a.type == CTA_TUPLE_ORIG) orig.emplace(a.payload.begin(), a.payload.end());
            if (a.type == CTA_TUPLE_REPLY) reply = read_tuple(a.payload);
        });
        if (!orig || reply.protocol != IPPROTO_UDP) return;
        for (const auto& f : udp)
            if (reply.source == f.container_ip.network_order() &&
                reply.source_port == htons(f.container_port)) {
                doomed.push_back(std::move(*orig));
                return;
            }
    });
    if (!listed) return fail(listed.error());
    for (const auto& tuple : doomed) {
        NetlinkMessage del(ct_message(IPCTNL_MSG_CT_DELETE), 0, "delete conntrack entry");
        del.put_header(header);
        del.put(CTA_TUPLE_ORIG | NLA_F_NESTED, tuple.data(), tuple.size());
        if (auto r = ct->exchange(del, [](const nlmsghdr&) {}); !r) return fail(r.error());
    }
    return doomed.size();
}

}  // namespace berth::kernel
