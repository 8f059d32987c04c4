// Hostile registries and blobs through `docker pull`: a fake registry (a thread serving crafted
// answers on 127.0.0.1) gives a manifest list without linux/amd64, a blob that is not the one its
// digest names, a corrupt gzip stream, a layer that climbs out of its directory, and a layer cut
// off mid-stream. Each ends in Docker's error and leaves no image, tag, layer or file behind.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <mutex>

#include "base/json.hpp"
#include "daemon_fixture.hpp"
#include "graph/digest.hpp"
#include "graph/tar_writer.hpp"
#include "registry_fixture.hpp"

using namespace berth;
using namespace berth::e2e;
using berth::registry_test::FakeHttpServer;
using berth::registry_test::FakeRequest;

namespace {

std::string gzip(const std::string& data, const std::string& dir) {
    std::string in = dir + "/gz-in", out = dir + "/gz-in.gz";
    FILE* f = std::fopen(in.c_str(), "wb");
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
    std::system(("gzip -nf " + in).c_str());
    FILE* g = std::fopen(out.c_str(), "rb");
    std::string r;
    char buf[65536];
    while (size_t n = std::fread(buf, 1, sizeof buf, g)) r.append(buf, n);
    std::fclose(g);
    return r;
}

std::string tar_of(const std::vector<std::pair<std::string, std::string>>& files) {
    std::string out;
    graph::TarWriter w([&](std::span<const std::byte> d) -> Result<> {
        out.append(reinterpret_cast<const char*>(d.data()), d.size());
        return {};
    });
    for (const auto& [name, content] : files)
        (void)w.add_file(name, std::as_bytes(std::span(content.data(), content.size())));
    (void)w.finish();
    return out;
}

// A raw ustar header for names the writer would refuse ("../escape").
std::string hostile_tar(const std::string& name, const std::string& content) {
    std::string h(512, '\0');
    std::memcpy(h.data(), name.data(), name.size());
    std::memcpy(h.data() + 100, "0000644", 7);
    std::memcpy(h.data() + 108, "0000000", 7);
    std::memcpy(h.data() + 116, "0000000", 7);
    char size[12];
    std::snprintf(size, sizeof size, "%011o", unsigned(content.size()));
    std::memcpy(h.data() + 124, size, 11);
    std::memcpy(h.data() + 136, "00000000000", 11);
    h[156] = '0';
    std::memcpy(h.data() + 257, "ustar", 5);
    std::memcpy(h.data() + 263, "00", 2);
    std::memset(h.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    char chk[8];
    std::snprintf(chk, sizeof chk, "%06o", sum);
    std::memcpy(h.data() + 148, chk, 7);
    std::string body = content + std::string((512 - content.size() % 512) % 512, '\0');
    return h + body + std::string(1024, '\0');
}

// A registry of fixed answers: path → (content type, body); "blob bodies" may be served
// differently from what their digest says, or cut short.
struct FakeRegistry {
    std::mutex mu;
    std::map<std::string, std::pair<std::string, std::string>> routes;
    std::string cut_short;  // a path whose body is sent half and then the connection closed
    FakeHttpServer server{[this](const FakeRequest& req, int fd) { return serve(req, fd); }};

    bool serve(const FakeRequest& req, int fd) {
        std::lock_guard lock(mu);
        std::string path = req.target.substr(0, req.target.find('?'));
        if (path == "/v2/") return FakeHttpServer::respond(fd, 200, "{}");
        auto it = routes.find(path);
        if (it == routes.end())
            return FakeHttpServer::respond(fd, 404,
                                           R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})");
        const auto& [type, body] = it->second;
        std::string headers = "Content-Type: " + type + "\r\n";
        if (path == cut_short) {
            std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\n" + headers + "\r\n";
            FakeHttpServer::send_all(fd, head + body.substr(0, body.size() / 2));
            return false;  // and close
        }
        if (req.method == "HEAD") {
            std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\n" + headers + "\r\n";
            return FakeHttpServer::send_all(fd, head);
        }
        return FakeHttpServer::respond(fd, 200, body, headers);
    }

    // An image whose single layer is served as `served` while the manifest names `layer`'s
    // digest and size.
    void add_image(const std::string& repo, const std::string& tag, const std::string& layer_tar_gz,
                   const std::string& served, const std::string& diff_id) {
        JsonWriter c;
        c.begin_object().field("architecture", "amd64").field("os", "linux");
        c.key("config").begin_object().end_object();
        c.key("rootfs").begin_object().field("type", "layers").key("diff_ids").begin_array();
        c.value(diff_id).end_array().end_object().end_object();
        std::string config = c.take();
        std::string cd = graph::sha256_digest(config), ld = graph::sha256_digest(layer_tar_gz);
        JsonWriter m;
        m.begin_object().field("schemaVersion", 2);
        m.field("mediaType", "application/vnd.docker.distribution.manifest.v2+json");
        m.key("config").begin_object().field("mediaType", "application/vnd.docker.container.image.v1+json");
        m.field("digest", cd).field("size", config.size()).end_object();
        m.key("layers").begin_array().begin_object();
        m.field("mediaType", "application/vnd.docker.image.rootfs.diff.tar.gzip");
        m.field("digest", ld).field("size", layer_tar_gz.size()).end_object().end_array();
        m.end_object();
        std::lock_guard lock(mu);
        routes["/v2/" + repo + "/manifests/" + tag] = {"application/vnd.docker.distribution.manifest.v2+json", m.str()};
        routes["/v2/" + repo + "/blobs/" + cd] = {"application/octet-stream", config};
        routes["/v2/" + repo + "/blobs/" + ld] = {"application/octet-stream", served};
    }
};

class PullBadInput : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root";
        daemon.use_host_network();  // its registry is on the host's loopback
        ASSERT_TRUE(daemon.start());
        config_dir = daemon.dir() + "/docker-config";
        run_command("mkdir -p " + config_dir + " && echo '{}' > " + config_dir + "/config.json");
    }
    CommandResult d(const std::string& args) {
        return run_command("docker --config " + config_dir + " " + args + " </dev/null",
                           {"DOCKER_HOST=" + daemon.docker_host()});
    }
    // Nothing of a failed pull is left: no image, no layer directory, no spool.
    void expect_nothing_left() {
        EXPECT_EQ(d("images -aq").output, "");
        EXPECT_EQ(run_command("ls " + daemon.data_root() + "/layers | grep -c '^[0-9a-f]\\{64\\}$'").output, "0\n");
    }
    std::string good_layer() { return tar_of({{"hello.txt", "hello\n"}}); }
    BerthDaemon daemon;
    std::string config_dir;
    FakeRegistry reg;
};

}  // namespace

