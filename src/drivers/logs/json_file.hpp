// The json-file log driver, Docker's on-disk format: one JSON object per line,
// {"log":"hello\n","stream":"stdout","time":"2026-11-22T12:00:00.123456789Z"}, in
// <container dir>/<id>-json.log, rotated to <id>-json.log.1 … .N-1 (max-size, max-file) as
// dockerd names them. Output is split into lines as it arrives (a partial line waits for its
// end, up to 16 KiB as Docker does); the lines of one read become one write through the ring.
// The queue is bounded: saturated() asks the owner to stop reading the container until
// on_room. Rotation happens between writes, never with one in flight, so a follower that
// holds the old file sees all of it before the new one begins.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "drivers/logs/log_options.hpp"
#include "kernel/fd.hpp"
#include "loop/loop.hpp"

namespace berth::drivers {

// Told by the writer what happened to the file, on the loop thread.
struct LogWatcher {
    virtual ~LogWatcher() = default;
    virtual void on_log_written() = 0;  // more complete lines are in the current file
    virtual void
    on_log_rotated() = 0;              // the current file was renamed or unlinked; a new one begins
    virtual void on_log_closed() = 0;  // the container is gone: nothing more will come
};

class JsonFileLog {
  public:
    // Bytes of formatted lines queued or in flight before the owner is asked to stop reading.
    static constexpr size_t buffer_bytes_max = 1 << 20;

    static Result<std::unique_ptr<JsonFileLog>> open(loop::Loop& loop, std::string path,
                                                     JsonFileOptions options);
    ~JsonFileLog();
    JsonFileLog(const JsonFileLog&) = delete;
    JsonFileLog& operator=(const JsonFileLog&) = delete;

    // Output of stream 1 (stdout) or 2 (stderr), stamped now. Never blocks; queues.
    void write(int stream, std::span<const std::byte> data);
    // Writes what is left of unfinished lines, waits for the ring, closes the file, tells the
    // watchers, then calls `done` (at once when nothing is pending). Idempotent.
    void close(std::function<void()> done);
    // The queue is full: stop feeding it until on_room.
    bool saturated() const { return queued_bytes_ >= buffer_bytes_max; }
    // Called when a saturated queue has drained to half.
    void set_on_room(std::function<void()> f) { on_room_ = std::move(f); }
    // A write still in the ring: the object must not be freed.
    bool busy() const { return write_c_.in_flight(); }
    bool closed() const { return closed_; }
    void watch(LogWatcher* w) { watchers_.push_back(w); }
    void unwatch(LogWatcher* w);
    const std::string& path() const { return path_; }
    const JsonFileOptions& options() const { return options_; }

  private:
    explicit JsonFileLog(loop::Loop& loop) : loop_(loop) {}
    struct Chunk {
        bool rotate_before = false;  // the file reached max-size: rotate, then write this
        std::string bytes;
    };
    void emit(int stream, std::string_view line, std::string_view time);
    void pump();
    void rotate();
    void finish_close();
    static void on_written(loop::Completion& c);
    template <class F>
    void tell(F f);

    loop::Loop& loop_;
    std::string path_;
    JsonFileOptions options_;
    kernel::UniqueFd fd_;
    std::string pending_[3];   // unfinished lines of stdout (1) and stderr (2)
    std::deque<Chunk> queue_;  // formatted lines not yet handed to the ring
    std::string sending_;      // the write in the ring
    size_t sent_ = 0;
    int64_t tail_size_ = 0;    // size of the file the queue's last chunk goes to
    size_t queued_bytes_ = 0;  // queue_ + the unsent part of sending_
    bool was_saturated_ = false;
    bool closing_ = false, closed_ = false;
    std::function<void()> close_done_;
    std::function<void()> on_room_;
    std::vector<LogWatcher*> watchers_;
    loop::Completion write_c_;
};

struct LogEntry {
    int stream;  // 1 stdout, 2 stderr
    std::string text;
    int64_t time_ns;
};

// The files of a json-file log, oldest first: <path>.N-1 … <path>.1, <path>.
std::vector<std::string> json_log_files(const std::string& path);
// Reads a json-file log and its rotated files, entry by entry, oldest first.
Result<> read_json_log(const std::string& path, const std::function<void(const LogEntry&)>& f);
// Removes a container's log files (the current one and every rotated one).
Result<> remove_json_log(const std::string& path);

// One json-file line, or nullopt for a torn or foreign one.
std::optional<LogEntry> parse_json_log_line(std::string_view line);

}  // namespace berth::drivers
