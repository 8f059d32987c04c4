// rtnetlink requests and their replies: one blocking NETLINK_ROUTE socket per namespace, batches
// sent in one sendmsg, replies matched to requests by sequence number (stale ones dropped), dumps
// read until NLMSG_DONE. Link, address and route requests are built here; the bytes in
// netlink_message.hpp.
#include "kernel/rtnetlink.hpp"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "kernel/netns.hpp"

namespace berth::kernel {

namespace {

// Big enough for any rtnetlink datagram a dump sends (the kernel sizes dump parts by the largest
// buffer the reader offered, capped at 32 KiB) and for one link message with its statistics.
constexpr size_t receive_buffer_bytes = 64 * 1024;
constexpr int dump_attempts_max = 4;  // a dump the kernel marks interrupted is read again

// Extended ACK text (NLMSGERR_ATTR_MSG) after an error: "Unknown device type" and the like.
std::string_view extended_ack_message(const nlmsghdr& h) {
    if (!(h.nlmsg_flags & NLM_F_ACK_TLVS) || h.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr)))
        return {};
    auto* base = reinterpret_cast<const std::byte*>(&h);
    size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (!(h.nlmsg_flags & NLM_F_CAPPED)) {
        // The whole request follows the error when not capped.
        nlmsgerr e;
        std::memcpy(&e, base + NLMSG_HDRLEN, sizeof e);
        offset = NLMSG_HDRLEN + sizeof(int) + NLMSG_ALIGN(e.msg.nlmsg_len);
    }
    if (offset >= h.nlmsg_len) return {};
    std::string_view text;
    for_each_attribute({base + offset, h.nlmsg_len - offset}, [&](const NetlinkAttribute& a) {
        if (a.type == NLMSGERR_ATTR_MSG) text = a.text();
    });
    return text;
}

Error request_error(const std::string& what, int err, std::string_view detail) {
    Error e = Error::sys(err, what);
    if (!detail.empty()) {
        e.message += " (";
        e.message += detail;
        e.message += ")";
    }
    return e;
}

std::optional<LinkInfo> parse_link(const nlmsghdr& h) {
    auto ifi = message_header<ifinfomsg>(h);
    if (h.nlmsg_type != RTM_NEWLINK || !ifi) return std::nullopt;
    LinkInfo link;
    link.index = ifi->ifi_index;
    link.up = (ifi->ifi_flags & IFF_UP) != 0;
    for_each_attribute(message_attributes<ifinfomsg>(h), [&](const NetlinkAttribute& a) {
        switch (a.type) {
            case IFLA_IFNAME:
                link.name = a.text();
                break;
            case IFLA_MTU:
                link.mtu = a.as<uint32_t>().value_or(0);
                break;
            case IFLA_MASTER:
                link.master = int(a.as<uint32_t>().value_or(0));
                break;
            case IFLA_ADDRESS:
                if (a.payload.size() == link.mac.size())
                    std::memcpy(link.mac.data(), a.payload.data(), link.mac.size());
                break;
            case IFLA_LINKINFO:
                for_each_attribute(a.payload, [&](const NetlinkAttribute& info) {
                    if (info.type == IFLA_INFO_KIND) link.kind = info.text();
                });
                break;
            default:
                break;
        }
    });
    return link;
}

NetlinkMessage link_request(uint16_t type, uint16_t flags, std::string what, int index = 0,
                            unsigned up_flags = 0, unsigned up_change = 0) {
    NetlinkMessage m(type, flags, std::move(what));
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = index;
    ifi.ifi_flags = up_flags;
    ifi.ifi_change = up_change;
    m.put_header(ifi);
    return m;
}

// A GETLINK for one link or all: statistics left out (they are most of each message's size).
NetlinkMessage get_link_request(uint16_t flags, std::string what, int index = 0) {
    NetlinkMessage m = link_request(RTM_GETLINK, flags, std::move(what), index);
    m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    return m;
}

