// GET /events: a stream of newline-separated JSON events. `since` replays the bus's history
// first; `until` ends the stream at that time (at once if it has passed); `filters` selects.
// The stream ends cleanly when the daemon stops; a consumer too slow to keep up is cut off
// rather than buffered without bound.
#include <memory>

#include "base/time.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "http/server.hpp"
#include "jobs/events.hpp"
#include "loop/loop.hpp"

namespace berth::http {

namespace {

class EventStream final : public jobs::EventBus::Subscriber {
public:
    EventStream(ApiContext& ctx, Exchange& ex, jobs::EventFilter filter, int64_t until_ns)
        : ctx_(ctx), ex_(&ex), filter_(std::move(filter)), until_ns_(until_ns) {
        timer_.context = this;
        timer_.callback = &EventStream::on_timer;
    }

    void start(int64_t since_ns) {
        starting_ = true;
        ex_->observe({this, &EventStream::on_aborted, &EventStream::on_shutdown, nullptr});
        ex_->begin_stream(200, "application/json");
        int64_t now = wall_clock_ns();
        if (since_ns >= 0)
            for (const jobs::Event* e : ctx_.events->history(since_ns, std::min(until_ns_, now)))
                send(*e);
        if (ex_ && until_ns_ <= now) finish();
        if (ex_) {
            ctx_.events->subscribe(this);
            ++ctx_.events_listeners;
            subscribed_ = true;
            if (until_ns_ != no_until) ctx_.loop->timeout(timer_, until_ns_ - now);
        }
        starting_ = false;
        if (!ex_ && !timer_.in_flight()) delete this;
    }

    void on_event(const jobs::Event& e) override {
        if (e.time_ns > until_ns_) return;
        send(e);
    }

    static constexpr int64_t no_until = INT64_MAX;

private:
    void send(const jobs::Event& e) {
        if (!ex_ || !filter_.matches(e)) return;
        ex_->write(jobs::event_json(e));
        if (ex_ && ex_->buffered() > ctx_.server->limits().output_bytes_max) finish();
    }

    // Ends the stream cleanly (last chunk) and lets go of the exchange.
    void finish() {
        Exchange* ex = ex_;
        detach();
        if (ex) ex->end();
    }

    void detach() {
        ex_ = nullptr;
        if (subscribed_) {
            ctx_.events->unsubscribe(this);
            --ctx_.events_listeners;
            subscribed_ = false;
        }
        if (timer_.in_flight()) ctx_.loop->cancel(timer_);
        else if (!starting_) delete this;
    }

    static void on_timer(loop::Completion& c) {
        auto* self = static_cast<EventStream*>(c.context);
        if (self->ex_) self->finish();  // `until` reached
        else delete self;               // cancelled after the exchange ended
    }
    static void on_aborted(void* ctx) { static_cast<EventStream*>(ctx)->detach(); }
    static void on_shutdown(void* ctx) { static_cast<EventStream*>(ctx)->finish(); }

    ApiContext& ctx_;
    Exchange* ex_;
    jobs::EventFilter filter_;
    int64_t until_ns_;
    bool subscribed_ = false;
    bool starting_ = false;  // start() is on the stack: it deletes, not detach()
    loop::Completion timer_;
};

void events(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    int64_t now = wall_clock_ns();
    int64_t since_ns = -1;
    int64_t until_ns = EventStream::no_until;
    if (auto v = req.query_value("since"); v && !v->empty()) {
        auto t = parse_docker_time(*v, now);
        if (!t) return ex.respond_error(Error::invalid("invalid value for since: " + *v));
        since_ns = *t;
    }
    if (auto v = req.query_value("until"); v && !v->empty()) {
        auto t = parse_docker_time(*v, now);
        if (!t) return ex.respond_error(Error::invalid("invalid value for until: " + *v));
        until_ns = *t;
    }
    if (since_ns >= 0 && until_ns != EventStream::no_until && since_ns > until_ns)
        return ex.respond_error(Error::invalid("`since` time is after `until` time"));
    auto filter = jobs::EventFilter::parse(req.query_value("filters").value_or(""));
    if (!filter) return ex.respond_error(filter.error());
    auto* stream = new EventStream(ctx, ex, std::move(*filter), until_ns);
    stream->start(since_ns);
}

}  // namespace

// dockerd's image events: the actor is the image ID (or the reference for untag), with the
// reference as its "name" attribute.
void ApiContext::publish_image_event(std::string_view action, std::string_view id,
                                     std::string_view name) {
    jobs::Event e;
    e.type = "image";
    e.action = action;
    e.actor_id = id.empty() ? std::string(name) : std::string(id);
    if (!name.empty()) e.attributes.emplace_back("name", std::string(name));
    events->publish(std::move(e));
}

void register_event_routes(Router& router, ApiContext& ctx) {
    router.add("GET", "/events", [&ctx](Exchange& ex) { events(ctx, ex); });
}

}  // namespace berth::http
