// The `ip berth` nftables table through libnftables: the rule text for a set of bridges, map
// elements for published ports, and the nft context that sends them (errors come back as
// nft's own text, captured in a buffer instead of stderr).
#include "kernel/nat.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "kernel/fd.hpp"

namespace berth::kernel {

std::string_view protocol_name(Protocol protocol) {
    return protocol == Protocol::tcp ? "tcp" : "udp";
}

namespace {

constexpr size_t interface_name_max = 15;  // IFNAMSIZ - 1

// Names go into nft text inside double quotes and into /proc/sys paths: only the characters
// Docker's bridge names use (docker0, br-<id>, custom names) are let through.
bool safe_name(std::string_view name, size_t max) {
    if (name.empty() || name.size() > max || name == "." || name == "..") return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

Result<> check_bridges(std::span<const NatBridge> bridges) {
    for (const auto& b : bridges)
        if (!valid_interface_name(b.name))
            return fail(Error::invalid("invalid bridge name for NAT rules: \"" + b.name + "\""));
    return {};
}

Result<> check_forwards(std::span<const PortForward> forwards) {
    for (const auto& f : forwards)
        if (f.host_port == 0 || f.container_port == 0 || f.container_ip.unspecified())
            return fail(Error::invalid(
                "invalid port forward " + f.host_ip.text() + ":" + std::to_string(f.host_port) +
                " -> " + f.container_ip.text() + ":" + std::to_string(f.container_port)));
    return {};
}

// The four maps: host port (any address) or host address . host port, per protocol.
std::string map_name(const PortForward& f) {
    std::string name{protocol_name(f.protocol)};
    return name + (f.host_ip.unspecified() ? "_any" : "_ip");
}

std::string element_key(const PortForward& f) {
    std::string port = std::to_string(f.host_port);
    return f.host_ip.unspecified() ? port : f.host_ip.text() + " . " + port;
}

std::string element(const PortForward& f) {
    return element_key(f) + " : " + f.container_ip.text() + " . " +
           std::to_string(f.container_port);
}

// "<verb> element ip <table> <map> { a, b }" for each map that has elements.
std::string element_commands(std::string_view verb, std::string_view table,
                             std::span<const PortForward> forwards, bool keys_only) {
    std::string out;
    for (std::string_view map : {"tcp_any", "tcp_ip", "udp_any", "udp_ip"}) {
        std::string list;
        for (const auto& f : forwards) {
            if (map_name(f) != map) continue;
            if (!list.empty()) list += ", ";
            list += keys_only ? element_key(f) : element(f);
        }
        if (list.empty()) continue;
        out += std::string(verb) + " element ip " + std::string(table) + " " + std::string(map) +
               " { " + list + " }\n";
    }
    return out;
}

// Published ports are DNAT'ed where the destination is one of the host's own addresses:
// arriving traffic in prerouting, the host's own (including 127.0.0.1) in output.
void dnat_rules(std::string& out) {
    for (std::string_view proto : {"tcp", "udp"}) {
        std::string p{proto};
        out += "\t\tfib daddr type local dnat ip to ip daddr . " + p + " dport map @" + p + "_ip\n";
        out += "\t\tfib daddr type local dnat ip to " + p + " dport map @" + p + "_any\n";
    }
}

std::string quoted(const std::string& name) {
    return "\"" + name + "\"";
}

void postrouting_rules(std::string& out, std::span<const NatBridge> bridges) {
    for (const auto& b : bridges) {
        std::string br = quoted(b.name),
                    net = b.subnet.network().text() + "/" + std::to_string(b.subnet.length);
        // Outbound traffic leaves with the host's address.
        if (!b.internal) out += "\t\tip saddr " + net + " oifname != " + br + " masquerade\n";
        // 127.0.0.1:<published> from the host: the container could not answer 127.0.0.1.
        out += "\t\toifname " + br + " ip saddr 127.0.0.0/8 masquerade\n";
        // Hairpin: a container reaching its own or a neighbour's published port through a host
        // address must get the answer from that address, not straight from the neighbour.
        // (With br_netfilter the packet is bridged back out of the bridge and reaches postrouting
        // without an input interface, so "iifname" cannot tell; the source subnet can.)
        out += "\t\toifname " + br + " ip saddr " + net + " ct status dnat masquerade\n";
    }
}

void forward_rules(std::string& out, std::span<const NatBridge> bridges) {
    // Every packet of a connection passes this chain: only a connection's first decides.
    out += "\t\tct state established,related accept\n";
    for (const auto& b : bridges) {
        if (!b.internal) continue;
        std::string br = quoted(b.name);
        out += "\t\tiifname " + br + " oifname != " + br + " drop\n";
        out += "\t\toifname " + br + " iifname != " + br + " drop\n";
    }
    // A published port is public: containers of other networks reach it through a host
    // address, as with Docker (whose forward chains accept published ports from anywhere).
    out += "\t\tct status dnat accept\n";
    // Isolation between networks: one hashed lookup of the (in, out) pair, however many.
    std::string pairs;
    for (const auto& a : bridges)
        for (const auto& b : bridges) {
            if (a.name == b.name) continue;
            if (!pairs.empty()) pairs += ", ";
            pairs += quoted(a.name) + " . " + quoted(b.name);
        }
    if (!pairs.empty()) out += "\t\tiifname . oifname { " + pairs + " } drop\n";
}

// "Error: Could not process rule: File exists\n<command>\n   ^^^^\n" → errno and one line.
Error nft_error(std::string_view text) {
    std::string_view first = text.substr(0, text.find('\n'));
    std::string_view rest = first.size() < text.size() ? text.substr(first.size() + 1) : "";
    std::string_view command = rest.substr(0, rest.find('\n'));
    if (first.starts_with("Error: ")) first.remove_prefix(7);
    int err = 0;
    for (int e : {EEXIST, ENOENT, EPERM, EOPNOTSUPP, EBUSY, ENOMEM, EINVAL, EAFNOSUPPORT})
        if (first.find(std::strerror(e)) != std::string_view::npos) {
            err = e;
            break;
        }
    std::string message = "nftables: ";
    if (!command.empty()) message += std::string(command) + ": ";
    message += first.empty() ? std::string_view("command failed") : first;
    return Error{ErrorKind::system, err, std::move(message)};
}

// libnftables opens its netlink socket without SOCK_CLOEXEC. Every fd berth opens is
// close-on-exec, so a netfilter netlink socket without the flag can only be that one.
void mark_nft_socket_cloexec() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return;
    int self = ::dirfd(dir);
    while (dirent* e = ::readdir(dir)) {
        int fd = std::atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == self) continue;
        int flags = ::fcntl(fd, F_GETFD);
        if (flags < 0 || (flags & FD_CLOEXEC)) continue;
        int domain = 0, protocol = 0;
        socklen_t len = sizeof domain;
        if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_NETLINK)
            continue;
        len = sizeof protocol;
        if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 &&
            protocol == NETLINK_NETFILTER)
            ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    ::closedir(dir);
}

}  // namespace

