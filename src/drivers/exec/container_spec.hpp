// What the native exec driver needs to start a container: the Docker Config/HostConfig fields
// that shape the first process, already merged with the image config by the caller.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/cgroup.hpp"

namespace berth::drivers {

enum class NetworkMode : uint8_t {
    none,       // a new, empty network namespace (loopback only)
    host,       // the host's network namespace
    container,  // another container's namespace (join_netns_fd)
    bridge,     // a namespace berth prepared with the container's interfaces (join_netns_fd)
};

enum class SeccompMode : uint8_t { docker_default, unconfined, custom };

struct BindMount {
    std::string source;  // host path
    std::string target;  // path in the container
    bool readonly = false;
    std::string propagation;  // "", "private", "rprivate", "slave", "rslave", "shared", "rshared"
};

struct TmpfsMount {
    std::string target;
    std::string options;  // "size=64m,mode=1777"
};

struct Ulimit {
    std::string name;  // nofile, nproc, core, …
    int64_t soft = 0, hard = 0;
};

struct ContainerSpec {
    std::string id;             // 64 hex digits
    std::string rootfs;         // the prepared root directory on the host
    std::string container_dir;  // the container's own directory (hosts, hostname, resolv.conf)

    std::vector<std::string> args;  // Entrypoint + Cmd
    // --init: this host binary is bound read-only at /sbin/docker-init and runs the args as
    // "/sbin/docker-init -- args…" (pid 1 that reaps and forwards signals). "" for none.
    std::string init_path;
    std::optional<bool> init;  // HostConfig.Init as asked (null: the daemon's default)
    std::vector<std::string> env;   // "K=V"
    std::string working_dir;        // "" → "/"
    std::string user;               // "" → root
    std::vector<std::string> group_add;
    std::string hostname;  // "" → the first 12 digits of the id
    std::string domainname;

    NetworkMode network = NetworkMode::none;
    int join_netns_fd = -1;
    std::vector<std::string> dns, dns_search, dns_options;
    std::vector<std::string> extra_hosts;  // "name:ip"
    // bridge: the container's first address ("<ip>\t<hostname>" in /etc/hosts), and whether
    // its resolver is berth's embedded DNS at 127.0.0.11 (user-defined networks).
    std::string ip_address;
    bool embedded_dns = false;

    bool privileged = false;
    bool readonly_rootfs = false;
    bool no_new_privileges = false;
    std::vector<std::string> cap_add, cap_drop;
    SeccompMode seccomp = SeccompMode::docker_default;
    std::string seccomp_profile;  // JSON, for SeccompMode::custom

    std::vector<BindMount> binds;
    std::vector<TmpfsMount> tmpfs;
    int64_t shm_size = 64 * 1024 * 1024;
    std::vector<Ulimit> ulimits;
    std::optional<int> oom_score_adj;
    kernel::CgroupLimits resources;

    // Either the caller's fds for stdio (-1: /dev/null), or the driver makes them: with
    // capture_output, stdout and stderr are pipes the loop reads (ContainerEvents::output); with
    // tty, one pty from the container's devpts carries both; open_stdin gives a pipe (or the
    // pty) the caller writes to.
    int stdio[3] = {-1, -1, -1};
    bool capture_output = false;
    bool open_stdin = false;
    bool tty = false;
};

}  // namespace berth::drivers
