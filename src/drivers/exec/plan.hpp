// Turns a ContainerSpec into a SpawnPlan: Docker's default mounts, masked and read-only paths,
// /etc/hosts, /etc/hostname and /etc/resolv.conf written in the container's directory and bound
// in, the user resolved from the image, capabilities and seccomp, rlimits. Everything that can
// fail on bad input fails here, in the daemon, before any process or mount exists.
#pragma once

#include <memory>

#include "base/error.hpp"
#include "drivers/exec/container_spec.hpp"
#include "kernel/host.hpp"
#include "kernel/spawn_plan.hpp"

namespace berth::drivers {

// Where --init's binary is bound in the container, as dockerd binds docker-init.
inline constexpr const char* docker_init_path = "/sbin/docker-init";

// A plan and the storage it points into; not copyable, stable in memory.
struct PreparedPlan {
    kernel::PlanStorage storage;
    kernel::SpawnPlan plan;
};

Result<std::unique_ptr<PreparedPlan>> build_plan(const ContainerSpec& spec,
                                                 const kernel::CgroupInfo& cgroups);

// docker exec: a plan that joins the running container (through its pidfd) instead of building
// one: same identity rules, capabilities, seccomp and rlimits, no mounts.
Result<std::unique_ptr<PreparedPlan>> build_exec_plan(const ContainerSpec& spec,
                                                      int container_pidfd);

// Removes the files berth keeps in a container's directory (hosts, hostname, resolv.conf from
// build_plan, the json-file log), when the container is removed.
Result<> remove_container_files(const std::string& container_dir, const std::string& id);

// The paths Docker masks and makes read-only by default (exposed for tests).
const std::vector<std::string>& docker_masked_paths();
const std::vector<std::string>& docker_readonly_paths();

}  // namespace berth::drivers