// The kernel's own rule (dev_valid_name), checked first for a message that says what is wrong.
Result<> check_link_name(std::string_view name) {
    bool valid = !name.empty() && name.size() < IFNAMSIZ && name != "." && name != ".." &&
                 name.find_first_of("/: \t\n\v\f\r") == name.npos;
    if (!valid) return fail(Error::invalid("invalid link name \"" + std::string(name) + "\""));
    return {};
}

NetlinkMessage address_request(int index, Ipv4Prefix address, uint16_t flags, std::string what) {
    NetlinkMessage m(RTM_NEWADDR, flags, std::move(what));
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_INET;
    ifa.ifa_prefixlen = address.length;
    ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    ifa.ifa_index = uint32_t(index);
    m.put_header(ifa);
    m.put_u32(IFA_LOCAL, address.address.network_order());
    m.put_u32(IFA_ADDRESS, address.address.network_order());
    // /31 and /32 have no broadcast address (RFC 3021), as iproute2 and Docker's netlink do.
    if (address.length < 31) m.put_u32(IFA_BROADCAST, address.broadcast().network_order());
    return m;
}

NetlinkMessage default_route_request(Ipv4Address gateway) {
    NetlinkMessage m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE,
                     "replace default route via " + gateway.text());
    rtmsg rt{};
    rt.rtm_family = AF_INET;
    rt.rtm_table = RT_TABLE_MAIN;
    rt.rtm_protocol = RTPROT_BOOT;
    rt.rtm_scope = RT_SCOPE_UNIVERSE;
    rt.rtm_type = RTN_UNICAST;
    m.put_header(rt);
    m.put_u32(RTA_GATEWAY, gateway.network_order());
    return m;
}

}  // namespace

Rtnetlink::Rtnetlink(UniqueFd fd) : fd_(std::move(fd)), receive_buffer_(receive_buffer_bytes) {}

Result<Rtnetlink> Rtnetlink::from_socket(Result<UniqueFd> socket) {
    if (!socket) return fail(std::move(socket.error()).wrap("open rtnetlink"));
    int on = 1;
    // Errors name their cause in text (extended ACK) and do not echo our request back (capped).
    // Both are optional: older kernels simply give less.
    setsockopt(socket->get(), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
    setsockopt(socket->get(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    return Rtnetlink(std::move(*socket));
}

Result<Rtnetlink> Rtnetlink::open() {
    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return fail(Error::last_sys("socket(NETLINK_ROUTE)"));
    return from_socket(UniqueFd(fd));
}

Result<Rtnetlink> Rtnetlink::open_in(int netns_fd) {
    return from_socket(socket_in_netns(netns_fd, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
}

Result<> Rtnetlink::exchange(std::span<NetlinkMessage> batch, const ReplyHandler& on_reply) {
    if (batch.empty()) return {};
    // Sequence numbers of one batch never wrap, so "belongs to this batch" is a range check.
    if (sequence_ > UINT32_MAX - batch.size() - 1) sequence_ = 0;
    uint32_t first = sequence_ + 1;
    std::vector<iovec> parts;
    parts.reserve(batch.size());
    size_t total = 0;
    for (auto& m : batch) {
        auto bytes = m.finish(++sequence_);
        parts.push_back({const_cast<std::byte*>(bytes.data()), bytes.size()});
        total += bytes.size();
    }
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    msghdr msg{};
    msg.msg_name = &kernel;
    msg.msg_namelen = sizeof kernel;
    msg.msg_iov = parts.data();
    msg.msg_iovlen = parts.size();
    ssize_t sent;
    do sent = ::sendmsg(fd_.get(), &msg, 0);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) return fail(Error::last_sys(batch[0].what()));
    if (size_t(sent) != total)
        return fail(Error::internal(batch[0].what() + ": short netlink send"));
    return receive_replies(batch, first, on_reply);
}

Result<> Rtnetlink::receive_replies(std::span<NetlinkMessage> batch, uint32_t first,
                                    const ReplyHandler& on_reply) {
    std::vector<bool> answered(batch.size());
    size_t pending = batch.size();
    std::optional<Error> failure;  // the first request's error; the rest are still read
    while (pending > 0) {
        sockaddr_nl from{};
        socklen_t from_length = sizeof from;
        ssize_t n = ::recvfrom(fd_.get(), receive_buffer_.data(), receive_buffer_.size(), MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&from), &from_length);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::last_sys(batch[0].what() + ": receive"));
        if (size_t(n) > receive_buffer_.size())
            return fail(
                Error::internal(batch[0].what() + ": netlink reply larger than the buffer"));
        if (from.nl_pid != 0) continue;  // only the kernel answers; anything else is not ours
        std::span<const std::byte> data(receive_buffer_.data(), size_t(n));
        while (data.size() >= NLMSG_HDRLEN) {
            // Messages start 4-byte aligned in a buffer from operator new.
            const std::byte* at = data.data();
            const auto& h = *reinterpret_cast<const nlmsghdr*>(at);
            if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > data.size()) break;
            data = data.subspan(std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), data.size()));
            size_t i = size_t(h.nlmsg_seq - first);
            if (h.nlmsg_seq < first || i >= batch.size() || answered[i]) continue;  // stale
            if (h.nlmsg_type == NLMSG_NOOP || h.nlmsg_type == NLMSG_OVERRUN) continue;
            if (h.nlmsg_type != NLMSG_ERROR && h.nlmsg_type != NLMSG_DONE) {
                if (on_reply) on_reply(i, h);
                continue;
            }
            // An ACK (error 0), a failure, or the end of a dump (which may carry an error too).
            int code = 0;
            if (h.nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
                std::memcpy(&code, at + NLMSG_HDRLEN, sizeof code);
            if (code < 0 && !failure) {
                std::string_view detail =
                    h.nlmsg_type == NLMSG_ERROR ? extended_ack_message(h) : std::string_view();
                failure = request_error(batch[i].what(), -code, detail);
            }
            answered[i] = true;
            --pending;
        }
    }
    if (failure) return fail(std::move(*failure));
    return {};
}

