// The ports scenario: TCP throughput into one container on berthd's default bridge, sent to
// its IP directly and to 127.0.0.1:<published port> (nftables DNAT and masquerade), the two
// paths alternating (A B A B …) over fresh connections to the same sink; median MB/s and the
// ratio published/direct (issue 6's target: 0.9 or better).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/json.hpp"
#include "base/time.hpp"
#include "scenarios.hpp"

namespace berth::bench {

namespace {

constexpr int sink_port = 5001;

// A free TCP port of this network namespace (the kernel's pick), for HostPort: berthd then
// binds it for as long as the port is published.
int free_port() {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    socklen_t len = sizeof a;
    int port = 0;
    if (s >= 0 && bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

// The sink: busybox nc's persistent listener hands each connection to `dd bs=1M` (reading it
// to EOF), then closes it. A `while true; do nc -l >/dev/null; done` loop copies in small
// reads and capped both paths alike at under half of what they carry (~900 against ~1,950
// MB/s on a 2-CPU machine).
std::string sink_body(const Context& ctx, int host_port) {
    std::string port = std::to_string(sink_port) + "/tcp";
    JsonWriter w;
    w.begin_object().field("Image", ctx.image).key("Cmd").begin_array().value("sh").value("-c");
    w.value("exec busybox nc -ll -p " + std::to_string(sink_port) +
            " -e busybox dd of=/dev/null bs=1M 2>/dev/null");
    w.end_array().key("ExposedPorts").begin_object().key(port).begin_object().end_object();
    w.end_object().key("Labels").begin_object().field("berth-bench.run", ctx.run_id);
    w.end_object().key("HostConfig").begin_object().field("NetworkMode", "bridge");
    w.key("PortBindings").begin_object().key(port).begin_array().begin_object();
    w.field("HostIp", "").field("HostPort", std::to_string(host_port)).end_object();
    w.end_array().end_object().end_object().end_object();
    return w.take();
}

// Creates and starts the sink; its id and bridge IP, or false with `error`.
bool start_sink(Context& ctx, ApiClient& c, PortsRow& row, std::string& id, std::string& error) {
    Response r = c.request("POST", "/containers/create", sink_body(ctx, row.host_port));
    if (r.status != 201) return error = "create: " + r.message(), false;
    simdjson::dom::parser p;
    simdjson::padded_string created(r.body);
    std::string_view sv;
    if (p.parse(created)["Id"].get(sv)) return error = "create: no Id in " + r.body, false;
    id = std::string(sv);
    ctx.tracker.add(c.path(), id);
    if (r = c.request("POST", "/containers/" + id + "/start"); r.status != 204)
        return error = "start: " + r.message(), false;
    r = c.request("GET", "/containers/" + id + "/json");
    simdjson::padded_string inspect(r.body);
    if (!r.ok() || p.parse(inspect)["NetworkSettings"]["IPAddress"].get(sv) || sv.empty())
        return error = "inspect: no NetworkSettings.IPAddress: " + r.message(), false;
    row.container_ip = std::string(sv);
    return true;
}

// One transfer: connect (retried for 2 s while refused), send `mib` MiB, shutdown(SHUT_WR),
// read to EOF. MB/s from the connect to the EOF, or a negative value with `error`.
double transfer(const std::string& ip, int port, int mib, std::string& error) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) return error = "bad IP " + ip, -1;
    std::string where = ip + ":" + std::to_string(port);
    int64_t give_up = monotonic_ns() + 2'000'000'000, t0 = 0;
    int s = -1;
    for (;;) {
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) return error = std::string("socket: ") + std::strerror(errno), -1;
        timeval tv{30, 0};  // a stuck path fails the transfer instead of the run
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        t0 = monotonic_ns();
        if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
        int err = errno;
        close(s);
        if (err != ECONNREFUSED || monotonic_ns() > give_up || g_stop)
            return error = "connect " + where + ": " + std::strerror(err), -1;
        usleep(2'000);
    }
    static const std::string buf(1 << 20, 'x');
    bool ok = true;
    for (int i = 0; ok && i < mib && !g_stop; ++i)
        for (size_t off = 0; ok && off < buf.size();) {
            ssize_t n = send(s, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) ok = false, error = "send to " + where + ": " + std::strerror(errno);
            off += n > 0 ? size_t(n) : 0;
        }
    if (ok && shutdown(s, SHUT_WR) != 0)
        ok = false, error = "shutdown to " + where + ": " + std::strerror(errno);
    char sink[4096];
    for (ssize_t n; ok && (n = read(s, sink, sizeof sink)) != 0;)
        if (n < 0 && errno != EINTR)
            ok = false, error = "read from " + where + ": " + std::strerror(errno);
    double secs = double(monotonic_ns() - t0) / 1e9;
    close(s);
    if (!ok || g_stop) return -1;
    return double(mib) * 1048576.0 / 1e6 / secs;
}

// The direct and published transfers in turn, --port-runs of each.
void measure_paths(Context& ctx, PortsRow& row) {
    ctx.progress.begin("ports " + row.engine + ": direct and published transfers",
                       2 * ctx.opt.port_runs);
    for (int i = 0; i < ctx.opt.port_runs && !g_stop; ++i)
        for (bool published : {false, true}) {
            std::string error;
            double mbps = published ? transfer("127.0.0.1", row.host_port, row.mb, error)
                                    : transfer(row.container_ip, sink_port, row.mb, error);
            ctx.progress.step();
            if (mbps > 0) {
                (published ? row.published : row.direct).push_back(mbps);
            } else if (!g_stop && row.errors++ == 0) {
                row.first_error = (published ? "published: " : "direct: ") + error;
                note(ctx.res, "ports " + row.engine + ": " + row.first_error);
            }
        }
    ctx.progress.end();
}

}  // namespace

void run_ports(Context& ctx, const std::vector<Engine>& engines) {
    for (const Engine& e : engines) {
        if (g_stop) return;
        if (e.kind != "berthd" || !e.bridge || !ctx.opt.bridge) {
            note(ctx.res, "ports: skipped for " + e.name +
                              (e.kind != "berthd" ? ": published ports are measured on berthd only"
                                                  : ": no bridge (--no-bridge)"));
            continue;
        }
        PortsRow row;
        row.engine = e.name;
        row.mb = ctx.opt.port_mb;
        row.host_port = free_port();
        ApiClient c(e.socket);
        std::string id, error;
        if (row.host_port == 0 || !start_sink(ctx, c, row, id, error)) {
            row.errors = 1;
            row.first_error = row.host_port == 0 ? "no free port" : error;
            note(ctx.res, "ports " + e.name + ": " + row.first_error);
        } else {
            measure_paths(ctx, row);
        }
        if (!id.empty() && c.request("DELETE", "/containers/" + id + "?force=1").ok())
            ctx.tracker.remove(c.path(), id);
        if (!row.direct.empty() && !row.published.empty()) {
            double d = percentile(row.direct, 50), p = percentile(row.published, 50);
            char line[256];
            std::snprintf(line, sizeof line,
                          "ports %s: published 127.0.0.1:%d %.0f MB/s, direct %s:%d %.0f MB/s: "
                          "ratio %.2f (target 0.9 or better)",
                          e.name.c_str(), row.host_port, p, row.container_ip.c_str(), sink_port, d,
                          p / d);
            note(ctx.res, line);
        }
        ctx.res.ports.push_back(std::move(row));
    }
}

}  // namespace berth::bench
