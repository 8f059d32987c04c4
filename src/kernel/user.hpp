// Docker's `--user` resolved against the container's own /etc/passwd and /etc/group (read
// inside the root, never the host's): "name", "uid", "name:group", "uid:gid", with the user's
// supplementary groups and --group-add.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace berth::kernel {

struct ExecUser {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary
    std::string home = "/";
};

// Parses passwd/group text (exposed for tests).
Result<ExecUser> resolve_user(std::string_view spec, std::string_view passwd,
                              std::string_view group, const std::vector<std::string>& group_add);
// Reads <root>/etc/passwd and <root>/etc/group with the path resolved inside the root.
Result<ExecUser> resolve_user_in_root(const std::string& rootfs, std::string_view spec,
                                      const std::vector<std::string>& group_add);

}  // namespace berth::kernel
