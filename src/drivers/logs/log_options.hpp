// HostConfig.LogConfig as dockerd reads it: the driver's name and its options, merged with the
// daemon's default (daemon.json `log-driver` / `log-opts`) at create and checked there with
// dockerd's messages. berth writes json-file (and `local`, kept in the same json-file format),
// or nothing (`none`); any other name is a driver that is not registered.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace berth::drivers {

struct LogConfig {
    std::string type;  // "" until merged with the daemon's default
    std::map<std::string, std::string> config;
};

// What the json-file writer needs: rotate when the current file reaches max_size bytes
// (-1: never), keeping max_file files in all (the current one included).
struct JsonFileOptions {
    int64_t max_size = -1;
    int max_file = 1;
};

struct LogSettings {
    bool enabled = true;  // false for the `none` driver: nothing is written or readable
    JsonFileOptions file;
};

// units.FromHumanSize: "100", "100k", "10m", "1.5g", "10MB", "10 kb" (decimal units, as dockerd
// reads max-size). Docker's "invalid size: '…'" otherwise.
Result<int64_t> parse_human_size(std::string_view text);

// dockerd's mergeAndVerifyLogConfig: an empty type takes the daemon's; the daemon's options
// fill the keys a container of the daemon's type did not set.
LogConfig merge_log_config(LogConfig user, const LogConfig& daemon_default);

// Checks a (merged) LogConfig and reads its options: unknown drivers ("logger: no log driver
// named 'x' is registered"), unknown options, bad sizes and counts, all 400 as with dockerd.
Result<LogSettings> log_settings(const LogConfig& config);

// The LogConfig stored in a HostConfig (JSON text); an absent one is json-file with no options.
LogConfig log_config_from_host_config(std::string_view host_config_json);

// `host_config_json` with its LogConfig replaced by `config`, as inspect shows it.
std::string with_log_config(std::string_view host_config_json, const LogConfig& config);

}  // namespace berth::drivers