Result<> Rtnetlink::dump(const NetlinkMessage& request, const std::function<void()>& restart,
                         const ReplyHandler& on_reply) {
    for (int attempt = 1;; ++attempt) {
        NetlinkMessage m = request;
        bool interrupted = false;
        auto done = exchange({&m, 1}, [&](size_t i, const nlmsghdr& h) {
            if (h.nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
            on_reply(i, h);
        });
        if (!done || !interrupted) return done;
        // The table changed while the kernel walked it: what was read may miss entries.
        if (attempt == dump_attempts_max)
            return fail(Error::sys(EAGAIN, request.what() + " (changed while being read)"));
        restart();
    }
}

Result<LinkInfo> Rtnetlink::link(std::string_view name) {
    std::string n(name);
    // No link has a longer name (the kernel would refuse the request as malformed).
    if (name.empty() || name.size() >= IFNAMSIZ)
        return fail(Error::not_found("link " + n + " not found"));
    NetlinkMessage m = get_link_request(0, "get link " + n);
    m.put_string(IFLA_IFNAME, name);
    std::optional<LinkInfo> found;
    auto done = exchange({&m, 1}, [&](size_t, const nlmsghdr& h) {
        if (!found) found = parse_link(h);
    });
    if (!done && done.error().sys_errno == ENODEV)
        return fail(Error::not_found("link " + n + " not found"));
    if (!done) return fail(std::move(done.error()));
    if (!found) return fail(Error::internal("get link " + n + ": no reply"));
    return std::move(*found);
}

Result<int> Rtnetlink::link_index(std::string_view name) {
    auto found = link(name);
    if (!found) return fail(std::move(found.error()));
    return found->index;
}

Result<LinkInfo> Rtnetlink::link_by_index(int index, const ReplyHandler& also) {
    NetlinkMessage m = get_link_request(0, "get link " + std::to_string(index), index);
    std::optional<LinkInfo> found;
    auto done = exchange({&m, 1}, [&](size_t i, const nlmsghdr& h) {
        if (!found) found = parse_link(h);
        if (also) also(i, h);
    });
    if (!done) return fail(std::move(done.error()));
    if (!found) return fail(Error::internal("get link " + std::to_string(index) + ": no reply"));
    return std::move(*found);
}

Result<std::vector<LinkInfo>> Rtnetlink::links() {
    std::vector<LinkInfo> out;
    auto done = dump(
        get_link_request(NLM_F_DUMP, "list links"), [&] { out.clear(); },
        [&](size_t, const nlmsghdr& h) {
            if (auto l = parse_link(h)) out.push_back(std::move(*l));
        });
    if (!done) return fail(std::move(done.error()));
    return out;
}

Error Rtnetlink::name_link(Error e, int index) {
    std::string tag = "link " + std::to_string(index) + ":";
    size_t at = e.message.find(tag);
    if (at == std::string::npos) return e;
    if (auto l = link_by_index(index); l && !l->name.empty())
        e.message.replace(at, tag.size(), "link " + l->name + ":");
    return e;
}

// Sends a RTM_NEWLINK that creates `name` and returns the new link's index, which the kernel
// echoes (NLM_F_ECHO) on current kernels; older ones are asked once more.
Result<int> Rtnetlink::create_link(NetlinkMessage request, std::string_view name) {
    int index = 0;
    auto done = exchange({&request, 1}, [&](size_t, const nlmsghdr& h) {
        if (auto l = parse_link(h); l && l->name == name) index = l->index;
    });
    if (!done) return fail(std::move(done.error()));
    if (index > 0) return index;
    return link_index(name);
}

Result<int> Rtnetlink::ensure_bridge(std::string_view name, uint32_t mtu) {
    std::string n(name);
    for (int attempt = 0;; ++attempt) {
        auto existing = link(name);
        if (existing && existing->kind == "bridge") return existing->index;
        if (existing)
            return fail(Error::conflict("link " + n + " exists and is not a bridge (" +
                                        (existing->kind.empty() ? "device" : existing->kind) +
                                        ")"));
        if (existing.error().kind != ErrorKind::not_found) return fail(std::move(existing.error()));
        if (auto ok = check_link_name(name); !ok) return fail(std::move(ok.error()));

        NetlinkMessage m = link_request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO,
                                        "create bridge " + n, 0, IFF_UP, IFF_UP);
        m.put_string(IFLA_IFNAME, name);
        m.put_u32(IFLA_MTU, mtu);
        size_t info = m.begin_nested(IFLA_LINKINFO);
        m.put_string(IFLA_INFO_KIND, "bridge");
        m.end_nested(info);
        auto created = create_link(std::move(m), name);
        // Someone else made it between our look and our create: look again, once.
        if (!created && created.error().sys_errno == EEXIST && attempt == 0) continue;
        return created;
    }
}

