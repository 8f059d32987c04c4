// GET /containers/{id}/logs: the json-file log and its rotated files, oldest first (tail, then
// since, until and the streams, as dockerd applies them), with timestamps when asked; with
// follow, what the running container's writer adds next, across rotations, until it exits. A
// slow follower stops reading the files, never the container. Also the LogConfig of create.
#include <simdjson.h>

#include <climits>
#include <memory>

#include "base/time.hpp"
#include "drivers/logs/json_file_reader.hpp"
#include "drivers/logs/log_options.hpp"
#include "graph/containers.hpp"
#include "http/api/api.hpp"
#include "http/api/attach_stream.hpp"
#include "http/exchange.hpp"
#include "jobs/container_engine.hpp"

namespace berth::http {

Result<std::string> container_log_config(const ApiContext& ctx, std::string_view host_config_json) {
    drivers::LogConfig daemon_default{ctx.log_driver, ctx.log_opts};
    auto merged = drivers::merge_log_config(drivers::log_config_from_host_config(host_config_json),
                                            daemon_default);
    if (auto s = drivers::log_settings(merged); !s) return fail(s.error());
    return drivers::with_log_config(host_config_json, merged);
}

namespace {

struct LogsQuery {
    bool out = false, err = false, timestamps = false, follow = false;
    int64_t since = 0, until = INT64_MAX;
    std::optional<size_t> tail;  // nullopt: all
};

class LogsStream final : public drivers::JsonLogReader::Sink {
  public:
    LogsStream(Exchange& ex, std::string path, bool tty, const LogsQuery& q)
        : ex_(&ex), reader_(std::move(path)), tty_(tty), q_(q) {
        ex.observe({this, &LogsStream::on_aborted, nullptr, &LogsStream::on_drained});
    }
    drivers::JsonLogReader& reader() { return reader_; }
    void on_entry(const drivers::LogEntry& e) override {
        if (!ex_ || e.time_ns < q_.since || e.time_ns > q_.until) return;
        if ((e.stream == 1 && !q_.out) || (e.stream == 2 && !q_.err)) return;
        std::string line = q_.timestamps ? rfc3339_nano(e.time_ns) + " " + e.text : e.text;
        ex_->write(frame(e.stream, line, tty_));
    }
    bool full() const override { return ex_ && ex_->buffered() > buffer_bytes_max; }
    void on_follow_end() override { finish(); }
    void finish() {
        Exchange* ex = ex_;
        ex_ = nullptr;
        delete this;
        if (ex) ex->end();
    }

  private:
    static constexpr size_t buffer_bytes_max = 1 << 20;
    static void on_aborted(void* self) {
        auto* l = static_cast<LogsStream*>(self);
        l->ex_ = nullptr;
        delete l;  // the reader stops watching the writer
    }
    static void on_drained(void* self) { static_cast<LogsStream*>(self)->reader_.resume(); }
    Exchange* ex_;
    drivers::JsonLogReader reader_;
    bool tty_;
    LogsQuery q_;
};

Result<LogsQuery> logs_query(const Request& req) {
    LogsQuery q;
    q.out = req.query_bool("stdout");
    q.err = req.query_bool("stderr");
    if (!q.out && !q.err)
        return fail(Error::invalid("Bad parameters: you must choose at least one stream"));
    q.timestamps = req.query_bool("timestamps");
    q.follow = req.query_bool("follow");
    int64_t now = wall_clock_ns();
    if (auto v = req.query_value("since"); v && !v->empty() && *v != "0")
        q.since = parse_docker_time(*v, now).value_or(0);
    if (auto v = req.query_value("until"); v && !v->empty() && *v != "0")
        q.until = parse_docker_time(*v, now).value_or(INT64_MAX);
    std::string tail = req.query_value("tail").value_or("all");
    if (!tail.empty() && tail != "all") {
        long long n = std::atoll(tail.c_str());
        q.tail = size_t(n < 0 ? 0 : n);
    }
    return q;
}

}  // namespace

void container_logs(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto c = ctx.containers->get(req.params[0]);
    if (!c) return ex.respond_error(c.error());
    auto q = logs_query(req);
    if (!q) return ex.respond_error(q.error());
    if (drivers::log_config_from_host_config(c->host_config_json).type == "none")
        return ex.respond_error(Error::make(ErrorKind::not_implemented,
                                            "configured logging driver does not support reading"));
    bool tty = c->config_json.find("\"Tty\":true") != std::string::npos;
    ex.begin_stream(200, tty ? "application/vnd.docker.raw-stream"
                             : "application/vnd.docker.multiplexed-stream");
    auto* s = new LogsStream(ex, ctx.engine->log_path(c->id), tty, *q);
    // Without a tail the whole log streams from the oldest file as the client takes it.
    if (q->tail)
        for (const drivers::LogEntry& e : s->reader().read_tail(*q->tail)) s->on_entry(e);
    bool follow = q->follow && q->until == INT64_MAX && ctx.engine->running(c->id);
    s->reader().follow(follow ? ctx.engine->live_log(c->id) : nullptr, s);  // may free s
}

}  // namespace berth::http
