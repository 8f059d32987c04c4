// Published ports as the Docker API states them: HostConfig.PortBindings ({"80/tcp":
// [{"HostIp":"","HostPort":"8080"}]}), HostConfig.PublishAllPorts with Config.ExposedPorts (-P),
// turned into the driver's requests; and the ports a container has, written back as
// NetworkSettings.Ports (inspect, `docker port`) and as the Ports rows of `docker ps`.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/json.hpp"
#include "drivers/network/bridge_driver.hpp"

namespace berth::jobs {

// The requests for one container, in a stable order (by container port, then protocol).
// Errors are Docker's ("invalid port specification: …", "invalid IP address in
// PortBindings: …"). Ports exposed but not published make no request.
Result<std::vector<drivers::net::PortRequest>> port_requests(std::string_view config_json,
                                                            std::string_view host_config_json);

// "80/tcp" keys of Config.ExposedPorts and HostConfig.PortBindings together (what
// NetworkSettings.Ports lists, published or not).
std::vector<std::string> port_keys(std::string_view config_json, std::string_view host_config_json);

// NetworkSettings.Ports: every key, with its published host ports or null.
void write_network_ports(JsonWriter& w, std::span<const std::string> keys,
                         std::span<const kernel::PortForward> published);
// `docker ps` Ports: [{"IP","PrivatePort","PublicPort","Type"}], exposed-only ports without IP.
void write_list_ports(JsonWriter& w, std::span<const std::string> keys,
                      std::span<const kernel::PortForward> published);

}  // namespace berth::jobs
