// pull_bench: pulls a ~200 MB, 5-layer image from Debian's docker-registry on 127.0.0.1 into a
// fresh berthd, once with gzip layers and once with zstd layers, and reports wall time, MB/s
// (compressed bytes), berthd's CPU and its peak RSS growth; then the floor: the same blobs
// fetched with curl and unpacked by `tar -xz` / `zstd -dc | tar -x`, 3 at a time as berthd does.
// Needs root, docker-registry, skopeo, curl, zstd. Layers are real files from /usr/lib.
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/json.hpp"
#include "base/time.hpp"
#include "graph/digest.hpp"
#include "graph/tar_writer.hpp"

using namespace berth;

namespace {

std::string sh(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

bool run(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

std::string file_digest(const std::string& path) {
    graph::Sha256 h;
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (in.read(buf.data(), std::streamsize(buf.size())) || in.gcount())
        h.update(std::string_view(buf.data(), size_t(in.gcount())));
    return h.digest();
}

// Five layers of ~40 MB of real libraries, as a docker-archive skopeo can push.
std::string build_archive(const std::string& dir) {
    std::vector<std::string> layers;
    std::string files = sh("find /usr/lib/x86_64-linux-gnu /usr/lib/gcc /usr/share -type f -size -8M "
                           "2>/dev/null | sort");
    std::istringstream in(files);
    std::string f;
    uint64_t budget = 40ull << 20, used = 0;
    int n = 0;
    std::ofstream list(dir + "/list0");
    while (std::getline(in, f) && n < 5) {
        struct stat st {};
        if (stat(f.c_str(), &st) != 0) continue;
        list << f << "\n";
        used += uint64_t(st.st_size);
        if (used >= budget) {
            list.close();
            std::string tar = dir + "/layer" + std::to_string(n) + ".tar";
            run("tar -cf " + tar + " -T " + dir + "/list" + std::to_string(n) + " 2>/dev/null");
            layers.push_back(tar);
            ++n;
            used = 0;
            list.open(dir + "/list" + std::to_string(n));
        }
    }
    std::vector<std::string> diffs;
    for (const auto& l : layers) diffs.push_back(file_digest(l));
    JsonWriter c;
    c.begin_object().field("architecture", "amd64").field("os", "linux").field("created", "2026-11-01T00:00:00Z");
    c.key("config").begin_object().end_object();
    c.key("rootfs").begin_object().field("type", "layers").key("diff_ids").begin_array();
    for (const auto& d : diffs) c.value(d);
    c.end_array().end_object().end_object();
    std::string config = c.take();
    std::string config_name = std::string(graph::digest_hex(graph::sha256_digest(config))) + ".json";
    JsonWriter m;
    m.begin_array().begin_object().field("Config", config_name).key("RepoTags").begin_array().value("bench:latest").end_array();
    m.key("Layers").begin_array();
    for (size_t i = 0; i < layers.size(); ++i) m.value("layer" + std::to_string(i) + ".tar");
    m.end_array().end_object().end_array();
    std::ofstream(dir + "/" + config_name) << config;
    std::ofstream(dir + "/manifest.json") << m.str();
    std::string members = config_name + " manifest.json";
    for (size_t i = 0; i < layers.size(); ++i) members += " layer" + std::to_string(i) + ".tar";
    run("tar -C " + dir + " -cf " + dir + "/image.tar " + members);
    return dir + "/image.tar";
}

struct Proc {
    double cpu_s = 0;
    long rss_kb = 0, hwm_kb = 0;
};

Proc proc(pid_t pid) {
    Proc p;
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(st)), {});
    auto close = s.rfind(')');
    std::istringstream rest(s.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; rest >> x;) f.push_back(x);
    long tick = sysconf(_SC_CLK_TCK);
    if (f.size() > 13) p.cpu_s = double(std::stol(f[11]) + std::stol(f[12])) / double(tick);
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.starts_with("VmRSS:")) p.rss_kb = std::stol(line.substr(6));
        if (line.starts_with("VmHWM:")) p.hwm_kb = std::stol(line.substr(6));
    }
    return p;
}