Result<int> Rtnetlink::create_veth(std::string_view name, std::string_view peer_name,
                                   int peer_netns_fd, uint32_t mtu) {
    if (auto ok = check_link_name(name); !ok) return fail(std::move(ok.error()));
    if (auto ok = check_link_name(peer_name); !ok) return fail(std::move(ok.error()));
    NetlinkMessage m =
        link_request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO,
                     "create veth " + std::string(name) + " (peer " + std::string(peer_name) + ")");
    m.put_string(IFLA_IFNAME, name);
    m.put_u32(IFLA_MTU, mtu);
    size_t info = m.begin_nested(IFLA_LINKINFO);
    m.put_string(IFLA_INFO_KIND, "veth");
    size_t data = m.begin_nested(IFLA_INFO_DATA);
    // The peer is described as a link of its own: an ifinfomsg, then its attributes. Created
    // straight in its namespace, it never appears (or needs a move) here.
    size_t peer = m.begin_nested(VETH_INFO_PEER);
    m.put_header(ifinfomsg{});
    m.put_string(IFLA_IFNAME, peer_name);
    m.put_u32(IFLA_MTU, mtu);
    if (peer_netns_fd >= 0) m.put_s32(IFLA_NET_NS_FD, peer_netns_fd);
    m.end_nested(peer);
    m.end_nested(data);
    m.end_nested(info);
    return create_link(std::move(m), name);
}

