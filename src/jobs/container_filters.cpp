#include "jobs/container_filters.hpp"

#include <algorithm>
#include <charconv>
#include <regex>

namespace berth::jobs {

namespace {

const std::set<std::string> ps_filter_names = {
    "ancestor", "before", "expose",  "exited",  "health", "id",     "isolation", "is-task",
    "label",    "name",   "network", "publish", "since",  "status", "volume"};

bool valid_state(const std::string& s) {
    for (const char* v :
         {"created", "running", "paused", "restarting", "removing", "exited", "dead"})
        if (s == v) return true;
    return false;
}

bool valid_health(const std::string& s) {
    return s == "starting" || s == "healthy" || s == "unhealthy" || s == "none";
}

Error invalid_filter(const std::string& key, const std::string& value) {
    return Error::invalid("invalid filter '" + key + "=" + value + "'");
}

// "80", "80/tcp", "8000-8080/udp" → the set of "port/proto" it names.
Result<std::set<std::string>> port_set(const std::string& key, const std::string& value) {
    if (value.find(':') != std::string::npos)
        return fail(Error::invalid("filter for '" + key + "' should not contain ':': " + value));
    std::string port = value, proto = "tcp";
    if (size_t slash = value.find('/'); slash != std::string::npos) {
        port = value.substr(0, slash);
        proto = value.substr(slash + 1);
    }
    unsigned lo = 0, hi = 0;
    size_t dash = port.find('-');
    std::string a = port.substr(0, dash), b = dash == std::string::npos ? a : port.substr(dash + 1);
    auto num = [](const std::string& s, unsigned& out) {
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return !s.empty() && ec == std::errc() && p == s.data() + s.size() && out <= 65535;
    };
    if (!num(a, lo) || !num(b, hi) || hi < lo)
        return fail(Error::invalid("error while looking up for " + key + " " + value +
                                   ": invalid port range"));
    std::set<std::string> out;
    for (unsigned p = lo; p <= hi; ++p) out.insert(std::to_string(p) + "/" + proto);
    return out;
}

}  // namespace

bool ContainerFilter::match_any(const std::vector<Pattern>& patterns, const std::string& source) {
    if (patterns.empty()) return true;
    for (const Pattern& p : patterns)
        if (p.text == source || (p.re && std::regex_search(source, *p.re))) return true;
    return false;
}

namespace {

std::vector<ContainerFilter::Pattern> patterns(const Filters& f, const std::string& key) {
    std::vector<ContainerFilter::Pattern> out;
    for (const std::string& v : f.values(key)) {
        ContainerFilter::Pattern p{v, std::nullopt};
        try {
            p.re.emplace(v, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
            // Go's regexp.MatchString error: the value matches only itself, never as a pattern.
        }
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace

Result<ContainerFilter> ContainerFilter::parse(std::string_view json) {
    auto parsed = Filters::parse(json, ps_filter_names);
    if (!parsed) return fail(parsed.error());
    ContainerFilter cf;
    cf.f_ = std::move(*parsed);
    for (const std::string& v : cf.f_.values("exited")) {
        int code = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), code);
        if (v.empty() || ec != std::errc() || p != v.data() + v.size())
            return fail(Error::invalid("strconv.Atoi: parsing \"" + v + "\": invalid syntax"));
        cf.exited_.push_back(code);
    }
    for (const std::string& v : cf.f_.values("status"))
        if (!valid_state(v)) return fail(invalid_filter("status", v));
    for (const std::string& v : cf.f_.values("health"))
        if (!valid_health(v))
            return fail(Error::invalid("Unrecognised filter value for health: " + v));
    for (const std::string& v : cf.f_.values("is-task"))
        if (v != "true" && v != "false") return fail(invalid_filter("is-task", v));
    for (const char* key : {"publish", "expose"})
        for (const std::string& v : cf.f_.values(key)) {
            auto ports = port_set(key, v);
            if (!ports) return fail(ports.error());
            if (key == std::string_view("expose")) cf.expose_.merge(*ports);
            else cf.publish_.merge(*ports);
        }
    for (const std::string& v : cf.f_.values("isolation"))
        if (v != "default") return fail(invalid_filter("isolation", v));
    cf.name_ = patterns(cf.f_, "name");
    cf.id_ = patterns(cf.f_, "id");
    cf.status_ = patterns(cf.f_, "status");
    return cf;
}

bool ContainerFilter::matches(const ContainerFacts& c) const {
    if (!match_any(name_, "/" + c.name) && !match_any(name_, c.name)) return false;
    if (!match_any(id_, c.id)) return false;
    if (f_.values("is-task").contains("true")) return false;  // no swarm tasks here
    if (!f_.labels_match("label", c.labels)) return false;
    if (!exited_.empty()) {
        bool stopped =
            c.started && c.state != "running" && c.state != "paused" && c.state != "restarting";
        if (!stopped || std::find(exited_.begin(), exited_.end(), c.exit_code) == exited_.end())
            return false;
    }
    if (!match_any(status_, c.state)) return false;
    if (f_.has("health") && !f_.values("health").contains(c.health)) return false;
    if (f_.has("volume")) {
        bool any = false;
        for (const std::string& v : f_.values("volume"))
            any = any || std::find(c.mounts.begin(), c.mounts.end(), v) != c.mounts.end();
        if (!any) return false;
    }
    if (ancestors_ && !ancestors_->contains(c.image_id)) return false;
    if (f_.has("publish") || f_.has("expose")) {
        // dockerd: either kind matching one of the container's Ports passes (publish names
        // the host side "8080/tcp", expose the container side).
        bool any = false;
        for (const std::string& p : publish_) any = any || c.published.contains(p);
        for (const std::string& p : expose_) any = any || c.exposed.contains(p);
        if (!any) return false;
    }
    if (f_.has("network")) {
        // dockerd: a network's name, or its ID (or an ID prefix).
        bool any = false;
        for (const std::string& v : f_.values("network"))
            for (const auto& [name, id] : c.networks)
                any = any || v == name || (!v.empty() && id.starts_with(v));
        if (!any) return false;
    }
    return true;
}

}  // namespace berth::jobs
