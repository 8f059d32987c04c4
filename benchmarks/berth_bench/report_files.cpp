// The JSON file (every sample, the machine, the engines, the options, the notes) and the SVG
// plot: latency CDFs on a log time axis, and throughput bars grouped by client count.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "base/json.hpp"
#include "report.hpp"

namespace berth::bench {

namespace {

void samples(JsonWriter& w, const char* key, const std::vector<double>& v) {
    w.key(key).begin_array();
    for (double x : v) w.value(std::round(x * 1000) / 1000);
    w.end_array();
}

void write_summary(JsonWriter& w, const std::vector<double>& v) {
    w.field("p50", percentile(v, 50)).field("p90", percentile(v, 90));
    w.field("p99", percentile(v, 99)).field("max", percentile(v, 100));
}

void json_results(JsonWriter& w, const Results& r) {
    w.key("latency").begin_array();
    for (const auto& s : r.latency) {
        w.begin_object().field("engine", s.engine).field("network", s.mode);
        write_summary(w, s.ms);
        w.field("errors", s.errors).field("first_error", s.first_error);
        samples(w, "ms", s.ms);
        w.key("steps_ms").begin_object();
        for (const auto& [k, v] : s.steps) samples(w, k.c_str(), v);
        w.end_object().end_object();
    }
    w.end_array().key("phases").begin_array();
    for (const auto& p : r.phases) {
        w.begin_object().field("engine", p.engine).field("errors", p.errors);
        samples(w, "lifecycle_ms", p.lifecycle_ms);
        w.key("us").begin_object();
        for (const auto& [k, v] : p.us) samples(w, k.c_str(), v);
        w.end_object().key("steps_ms").begin_object();
        for (const auto& [k, v] : p.steps) samples(w, k.c_str(), v);
        w.end_object().end_object();
    }
    w.end_array().key("throughput").begin_array();
    for (const auto& t : r.throughput) {
        w.begin_object().field("engine", t.engine).field("network", t.network);
        w.field("clients", t.clients)
            .field("lifecycles", t.lifecycles)
            .field("seconds", t.seconds)
            .field("errors", t.errors);
        w.field("per_second", t.seconds > 0 ? t.lifecycles / t.seconds : 0.0);
        w.field("first_error", t.first_error);
        samples(w, "ms", t.ms);
        w.end_object();
    }
    w.end_array().key("density").begin_array();
    for (const auto& d : r.density) {
        w.begin_object()
            .field("engine", d.engine)
            .field("asked", d.asked)
            .field("running", d.running);
        w.field("held", d.held).field("listed", d.listed).field("nofile", int64_t(d.nofile));
        w.field("failure", d.failure).field("start_s", d.start_s).field("remove_s", d.remove_s);
        w.field("rss_kb_before", d.before.rss_kb).field("rss_kb_after", d.after.rss_kb);
        w.field("pss_kb_before", d.before.pss_kb).field("pss_kb_after", d.after.pss_kb);
        w.field("threads_before", d.before.threads).field("threads_after", d.after.threads);
        w.field("processes_before", d.before.processes).field("processes_after", d.after.processes);
        w.field("helpers", d.helpers).field("helper_threads", d.helper_threads);
        w.field("system_used_kb_before", d.system_before_kb);
        w.field("system_used_kb_after", d.system_after_kb);
        samples(w, "list_ms", d.list_ms);
        w.end_object();
    }
    w.end_array().key("pull").begin_array();
    for (const auto& p : r.pull) {
        w.begin_object()
            .field("engine", p.engine)
            .field("bytes", p.bytes)
            .field("errors", p.errors);
        w.field("first_error", p.first_error);
        samples(w, "seconds", p.seconds);
        w.key("peak_rss_growth_kb").begin_array();
        for (long k : p.peak_growth_kb) w.value(int64_t(k));
        w.end_array().end_object();
    }
    w.end_array().key("ports").begin_array();
    for (const auto& p : r.ports) {
        double d = percentile(p.direct, 50), q = percentile(p.published, 50);
        w.begin_object().field("engine", p.engine).field("container_ip", p.container_ip);
        w.field("host_port", p.host_port).field("mib", p.mb).field("errors", p.errors);
        w.field("first_error", p.first_error).field("direct_mbps_p50", d);
        w.field("published_mbps_p50", q).field("ratio", d > 0 ? q / d : 0.0);
        samples(w, "direct_mbps", p.direct);
        samples(w, "published_mbps", p.published);
        w.end_object();
    }
    w.end_array();
}

const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                         "#ff7f0e", "#8c564b", "#17becf"};

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '<')
            o += "&lt;";
        else if (c == '>')
            o += "&gt;";
        else if (c == '&')
            o += "&amp;";
        else
            o += c;
    }
    return o;
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf, f, a, b, c, d);
    return buf;
}

