// A running container's resources through the API: GET /containers/{id}/stats (one object, or a
// stream of one per second driven by a loop timer), GET /containers/{id}/top (ps columns from
// /proc) and POST /containers/{id}/update (limits written to the cgroup and the HostConfig).
#include <algorithm>
#include <optional>
#include <utility>

#include "base/json.hpp"
#include "base/time.hpp"
#include "graph/containers.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "jobs/container_engine.hpp"
#include "jobs/container_stats.hpp"
#include "jobs/container_top.hpp"
#include "jobs/container_update.hpp"
#include "jobs/events.hpp"
#include "loop/loop.hpp"

namespace berth::http {

namespace {

// dockerd's collector samples once a second; a non-streaming answer waits one interval for
// its precpu sample.
constexpr int64_t stats_interval_ns = 1000000000;

// One stats request. Without stream, the answer comes after a second sample (unless one-shot);
// with stream, an object per interval until the client goes, the daemon stops, or the container
// is no longer running (a last empty object, then the end). Owns itself: freed when its timer
// is not in the ring and the exchange is over.
class StatsRequest {
  public:
    static void start(ApiContext& ctx, Exchange& ex, std::string id, std::string name, bool stream,
                      bool one_shot) {
        auto* s = new StatsRequest(ctx, ex, std::move(id), std::move(name), stream, one_shot);
        s->sample();
    }

  private:
    StatsRequest(ApiContext& ctx, Exchange& ex, std::string id, std::string name, bool stream,
                 bool one_shot)
        : ctx_(ctx),
          ex_(&ex),
          id_(std::move(id)),
          name_(std::move(name)),
          stream_(stream),
          one_shot_(one_shot) {
        timer_.context = this;
        timer_.callback = &StatsRequest::on_timer;
        ex.observe({this, &StatsRequest::on_aborted, &StatsRequest::on_shutdown, nullptr});
        if (stream_) ex.begin_stream(200, "application/json");
    }

    void sample() {
        kernel::Cgroup* cg = ctx_.engine->cgroup(id_);
        if (!cg) return finish(jobs::stats_json(name_, id_, nullptr, nullptr));
        auto cur = jobs::take_stats_sample(*cg, wall_clock_ns());
        if (!cur) return fail_with(cur.error());
        if (!stream_ && !one_shot_ && !prev_) {
            prev_ = std::move(*cur);
            return arm();
        }
        std::string json = jobs::stats_json(name_, id_, &*cur, prev_ ? &*prev_ : nullptr);
        if (!stream_) return finish(std::move(json));
        ex_->write(json + "\n");
        prev_ = std::move(*cur);
        arm();
    }
    void arm() { ctx_.loop->timeout(timer_, stats_interval_ns); }

    // The last object: a complete answer without stream, the stream's end with it.
    void finish(std::string json) {
        Exchange* ex = std::exchange(ex_, nullptr);
        if (stream_) {
            ex->write(json + "\n");
            ex->end();
        } else {
            ex->respond_json(200, json + "\n");
        }
        release();
    }
    void fail_with(const Error& e) {
        Exchange* ex = std::exchange(ex_, nullptr);
        if (stream_)
            ex->end();  // the status is out already; the client sees the stream end
        else
            ex->respond_error(e);
        release();
    }
    // Frees this now, or once the cancelled timer has come back from the ring.
    void release() {
        if (!timer_.in_flight()) {
            delete this;
            return;
        }
        ctx_.loop->cancel(timer_);
    }
    static void on_timer(loop::Completion& c) {
        auto* s = static_cast<StatsRequest*>(c.context);
        if (!s->ex_) {
            delete s;
            return;
        }
        s->sample();
    }
    static void on_aborted(void* self) {
        auto* s = static_cast<StatsRequest*>(self);
        s->ex_ = nullptr;
        s->release();
    }
    static void on_shutdown(void* self) {
        auto* s = static_cast<StatsRequest*>(self);
        if (!s->ex_) return;
        Exchange* ex = std::exchange(s->ex_, nullptr);
        if (s->stream_)
            ex->end();
        else
            ex->respond_error(Error::make(ErrorKind::unavailable, "the daemon is shutting down"));
        s->release();
    }

    ApiContext& ctx_;
    Exchange* ex_;
    std::string id_, name_;
    bool stream_, one_shot_;
    std::optional<jobs::StatsSample> prev_;
    loop::Completion timer_;
};

// "stream" defaults to true; "one-shot" only matters without it.
bool query_flag(const Request& req, std::string_view key, bool absent) {
    return req.query_value(key) ? req.query_bool(key) : absent;
}

void container_stats(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto c = ctx.containers->get(req.params[0]);
    if (!c) return ex.respond_error(c.error());
    StatsRequest::start(ctx, ex, c->id, c->name, query_flag(req, "stream", true),
                        query_flag(req, "one-shot", false));
}

void container_top(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto c = ctx.containers->get(req.params[0]);
    if (!c) return ex.respond_error(c.error());
    kernel::Cgroup* cg = ctx.engine->cgroup(c->id);
    if (!cg) return ex.respond_error(Error::conflict("Container " + c->id + " is not running"));
    auto format = jobs::top_format(req.query_value("ps_args").value_or(""));
    if (!format) return ex.respond_error(format.error());
    auto top = jobs::top_of(*cg, *format);
    if (!top) return ex.respond_error(top.error());
    const jobs::TopTable& t = *top;
    JsonWriter w;
    w.begin_object().key("Titles").begin_array();
    for (const std::string& title : t.titles) w.value(title);
    w.end_array().key("Processes").begin_array();
    for (const auto& row : t.processes) {
        w.begin_array();
        for (const std::string& cell : row) w.value(cell);
        w.end_array();
    }
    w.end_array().end_object();
    ex.respond_json(200, w.str());
}

void container_update(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto warnings = jobs::update_container(*ctx.containers, *ctx.engine, req.params[0], req.body,
                                           std::max(ctx.system.ncpu, 1));
    if (!warnings) return ex.respond_error(warnings.error());
    if (auto c = ctx.containers->get(req.params[0])) {
        jobs::Event e;
        e.type = "container";
        e.action = "update";
        e.actor_id = c->id;
        e.attributes = {{"name", c->name}};
        ctx.events->publish(std::move(e));
    }
    JsonWriter w;
    w.begin_object().key("Warnings").begin_array();
    for (const std::string& m : *warnings) w.value(m);
    w.end_array().end_object();
    ex.respond_json(200, w.str());
}

}  // namespace

void register_stats_routes(Router& router, ApiContext& ctx) {
    router.add("GET", "/containers/{id}/stats", [&ctx](Exchange& ex) { container_stats(ctx, ex); });
    router.add("GET", "/containers/{id}/top", [&ctx](Exchange& ex) { container_top(ctx, ex); });
    router.add("POST", "/containers/{id}/update",
               [&ctx](Exchange& ex) { container_update(ctx, ex); });
}

}  // namespace berth::http
