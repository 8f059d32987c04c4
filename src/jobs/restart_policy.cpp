#include "jobs/restart_policy.hpp"

#include <simdjson.h>

#include <algorithm>

namespace berth::jobs {

Result<RestartPolicy> parse_restart_policy(const std::string& name, int64_t max_retries) {
    RestartPolicy p;
    if (name.empty() || name == "no")
        p.kind = RestartPolicy::Kind::no;
    else if (name == "always")
        p.kind = RestartPolicy::Kind::always;
    else if (name == "unless-stopped")
        p.kind = RestartPolicy::Kind::unless_stopped;
    else if (name == "on-failure")
        p.kind = RestartPolicy::Kind::on_failure;
    else
        return fail(Error::invalid("invalid restart policy: unknown policy '" + name +
                                   "'; use one of 'no', 'always', 'on-failure', or "
                                   "'unless-stopped'"));
    if (max_retries < 0)
        return fail(
            Error::invalid("invalid restart policy: maximum retry count cannot be negative"));
    if (max_retries > 0 && p.kind != RestartPolicy::Kind::on_failure)
        return fail(
            Error::invalid("invalid restart policy: maximum retry count can only be used "
                           "with 'on-failure'"));
    p.max_retries = int(std::min<int64_t>(max_retries, 1 << 30));
    return p;
}

RestartPolicy restart_policy_of(const std::string& host_config_json) {
    simdjson::dom::parser parser;
    simdjson::padded_string text(host_config_json);
    simdjson::dom::element hc, rp;
    if (parser.parse(text).get(hc) || hc["RestartPolicy"].get(rp)) return {};
    std::string_view name;
    int64_t max = 0;
    if (rp["Name"].get(name)) name = "";
    if (rp["MaximumRetryCount"].get(max)) max = 0;
    return parse_restart_policy(std::string(name), max).value_or(RestartPolicy{});
}

bool should_restart(const RestartPolicy& p, RestartMoment when, int exit_code,
                    bool manually_stopped, int restarts) {
    if (when == RestartMoment::exit && manually_stopped) return false;
    switch (p.kind) {
        case RestartPolicy::Kind::no:
            return false;
        case RestartPolicy::Kind::always:
            return true;
        case RestartPolicy::Kind::unless_stopped:
            return !manually_stopped;
        case RestartPolicy::Kind::on_failure:
            return exit_code != 0 && (p.max_retries == 0 || restarts < p.max_retries);
    }
    return false;
}

int64_t next_restart_delay_ns(int64_t previous_ns, int64_t ran_ns) {
    if (previous_ns == 0 || ran_ns >= restart_reset_after_run_ns) return restart_delay_first_ns;
    return std::min(previous_ns * 2, restart_delay_max_ns);
}

}  // namespace berth::jobs