bool valid_interface_name(std::string_view name) {
    return safe_name(name, interface_name_max);
}

std::string nat_rebuild_commands(std::string_view table, std::span<const NatBridge> bridges,
                                 std::span<const PortForward> forwards) {
    std::string t{table};
    // "add" first so that "delete" cannot fail on a missing table; one transaction.
    std::string out = "add table ip " + t + "\ndelete table ip " + t + "\ntable ip " + t + " {\n";
    for (std::string_view proto : {"tcp", "udp"}) {
        std::string p{proto};
        out += "\tmap " + p + "_any { type inet_service : ipv4_addr . inet_service; }\n";
        out += "\tmap " + p + "_ip { type ipv4_addr . inet_service : ipv4_addr . inet_service; }\n";
    }
    // route_localnet (set on berth's bridges for localhost access to published ports) would
    // also let 127.0.0.0/8 in from a bridge or another link: a container could reach the
    // host's loopback services, a neighbour a port published on 127.0.0.1 (CVE-2020-8558's
    // class). Loopback addresses arrive only through lo.
    out +=
        "\tchain guard {\n\t\ttype filter hook prerouting priority raw; policy accept;\n"
        "\t\tiifname != \"lo\" ip daddr 127.0.0.0/8 drop\n\t}\n";
    out += "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n";
    dnat_rules(out);
    out += "\t}\n\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n";
    dnat_rules(out);
    out +=
        "\t}\n\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n";
    postrouting_rules(out, bridges);
    out += "\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n";
    forward_rules(out, bridges);
    out += "\t}\n}\n";
    out += element_commands("add", table, forwards, false);
    return out;
}