Result<> Rtnetlink::set_link(int index, const LinkChange& change) {
    unsigned up_flags = change.up.value_or(false) ? IFF_UP : 0;
    NetlinkMessage m = link_request(RTM_SETLINK, 0, "set link " + std::to_string(index), index,
                                    up_flags, change.up ? IFF_UP : 0);
    // The kernel applies these in its own order (namespace move first, then address, MTU, name,
    // flags, master), so one request renames a link before bringing it up.
    if (change.netns_fd) m.put_s32(IFLA_NET_NS_FD, *change.netns_fd);
    if (change.mac) m.put(IFLA_ADDRESS, change.mac->data(), change.mac->size());
    if (change.mtu) m.put_u32(IFLA_MTU, *change.mtu);
    if (change.name) {
        if (auto ok = check_link_name(*change.name); !ok) return fail(std::move(ok.error()));
        m.put_string(IFLA_IFNAME, *change.name);
    }
    if (change.master) m.put_u32(IFLA_MASTER, uint32_t(*change.master));
    auto done = exchange({&m, 1});
    if (!done) return fail(name_link(std::move(done.error()), index));
    return {};
}

Result<> Rtnetlink::delete_link(int index) {
    NetlinkMessage m = link_request(RTM_DELLINK, 0, "delete link " + std::to_string(index), index);
    auto done = exchange({&m, 1});
    if (!done) return fail(name_link(std::move(done.error()), index));
    return {};
}

Result<> Rtnetlink::add_address(int index, Ipv4Prefix address) {
    NetlinkMessage m =
        address_request(index, address, NLM_F_CREATE | NLM_F_EXCL,
                        "add address " + address.text() + " to link " + std::to_string(index));
    auto done = exchange({&m, 1});
    if (!done && done.error().sys_errno == EEXIST) return {};
    if (!done) return fail(name_link(std::move(done.error()), index));
    return {};
}

Result<std::vector<Ipv4Prefix>> Rtnetlink::addresses(int index) {
    NetlinkMessage m(RTM_GETADDR, NLM_F_DUMP, "list addresses of link " + std::to_string(index));
    ifaddrmsg request{};
    request.ifa_family = AF_INET;
    m.put_header(request);
    std::vector<Ipv4Prefix> out;
    auto done = dump(
        m, [&] { out.clear(); },
        [&](size_t, const nlmsghdr& h) {
            auto ifa = message_header<ifaddrmsg>(h);
            if (h.nlmsg_type != RTM_NEWADDR || !ifa || ifa->ifa_family != AF_INET ||
                int(ifa->ifa_index) != index)
                return;
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
            // point-to-point links and the same otherwise.
            std::optional<uint32_t> local, peer;
            for_each_attribute(message_attributes<ifaddrmsg>(h), [&](const NetlinkAttribute& a) {
                if (a.type == IFA_LOCAL) local = a.as<uint32_t>();
                if (a.type == IFA_ADDRESS) peer = a.as<uint32_t>();
            });
            if (auto be = local ? local : peer)
                out.push_back({Ipv4Address::from_network_order(*be), ifa->ifa_prefixlen});
        });
    if (!done) return fail(name_link(std::move(done.error()), index));
    return out;
}

Result<> Rtnetlink::replace_default_route(Ipv4Address gateway) {
    NetlinkMessage m = default_route_request(gateway);
    return exchange({&m, 1});
}

Result<std::vector<Ipv4Prefix>> Rtnetlink::ipv4_routes() {
    NetlinkMessage m(RTM_GETROUTE, NLM_F_DUMP, "list routes");
    rtmsg request{};
    request.rtm_family = AF_INET;
    m.put_header(request);
    std::vector<Ipv4Prefix> out;
    auto done = dump(
        m, [&] { out.clear(); },
        [&](size_t, const nlmsghdr& h) {
            auto rt = message_header<rtmsg>(h);
            if (h.nlmsg_type != RTM_NEWROUTE || !rt || rt->rtm_family != AF_INET ||
                rt->rtm_dst_len == 0)
                return;
            uint32_t table = rt->rtm_table;  // RTA_TABLE holds tables numbered past 255
            Ipv4Prefix dst{{}, rt->rtm_dst_len};
            for_each_attribute(message_attributes<rtmsg>(h), [&](const NetlinkAttribute& a) {
                if (a.type == RTA_TABLE) table = a.as<uint32_t>().value_or(table);
                if (a.type == RTA_DST)
                    dst.address = Ipv4Address::from_network_order(a.as<uint32_t>().value_or(0));
            });
            if (table == RT_TABLE_MAIN) out.push_back(dst);
        });
    if (!done) return fail(std::move(done.error()));
    return out;
}

