// A container's mounts as dockerd resolves them at create (daemon/volumes.go
// registerMountPoints): HostConfig.Binds ("src:dst[:mode]"), HostConfig.Mounts (--mount),
// HostConfig.Tmpfs and Config.Volumes (the image's VOLUMEs and `-v /path`, anonymous unless a
// mount already covers the path). Pure: no store, no files, so the rules are unit-tested.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace berth::jobs {

struct MountPoint {
    std::string type;         // "bind", "volume" or "tmpfs"
    std::string source;       // host path (bind); volume name, "" for a new anonymous one
    std::string destination;  // absolute path in the container
    std::string mode;         // as inspect's Mounts[].Mode shows it ("z", "ro", "")
    bool rw = true;
    bool copy_data = true;    // volume: copy the image's content into an empty volume
    std::string propagation;  // bind: "rprivate" unless given
    std::string tmpfs_options;
    bool from_binds = false;  // HostConfig.Binds / HostConfig.Tmpfs, which the exec driver's
                              // own parsing mounts already (volumes excepted)
    // A volume that does not exist yet is created with these (Mounts' VolumeOptions).
    std::string driver = "local";
    std::map<std::string, std::string> volume_labels, driver_opts;
};

// Docker's rule for local volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+
bool valid_volume_name(std::string_view name);
// Docker's 400 for a bad name, in its words.
Error invalid_volume_name(const std::string& name);

// One HostConfig.Binds entry.
Result<MountPoint> parse_bind_spec(const std::string& spec);

// Every mount of a container from its stored Config and HostConfig JSON, in the order dockerd
// applies them; 400 for a bad spec or two mounts on one destination.
Result<std::vector<MountPoint>> container_mount_points(std::string_view config_json,
                                                       std::string_view host_config_json);

}  // namespace berth::jobs
