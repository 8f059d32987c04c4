// rtnetlink: links (bridges, veth pairs), IPv4 addresses and routes of one network namespace,
// through a NETLINK_ROUTE socket opened there. Every request asks for an ACK; a failure comes
// back as Error::sys(errno, "<what> <object>") with the kernel's extended message when it has one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "kernel/fd.hpp"
#include "kernel/ipv4.hpp"
#include "kernel/netlink_message.hpp"

namespace berth::kernel {


struct LinkInfo {
    int index = 0;
    std::string name;
    std::string kind;  // IFLA_INFO_KIND: "bridge", "veth", … ; "" for lo and plain devices
    int master = 0;    // the bridge this link is a port of; 0 = none
    uint32_t mtu = 0;
    bool up = false;  // IFF_UP, as `ip link` shows it (administratively up)
    MacAddress mac{};
};

// What set_link changes; unset fields stay as they are.
struct LinkChange {
    std::optional<bool> up;
    std::optional<uint32_t> mtu;
    std::optional<MacAddress> mac;
    std::optional<int> master;  // 0 = no master
    std::optional<std::string> name;
    std::optional<int> netns_fd;  // move the link there (applied first, the rest lands there)
};

class Rtnetlink {
  public:
    // A socket in the calling thread's network namespace.
    static Result<Rtnetlink> open();
    // A socket inside `netns_fd`; the caller's namespace is unchanged.
    static Result<Rtnetlink> open_in(int netns_fd);

    Result<int> link_index(std::string_view name);  // not_found("link <name> not found")
    Result<LinkInfo> link(std::string_view name);
    Result<std::vector<LinkInfo>> links();

    // Creates bridge `name` if missing (with `mtu`, up) and returns its index; an existing bridge
    // is returned as it is; an existing link of another kind is a conflict.
    Result<int> ensure_bridge(std::string_view name, uint32_t mtu);
    // A veth pair, `name` here and `peer_name` created directly inside `peer_netns_fd` (< 0:
    // here too), both with `mtu` and down. Returns the index of `name`.
    Result<int> create_veth(std::string_view name, std::string_view peer_name, int peer_netns_fd,
                            uint32_t mtu);
    Result<> set_link(int index, const LinkChange& change);
    Result<> delete_link(int index);

    // Adds `address` (with its broadcast, as ip and Docker's netlink library set it for
    // prefixes shorter than /31); an address already there counts as success.
    Result<> add_address(int index, Ipv4Prefix address);
    Result<std::vector<Ipv4Prefix>> addresses(int index);

    Result<> replace_default_route(Ipv4Address gateway);  // main table, created or replaced
    // Destinations of the main table's IPv4 routes, the default route left out (it overlaps
    // everything): what a new subnet must not collide with.
    Result<std::vector<Ipv4Prefix>> ipv4_routes();

    // A bridge port's hairpin mode (IFLA_BRPORT_MODE): traffic may leave by the port it came in.
    Result<> set_bridge_port_hairpin(int index, bool on);
    Result<bool> bridge_port_hairpin(int index);

  private:
    friend Result<> configure_container_link(Rtnetlink&, std::string_view, std::string_view,
                                             MacAddress, Ipv4Prefix, std::optional<Ipv4Address>);

    // Sends `batch` in one sendmsg and reads until every request is answered (its ACK, or
    // NLMSG_DONE for a dump). Data messages go to on_reply with the request's position in the
    // batch. The first failed request's error is returned after all have been answered.
    using ReplyHandler = std::function<void(size_t request, const nlmsghdr& reply)>;
    Result<> exchange(std::span<NetlinkMessage> batch, const ReplyHandler& on_reply = {});
    Result<> receive_replies(std::span<NetlinkMessage> batch, uint32_t first,
                             const ReplyHandler& on_reply);
    // A dump request, read again from the start (after `restart`) when the kernel reports that
    // the table changed under it.
    Result<> dump(const NetlinkMessage& request, const std::function<void()>& restart,
                  const ReplyHandler& on_reply);
    Result<LinkInfo> link_by_index(int index, const ReplyHandler& also = {});
    // Requests by index fail naming the link by its name, looked up only once they failed.
    Error name_link(Error e, int index);

    explicit Rtnetlink(UniqueFd fd);
    static Result<Rtnetlink> from_socket(Result<UniqueFd> socket);
    Result<int> create_link(NetlinkMessage request, std::string_view name);

    UniqueFd fd_;
    uint32_t sequence_ = 0;
    std::vector<std::byte> receive_buffer_;
};

// The steps that put a container's link in service, batched: inside the namespace
// `in_container` was opened in, rename `from` to `to` (skipped when equal; a pool's "eth0-tmp"
// becomes "eth0"), set its MAC, bring it and lo up, add `address`, and route by default through
// `gateway` (nullopt for an --internal network: no default route). Two round trips: the link's
// index, then everything else in one sendmsg.
Result<> configure_container_link(Rtnetlink& in_container, std::string_view from,
                                  std::string_view to, MacAddress mac, Ipv4Prefix address,
                                  std::optional<Ipv4Address> gateway);
// The same for a link already named as it should be.
Result<> configure_container_link(Rtnetlink& in_container, std::string_view name, MacAddress mac,
                                  Ipv4Prefix address, std::optional<Ipv4Address> gateway);

}  // namespace berth::kernel
