// The event bus behind GET /events: jobs publish what happened (container start, image pull,
// …); subscribers (open /events streams) get each event as it is published; a bounded history
// serves `since`. Filters are Docker's (type, event, container, image, label, …).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"

namespace berth::jobs {

struct Event {
    std::string type;    // container, image, volume, network, daemon, plugin, …
    std::string action;  // create, start, die, pull, …
    std::string actor_id;
    std::vector<std::pair<std::string, std::string>> attributes;  // name, image, exitCode, …
    std::string scope = "local";
    int64_t time_ns = 0;
};

// Docker's wire shape, one JSON object and a newline; the legacy status/id/from fields are
// written for container and image events as dockerd does.
std::string event_json(const Event& e);

// `filters` of GET /events: {"type":["container"],"event":["start"],…} (or the old
// {"type":{"container":true}} form).
class EventFilter {
public:
    static Result<EventFilter> parse(std::string_view filters_json);
    bool matches(const Event& e) const;

private:
    std::map<std::string, std::set<std::string>> terms_;
};

class EventBus {
public:
    static constexpr size_t history_max = 1024;  // dockerd keeps the last events in memory too

    struct Subscriber {
        virtual ~Subscriber() = default;
        virtual void on_event(const Event& e) = 0;
    };

    // Stamps the time if unset, keeps it in the history, and hands it to every subscriber.
    void publish(Event e);
    void subscribe(Subscriber* s);
    void unsubscribe(Subscriber* s);
    size_t subscriber_count() const { return subscribers_.size(); }
    // Events with since_ns <= time <= until_ns, oldest first.
    std::vector<const Event*> history(int64_t since_ns, int64_t until_ns) const;

private:
    std::deque<Event> history_;
    std::vector<Subscriber*> subscribers_;
};

}  // namespace berth::jobs
