// Volume filters as dockerd applies them (volume/service/convert.go, daemon/prune.go): name
// matches a substring, label terms are "k" or "k=v", prune without all keeps named volumes.
#include "jobs/volume_filters.hpp"

#include <simdjson.h>

#include "base/json.hpp"
#include "jobs/volumes.hpp"

namespace berth::jobs {

std::map<std::string, std::string> volume_labels(const graph::VolumeRecord& v) {
    return v.labels_json ? json_string_map(*v.labels_json) : std::map<std::string, std::string>{};
}

bool volume_list_matches(const Filters& f, const graph::VolumeRecord& v, bool used) {
    if (f.has("dangling") && f.bool_value("dangling") == used) return false;
    if (f.has("driver") && !f.values("driver").contains(v.driver)) return false;
    if (f.has("name")) {
        bool any = false;
        for (const auto& n : f.values("name")) any = any || v.name.find(n) != std::string::npos;
        if (!any) return false;
    }
    return f.labels_match("label", volume_labels(v));
}

Result<bool> prune_all_volumes(const Filters& f, bool default_all) {
    if (!f.has("all")) return default_all;
    const auto& vals = f.values("all");
    for (const auto& v : vals)
        if (v != "true" && v != "false" && v != "1" && v != "0")
            return fail(Error::invalid("invalid filter 'all=" + v + "'"));
    return vals.contains("true") || vals.contains("1");
}

bool volume_prune_matches(const Filters& f, const graph::VolumeRecord& v, bool all) {
    auto labels = volume_labels(v);
    if (!all && !labels.contains(anonymous_volume_label)) return false;
    return f.labels_match("label", labels) && f.labels_unmatch("label!", labels);
}

}  // namespace berth::jobs
