// PortBindings/ExposedPorts → port requests, and published ports → NetworkSettings.Ports and
// the `docker ps` rows.
#include "jobs/port_bindings.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <map>

namespace berth::jobs {

namespace {

using element = simdjson::dom::element;

struct PortKey {
    uint16_t port = 0;
    kernel::Protocol protocol = kernel::Protocol::tcp;
    bool operator<(const PortKey& o) const {
        return port != o.port ? port < o.port : protocol < o.protocol;
    }
};

std::optional<uint16_t> port_number(std::string_view s) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > 65535) return {};
    return uint16_t(v);
}

// "80/tcp", "53/udp", "80" (tcp).
Result<PortKey> parse_key(std::string_view key) {
    size_t slash = key.find('/');
    std::string_view proto = slash == std::string_view::npos ? "tcp" : key.substr(slash + 1);
    auto port = port_number(key.substr(0, slash));
    if (!port || *port == 0) return fail(Error::invalid("invalid port specification: \"" + std::string(key) + "\""));
    if (proto == "tcp") return PortKey{*port, kernel::Protocol::tcp};
    if (proto == "udp") return PortKey{*port, kernel::Protocol::udp};
    return fail(Error::invalid("invalid proto: " + std::string(proto)));
}

std::string proto_name(kernel::Protocol p) { return std::string(kernel::protocol_name(p)); }

std::map<PortKey, std::string> keys_of(std::string_view config_json,
                                       std::string_view host_config_json) {
    std::map<PortKey, std::string> out;
    simdjson::dom::parser parser;
    auto collect = [&](std::string_view json, const char* field) {
        simdjson::padded_string text(json);
        simdjson::dom::object obj;
        if (parser.parse(text)[field].get(obj)) return;
        for (auto [k, v] : obj) {
            auto key = parse_key(k);
            if (key) out.emplace(*key, std::to_string(key->port) + "/" + proto_name(key->protocol));
        }
    };
    collect(config_json, "ExposedPorts");
    collect(host_config_json, "PortBindings");
    return out;
}

}  // namespace

Result<std::vector<drivers::net::PortRequest>> port_requests(std::string_view config_json,
                                                            std::string_view host_config_json) {
    std::vector<drivers::net::PortRequest> out;
    simdjson::dom::parser parser;
    simdjson::padded_string text(host_config_json);
    element hc;
    if (parser.parse(text).get(hc)) return out;
    std::map<PortKey, bool> bound;
    simdjson::dom::object bindings;
    if (!hc["PortBindings"].get(bindings)) {
        for (auto [k, list] : bindings) {
            auto key = parse_key(k);
            if (!key) return fail(key.error());
            simdjson::dom::array arr;
            if (list.get(arr)) continue;  // null: exposed only
            for (element b : arr) {
                drivers::net::PortRequest r;
                r.protocol = key->protocol;
                r.container_port = key->port;
                std::string_view ip, port;
                if (b["HostIp"].get(ip)) ip = {};
                if (b["HostPort"].get(port)) port = {};
                if (!ip.empty()) {
                    auto addr = kernel::Ipv4Address::parse(ip);
                    if (!addr) return fail(Error::invalid("invalid IP address in PortBindings: " + std::string(ip)));
                    r.host_ip = *addr;
                }
                size_t dash = port.find('-');
                if (!port.empty()) {
                    auto first = port_number(port.substr(0, dash));
                    auto last = dash == std::string_view::npos ? first : port_number(port.substr(dash + 1));
                    if (!first || !last || *last < *first)
                        return fail(Error::invalid("invalid port specification: \"" + std::string(port) + "\""));
                    r.host_port = *first;
                    r.host_port_last = *last;
                }
                out.push_back(r);
                bound[*key] = true;
            }
        }
    }
    bool all = false;
    if (hc["PublishAllPorts"].get(all)) all = false;
    if (all)
        for (const auto& [key, text] : keys_of(config_json, "{}"))
            if (!bound.contains(key)) {
                drivers::net::PortRequest r;
                r.protocol = key.protocol;
                r.container_port = key.port;
                out.push_back(r);
            }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return PortKey{a.container_port, a.protocol} < PortKey{b.container_port, b.protocol};
    });
    return out;
}

std::vector<std::string> port_keys(std::string_view config_json,
                                   std::string_view host_config_json) {
    std::vector<std::string> out;
    for (auto& [key, text] : keys_of(config_json, host_config_json)) out.push_back(text);
    return out;
}

void write_network_ports(JsonWriter& w, std::span<const std::string> keys,
                         std::span<const kernel::PortForward> published) {
    w.begin_object();
    for (const std::string& k : keys) {
        auto key = parse_key(k);
        w.key(k);
        bool any = false;
        for (const auto& f : published) {
            if (!key || f.container_port != key->port || f.protocol != key->protocol) continue;
            if (!any) w.begin_array();
            any = true;
            w.begin_object().field("HostIp", f.host_ip.text()).field("HostPort", std::to_string(f.host_port)).end_object();
        }
        if (any) w.end_array();
        else w.null();
    }
    w.end_object();
}

void write_list_ports(JsonWriter& w, std::span<const std::string> keys,
                      std::span<const kernel::PortForward> published) {
    w.begin_array();
    for (const std::string& k : keys) {
        auto key = parse_key(k);
        if (!key) continue;
        bool any = false;
        for (const auto& f : published) {
            if (f.container_port != key->port || f.protocol != key->protocol) continue;
            any = true;
            w.begin_object().field("IP", f.host_ip.text()).field("PrivatePort", f.container_port);
            w.field("PublicPort", f.host_port).field("Type", proto_name(f.protocol)).end_object();
        }
        if (!any)
            w.begin_object().field("PrivatePort", key->port).field("Type", proto_name(key->protocol)).end_object();
    }
    w.end_array();
}

}  // namespace berth::jobs
