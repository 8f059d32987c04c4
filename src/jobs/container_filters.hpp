// `docker ps` filters (GET /containers/json?filters=), as dockerd's daemon/list.go applies
// them: name and id as unanchored regular expressions, label (k, k=v), status, exited, health,
// ancestor (the image and every image built on it), before/since (container refs), volume
// (bind source or destination), publish/expose (ports), is-task, isolation. What a filter
// needs from the stores comes in through ContainerFacts and the resolved sets, so matching is
// pure and tested without a daemon.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "jobs/filters.hpp"

namespace berth::jobs {

// One container as the filters see it.
struct ContainerFacts {
    std::string id, name;  // name without the leading '/'
    std::map<std::string, std::string> labels;
    std::string state;  // created, running, paused, restarting, removing, exited, dead
    int exit_code = 0;
    bool started = false;  // has run at least once (StartedAt set)
    std::string image_id;
    std::string health = "none";      // State.Health.Status; "none" without a healthcheck
    std::vector<std::string> mounts;  // bind sources and destinations
    std::set<std::string> exposed;    // "80/tcp"
    std::set<std::string> published;  // "8080/tcp": the host ports a running container publishes
    std::vector<std::pair<std::string, std::string>> networks;  // name, ID
};

class ContainerFilter {
  public:
    // Parses and checks the filters JSON: unknown names ("invalid filter 'x'"), status values
    // ("invalid filter 'status=x'"), health values, exited codes, is-task; all 400.
    static Result<ContainerFilter> parse(std::string_view json);

    // Filled by the caller from the stores: the IDs of the `ancestor` images and their
    // descendants (an empty set matches nothing), and the before/since containers' IDs.
    void set_ancestors(std::set<std::string> image_ids) { ancestors_ = std::move(image_ids); }
    const Filters& filters() const { return f_; }
    // Everything but before/since/limit, which depend on the list's order.
    bool matches(const ContainerFacts& c) const;
    // A `status` filter lists stopped containers too, as `all` does.
    bool implies_all() const { return f_.has("status"); }

    // One name/id/status value: itself, and as a regular expression when it compiles.
    struct Pattern {
        std::string text;
        std::optional<std::regex> re;
    };

  private:
    // filters.Args.Match: any value equals `source` or matches it as an unanchored regular
    // expression (an invalid expression matches nothing); true when there are no values.
    static bool match_any(const std::vector<Pattern>& patterns, const std::string& source);
    Filters f_;
    std::vector<Pattern> name_, id_, status_;  // compiled once per request
    std::vector<int> exited_;
    std::set<std::string> expose_, publish_;  // "80/tcp" for every port the expose filters name
    std::optional<std::set<std::string>> ancestors_;
};

}  // namespace berth::jobs