Result<> Rtnetlink::set_bridge_port_hairpin(int index, bool on) {
    // Bridge port options go to the bridge's own handler: family AF_BRIDGE, IFLA_PROTINFO.
    NetlinkMessage m(
        RTM_SETLINK, 0,
        std::string("set hairpin ") + (on ? "on" : "off") + " on link " + std::to_string(index));
    ifinfomsg ifi{};
    ifi.ifi_family = AF_BRIDGE;
    ifi.ifi_index = index;
    m.put_header(ifi);
    size_t port = m.begin_nested(IFLA_PROTINFO);
    m.put_u8(IFLA_BRPORT_MODE, on ? 1 : 0);
    m.end_nested(port);
    auto done = exchange({&m, 1});
    if (!done) return fail(name_link(std::move(done.error()), index));
    return {};
}

Result<bool> Rtnetlink::bridge_port_hairpin(int index) {
    // A port's settings come with the link as its "slave data" (IFLA_INFO_SLAVE_DATA).
    std::optional<bool> hairpin;
    auto find_mode = [&](size_t, const nlmsghdr& h) {
        for_each_attribute(message_attributes<ifinfomsg>(h), [&](const NetlinkAttribute& a) {
            if (a.type != IFLA_LINKINFO) return;
            for_each_attribute(a.payload, [&](const NetlinkAttribute& info) {
                if (info.type != IFLA_INFO_SLAVE_DATA) return;
                for_each_attribute(info.payload, [&](const NetlinkAttribute& port) {
                    if (port.type == IFLA_BRPORT_MODE)
                        hairpin = port.as<uint8_t>().value_or(0) != 0;
                });
            });
        });
    };
    auto l = link_by_index(index, find_mode);
    if (!l) return fail(std::move(l.error()));
    if (!hairpin) return fail(Error::invalid("link " + l->name + " is not a bridge port"));
    return *hairpin;
}

Result<> configure_container_link(Rtnetlink& in_container, std::string_view from,
                                  std::string_view to, MacAddress mac, Ipv4Prefix address,
                                  std::optional<Ipv4Address> gateway) {
    auto index = in_container.link_index(from);
    if (!index) return fail(std::move(index.error()));
    std::string name(to);
    std::vector<NetlinkMessage> batch;
    // One RTM_SETLINK renames, sets the MAC and brings the link up, in that order (do_setlink's):
    // older kernels refuse to rename a link that is up (EBUSY).
    batch.push_back(link_request(RTM_SETLINK, 0, "configure link " + name, *index, IFF_UP, IFF_UP));
    if (from != to) {
        if (auto ok = check_link_name(to); !ok) return fail(std::move(ok.error()));
        batch.back().put_string(IFLA_IFNAME, to);
    }
    batch.back().put(IFLA_ADDRESS, mac.data(), mac.size());
    // lo named rather than numbered: with index 0 the kernel looks the link up by IFLA_IFNAME.
    batch.push_back(link_request(RTM_SETLINK, 0, "bring up lo", 0, IFF_UP, IFF_UP));
    batch.back().put_string(IFLA_IFNAME, "lo");
    // REPLACE keeps a retried configuration from failing on the address it added before.
    batch.push_back(address_request(*index, address, NLM_F_CREATE | NLM_F_REPLACE,
                                    "add address " + address.text() + " to link " + name));
    if (gateway) batch.push_back(default_route_request(*gateway));
    return in_container.exchange(batch);
}

Result<> configure_container_link(Rtnetlink& in_container, std::string_view name, MacAddress mac,
                                  Ipv4Prefix address, std::optional<Ipv4Address> gateway) {
    return configure_container_link(in_container, name, name, mac, address, gateway);
}

}  // namespace berth::kernel
