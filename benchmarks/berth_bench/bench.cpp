#include "bench.hpp"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/time.hpp"
#include "http_client.hpp"

namespace berth::bench {

std::atomic<bool> g_stop{false};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = size_t(p / 100.0 * double(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

void note(Results& r, const std::string& line) {
    std::fprintf(stderr, "\r\033[K%s\n", line.c_str());
    r.notes.push_back(line);
}

void Progress::begin(std::string label, int total) {
    std::lock_guard lock(mu_);
    label_ = std::move(label);
    total_ = total;
    done_ = 0;
    tty_ = isatty(2);
    active_ = true;
    last_draw_ns_ = 0;
    draw();
}

void Progress::step(int n) {
    std::lock_guard lock(mu_);
    done_ += n;
    if (monotonic_ns() - last_draw_ns_ > 100'000'000 || done_ >= total_) draw();
}

void Progress::end() {
    std::lock_guard lock(mu_);
    if (tty_ && active_) std::fprintf(stderr, "\r\033[K");
    active_ = false;
}

void Progress::draw() {
    last_draw_ns_ = monotonic_ns();
    if (!tty_) return;
    constexpr int width = 30;
    int filled = total_ > 0 ? std::min(width, done_ * width / total_) : 0;
    std::string bar(size_t(filled), '#');
    bar.append(size_t(width - filled), '.');
    std::fprintf(stderr, "\r\033[K[%s] %d/%d %s", bar.c_str(), done_, total_, label_.c_str());
    std::fflush(stderr);
}

void Tracker::add(const std::string& socket, const std::string& id) {
    std::lock_guard lock(mu_);
    ids_[socket].insert(id);
}

void Tracker::remove(const std::string& socket, const std::string& id) {
    std::lock_guard lock(mu_);
    ids_[socket].erase(id);
}

int Tracker::clean_up(const std::vector<Engine>& engines, const std::string& run_id) {
    int removed = 0;
    for (const Engine& e : engines) {
        ApiClient c(e.socket);
        std::set<std::string> ids;
        {
            std::lock_guard lock(mu_);
            ids = ids_[e.socket];
        }
        // Also whatever carries this run's label (a create whose answer was lost). The label is
        // checked here too: a daemon that ignores the filter must not lose others' containers.
        Response list =
            c.request("GET", "/containers/json?all=1&filters=" +
                                 url_encode("{\"label\":[\"berth-bench.run=" + run_id + "\"]}"));
        simdjson::dom::parser parser;
        simdjson::padded_string body(list.body);
        simdjson::dom::array items;
        if (list.ok() && !parser.parse(body).get(items))
            for (auto item : items) {
                std::string_view id, run;
                if (!item["Id"].get(id) && !item["Labels"]["berth-bench.run"].get(run) &&
                    run == run_id)
                    ids.insert(std::string(id));
            }
        for (const auto& id : ids) {
            Response r = c.request("DELETE", "/containers/" + id + "?force=1");
            if (r.ok())
                ++removed;
            else if (r.status != 404)
                std::fprintf(stderr, "berth-bench: could not remove %s on %s: %s\n",
                             id.substr(0, 12).c_str(), e.name.c_str(), r.message().c_str());
            std::lock_guard lock(mu_);
            ids_[e.socket].erase(id);
        }
    }
    return removed;
}

}  // namespace berth::bench
