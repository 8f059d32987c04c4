#include "drivers/logs/json_file.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <fstream>

#include "base/json.hpp"
#include "base/time.hpp"

namespace berth::drivers {

namespace {
constexpr size_t line_bytes_max = 16 * 1024;  // Docker's split of an endless line
}

Result<JsonFileLog> JsonFileLog::open(const std::string& path) {
    JsonFileLog l;
    l.fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!l.fd_) return fail(Error::last_sys("open log " + path));
    return l;
}

Result<> JsonFileLog::emit(int stream, std::string_view line) {
    JsonWriter w;
    w.begin_object().field("log", line).field("stream", stream == 2 ? "stderr" : "stdout");
    w.field("time", rfc3339_nano(wall_clock_ns())).end_object();
    std::string out = w.take();
    out += '\n';
    std::string_view rest = out;
    while (!rest.empty()) {
        ssize_t n = ::write(fd_.get(), rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(Error::last_sys("write container log"));
        rest.remove_prefix(size_t(n));
    }
    return {};
}

Result<> JsonFileLog::write(int stream, std::span<const std::byte> data) {
    std::string& p = pending_[stream == 2 ? 2 : 1];
    p.append(reinterpret_cast<const char*>(data.data()), data.size());
    size_t start = 0;
    for (;;) {
        size_t nl = p.find('\n', start);
        if (nl == std::string::npos) break;
        if (auto r = emit(stream, std::string_view(p).substr(start, nl + 1 - start)); !r) return r;
        start = nl + 1;
    }
    p.erase(0, start);
    while (p.size() >= line_bytes_max) {
        if (auto r = emit(stream, std::string_view(p).substr(0, line_bytes_max)); !r) return r;
        p.erase(0, line_bytes_max);
    }
    return {};
}

Result<> JsonFileLog::flush() {
    for (int s : {1, 2}) {
        if (pending_[s].empty()) continue;
        if (auto r = emit(s, pending_[s]); !r) return r;
        pending_[s].clear();
    }
    return {};
}

Result<> read_json_log(const std::string& path, const std::function<void(const LogEntry&)>& f) {
    std::ifstream in(path);
    if (!in) return {};  // no output yet
    simdjson::dom::parser parser;
    std::string line;
    while (std::getline(in, line)) {
        simdjson::padded_string padded(line);
        simdjson::dom::element e;
        if (parser.parse(padded).get(e)) continue;  // a torn last line after a crash
        std::string_view log, stream, time;
        if (e["log"].get(log) || e["stream"].get(stream)) continue;
        if (e["time"].get(time)) time = "";
        f({stream == "stderr" ? 2 : 1, std::string(log), parse_docker_time(time, 0).value_or(0)});
    }
    return {};
}

}  // namespace berth::drivers
