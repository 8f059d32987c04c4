#include "jobs/events.hpp"

#include <algorithm>

#include "base/json.hpp"
#include "base/time.hpp"
#include "jobs/filters.hpp"

namespace berth::jobs {

std::string event_json(const Event& e) {
    JsonWriter w;
    w.begin_object();
    if (e.type == "container" || e.type == "image") {
        // Pre-1.22 fields that dockerd still writes for these two types.
        w.field("status", e.action).field("id", e.actor_id);
        for (const auto& [k, v] : e.attributes)
            if (k == "image" && e.type == "container") w.field("from", v);
    }
    w.field("Type", e.type).field("Action", e.action);
    w.key("Actor").begin_object().field("ID", e.actor_id);
    w.key("Attributes").begin_object();
    for (const auto& [k, v] : e.attributes) w.field(k, v);
    w.end_object().end_object();
    w.field("scope", e.scope);
    w.field("time", e.time_ns / 1'000'000'000).field("timeNano", e.time_ns);
    w.end_object();
    std::string s = w.take();
    s += '\n';
    return s;
}

Result<EventFilter> EventFilter::parse(std::string_view json) {
    static const std::set<std::string> known = {
        "config", "container", "daemon", "event",   "image", "label",
        "network", "node",     "plugin", "scope",   "secret", "service",
        "type",    "volume"};
    auto filters = Filters::parse(json, known);
    if (!filters) return fail(filters.error());
    EventFilter f;
    f.terms_ = filters->all();
    return f;
}

namespace {

std::string_view attribute(const Event& e, std::string_view name) {
    for (const auto& [k, v] : e.attributes)
        if (k == name) return v;
    return {};
}

bool actor_matches(const Event& e, const std::set<std::string>& terms) {
    std::string_view name = attribute(e, "name");
    for (const auto& t : terms) {
        if (t == e.actor_id || t == name) return true;
        if (t.size() >= 1 && e.actor_id.starts_with(t)) return true;  // an ID prefix
    }
    return false;
}

}  // namespace

bool EventFilter::matches(const Event& e) const {
    for (const auto& [k, terms] : terms_) {
        if (terms.empty()) continue;
        bool ok = false;
        if (k == "type") ok = terms.contains(e.type);
        else if (k == "event") {
            // "exec_start: sh" style actions match on their prefix before ':'.
            std::string base = e.action.substr(0, e.action.find(':'));
            ok = terms.contains(e.action) || terms.contains(base);
        } else if (k == "scope") ok = terms.contains(e.scope);
        else if (k == "label") {
            std::map<std::string, std::string> attrs(e.attributes.begin(), e.attributes.end());
            ok = std::all_of(terms.begin(), terms.end(),
                             [&](const std::string& t) { return label_term_matches(t, attrs); });
        } else if (k == "image") {
            std::string_view img = attribute(e, "image");
            ok = (e.type == "image" && actor_matches(e, terms)) ||
                 (!img.empty() && terms.contains(std::string(img)));
        } else {
            // container, network, volume, daemon, plugin, …: the actor of that type.
            ok = e.type == k && actor_matches(e, terms);
        }
        if (!ok) return false;
    }
    return true;
}

void EventBus::publish(Event e) {
    if (e.time_ns == 0) e.time_ns = wall_clock_ns();
    history_.push_back(std::move(e));
    if (history_.size() > history_max) history_.pop_front();
    const Event& stored = history_.back();
    // A subscriber may unsubscribe itself (its client is gone) while being notified.
    std::vector<Subscriber*> now = subscribers_;
    for (Subscriber* s : now)
        if (std::find(subscribers_.begin(), subscribers_.end(), s) != subscribers_.end())
            s->on_event(stored);
}

void EventBus::subscribe(Subscriber* s) { subscribers_.push_back(s); }

void EventBus::unsubscribe(Subscriber* s) {
    subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), s),
                       subscribers_.end());
}

std::vector<const Event*> EventBus::history(int64_t since_ns, int64_t until_ns) const {
    std::vector<const Event*> out;
    for (const Event& e : history_)
        if (e.time_ns >= since_ns && e.time_ns <= until_ns) out.push_back(&e);
    return out;
}

}  // namespace berth::jobs
