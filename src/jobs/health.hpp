// Healthchecks (Config.Healthcheck): the check itself as dockerd reads it (Test, Interval,
// Timeout, StartPeriod, StartInterval, Retries with their defaults), and State.Health as it
// evolves probe by probe: starting → healthy / unhealthy after Retries failures in a row
// (failures in the start period do not count), the last five results kept.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace berth::jobs {

struct Healthcheck {
    std::vector<std::string> argv;  // what the probe runs (CMD-SHELL → /bin/sh -c …)
    int64_t interval_ns = 30'000'000'000;
    int64_t timeout_ns = 30'000'000'000;
    int64_t start_period_ns = 0;
    int64_t start_interval_ns = 5'000'000'000;
    int retries = 3;
};

// The container's check from its merged Config JSON; nullopt without one or with ["NONE"].
std::optional<Healthcheck> healthcheck_of(std::string_view config_json);
// dockerd's checks at create: durations 0 or at least 1 ms, Retries not negative, a known
// Test form.
Result<> check_healthcheck(std::string_view healthcheck_json);
// dockerd's merge: the image's check fills what the user's leaves unset.
std::string merge_healthcheck(std::string_view user_json, std::string_view image_json);

// State.Health.Status of a stored record's health JSON: "none" without a healthcheck.
std::string health_status_of(std::string_view health_json);

constexpr size_t health_output_bytes_max = 4096;
constexpr size_t health_log_entries_max = 5;

struct HealthResult {
    int64_t start_ns = 0, end_ns = 0;
    int exit_code = 0;
    std::string output;
};

class HealthState {
  public:
    // Records a probe's result; true when Status changed (a health_status event is due).
    bool record(HealthResult r, bool in_start_period, int retries);
    const std::string& status() const { return status_; }
    // State.Health as inspect shows it.
    std::string json() const;

  private:
    std::string status_ = "starting";
    int failing_streak_ = 0;
    std::deque<HealthResult> log_;
};

}  // namespace berth::jobs