// POST /images/create on berthd's socket; returns the body (the progress stream).
std::string api_pull(const std::string& sock, const std::string& image) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
    std::string req = "POST /v1.51/images/create?fromImage=" + image +
                      " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
    close(fd);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (geteuid() != 0) {
        std::fprintf(stderr, "pull_bench needs root\n");
        return 1;
    }
    for (const char* tool : {"/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/curl", "/usr/bin/zstd"})
        if (access(tool, X_OK) != 0) {
            std::fprintf(stderr, "pull_bench needs %s\n", tool);
            return 1;
        }
    const char* berthd = argc > 1 ? argv[1] : BERTHD_PATH;
    std::string dir = sh("mktemp -d /tmp/berth-pull-bench-XXXXXX");
    std::printf("building a 5-layer image from /usr/lib ...\n");
    std::fflush(stdout);
    std::string archive = build_archive(dir);
    std::string port = sh("python3 -c 'import socket;s=socket.socket();s.bind((\"127.0.0.1\",0));print(s.getsockname()[1])'");
    std::string host = "127.0.0.1:" + port;
    std::ofstream(dir + "/registry.yml") << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "
                                         << dir << "/registry\nhttp:\n  addr: " << host << "\n";
    pid_t reg = fork();
    if (reg == 0) {
        std::freopen((dir + "/registry.log").c_str(), "w", stdout);
        std::freopen((dir + "/registry.log").c_str(), "a", stderr);
        execl("/usr/bin/docker-registry", "docker-registry", "serve", (dir + "/registry.yml").c_str(), nullptr);
        _exit(127);
    }
    usleep(800'000);
    // skopeo remembers blobs by their uncompressed digest and would reuse the gzip ones for the
    // zstd copy: start each copy without that cache.
    const std::string no_cache = "rm -f /var/lib/containers/cache/blob-info-cache-v1.* && ";
    bool pushed = run(no_cache + "skopeo copy --quiet --dest-tls-verify=false docker-archive:" + archive +
                      " docker://" + host + "/bench:gzip") &&
                  run(no_cache + "skopeo copy --quiet --dest-tls-verify=false --dest-compress-format zstd "
                      "--format oci docker-archive:" + archive + " docker://" + host +
                      "/bench-zstd:zstd");
    if (!pushed) {
        std::fprintf(stderr, "could not put the image in the registry\n");
        kill(reg, SIGTERM);
        return 1;
    }
    std::printf("\n%-6s %10s %9s %9s %9s %12s | %10s %9s %6s\n", "layers", "MB", "berth s", "MB/s",
                "cpu s", "peak RSS +", "floor s", "MB/s", "ratio");
    for (const char* variant : {"gzip", "zstd"}) {
        std::string repo = std::string(variant) == "gzip" ? "bench" : "bench-zstd";
        // The blobs, for the byte count and the floor.
        std::string manifest = sh("curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "
                                  "-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
                                  "http://" + host + "/v2/" + repo + "/manifests/" + variant);
        simdjson::dom::parser parser;
        simdjson::padded_string padded(manifest);
        simdjson::dom::array layers;
        if (parser.parse(padded)["layers"].get(layers)) return 1;
        uint64_t bytes = 0;
        std::string digests;
        for (auto l : layers) {
            uint64_t size = 0;
            std::string_view d;
            (void)!l["size"].get(size);
            (void)!l["digest"].get(d);
            bytes += size;
            digests += std::string(d) + "\n";
        }
        // berthd, fresh data root.
        std::string root = dir + "/berth-" + variant;
        std::string sock = root + "/berth.sock";
        run("mkdir -p " + root + " && echo '{}' > " + root + "/daemon.json");
        pid_t b = fork();
        if (b == 0) {
            execl(berthd, "berthd", "-H", ("unix://" + sock).c_str(), "--data-root",
                  (root + "/data").c_str(), "--exec-root", (root + "/exec").c_str(), "--pidfile",
                  (root + "/pid").c_str(), "--config-file", (root + "/daemon.json").c_str(),
                  // Pulls only: nothing made in the host's network, a cgroup parent of its own.
                  "--bridge", "none", "--cgroup-parent", "berth-pull-bench", nullptr);
            _exit(127);
        }
        for (int i = 0; i < 100 && access(sock.c_str(), F_OK) != 0; ++i) usleep(20'000);
        Proc before = proc(b);
        int64_t t0 = monotonic_ns();
        std::string out = api_pull(sock, host + "/" + repo + "&tag=" + variant);
        double secs = double(monotonic_ns() - t0) / 1e9;
        Proc after = proc(b);
        bool ok = out.find("Status: Downloaded newer image") != std::string::npos;
        kill(b, SIGTERM);
        waitpid(b, nullptr, 0);
        // The floor: curl | tar, 3 layers at a time.
        std::string floor_dir = dir + "/floor-" + variant;
        std::string unpack = std::string(variant) == "gzip" ? "tar -xzf -" : "zstd -dcq | tar -xf -";
        std::ofstream(dir + "/digests") << digests;
        int64_t f0 = monotonic_ns();
        run("cat " + dir + "/digests | xargs -P 3 -I{} sh -c 'mkdir -p " + floor_dir +
            "/$(echo {} | cut -c8-19) && curl -s http://" + host + "/v2/" + repo + "/blobs/{} | (cd " +
            floor_dir + "/$(echo {} | cut -c8-19) && " + unpack + ")'");
        double floor_s = double(monotonic_ns() - f0) / 1e9;
        double mb = double(bytes) / 1e6;
        std::printf("%-6s %10.1f %9.2f %9.1f %9.2f %9ld KiB | %10.2f %9.1f %5.2fx %s\n", variant,
                    mb, secs, mb / secs, after.cpu_s - before.cpu_s,
                    after.hwm_kb - before.rss_kb, floor_s, mb / floor_s, secs / floor_s,
                    ok ? "" : "(PULL FAILED)");
        std::printf("{\"compression\":\"%s\",\"bytes\":%llu,\"berth_s\":%.3f,\"floor_s\":%.3f,"
                    "\"cpu_s\":%.2f,\"peak_rss_growth_kib\":%ld,\"ok\":%s}\n",
                    variant, static_cast<unsigned long long>(bytes), secs, floor_s,
                    after.cpu_s - before.cpu_s, after.hwm_kb - before.rss_kb, ok ? "true" : "false");
        if (!ok) std::fprintf(stderr, "%s\n", out.substr(0, 2000).c_str());
    }
    kill(reg, SIGTERM);
    waitpid(reg, nullptr, 0);
    if (!std::getenv("PULL_BENCH_KEEP")) run("rm -rf " + dir);
    else std::printf("kept %s (registry stopped)\n", dir.c_str());
    return 0;
}
