// The few fields of an image config (OCI image-spec config.json / Docker's image JSON) that the
// graph store needs to file an image: its layers' diff IDs, creation time, labels and platform.
// The config text itself is stored verbatim: its sha256 is the image ID.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace berth::graph {

struct ImageConfigInfo {
    int64_t created_ns = 0;                     // "created"; 0 when absent
    std::vector<std::string> diff_ids;          // "rootfs.diff_ids", bottom layer first
    std::map<std::string, std::string> labels;  // "config.Labels"
    std::string os;                             // "os"
    std::string architecture;                   // "architecture"
};

// Fails (400) on text that is not a JSON object, on a rootfs type other than "layers", and on
// diff IDs that are not sha256 digests.
Result<ImageConfigInfo> parse_image_config(std::string_view json);

}  // namespace berth::graph
