// Docker's filters on volumes: GET /volumes (dangling, driver, label, name) and POST
// /volumes/prune (all, label, label!; only anonymous volumes unless all, as API 1.42+).
#pragma once

#include <map>
#include <string>

#include "base/error.hpp"
#include "graph/volumes.hpp"
#include "jobs/filters.hpp"

namespace berth::jobs {

// A volume's labels from its record ({} for none).
std::map<std::string, std::string> volume_labels(const graph::VolumeRecord& v);

// GET /volumes: `used` says whether a container mounts it (dangling=false).
bool volume_list_matches(const Filters& f, const graph::VolumeRecord& v, bool used);

// POST /volumes/prune's `all` filter: true/1 or false/0; absent → `default_all` (true for
// clients older than API 1.42, which pruned named volumes too).
Result<bool> prune_all_volumes(const Filters& f, bool default_all);

// Whether prune takes this unused volume.
bool volume_prune_matches(const Filters& f, const graph::VolumeRecord& v, bool all);

}  // namespace berth::jobs
