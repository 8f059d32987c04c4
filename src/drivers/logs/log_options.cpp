// HostConfig.LogConfig: dockerd's merge with the daemon default and its checks
// (daemon/logger/factory.go ValidateLogOpts, jsonfilelog.New), in dockerd's words.
#include "drivers/logs/log_options.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "base/json.hpp"

namespace berth::drivers {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// strconv.Atoi's error text, which dockerd passes through for max-file.
Result<int> parse_int(std::string_view s) {
    int v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size())
        return fail(
            Error::invalid("strconv.Atoi: parsing \"" + std::string(s) + "\": invalid syntax"));
    return v;
}

// strconv.ParseBool.
Result<bool> parse_bool(std::string_view s) {
    for (const char* t : {"1", "t", "T", "TRUE", "true", "True"})
        if (s == t) return true;
    for (const char* f : {"0", "f", "F", "FALSE", "false", "False"})
        if (s == f) return false;
    return fail(
        Error::invalid("strconv.ParseBool: parsing \"" + std::string(s) + "\": invalid syntax"));
}

// The options each driver's validator accepts (jsonfilelog and local ValidateLogOpt).
bool known_option(const std::string& type, const std::string& key) {
    if (key == "max-file" || key == "max-size" || key == "compress") return true;
    if (type == "local") return false;
    for (const char* k : {"labels", "labels-regex", "env", "env-regex", "tag"})
        if (key == k) return true;
    return false;
}

Result<LogSettings> file_settings(const LogConfig& c, JsonFileOptions defaults) {
    LogSettings s;
    s.file = defaults;
    for (const auto& [key, value] : c.config) {
        if (key == "mode" || key == "max-buffer-size") continue;  // checked by the caller
        if (!known_option(c.type, key))
            return fail(
                Error::invalid("unknown log opt '" + key + "' for " + c.type + " log driver"));
    }
    if (auto it = c.config.find("max-size"); it != c.config.end()) {
        auto size = parse_human_size(it->second);
        if (!size) return fail(size.error());
        if (*size <= 0) return fail(Error::invalid("max-size must be a positive number"));
        s.file.max_size = *size;
    }
    if (auto it = c.config.find("max-file"); it != c.config.end()) {
        auto n = parse_int(it->second);
        if (!n) return fail(n.error());
        if (*n < 1) return fail(Error::invalid("max-file cannot be less than 1"));
        s.file.max_file = *n;
    }
    if (auto it = c.config.find("compress"); it != c.config.end()) {
        auto on = parse_bool(it->second);
        if (!on) return fail(on.error());
        // Rotated files stay plain: compressing them would block the reactor for the length
        // of a file (dockerd does it on a goroutine). Said plainly instead of ignored.
        if (*on)
            return fail(Error::invalid("compress is not supported by berth's " + c.type +
                                       " log "
                                       "driver: rotated log files are kept uncompressed"));
    }
    return s;
}

}  // namespace

Result<int64_t> parse_human_size(std::string_view text) {
    auto invalid = [&] {
        return fail(Error::invalid("invalid size: '" + std::string(text) + "'"));
    };
    // (?i)^(\d+(\.\d+)*) ?([kmgtp])?i?b?$
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
        ++i;
    std::string_view number = text.substr(0, i);
    if (number.empty() || !std::isdigit(static_cast<unsigned char>(number.front())) ||
        number.back() == '.' || number.find("..") != std::string_view::npos)
        return invalid();
    std::string suffix = lower(text.substr(i));
    if (suffix.starts_with(' ')) suffix.erase(0, 1);
    double mul = 1;
    if (!suffix.empty() && std::string_view("kmgtp").find(suffix[0]) != std::string_view::npos) {
        mul = std::pow(1000.0, double(std::string_view("kmgtp").find(suffix[0]) + 1));
        suffix.erase(0, 1);
    }
    if (suffix.starts_with('i')) suffix.erase(0, 1);
    if (suffix.starts_with('b')) suffix.erase(0, 1);
    if (!suffix.empty()) return invalid();
    // Go's ParseFloat stops at a second '.': "1.2.3" matches the pattern but does not parse.
    if (std::count(number.begin(), number.end(), '.') > 1)
        return fail(Error::invalid("strconv.ParseFloat: parsing \"" + std::string(number) +
                                   "\": invalid syntax"));
    double v = std::strtod(std::string(number).c_str(), nullptr) * mul;
    if (v >= 9.2e18) return invalid();
    return int64_t(v);
}

LogConfig merge_log_config(LogConfig user, const LogConfig& daemon_default) {
    if (user.type.empty()) user.type = daemon_default.type;
    if (user.type == daemon_default.type)
        for (const auto& [k, v] : daemon_default.config) user.config.try_emplace(k, v);
    return user;
}

Result<LogSettings> log_settings(const LogConfig& c) {
    if (c.type == "none") return LogSettings{false, {}};
    auto mode = c.config.find("mode");
    if (mode != c.config.end() && mode->second != "blocking" && mode->second != "non-blocking" &&
        !mode->second.empty())
        return fail(Error::invalid("logger: logging mode not supported: " + mode->second));
    if (c.config.contains("max-buffer-size")) {
        if (mode == c.config.end() || mode->second != "non-blocking")
            return fail(Error::invalid(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'"));
    }
    if (c.type == "json-file" || c.type.empty()) return file_settings(c, {});
    // `local` is kept in json-file's format with local's defaults (20 MB × 5 files).
    if (c.type == "local") return file_settings(c, {20'000'000, 5});
    return fail(Error::invalid("logger: no log driver named '" + c.type + "' is registered"));
}

LogConfig log_config_from_host_config(std::string_view host_config_json) {
    LogConfig out;
    simdjson::dom::parser parser;
    simdjson::padded_string padded(host_config_json);
    simdjson::dom::element doc, lc;
    if (parser.parse(padded).get(doc) || doc["LogConfig"].get(lc)) return out;
    std::string_view type;
    if (!lc["Type"].get(type)) out.type = type;
    simdjson::dom::object opts;
    if (!lc["Config"].get(opts))
        for (auto [k, v] : opts) {
            std::string_view s;
            if (!v.get(s)) out.config.emplace(std::string(k), std::string(s));
        }
    return out;
}

std::string with_log_config(std::string_view host_config_json, const LogConfig& config) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(host_config_json);
    simdjson::dom::object doc;
    JsonWriter w;
    w.begin_object();
    if (!parser.parse(padded).get(doc))
        for (auto [k, v] : doc)
            if (k != "LogConfig") w.key(k).raw(simdjson::minify(v));
    w.key("LogConfig").begin_object().field("Type", config.type).key("Config").begin_object();
    for (const auto& [k, v] : config.config) w.field(k, v);
    w.end_object().end_object().end_object();
    return w.take();
}

}  // namespace berth::drivers
