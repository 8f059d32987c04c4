#include "jobs/health.hpp"

#include <simdjson.h>

#include "base/json.hpp"
#include "base/time.hpp"

namespace berth::jobs {

namespace {

using simdjson::dom::element;

int64_t num(element obj, const char* key) {
    int64_t v = 0;
    return obj[key].get(v) ? 0 : v;
}

std::vector<std::string> strings(element obj, const char* key) {
    std::vector<std::string> out;
    simdjson::dom::array arr;
    if (obj[key].get(arr)) return out;
    for (element e : arr) {
        std::string_view s;
        if (!e.get(s)) out.emplace_back(s);
    }
    return out;
}

}  // namespace

std::optional<Healthcheck> healthcheck_of(std::string_view config_json) {
    simdjson::dom::parser parser;
    simdjson::padded_string text(config_json);
    element cfg, hc;
    if (parser.parse(text).get(cfg) || cfg["Healthcheck"].get(hc) || !hc.is_object())
        return std::nullopt;
    std::vector<std::string> test = strings(hc, "Test");
    if (test.empty() || test[0] == "NONE") return std::nullopt;
    Healthcheck h;
    if (test[0] == "CMD-SHELL" && test.size() >= 2)
        h.argv = {"/bin/sh", "-c", test[1]};
    else if (test[0] == "CMD")
        h.argv.assign(test.begin() + 1, test.end());
    else
        return std::nullopt;
    if (h.argv.empty()) return std::nullopt;
    if (int64_t v = num(hc, "Interval"); v > 0) h.interval_ns = v;
    if (int64_t v = num(hc, "Timeout"); v > 0) h.timeout_ns = v;
    if (int64_t v = num(hc, "StartPeriod"); v > 0) h.start_period_ns = v;
    if (int64_t v = num(hc, "StartInterval"); v > 0) h.start_interval_ns = v;
    if (int64_t v = num(hc, "Retries"); v > 0) h.retries = int(v);
    return h;
}

Result<> check_healthcheck(std::string_view healthcheck_json) {
    simdjson::dom::parser parser;
    simdjson::padded_string text(healthcheck_json);
    element hc;
    if (parser.parse(text).get(hc) || !hc.is_object()) return {};
    for (const char* key : {"Interval", "Timeout", "StartPeriod", "StartInterval"}) {
        int64_t v = num(hc, key);
        if (v != 0 && v < 1'000'000)
            return fail(
                Error::invalid(std::string(key) + " in Healthcheck cannot be less than 1ms"));
    }
    if (num(hc, "Retries") < 0)
        return fail(Error::invalid("Retries in Healthcheck cannot be negative"));
    std::vector<std::string> test = strings(hc, "Test");
    if (!test.empty() && test[0] != "NONE" && test[0] != "CMD" && test[0] != "CMD-SHELL")
        return fail(Error::invalid("unknown Healthcheck type '" + test[0] + "'"));
    return {};
}

std::string merge_healthcheck(std::string_view user_json, std::string_view image_json) {
    if (image_json.empty()) return std::string(user_json);
    if (user_json.empty()) return std::string(image_json);
    simdjson::dom::parser up, ip;
    simdjson::padded_string ut(user_json), it(image_json);
    element u, i;
    if (up.parse(ut).get(u) || ip.parse(it).get(i)) return std::string(user_json);
    std::vector<std::string> test = strings(u, "Test");
    if (test.empty()) test = strings(i, "Test");
    JsonWriter w;
    w.begin_object().key("Test").begin_array();
    for (const auto& t : test) w.value(t);
    w.end_array();
    for (const char* key : {"Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"}) {
        int64_t v = num(u, key);
        if (v == 0) v = num(i, key);
        if (v != 0) w.field(key, v);
    }
    w.end_object();
    return w.take();
}

std::string health_status_of(std::string_view health_json) {
    if (health_json.empty()) return "none";
    simdjson::dom::parser parser;
    simdjson::padded_string text(health_json);
    element h;
    std::string_view status;
    if (parser.parse(text).get(h) || h["Status"].get(status)) return "none";
    return std::string(status);
}

bool HealthState::record(HealthResult r, bool in_start_period, int retries) {
    std::string before = status_;
    if (r.exit_code == 0) {
        status_ = "healthy";
        failing_streak_ = 0;
    } else if (!in_start_period) {
        // During the start period a failure neither counts nor changes the status.
        if (++failing_streak_ >= retries) status_ = "unhealthy";
    }
    log_.push_back(std::move(r));
    while (log_.size() > health_log_entries_max) log_.pop_front();
    return status_ != before;
}

std::string HealthState::json() const {
    JsonWriter w;
    w.begin_object().field("Status", status_).field("FailingStreak", failing_streak_);
    w.key("Log").begin_array();
    for (const HealthResult& r : log_) {
        w.begin_object()
            .field("Start", rfc3339_nano(r.start_ns))
            .field("End", rfc3339_nano(r.end_ns));
        w.field("ExitCode", r.exit_code).field("Output", r.output).end_object();
    }
    w.end_array().end_object();
    return w.take();
}

}  // namespace berth::jobs
