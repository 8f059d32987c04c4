// Docker's restart policies (HostConfig.RestartPolicy): which are valid, whether an exit is
// followed by a restart, and the back-off between restarts (dockerd's restart manager: 100 ms,
// doubled after each restart up to one minute, back to 100 ms once a run lasted 10 s).
#pragma once

#include <cstdint>
#include <string>

#include "base/error.hpp"

namespace berth::jobs {

struct RestartPolicy {
    enum class Kind : unsigned char { no, always, unless_stopped, on_failure };
    Kind kind = Kind::no;
    int max_retries = 0;  // on-failure:N; 0 is unlimited
};

// Name ("", "no", "always", "unless-stopped", "on-failure") and MaximumRetryCount, checked as
// dockerd checks them (400 with its words).
Result<RestartPolicy> parse_restart_policy(const std::string& name, int64_t max_retries);
// The policy of a stored HostConfig (a record that was valid when created).
RestartPolicy restart_policy_of(const std::string& host_config_json);

// Restart? `restarts` is RestartCount so far. As dockerd: while it runs, a container the user
// stopped is never restarted; when berthd starts, `always` restarts it anyway, `unless-stopped`
// does not, and `on-failure` looks only at the exit code.
enum class RestartMoment : unsigned char { exit, daemon_start };
bool should_restart(const RestartPolicy& p, RestartMoment when, int exit_code,
                    bool manually_stopped, int restarts);

constexpr int64_t restart_delay_first_ns = 100'000'000;
constexpr int64_t restart_delay_max_ns = 60'000'000'000;
constexpr int64_t restart_reset_after_run_ns = 10'000'000'000;
// The wait before the next restart, given the previous wait (0 if none) and how long the
// container ran this time.
int64_t next_restart_delay_ns(int64_t previous_ns, int64_t ran_ns);

}  // namespace berth::jobs