// Latency CDF, x on a log scale from the smallest to the largest sample.
void svg_cdf(std::string& o, const Results& r, double x0, double y0, double w, double h) {
    double lo = 1e9, hi = 0;
    for (const auto& s : r.latency)
        for (double v : s.ms) lo = std::min(lo, v), hi = std::max(hi, v);
    if (hi <= 0) return;
    lo = std::pow(10, std::floor(std::log10(lo)));
    hi = std::pow(10, std::ceil(std::log10(hi)));
    auto X = [&](double v) {
        return x0 + w * (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    };
    o += fmt("<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' fill='none' stroke='#444'/>\n", x0,
             y0, w, h);
    for (double d = lo; d <= hi * 1.001; d *= 10) {
        o += fmt("<line x1='%.1f' y1='%.0f' x2='%.1f' y2='%.0f' stroke='#ddd'/>\n", X(d), y0, X(d),
                 y0 + h);
        o += fmt("<text x='%.1f' y='%.0f' text-anchor='middle'>%g ms</text>\n", X(d), y0 + h + 16,
                 d);
    }
    for (int q = 0; q <= 4; ++q)
        o += fmt("<text x='%.0f' y='%.0f' text-anchor='end'>%.0f%%</text>\n", x0 - 6,
                 y0 + h - h * q / 4 + 4, q * 25.0);
    o +=
        fmt("<text x='%.0f' y='%.0f' font-weight='bold'>latency of the `docker run --rm` sequence "
            "(CDF)</text>\n",
            x0, y0 - 10);
    // One colour per engine (as in the bars), one dash per network mode; the legend below.
    std::vector<std::string> engines;
    int k = 0;
    for (const auto& s : r.latency) {
        if (s.ms.empty()) continue;
        auto at = std::find(engines.begin(), engines.end(), s.engine);
        if (at == engines.end()) at = engines.insert(engines.end(), s.engine);
        const char* c = palette[(at - engines.begin()) % 7];
        const char* dash = s.mode == "host"     ? " stroke-dasharray='6,3'"
                           : s.mode == "oci"    ? " stroke-dasharray='2,2'"
                           : s.mode == "bridge" ? " stroke-dasharray='10,2,2,2'"
                                                : "";
        std::vector<double> v = s.ms;
        std::sort(v.begin(), v.end());
        std::string pts;
        for (size_t i = 0; i < v.size(); ++i)
            pts += fmt("%.1f,%.1f ", X(v[i]), y0 + h - h * double(i + 1) / double(v.size()));
        o += "<polyline fill='none' stroke-width='2' stroke='" + std::string(c) + "'" + dash +
             " points='" + pts + "'/>\n";
        double lx = x0, ly = y0 + h + 34 + 15 * k;
        o += fmt("<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke-width='2'", lx, ly - 4,
                 lx + 22, ly - 4) +
             " stroke='" + c + "'" + dash + "/>\n";
        o += fmt("<text x='%.0f' y='%.0f'>", lx + 28, ly) +
             esc(s.engine + " (" + s.mode + "): p50 " + fmt("%.2f ms", percentile(s.ms, 50)) +
                 ", p99 " + fmt("%.2f ms", percentile(s.ms, 99))) +
             "</text>\n";
        ++k;
    }
}

// A throughput bar's series: the engine, and the network when it is not none.
std::string bar_series(const ThroughputRow& t) {
    return t.network == "none" ? t.engine : t.engine + " (" + t.network + ")";
}

void svg_bars(std::string& o, const Results& r, double x0, double y0, double w, double h) {
    if (r.throughput.empty()) return;
    std::vector<std::string> engines;  // the series
    std::vector<int> clients;
    double top = 0;
    for (const auto& t : r.throughput) {
        if (std::find(engines.begin(), engines.end(), bar_series(t)) == engines.end())
            engines.push_back(bar_series(t));
        if (std::find(clients.begin(), clients.end(), t.clients) == clients.end())
            clients.push_back(t.clients);
        if (t.seconds > 0) top = std::max(top, t.lifecycles / t.seconds);
    }
    if (top <= 0) return;
    top *= 1.15;  // room for the labels
    o += fmt("<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' fill='none' stroke='#444'/>\n", x0,
             y0, w, h);
    o +=
        fmt("<text x='%.0f' y='%.0f' font-weight='bold'>throughput (lifecycles/s; network "
            "none unless named)</text>\n",
            x0, y0 - 10);
    double group = w / double(clients.size()), bar = group * 0.8 / double(engines.size());
    for (size_t g = 0; g < clients.size(); ++g) {
        o += fmt("<text x='%.0f' y='%.0f' text-anchor='middle'>%.0f client(s)</text>\n",
                 x0 + group * (double(g) + 0.5), y0 + h + 16, clients[g]);
        for (const auto& t : r.throughput) {
            if (t.clients != clients[g] || t.seconds <= 0) continue;
            size_t e =
                size_t(std::find(engines.begin(), engines.end(), bar_series(t)) - engines.begin());
            double rate = t.lifecycles / t.seconds, bh = h * rate / top;
            double bx = x0 + group * double(g) + group * 0.1 + bar * double(e);
            o += fmt("<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f'", bx, y0 + h - bh, bar - 2,
                     bh) +
                 " fill='" + palette[e % 7] + "'/>\n";
            o += fmt("<text x='%.1f' y='%.1f' text-anchor='middle'>%.0f</text>\n", bx + bar / 2,
                     y0 + h - bh - 4, rate);
        }
    }
    for (size_t e = 0; e < engines.size(); ++e) {  // two to a line
        double lx = x0 + 10 + 170 * double(e % 2), ly = y0 + h + 34 + 15 * double(e / 2);
        o += fmt("<rect x='%.0f' y='%.0f' width='12' height='8'", lx, ly - 8) + " fill='" +
             palette[e % 7] + "'/>\n";
        o += fmt("<text x='%.0f' y='%.0f'>", lx + 16, ly) + esc(engines[e]) + "</text>\n";
    }
}

// The ports scenario's medians under the bars.
void svg_ports(std::string& o, const Results& r, double x0, double y0) {
    for (const auto& p : r.ports) {
        double d = percentile(p.direct, 50), q = percentile(p.published, 50);
        if (d <= 0 || q <= 0) continue;
        o += fmt("<text x='%.0f' y='%.0f'>", x0, y0) +
             esc(p.engine + " ports: published " +
                 fmt("%.0f, direct %.0f MB/s (%.2fx)", q, d, q / d)) +
             "</text>\n";
        y0 += 15;
    }
}

}  // namespace

