// Docker's `filters` query parameter: a JSON map of filter name to values, in the current form
// {"label":["a=b"]} or the old {"label":{"a=b":true}}; unknown names are refused with Docker's
// "invalid filter 'x'". Shared by /events, /images/json, /images/prune and later listings.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace berth::jobs {

class Filters {
public:
    static Result<Filters> parse(std::string_view json, const std::set<std::string>& allowed);

    bool has(const std::string& key) const { return terms_.contains(key); }
    const std::set<std::string>& values(const std::string& key) const;
    // "true"/"1" or "false"/"0" (validated by parse for the keys named in bool_keys).
    bool bool_value(const std::string& key) const;
    // Every "k" / "k=v" term under `key` is present in `labels` (true when there are none).
    bool labels_match(const std::string& key, const std::map<std::string, std::string>& labels) const;
    // No "k" / "k=v" term under `key` is present (the `label!` filter).
    bool labels_unmatch(const std::string& key,
                        const std::map<std::string, std::string>& labels) const;
    // A time filter (`until`, as the prune endpoints take it: Unix seconds, RFC 3339 or a
    // duration back from `now_ns`); nullopt when absent, Docker's 400 when unreadable.
    Result<std::optional<int64_t>> time_value(const std::string& key, int64_t now_ns) const;
    const std::map<std::string, std::set<std::string>>& all() const { return terms_; }

private:
    std::map<std::string, std::set<std::string>> terms_;
};

// One `label` term against a set of labels: "k" (present) or "k=v" (equal).
bool label_term_matches(const std::string& term, const std::map<std::string, std::string>& labels);
// Go's path.Match subset Docker uses for reference filters: '*' within a path segment and '?'.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace berth::jobs
