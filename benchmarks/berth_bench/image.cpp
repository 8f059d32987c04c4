#include "image.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/json.hpp"
#include "base/time.hpp"
#include "graph/digest.hpp"

namespace berth::bench {

namespace {

std::string file_digest(const std::string& path) {
    graph::Sha256 h;
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (in.read(buf.data(), std::streamsize(buf.size())) || in.gcount())
        h.update(std::string_view(buf.data(), size_t(in.gcount())));
    return h.digest();
}

// bin/busybox and the applets the scenarios run, as links (busybox picks the applet by name).
bool busybox_root(const std::string& root, std::string& error) {
    if (access("/bin/busybox", X_OK) != 0) {
        error = "needs Debian's busybox-static (/bin/busybox): apt-get install busybox-static";
        return false;
    }
    if (!shell("mkdir -p " + root + "/bin " + root + "/etc " + root + "/tmp " + root + "/proc " +
               root + "/sys " + root + "/dev && cp /bin/busybox " + root + "/bin/busybox && cd " +
               root + "/bin && for a in true sleep sh cat echo; do ln -sf busybox $a; done")) {
        error = "could not build the busybox root in " + root;
        return false;
    }
    return true;
}

// Real files from /usr/lib for the pull image, `mb` MB over `layers` tars.
bool file_layers(const std::string& dir, int mb, int layers, std::vector<std::string>& tars) {
    std::string files;
    if (!shell("find /usr/lib/x86_64-linux-gnu /usr/lib/gcc /usr/share -type f -size -8M "
               "2>/dev/null | sort; true",
               &files))
        return false;
    std::istringstream in(files);
    size_t had = tars.size();
    uint64_t budget = (uint64_t(mb) << 20) / uint64_t(layers), used = 0;
    int n = 0;
    std::ofstream list(dir + "/list0");
    for (std::string f; std::getline(in, f) && n < layers;) {
        struct stat st {};
        if (stat(f.c_str(), &st) != 0) continue;
        list << f << "\n";
        used += uint64_t(st.st_size);
        if (used < budget) continue;
        list.close();
        std::string tar = dir + "/files" + std::to_string(n) + ".tar";
        if (!shell("tar -cf " + tar + " -T " + dir + "/list" + std::to_string(n) + " 2>/dev/null"))
            return false;
        tars.push_back(tar);
        used = 0;
        list.open(dir + "/list" + std::to_string(++n));
    }
    return tars.size() == had + size_t(layers);
}

}  // namespace

bool shell(const std::string& cmd, std::string* out) {
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return false;
    char buf[4096];
    std::string o;
    while (size_t n = fread(buf, 1, sizeof buf, p)) o.append(buf, n);
    int st = pclose(p);
    while (!o.empty() && o.back() == '\n') o.pop_back();
    if (out) *out = std::move(o);
    return st == 0;
}

std::string build_archive(const std::string& dir, const std::string& tag, int extra_mb,
                          std::string& error) {
    std::string root = dir + "/rootfs";
    if (!busybox_root(root, error)) return {};
    std::vector<std::string> layers = {dir + "/busybox.tar"};
    if (!shell("tar --numeric-owner -C " + root + " -cf " + layers[0] + " .")) {
        error = "tar of the busybox root failed";
        return {};
    }
    if (extra_mb > 0 && !file_layers(dir, extra_mb, 4, layers)) {
        error = "could not gather " + std::to_string(extra_mb) + " MB of files from /usr/lib";
        return {};
    }
    JsonWriter c;
    c.begin_object().field("architecture", "amd64").field("os", "linux");
    c.field("created", "2026-11-01T00:00:00Z");
    c.key("config").begin_object().key("Cmd").begin_array().value("sh").end_array();
    c.key("Env").begin_array().value("PATH=/bin").end_array().end_object();
    c.key("rootfs").begin_object().field("type", "layers").key("diff_ids").begin_array();
    for (const auto& l : layers) c.value(file_digest(l));
    c.end_array().end_object().end_object();
    std::string config = c.take();
    std::string config_name =
        std::string(graph::digest_hex(graph::sha256_digest(config))) + ".json";
    JsonWriter m;
    m.begin_array().begin_object().field("Config", config_name);
    m.key("RepoTags").begin_array().value(tag).end_array().key("Layers").begin_array();
    std::string members = config_name + " manifest.json";
    for (const auto& l : layers) {
        std::string name = l.substr(dir.size() + 1);
        m.value(name);
        members += " " + name;
    }
    m.end_array().end_object().end_array();
    std::ofstream(dir + "/" + config_name) << config;
    std::ofstream(dir + "/manifest.json") << m.str();
    std::string archive = dir + "/image.tar";
    if (!shell("tar -C " + dir + " -cf " + archive + " " + members)) {
        error = "tar of the image archive failed";
        return {};
    }
    return archive;
}

bool build_bundle(const std::string& dir, const std::string& args_json, std::string& error) {
    if (!busybox_root(dir + "/rootfs", error)) return false;
    // A minimal OCI config as `runc spec` writes it, with Docker's usual namespaces.
    JsonWriter w;
    w.begin_object().field("ociVersion", "1.0.2");
    w.key("process").begin_object().field("terminal", false);
    w.key("user").begin_object().field("uid", 0).field("gid", 0).end_object();
    w.key("args").raw(args_json);
    w.key("env").begin_array().value("PATH=/bin").end_array().field("cwd", "/");
    w.key("capabilities").begin_object();
    for (const char* set : {"bounding", "effective", "permitted"})
        w.key(set).begin_array().value("CAP_KILL").value("CAP_NET_BIND_SERVICE").end_array();
    w.end_object().field("noNewPrivileges", true).end_object();
    w.key("root").begin_object().field("path", "rootfs").field("readonly", true).end_object();
    w.field("hostname", "bench");
    w.key("mounts").begin_array();
    w.begin_object()
        .field("destination", "/proc")
        .field("type", "proc")
        .field("source", "proc")
        .end_object();
    w.begin_object().field("destination", "/dev").field("type", "tmpfs").field("source", "tmpfs");
    w.key("options")
        .begin_array()
        .value("nosuid")
        .value("strictatime")
        .value("mode=755")
        .end_array()
        .end_object();
    w.begin_object().field("destination", "/sys").field("type", "sysfs").field("source", "sysfs");
    w.key("options")
        .begin_array()
        .value("nosuid")
        .value("noexec")
        .value("nodev")
        .value("ro")
        .end_array()
        .end_object();
    w.end_array();
    w.key("linux").begin_object().key("namespaces").begin_array();
    for (const char* ns : {"pid", "network", "ipc", "uts", "mount", "cgroup"})
        w.begin_object().field("type", ns).end_object();
    w.end_array().end_object().end_object();
    std::ofstream(dir + "/config.json") << w.str();
    return true;
}

bool start_registry(const std::string& dir, Registry& out, std::string& error) {
    if (access("/usr/bin/docker-registry", X_OK) != 0) {
        error = "needs Debian's docker-registry (apt-get install docker-registry)";
        return false;
    }
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        if (s >= 0) close(s);
        error = "no free port on 127.0.0.1";
        return false;
    }
    close(s);
    out.dir = dir;
    out.host = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    std::ofstream(dir + "/registry.yml")
        << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " << dir
        << "/storage\nhttp:\n  addr: " << out.host << "\n";
    out.pid = fork();
    if (out.pid == 0) {
        setpgid(0, 0);
        if (!std::freopen((dir + "/registry.log").c_str(), "w", stdout)) _exit(127);
        dup2(1, 2);
        execl("/usr/bin/docker-registry", "docker-registry", "serve",
              (dir + "/registry.yml").c_str(), nullptr);
        _exit(127);
    }
    for (int i = 0; i < 250; ++i) {
        if (shell("curl -sf -o /dev/null http://" + out.host + "/v2/")) return true;
        usleep(20'000);
    }
    error = "docker-registry did not answer on " + out.host;
    stop_registry(out);
    return false;
}

void stop_registry(Registry& r) {
    if (r.pid <= 0) return;
    kill(r.pid, SIGTERM);
    waitpid(r.pid, nullptr, 0);
    r.pid = -1;
}

bool push_archive(const Registry& r, const std::string& archive, const std::string& repo,
                  uint64_t& bytes, std::string& error) {
    if (access("/usr/bin/skopeo", X_OK) != 0) {
        error = "needs skopeo (apt-get install skopeo) to put the image in the registry";
        return false;
    }
    std::string out;
    if (!shell("skopeo copy --quiet --dest-tls-verify=false docker-archive:" + archive +
                   " docker://" + r.host + "/" + repo + " 2>&1",
               &out)) {
        error = "skopeo copy failed: " + out;
        return false;
    }
    std::string tag = repo.substr(repo.rfind(':') + 1), name = repo.substr(0, repo.rfind(':'));
    std::string manifest;
    shell("curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' http://" +
              r.host + "/v2/" + name + "/manifests/" + tag,
          &manifest);
    simdjson::dom::parser p;
    simdjson::padded_string ps(manifest);
    simdjson::dom::array layers;
    if (p.parse(ps)["layers"].get(layers)) {
        error = "the registry has no manifest for " + repo + ": " + manifest.substr(0, 200);
        return false;
    }
    bytes = 0;
    for (auto l : layers) {
        uint64_t size = 0;
        (void)!l["size"].get(size);
        bytes += size;
    }
    return true;
}

}  // namespace berth::bench
