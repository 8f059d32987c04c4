#include "drivers/logs/json_file.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "base/json.hpp"
#include "base/log.hpp"
#include "base/time.hpp"
#include "kernel/files.hpp"

namespace berth::drivers {

namespace {
constexpr size_t line_bytes_max = 16 * 1024;  // Docker's split of an endless line

kernel::UniqueFd open_for_append(const std::string& path, int extra_flags) {
    return kernel::UniqueFd(::open(
        path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | extra_flags, 0640));
}
}  // namespace

Result<std::unique_ptr<JsonFileLog>> JsonFileLog::open(loop::Loop& loop, std::string path,
                                                       JsonFileOptions options) {
    std::unique_ptr<JsonFileLog> l(new JsonFileLog(loop));
    l->path_ = std::move(path);
    l->options_ = options;
    l->fd_ = open_for_append(l->path_, 0);
    if (!l->fd_) return fail(Error::last_sys("open log " + l->path_));
    struct stat st {};
    if (fstat(l->fd_.get(), &st) == 0) l->tail_size_ = st.st_size;  // a restarted container
    l->write_c_.context = l.get();
    l->write_c_.callback = &JsonFileLog::on_written;
    return l;
}

JsonFileLog::~JsonFileLog() {
    // The ring still holds our buffer: the owner must wait for busy() to clear.
    if (busy()) std::abort();
}

void JsonFileLog::unwatch(LogWatcher* w) {
    std::erase(watchers_, w);
}

template <class F>
void JsonFileLog::tell(F f) {
    // A watcher may leave (unwatch itself) while being told.
    for (LogWatcher* w : std::vector<LogWatcher*>(watchers_))
        if (std::find(watchers_.begin(), watchers_.end(), w) != watchers_.end()) f(*w);
}

void JsonFileLog::emit(int stream, std::string_view line, std::string_view time) {
    JsonWriter w;
    w.begin_object().field("log", line).field("stream", stream == 2 ? "stderr" : "stdout");
    w.field("time", time).end_object();
    std::string out = w.take();
    out += '\n';
    // As dockerd: a line goes to the current file while it is under max-size; the first line
    // once it has reached it goes to a fresh file.
    if (options_.max_size > 0 && tail_size_ >= options_.max_size) {
        queue_.push_back({true, {}});
        tail_size_ = 0;
    }
    if (queue_.empty()) queue_.push_back({false, {}});
    queue_.back().bytes += out;
    tail_size_ += int64_t(out.size());
    queued_bytes_ += out.size();
}

void JsonFileLog::write(int stream, std::span<const std::byte> data) {
    if (closing_) return;
    std::string now = rfc3339_nano(wall_clock_ns());  // one stamp per read
    std::string& p = pending_[stream == 2 ? 2 : 1];
    p.append(reinterpret_cast<const char*>(data.data()), data.size());
    size_t start = 0;
    for (;;) {
        size_t nl = p.find('\n', start);
        if (nl == std::string::npos) break;
        emit(stream, std::string_view(p).substr(start, nl + 1 - start), now);
        start = nl + 1;
    }
    p.erase(0, start);
    while (p.size() >= line_bytes_max) {
        emit(stream, std::string_view(p).substr(0, line_bytes_max), now);
        p.erase(0, line_bytes_max);
    }
    if (saturated()) was_saturated_ = true;
    pump();
}

void JsonFileLog::pump() {
    while (!write_c_.in_flight() && !queue_.empty()) {
        Chunk& front = queue_.front();
        if (front.rotate_before) {
            front.rotate_before = false;
            rotate();
        }
        if (front.bytes.empty()) {
            queue_.pop_front();
            continue;
        }
        sending_ = std::move(front.bytes);
        queue_.pop_front();
        sent_ = 0;
        if (!fd_) {  // the file could not be reopened after a rotation: the lines are lost
            queued_bytes_ -= sending_.size();
            sending_.clear();
            continue;
        }
        loop_.write(write_c_, fd_.get(),
                    std::as_bytes(std::span(sending_.data(), sending_.size())));
    }
    if (closing_ && !closed_ && !write_c_.in_flight() && queue_.empty()) finish_close();
    if (was_saturated_ && queued_bytes_ <= buffer_bytes_max / 2) {
        was_saturated_ = false;
        if (on_room_) on_room_();
    }
}

// dockerd's rotate: with max-file < 2 the full file is unlinked (a reader keeps what it has
// open), else .N-2 → .N-1 … .1 → .2 and the current file → .1; then a fresh current file.
void JsonFileLog::rotate() {
    fd_.reset();
    int n = options_.max_file;
    auto warn = [](const Result<>& r) {
        if (!r) log::warn("rotate container log: " + r.error().message);
    };
    if (n < 2) {
        warn(kernel::remove_file(path_));
    } else {
        warn(kernel::remove_file(path_ + "." + std::to_string(n - 1)));
        for (int i = n - 1; i > 1; --i)
            warn(kernel::rename_file(path_ + "." + std::to_string(i - 1),
                                     path_ + "." + std::to_string(i)));
        warn(kernel::rename_file(path_, path_ + ".1"));
    }
    fd_ = open_for_append(path_, O_TRUNC);
    if (!fd_) log::warn("reopen container log " + path_ + ": " + std::strerror(errno));
    tell([](LogWatcher& w) { w.on_log_rotated(); });
}

void JsonFileLog::on_written(loop::Completion& c) {
    auto* l = static_cast<JsonFileLog*>(c.context);
    size_t rest = l->sending_.size() - l->sent_;
    if (c.result <= 0) {
        // A full disk or an I/O error: these lines are lost, as dockerd loses them; the
        // container is not held back for it.
        log::warn("write container log " + l->path_ + ": " +
                  std::strerror(c.result < 0 ? -c.result : EIO));
        l->queued_bytes_ -= rest;
        l->sending_.clear();
    } else {
        l->sent_ += size_t(c.result);
        l->queued_bytes_ -= size_t(c.result);
        if (l->sent_ < l->sending_.size()) {
            auto more = std::span(l->sending_.data() + l->sent_, l->sending_.size() - l->sent_);
            l->loop_.write(l->write_c_, l->fd_.get(), std::as_bytes(more));
            return;
        }
        l->sending_.clear();
        l->tell([](LogWatcher& w) { w.on_log_written(); });
    }
    l->pump();
}

void JsonFileLog::close(std::function<void()> done) {
    if (closed_) {
        if (done) done();
        return;
    }
    if (done) close_done_ = std::move(done);
    if (closing_) return;
    std::string now = rfc3339_nano(wall_clock_ns());  // one stamp per read
    for (int s : {1, 2}) {
        if (pending_[s].empty()) continue;
        emit(s, pending_[s], now);
        pending_[s].clear();
    }
    closing_ = true;
    pump();
}

void JsonFileLog::finish_close() {
    closed_ = true;
    fd_.reset();
    tell([](LogWatcher& w) { w.on_log_closed(); });
    watchers_.clear();
    if (auto d = std::move(close_done_)) {
        close_done_ = nullptr;
        d();
    }
}

std::vector<std::string> json_log_files(const std::string& path) {
    std::vector<std::string> out;
    for (int i = 1;; ++i) {
        std::string p = path + "." + std::to_string(i);
        if (!kernel::path_exists(p)) break;
        out.insert(out.begin(), p);
    }
    out.push_back(path);
    return out;
}

std::optional<LogEntry> parse_json_log_line(std::string_view line) {
    thread_local simdjson::dom::parser parser;
    simdjson::padded_string padded(line);
    simdjson::dom::element e;
    if (parser.parse(padded).get(e)) return std::nullopt;
    std::string_view log, stream, time;
    if (e["log"].get(log) || e["stream"].get(stream)) return std::nullopt;
    if (e["time"].get(time)) time = "";
    return LogEntry{stream == "stderr" ? 2 : 1, std::string(log),
                    parse_docker_time(time, 0).value_or(0)};
}

Result<> read_json_log(const std::string& path, const std::function<void(const LogEntry&)>& f) {
    for (const std::string& file : json_log_files(path)) {
        std::ifstream in(file);
        if (!in) continue;  // no output yet
        std::string line;
        while (std::getline(in, line))
            if (auto e = parse_json_log_line(line)) f(*e);  // a torn last line is skipped
    }
    return {};
}

Result<> remove_json_log(const std::string& path) {
    for (const std::string& file : json_log_files(path))
        if (auto r = kernel::remove_file(file); !r) return r;
    return {};
}

}  // namespace berth::drivers
