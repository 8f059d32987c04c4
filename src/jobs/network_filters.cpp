// Network filters: name and id match as unanchored regular expressions (Go's regexp through
// filters.Args.Match), driver and scope exactly, label terms "k" or "k=v"; type picks builtin
// (bridge, host, none) or custom networks.
#include "jobs/network_filters.hpp"

#include "jobs/networks.hpp"

namespace berth::jobs {

bool NetworkListFilter::match_any(const std::vector<Pattern>& patterns, const std::string& source) {
    if (patterns.empty()) return true;
    for (const Pattern& p : patterns)
        if (p.text == source || (p.re && std::regex_search(source, *p.re))) return true;
    return false;
}

Result<NetworkListFilter> NetworkListFilter::parse(std::string_view json) {
    auto f = Filters::parse(json, {"dangling", "driver", "id", "label", "name", "scope", "type"});
    if (!f) return fail(f.error());
    if (f->values("dangling").size() > 1)
        return fail(Error::invalid("got more than one value for filter key \"dangling\""));
    for (const auto& t : f->values("type"))
        if (t != "custom" && t != "builtin")
            return fail(Error::invalid("invalid filter: 'type'='" + t + "'"));
    NetworkListFilter out;
    out.f_ = std::move(*f);
    for (auto [key, into] : {std::pair{"name", &out.name_}, std::pair{"id", &out.id_}})
        for (const std::string& v : out.f_.values(key)) {
            Pattern p{v, std::nullopt};
            try {
                p.re.emplace(v, std::regex::ECMAScript);
            } catch (const std::regex_error&) {
                // Go's regexp.MatchString error: the value matches only itself.
            }
            into->push_back(std::move(p));
        }
    return out;
}

bool NetworkListFilter::matches(const graph::NetworkRecord& n, bool in_use) const {
    if (f_.has("driver") && !f_.values("driver").contains(n.driver)) return false;
    if (!match_any(name_, n.name) || !match_any(id_, n.id)) return false;
    if (!f_.labels_match("label", n.labels)) return false;
    if (f_.has("scope") && !f_.values("scope").contains("local")) return false;
    bool builtin = NetworkService::predefined(n.name);
    if (f_.has("dangling") && f_.bool_value("dangling") == (builtin || in_use)) return false;
    if (f_.has("type") && !f_.values("type").contains(builtin ? "builtin" : "custom")) return false;
    return true;
}

Result<NetworkPruneFilter> NetworkPruneFilter::parse(std::string_view json, int64_t now_ns) {
    auto f = Filters::parse(json, {"label", "label!", "until"});
    if (!f) return fail(f.error());
    auto until = f->time_value("until", now_ns);
    if (!until) return fail(until.error());
    NetworkPruneFilter out;
    out.f_ = std::move(*f);
    out.until_ns_ = *until;
    return out;
}

bool NetworkPruneFilter::matches(const graph::NetworkRecord& n) const {
    if (until_ns_ && n.created_ns > *until_ns_) return false;
    return f_.labels_match("label", n.labels) && f_.labels_unmatch("label!", n.labels);
}

}  // namespace berth::jobs
