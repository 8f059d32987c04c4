// Docker's filters on networks: GET /networks (dangling, driver, id, label, name, scope, type)
// and POST /networks/prune (label, label!, until), as moby's daemon/network/filter.go and
// daemon/prune.go apply them. Pure: what a network's use is comes in from the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "graph/networks.hpp"
#include "jobs/filters.hpp"

namespace berth::jobs {

class NetworkListFilter {
  public:
    // 400 for an unknown filter, a bad dangling value (or more than one), a bad type.
    static Result<NetworkListFilter> parse(std::string_view json);
    // `in_use`: a running container is attached (dangling=false keeps it, as predefined ones).
    bool matches(const graph::NetworkRecord& n, bool in_use) const;

  private:
    // One name/id value: itself, and as an unanchored regular expression when it compiles
    // (filters.Args.Match).
    struct Pattern {
        std::string text;
        std::optional<std::regex> re;
    };
    static bool match_any(const std::vector<Pattern>& patterns, const std::string& source);

    Filters f_;
    std::vector<Pattern> name_, id_;
};

class NetworkPruneFilter {
  public:
    // `now_ns` anchors `until` given as a duration.
    static Result<NetworkPruneFilter> parse(std::string_view json, int64_t now_ns);
    // Labels and age only: the caller skips predefined and used networks.
    bool matches(const graph::NetworkRecord& n) const;

  private:
    Filters f_;
    std::optional<int64_t> until_ns_;
};

}  // namespace berth::jobs
