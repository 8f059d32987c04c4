// docker update: the request's UpdateConfig (Resources + RestartPolicy) checked with dockerd's
// rules and merged into a container's stored HostConfig as dockerd merges it, and the cgroup
// limits the merged HostConfig asks for. Pure: tested without a container; update_container
// then writes the record and the running container's cgroup.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "kernel/cgroup.hpp"

namespace berth::graph {
class ContainerStore;
}

namespace berth::jobs {

class ContainerEngine;

struct MergedUpdate {
    std::string host_config_json;  // the whole new HostConfig
    kernel::CgroupLimits limits;   // every limit of the merged HostConfig, for the cgroup
    std::vector<std::string> warnings;
};

// `id` names the container in dockerd's "Cannot update container <id>: …" messages; `cpus`
// is the host's CPU count (NanoCpus' range). Errors: 400 for values dockerd refuses, 409 for
// updates that conflict with what the container has (NanoCpus vs CpuQuota, memory above the
// swap limit, a restart policy with AutoRemove).
Result<MergedUpdate> merge_update(std::string_view host_config_json, std::string_view update_json,
                                  const std::string& id, int cpus);

// The cgroup limits a stored HostConfig asks for (NanoCpus as a quota over 100 ms).
kernel::CgroupLimits limits_of_host_config(std::string_view host_config_json);

// POST /containers/{ref}/update: merge, store, then write the running container's cgroup (on
// a failed write the old HostConfig is put back). Returns dockerd's Warnings.
Result<std::vector<std::string>> update_container(graph::ContainerStore& containers,
                                                  ContainerEngine& engine, std::string_view ref,
                                                  std::string_view update_json, int cpus);

}  // namespace berth::jobs