TEST_F(PullBadInput, manifest_list_without_linux_amd64_is_dockers_error) {
    JsonWriter idx;
    idx.begin_object().field("schemaVersion", 2);
    idx.field("mediaType", "application/vnd.docker.distribution.manifest.list.v2+json");
    idx.key("manifests").begin_array().begin_object();
    idx.field("mediaType", "application/vnd.docker.distribution.manifest.v2+json");
    idx.field("digest", graph::sha256_digest("x")).field("size", 1);
    idx.key("platform").begin_object().field("architecture", "s390x").field("os", "linux").end_object();
    idx.end_object().end_array().end_object();
    reg.routes["/v2/berth/multi/manifests/latest"] = {
        "application/vnd.docker.distribution.manifest.list.v2+json", idx.str()};
    auto r = d("pull " + reg.server.authority() + "/berth/multi");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("no matching manifest for linux/amd64 in the manifest list entries"),
              std::string::npos)
        << r.error;
    expect_nothing_left();
}

TEST_F(PullBadInput, blob_that_is_not_the_one_its_digest_names_fails_verification) {
    std::string tar = good_layer();
    std::string gz = gzip(tar, daemon.dir());
    std::string other = gzip(tar_of({{"evil.txt", "not the layer\n"}}), daemon.dir());
    reg.add_image("berth/wrong", "latest", gz, other, graph::sha256_digest(tar));
    auto r = d("pull " + reg.server.authority() + "/berth/wrong");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.output + r.error).find("filesystem layer verification failed for digest"),
              std::string::npos)
        << r.output << r.error;
    expect_nothing_left();
}

