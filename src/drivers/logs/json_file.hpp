// The json-file log driver, Docker's on-disk format: one JSON object per line,
// {"log":"hello\n","stream":"stdout","time":"2026-11-22T12:00:00.123456789Z"}, in
// <container dir>/<id>-json.log. Output is split into lines as it arrives (a partial line waits
// for its end, up to 16 KiB as Docker does).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::drivers {

class JsonFileLog {
public:
    static Result<JsonFileLog> open(const std::string& path);
    JsonFileLog(JsonFileLog&&) = default;
    JsonFileLog& operator=(JsonFileLog&&) = default;
    // Output of stream 1 (stdout) or 2 (stderr).
    Result<> write(int stream, std::span<const std::byte> data);
    // Writes what is left of unfinished lines (at exit).
    Result<> flush();

private:
    JsonFileLog() = default;
    Result<> emit(int stream, std::string_view line);
    kernel::UniqueFd fd_;
    std::string pending_[3];
};

struct LogEntry {
    int stream;  // 1 stdout, 2 stderr
    std::string text;
    int64_t time_ns;
};

// Reads a json-file log, entry by entry, oldest first.
Result<> read_json_log(const std::string& path, const std::function<void(const LogEntry&)>& f);

}  // namespace berth::drivers