bool write_json(const std::string& path, const Options& opt, const Machine& m,
                const std::vector<Engine>& engines, const Results& r, const std::string& command) {
    JsonWriter w;
    w.begin_object().field("tool", "berth-bench").field("command", command);
    w.field("interrupted", r.interrupted);
    w.key("machine").begin_object().field("kernel", m.kernel).field("cpu", m.cpu);
    w.field("cores", m.cores).field("memory_mib", int64_t(m.mem_mib)).field("os", m.os);
    w.field("cgroups", m.cgroup_mode).field("load_average_start", m.load_start);
    w.field("load_average_end", m.load_end).end_object();
    w.key("engines").begin_array();
    for (const Engine& e : engines)
        w.begin_object()
            .field("name", e.name)
            .field("kind", e.kind)
            .field("version", e.version)
            .field("started_by_bench", e.ours)
            .end_object();
    w.end_array();
    w.key("options").begin_object().field("runs", opt.runs).field("warmup", opt.warmup);
    w.field("duration_s", opt.duration_s).field("density", opt.density);
    w.field("density_other", opt.density_other).field("pull_mb", opt.pull_mb);
    w.key("clients").begin_array();
    for (int c : opt.clients) w.value(c);
    w.end_array().key("bridge_clients").begin_array();
    for (int c : opt.bridge_clients) w.value(c);
    w.end_array().field("port_mb", opt.port_mb).field("port_runs", opt.port_runs);
    w.field("bridge", opt.bridge).field("quick", opt.quick).end_object();
    json_results(w, r);
    w.key("notes").begin_array();
    for (const auto& n : r.notes) w.value(n);
    w.end_array().end_object();
    std::ofstream out(path);
    out << w.str() << "\n";
    return bool(out);
}

bool write_svg(const std::string& path, const Machine& m, const Results& r,
               const std::string& command) {
    std::string o =
        "<svg xmlns='http://www.w3.org/2000/svg' width='1000' height='520' "
        "font-family='sans-serif' font-size='11'>\n<rect width='1000' height='520' "
        "fill='white'/>\n";
    svg_cdf(o, r, 50, 40, 520, 320);
    svg_bars(o, r, 630, 40, 350, 320);
    svg_ports(o, r, 640, 450);
    o += "<text x='10' y='495' fill='#555'>" +
         esc(m.cpu + ", " + std::to_string(m.cores) + " cores, " + m.kernel + ", cgroups " +
             m.cgroup_mode + ", load average " + m.load_start + " / " + m.load_end) +
         "</text>\n";
    o += "<text x='10' y='511' fill='#555'>" + esc(command) + "</text>\n</svg>\n";
    std::ofstream out(path);
    out << o;
    return bool(out);
}

}  // namespace berth::bench