TEST_F(PullBadInput, corrupt_gzip_stream_fails_and_leaves_nothing) {
    std::string garbage(4096, '\x1f');
    garbage[1] = '\x8b';  // a gzip magic, then nonsense
    reg.add_image("berth/corrupt", "latest", garbage, garbage, graph::sha256_digest("tar"));
    auto r = d("pull " + reg.server.authority() + "/berth/corrupt");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.output + r.error).find("gzip"), std::string::npos) << r.output << r.error;
    expect_nothing_left();
}

TEST_F(PullBadInput, layer_climbing_out_of_its_directory_is_refused) {
    std::string tar = hostile_tar("../../../../escape-from-berth", "owned\n");
    std::string gz = gzip(tar, daemon.dir());
    reg.add_image("berth/escape", "latest", gz, gz, graph::sha256_digest(tar));
    auto r = d("pull " + reg.server.authority() + "/berth/escape");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.output + r.error).find("outside"), std::string::npos) << r.output << r.error;
    struct stat st {};
    EXPECT_NE(stat((daemon.data_root() + "/escape-from-berth").c_str(), &st), 0);
    EXPECT_NE(stat("/escape-from-berth", &st), 0);
    expect_nothing_left();
}

TEST_F(PullBadInput, registry_closing_mid_layer_fails_and_leaves_nothing) {
    std::string tar = tar_of({{"big.bin", std::string(300000, 'z')}});
    std::string gz = gzip(tar, daemon.dir());
    reg.add_image("berth/cut", "latest", gz, gz, graph::sha256_digest(tar));
    reg.cut_short = "/v2/berth/cut/blobs/" + graph::sha256_digest(gz);
    auto r = d("pull " + reg.server.authority() + "/berth/cut");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.output + r.error).find("EOF"), std::string::npos) << r.output << r.error;
    expect_nothing_left();
    // The daemon is fine: the same image pulls once the registry behaves.
    reg.cut_short.clear();
    auto ok = d("pull " + reg.server.authority() + "/berth/cut");
    EXPECT_EQ(ok.exit_code, 0) << ok.error << ok.output;
}

// A small layer that unpacks to far more than the data root can hold (a zip bomb against a full
// disk): the pull fails with the disk's error, and what it wrote is removed, so the disk is
// usable again and the next pull works.
TEST_F(PullBadInput, layer_bigger_than_the_disk_fails_cleanly_and_frees_the_space) {
    std::string mnt = daemon.dir() + "/small";
    ASSERT_EQ(run_command("mkdir -p " + mnt + " && mount -t tmpfs -o size=48m tmpfs " + mnt)
                  .exit_code,
              0);
    struct Unmount {
        std::string at;
        ~Unmount() { run_command("umount -l " + at); }
    } unmount{mnt};  // declared before the daemon: it goes after it
    BerthDaemon small;
    small.set_data_root(mnt + "/data");
    small.use_host_network();
    ASSERT_TRUE(small.start());
    auto ds = [&](const std::string& args) {
        return run_command("docker --config " + config_dir + " " + args + " </dev/null",
                           {"DOCKER_HOST=" + small.docker_host()});
    };
    std::string tar = tar_of({{"zeros.bin", std::string(96 << 20, '\0')}});
    std::string gz = gzip(tar, daemon.dir());  // about 100 KB
    reg.add_image("berth/bomb", "latest", gz, gz, graph::sha256_digest(tar));
    reg.add_image("berth/fine", "latest", gzip(good_layer(), daemon.dir()),
                  gzip(good_layer(), daemon.dir()), graph::sha256_digest(good_layer()));
    auto r = ds("pull " + reg.server.authority() + "/berth/bomb");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.output + r.error).find("No space left on device"), std::string::npos)
        << r.output << r.error;
    EXPECT_EQ(ds("images -aq").output, "");
    // Everything the failed pull wrote is gone: the tmpfs is nearly empty again.
    auto used = run_command("df --output=used -k " + mnt + " | tail -1");
    EXPECT_LT(std::stol(used.output), 8 * 1024) << used.output;
    auto ok = ds("pull " + reg.server.authority() + "/berth/fine");
    EXPECT_EQ(ok.exit_code, 0) << ok.error << ok.output;
    small.stop();
}
