// Reading a json-file log while it is written: the files oldest first, then (following) what
// the writer adds, across rotations. The reader opens each file once and keeps the fd, so a
// file rotated away (renamed or unlinked) is read to its end before the next one begins: no
// line is lost or read twice. It stops at the last complete line; a torn one is read when its
// end arrives.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "drivers/logs/json_file.hpp"
#include "kernel/fd.hpp"

namespace berth::drivers {

class JsonLogReader final : public LogWatcher {
  public:
    // Where the entries go while following.
    struct Sink {
        virtual ~Sink() = default;
        virtual void on_entry(const LogEntry& e) = 0;
        // Enough is waiting to be sent: stop reading until resume().
        virtual bool full() const = 0;
        // The writer closed and everything it wrote was read.
        virtual void on_follow_end() = 0;
    };

    // Opens the log's files (`path` and its rotated ones).
    explicit JsonLogReader(std::string path);
    ~JsonLogReader() override;
    JsonLogReader(const JsonLogReader&) = delete;
    JsonLogReader& operator=(const JsonLogReader&) = delete;

    // The last `n` entries written so far, oldest first (memory for `n` entries, however long
    // the log); the reader is left at the end of what was written.
    std::vector<LogEntry> read_tail(size_t n);
    // Sends what the reader has not read yet to `sink` (as fast as the sink takes it), then
    // follows `live` (the running container's writer) until it closes; with no writer it ends
    // at the end of what was written.
    void follow(JsonFileLog* live, Sink* sink);
    // The sink has room again.
    void resume() { pump(); }
    // Stops following (the client left); the sink is not called again.
    void stop();

  private:
    struct File {
        kernel::UniqueFd fd;
        uint64_t offset = 0;
        std::string partial;  // bytes after the last complete line
    };
    // Reads complete lines from the front file; false at its end.
    bool read_some(const std::function<void(const LogEntry&)>& f);
    void pump();
    void on_log_written() override { pump(); }
    void on_log_rotated() override;
    void on_log_closed() override;

    std::string path_;
    std::deque<File> files_;
    JsonFileLog* live_ = nullptr;
    Sink* sink_ = nullptr;
    bool closed_ = false;
    bool pumping_ = false;
};

}  // namespace berth::drivers