std::string nat_add_commands(std::string_view table, std::span<const PortForward> forwards) {
    return element_commands("add", table, forwards, false);
}

std::string nat_remove_commands(std::string_view table, std::span<const PortForward> forwards) {
    // nft 1.0.6 has no "destroy element": adding the same element first makes the delete
    // succeed whether or not it was there, in one transaction. A key that now maps elsewhere
    // fails the add (EEXIST) instead of being deleted.
    return element_commands("add", table, forwards, false) +
           element_commands("delete", table, forwards, true);
}

void NatTable::ContextFree::operator()(nft_ctx* ctx) const {
    nft_ctx_free(ctx);
}

Result<NatTable> NatTable::open(std::string table_name) {
    if (!safe_name(table_name, 64) || table_name.find_first_of("-.") != std::string::npos)
        return fail(Error::invalid("invalid nftables table name \"" + table_name + "\""));
    // nft_ctx_new() exits the process when it cannot open its netlink socket: try first.
    int probe = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (probe < 0) return fail(Error::last_sys("nftables: netlink socket"));
    ::close(probe);
    std::unique_ptr<nft_ctx, ContextFree> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
    if (!ctx) return fail(Error::internal("nftables: nft_ctx_new failed"));
    mark_nft_socket_cloexec();
    if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0)
        return fail(Error::internal("nftables: cannot buffer output"));
    return NatTable(std::move(ctx), std::move(table_name));
}

Result<> NatTable::run(const std::string& commands) {
    if (commands.empty()) return {};
    int rc = nft_run_cmd_from_buffer(ctx_.get(), commands.c_str());
    // Reading a buffer also empties it, so each command starts clean.
    (void)nft_ctx_get_output_buffer(ctx_.get());
    std::string errors = nft_ctx_get_error_buffer(ctx_.get());
    if (rc != 0) return fail(nft_error(errors));
    return {};
}

Result<> NatTable::rebuild(std::span<const NatBridge> bridges,
                           std::span<const PortForward> forwards) {
    if (auto ok = check_bridges(bridges); !ok) return ok;
    if (auto ok = check_forwards(forwards); !ok) return ok;
    return run(nat_rebuild_commands(name_, bridges, forwards));
}

Result<> NatTable::add(std::span<const PortForward> forwards) {
    if (auto ok = check_forwards(forwards); !ok) return ok;
    return run(nat_add_commands(name_, forwards));
}

Result<> NatTable::remove(std::span<const PortForward> forwards) {
    if (auto ok = check_forwards(forwards); !ok) return ok;
    auto all = run(nat_remove_commands(name_, forwards));
    if (!all && all.error().sys_errno == ENOENT) return {};  // no table: nothing is published
    if (all || all.error().sys_errno != EEXIST) return all;
    // Some host port is now forwarded elsewhere (not ours to delete): remove the rest one by
    // one and leave that one alone.
    for (const auto& f : forwards) {
        auto one = run(nat_remove_commands(name_, std::span(&f, 1)));
        if (!one && one.error().sys_errno != EEXIST) return one;
    }
    return {};
}

Result<> NatTable::destroy() {
    return run("add table ip " + name_ + "\ndelete table ip " + name_ + "\n");
}

namespace {

Result<> write_sysctl(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return fail(Error::last_sys("open " + path));
    if (::write(fd.get(), "1\n", 2) != 2) return fail(Error::last_sys("write " + path));
    return {};
}

}  // namespace

Result<> enable_forwarding() {
    return write_sysctl("/proc/sys/net/ipv4/ip_forward");
}

Result<> enable_route_localnet(std::string_view bridge) {
    if (!valid_interface_name(bridge))
        return fail(Error::invalid("invalid bridge name \"" + std::string(bridge) + "\""));
    return write_sysctl("/proc/sys/net/ipv4/conf/" + std::string(bridge) + "/route_localnet");
}

}  // namespace berth::kernel
