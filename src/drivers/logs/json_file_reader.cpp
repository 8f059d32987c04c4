#include "drivers/logs/json_file_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace berth::drivers {

namespace {
constexpr size_t read_bytes = 64 * 1024;
// Rotated files a slow follower may still hold open before the oldest is given up.
constexpr size_t held_files_max = 16;

kernel::UniqueFd open_log(const std::string& path) {
    return kernel::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
}
}  // namespace

JsonLogReader::JsonLogReader(std::string path) : path_(std::move(path)) {
    // Rotated files that vanish meanwhile are skipped; the current one is always last, even
    // when it does not exist yet (no output so far): it is opened when first read.
    for (const std::string& f : json_log_files(path_)) {
        File file;
        file.fd = open_log(f);
        if (file.fd || f == path_) files_.push_back(std::move(file));
    }
}

JsonLogReader::~JsonLogReader() {
    stop();
}

void JsonLogReader::stop() {
    if (live_) live_->unwatch(this);
    live_ = nullptr;
    sink_ = nullptr;
}

bool JsonLogReader::read_some(const std::function<void(const LogEntry&)>& f) {
    File& file = files_.front();
    if (!file.fd) {
        file.fd = open_log(path_);
        if (!file.fd) return false;
    }
    char buf[read_bytes];
    ssize_t n;
    do n = ::pread(file.fd.get(), buf, sizeof buf, off_t(file.offset));
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    file.offset += uint64_t(n);
    file.partial.append(buf, size_t(n));
    size_t start = 0;
    for (size_t nl; (nl = file.partial.find('\n', start)) != std::string::npos; start = nl + 1)
        if (auto e = parse_json_log_line(std::string_view(file.partial).substr(start, nl - start)))
            f(*e);
    file.partial.erase(0, start);
    return true;
}

std::vector<LogEntry> JsonLogReader::read_tail(size_t n) {
    std::deque<LogEntry> last;
    auto keep = [&](const LogEntry& e) {
        if (n == 0) return;
        if (last.size() == n) last.pop_front();
        last.push_back(e);
    };
    for (;;) {
        while (read_some(keep)) {
        }
        if (files_.size() == 1) break;
        files_.pop_front();  // a rotated file, read to its end
    }
    return {std::make_move_iterator(last.begin()), std::make_move_iterator(last.end())};
}

void JsonLogReader::follow(JsonFileLog* live, Sink* sink) {
    sink_ = sink;
    live_ = live && !live->closed() ? live : nullptr;
    closed_ = !live_;
    if (live_) live_->watch(this);
    pump();
}

void JsonLogReader::pump() {
    // on_follow_end may free us (the stream ends), so it is the last thing done; a second
    // pump while one runs has nothing to add.
    if (pumping_ || !sink_) return;
    pumping_ = true;
    Sink* sink = sink_;
    auto send = [&](const LogEntry& e) {
        if (sink_) sink_->on_entry(e);
    };
    while (sink_ && !sink_->full()) {
        if (read_some(send)) continue;
        if (files_.size() > 1) {
            files_.pop_front();
            continue;
        }
        break;
    }
    pumping_ = false;
    if (sink_ && closed_ && files_.size() == 1 && !sink_->full()) {
        sink_ = nullptr;
        sink->on_follow_end();  // may free this
    }
}

void JsonLogReader::on_log_rotated() {
    // The writer has just opened its fresh file: open it now, behind the one being read.
    File next;
    next.fd = open_log(path_);
    if (files_.size() == 1 && !files_.front().fd)
        files_.front() = std::move(next);
    else
        files_.push_back(std::move(next));
    if (files_.size() > held_files_max) files_.pop_front();  // too far behind: lines are lost
    pump();
}

void JsonLogReader::on_log_closed() {
    closed_ = true;
    live_ = nullptr;  // the writer forgets its watchers as it closes
    pump();
}

}  // namespace berth::drivers
