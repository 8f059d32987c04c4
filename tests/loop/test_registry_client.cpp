// The registry client on a real loop against Debian's docker-registry (plain, htpasswd basic
// auth, TLS with a CA made here, bearer tokens from an in-process token server) and against
// fake servers for what a healthy registry never does (wrong bytes, stalls, cut bodies,
// redirects to storage hosts). Images are pushed by the client itself, then resolved and pulled.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "../e2e/registry_fixture.hpp"
#include "base/time.hpp"
#include "graph/digest.hpp"
#include "kernel/tcp_socket.hpp"
#include "registry/auth.hpp"
#include "registry/client.hpp"
#include "registry/http_client.hpp"
#include "registry/manifest.hpp"

using namespace berth;
using namespace berth::registry;
using registry_test::FakeHttpServer;
using registry_test::FakeRequest;
using registry_test::index_of;
using registry_test::make_image;
using registry_test::RegistryAuth;
using registry_test::RegistryFixture;
using registry_test::TestImage;

namespace {

BodySource string_source(std::string data) {
    auto d = std::make_shared<std::string>(std::move(data));
    auto off = std::make_shared<size_t>(0);
    BodySource s;
    s.length = d->size();
    s.read = [d, off](std::span<std::byte> buf) -> Result<size_t> {
        size_t n = std::min(buf.size(), d->size() - *off);
        std::memcpy(buf.data(), d->data() + *off, n);
        *off += n;
        return n;
    };
    return s;
}

// Deterministic bytes, regenerated on demand so 100 MB never sits in memory.
struct Noise {
    uint64_t state = 0x9E3779B97F4A7C15ull;
    void fill(std::span<std::byte> out) {
        for (std::byte& b : out) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b = std::byte(state);
        }
    }
};

// ASan's quarantine keeps freed memory resident on purpose: RSS says nothing there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool rss_meaningful = false;
#else
constexpr bool rss_meaningful = true;
#endif

long rss_kb() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
    return 0;
}

Reference ref_of(const std::string& text) {
    auto r = graph::Reference::parse(text);
    EXPECT_TRUE(r) << text;
    return r ? *r : Reference{};
}

// ---- the fixture ----

class RegistryClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto l = loop::Loop::create();
        ASSERT_TRUE(l) << l.error().message;
        loop_ = std::move(*l);
    }
    void TearDown() override {
        if (client_) drain(*client_);
        client_.reset();
    }

    RegistryClient& client(RegistryOptions o = {}) {
        if (o.timeouts.idle_ns == ConnectionTimeouts{}.idle_ns) o.timeouts.idle_ns = 10'000'000'000;
        client_ = std::make_unique<RegistryClient>(*loop_, std::move(o));
        return *client_;
    }

    template <class P>
    bool run_until(P done, int64_t timeout_ms = 60'000) {
        int64_t deadline = monotonic_ns() + timeout_ms * 1'000'000;
        while (!done()) {
            if (!loop_->tick(20'000'000)) return false;
            if (monotonic_ns() > deadline) return false;
        }
        return true;
    }

    void drain(RegistryClient& c) {
        c.shutdown();
        EXPECT_TRUE(run_until([&] { return c.quiescent(); }, 5000));
    }

    template <class T, class F>
    Result<T> wait(F start) {
        std::optional<Result<T>> out;
        start([&out](Result<T> r) { out = std::move(r); });
        if (!run_until([&] { return out.has_value(); }))
            return fail(Error::internal("test timed out waiting for the client"));
        return std::move(*out);
    }

    Result<> push(RegistryClient& c, const std::string& repo, const std::string& tag,
                  const TestImage& img, const Credentials& creds = {}) {
        Reference ref = ref_of(repo + ":" + tag);
        for (const std::string* blob : {&img.config, &img.layer}) {
            auto r = wait<void>([&](Done<void> done) {
                c.upload_blob(ref, graph::sha256_digest(*blob), string_source(*blob), creds,
                              std::move(done));
            });
            if (!r) return r;
        }
        auto d = wait<std::string>([&](Done<std::string> done) {
            c.put_manifest(ref, std::string(media_type::docker_manifest), img.manifest, creds,
                           std::move(done));
        });
        if (!d) return fail(std::move(d.error()));
        EXPECT_EQ(*d, img.digest);
        return {};
    }

    Result<std::string> fetch_blob(RegistryClient& c, const Reference& repo,
                                   const std::string& digest, uint64_t size,
                                   const Credentials& creds = {}) {
        std::string got;
        auto r = wait<void>([&](Done<void> done) {
            HttpHandlers h;
            h.on_body = [&got](std::span<const std::byte> d) {
                got.append(reinterpret_cast<const char*>(d.data()), d.size());
            };
            h.on_done = std::move(done);
            c.fetch_blob_verified(repo, digest, size, creds, std::move(h));
        });
        if (!r) return fail(std::move(r.error()));
        return got;
    }

    // Push an image and read it back: the round trip every registry variant must pass.
    void round_trip(RegistryClient& c, const std::string& host, const Credentials& creds) {
        TestImage img = make_image("amd64", "hello from " + host);
        auto pushed = push(c, host + "/berth/hello", "v1", img, creds);
        ASSERT_TRUE(pushed) << pushed.error().message;
        Reference ref = ref_of(host + "/berth/hello:v1");
        auto res = wait<Resolved>([&](Done<Resolved> done) {
            c.resolve(ref, default_platform(), creds, std::move(done));
        });
        ASSERT_TRUE(res) << res.error().message;
        EXPECT_EQ(res->manifest.digest, img.digest);
        EXPECT_EQ(res->manifest.media_type, media_type::docker_manifest);
        EXPECT_FALSE(res->index);
        const ImageManifest& m = res->manifest.manifest.image;
        ASSERT_EQ(m.layers.size(), 1u);
        auto config = fetch_blob(c, ref, m.config.digest, m.config.size, creds);
        ASSERT_TRUE(config) << config.error().message;
        EXPECT_EQ(*config, img.config);
        auto layer = fetch_blob(c, ref, m.layers[0].digest, m.layers[0].size, creds);
        ASSERT_TRUE(layer) << layer.error().message;
        EXPECT_EQ(*layer, img.layer);
        auto size = wait<std::optional<uint64_t>>([&](Done<std::optional<uint64_t>> done) {
            c.stat_blob(ref, img.layer_digest, creds, std::move(done));
        });
        ASSERT_TRUE(size) << size.error().message;
        EXPECT_EQ(size->value_or(0), img.layer.size());
        std::string absent = graph::sha256_digest("not pushed");
        size = wait<std::optional<uint64_t>>([&](Done<std::optional<uint64_t>> done) {
            c.stat_blob(ref, absent, creds, std::move(done));
        });
        ASSERT_TRUE(size) << size.error().message;
        EXPECT_FALSE(size->has_value());
    }

    // Uploads `size` bytes of noise from a generating source, downloads them verified, and
    // returns the peak RSS growth seen meanwhile (kB).
    long noise_round_trip(RegistryClient& c, const std::string& host, uint64_t size) {
        graph::Sha256 h;
        {
            Noise n;
            std::vector<std::byte> buf(1 << 20);
            for (uint64_t off = 0; off < size; off += buf.size()) {
                auto chunk =
                    std::span(buf).first(size_t(std::min<uint64_t>(buf.size(), size - off)));
                n.fill(chunk);
                h.update(chunk);
            }
        }
        std::string digest = h.digest();
        Reference ref = ref_of(host + "/berth/big:latest");
        malloc_trim(0);  // what earlier tests freed must not hide what this one holds
        long base = rss_kb(), peak = base;
        auto noise = std::make_shared<Noise>();
        auto sent = std::make_shared<uint64_t>(0);
        BodySource src;
        src.length = size;
        src.read = [noise, sent, size, &peak](std::span<std::byte> buf) -> Result<size_t> {
            size_t n = size_t(std::min<uint64_t>(buf.size(), size - *sent));
            noise->fill(buf.first(n));
            if (((*sent + n) >> 23) != (*sent >> 23)) peak = std::max(peak, rss_kb());
            *sent += n;
            return n;
        };
        auto up = wait<void>([&](Done<void> done) {
            c.upload_blob(ref, digest, std::move(src), {}, std::move(done));
        });
        EXPECT_TRUE(up) << up.error().message;
        uint64_t received = 0;
        auto down = wait<void>([&](Done<void> done) {
            HttpHandlers hh;
            hh.on_body = [&](std::span<const std::byte> d) {
                if (((received + d.size()) >> 23) != (received >> 23))
                    peak = std::max(peak, rss_kb());
                received += d.size();
            };
            hh.on_done = std::move(done);
            c.fetch_blob_verified(ref, digest, size, {}, std::move(hh));
        });
        EXPECT_TRUE(down) << down.error().message;
        EXPECT_EQ(received, size);
        return peak - base;
    }

    std::unique_ptr<RegistryFixture> registry(registry_test::RegistryVariant v) {
        auto r = RegistryFixture::start(v);
        if (!r) {
            ADD_FAILURE() << "registry fixture: " << r.error().message;
            return nullptr;
        }
        return std::move(*r);
    }

    std::unique_ptr<loop::Loop> loop_;
    std::unique_ptr<RegistryClient> client_;
};

Credentials good_creds() {
    return Credentials{RegistryFixture::username, RegistryFixture::password, {}, {}};
}

}  // namespace

// ---- the real registry, each variant ----

TEST_F(RegistryClientTest, push_then_pull_plain_registry) {
    auto reg = registry({});
    ASSERT_TRUE(reg);
    round_trip(client(), reg->host(), {});
}

TEST_F(RegistryClientTest, push_then_pull_with_basic_auth) {
    auto reg = registry({RegistryAuth::basic, false});
    ASSERT_TRUE(reg);
    round_trip(client(), reg->host(), good_creds());
}

TEST_F(RegistryClientTest, basic_auth_without_credentials_is_unauthorized) {
    auto reg = registry({RegistryAuth::basic, false});
    ASSERT_TRUE(reg);
    RegistryClient& c = client();
    auto res = wait<Resolved>([&](Done<Resolved> done) {
        c.resolve(ref_of(reg->host() + "/berth/hello:v1"), default_platform(), {}, std::move(done));
    });
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().kind, ErrorKind::unauthorized);
    EXPECT_EQ(res.error().message, "unauthorized: authentication required");
    Credentials wrong{RegistryFixture::username, "wrong", {}, {}};
    auto push_wrong = push(c, reg->host() + "/berth/hello", "v1", make_image("amd64", "x"), wrong);
    ASSERT_FALSE(push_wrong);
    EXPECT_EQ(push_wrong.error().message, "unauthorized: authentication required");
}

TEST_F(RegistryClientTest, push_then_pull_over_tls_verified_by_certs_d) {
    auto reg = registry({RegistryAuth::basic, true});
    ASSERT_TRUE(reg);
    // dockerd's layout: <certs.d>/<host:port>/ca.crt
    std::string certs = reg->dir() + "/certs.d";
    std::filesystem::create_directories(certs + "/" + reg->host());
    std::filesystem::copy_file(reg->ca_file(), certs + "/" + reg->host() + "/ca.crt");
    RegistryOptions o;
    o.loopback_insecure = false;  // make the client verify, as for any remote registry
    o.certs_dirs = {certs};
    RegistryClient& c = client(std::move(o));
    EXPECT_TRUE(c.tls_config("127.0.0.1", reg->port()).verify);
    round_trip(c, reg->host(), good_creds());
}

TEST_F(RegistryClientTest, tls_with_an_unknown_ca_fails_verification) {
    auto reg = registry({RegistryAuth::none, true});
    ASSERT_TRUE(reg);
    RegistryOptions o;
    o.loopback_insecure = false;
    o.certs_dirs = {};
    RegistryClient& c = client(std::move(o));
    auto res = wait<FetchedManifest>([&](Done<FetchedManifest> done) {
        c.get_manifest(ref_of(reg->host() + "/berth/hello:v1"), {}, std::move(done));
    });
    ASSERT_FALSE(res);
    EXPECT_NE(res.error().message.find("x509: certificate signed by unknown authority"),
              std::string::npos)
        << res.error().message;
}

TEST_F(RegistryClientTest, tls_certificate_for_another_name_fails_verification) {
    auto reg = registry({RegistryAuth::none, true});
    ASSERT_TRUE(reg);
    // The server's certificate names IP:127.0.0.1 only; reach it as "localhost".
    std::string host = "localhost:" + std::to_string(reg->port());
    std::string certs = reg->dir() + "/certs.d";
    std::filesystem::create_directories(certs + "/" + host);
    std::filesystem::copy_file(reg->ca_file(), certs + "/" + host + "/ca.crt");
    RegistryOptions o;
    o.loopback_insecure = false;
    o.certs_dirs = {certs};
    RegistryClient& c = client(std::move(o));
    auto res = wait<FetchedManifest>([&](Done<FetchedManifest> done) {
        c.get_manifest(ref_of(host + "/berth/hello:v1"), {}, std::move(done));
    });
    ASSERT_FALSE(res);
    EXPECT_NE(res.error().message.find("x509: certificate is not valid for localhost"),
              std::string::npos)
        << res.error().message;
}

TEST_F(RegistryClientTest, loopback_tls_registry_is_insecure_like_dockerd) {
    auto reg = registry({RegistryAuth::none, true});
    ASSERT_TRUE(reg);
    round_trip(client(), reg->host(), {});  // https without verification, as dockerd does
}

TEST_F(RegistryClientTest, push_then_pull_with_bearer_tokens) {
    auto reg = registry({RegistryAuth::token, false});
    ASSERT_TRUE(reg);
    RegistryClient& c = client();
    round_trip(c, reg->host(), good_creds());
    // Anonymous clients may pull (the token server grants pull only)…
    Reference ref = ref_of(reg->host() + "/berth/hello:v1");
    auto res = wait<Resolved>(
        [&](Done<Resolved> done) { c.resolve(ref, default_platform(), {}, std::move(done)); });
    ASSERT_TRUE(res) << res.error().message;
    // …but not push.
    auto denied = push(c, reg->host() + "/berth/hello", "v2", make_image("amd64", "anon"), {});
    ASSERT_FALSE(denied);
    EXPECT_NE(denied.error().message.find("denied: requested access to the resource is denied"),
              std::string::npos)
        << denied.error().message;
    // Tokens are cached per scope: far fewer fetches than requests.
    EXPECT_LE(c.auth().tokens_fetched(), 6u);
    Credentials wrong{RegistryFixture::username, "wrong", {}, {}};
    auto bad = wait<Resolved>(
        [&](Done<Resolved> done) { c.resolve(ref, default_platform(), wrong, std::move(done)); });
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("unauthorized: incorrect username or password"),
              std::string::npos)
        << bad.error().message;
}

TEST_F(RegistryClientTest, manifest_list_selects_the_platform) {
    auto reg = registry({});
    ASSERT_TRUE(reg);
    RegistryClient& c = client();
    TestImage amd = make_image("amd64", "amd64 bytes"), arm = make_image("arm64", "arm64 bytes");
    std::string repo = reg->host() + "/berth/multi";
    ASSERT_TRUE(push(c, repo, "amd64", amd));
    ASSERT_TRUE(push(c, repo, "arm64", arm));
    std::string index = index_of(amd, arm);
    Reference ref = ref_of(repo + ":latest");
    auto put = wait<std::string>([&](Done<std::string> done) {
        c.put_manifest(ref, std::string(media_type::oci_index), index, {}, std::move(done));
    });
    ASSERT_TRUE(put) << put.error().message;
    auto resolve = [&](const char* platform) {
        return wait<Resolved>([&](Done<Resolved> done) {
            c.resolve(ref, *parse_platform(platform), {}, std::move(done));
        });
    };
    auto a = resolve("linux/amd64");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->manifest.digest, amd.digest);
    ASSERT_TRUE(a->index);
    EXPECT_EQ(a->index->digest, graph::sha256_digest(index));
    EXPECT_EQ(a->index->media_type, media_type::oci_index);
    auto b = resolve("linux/arm64/v8");
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->manifest.digest, arm.digest);
    auto none = resolve("linux/s390x");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().message,
              "no matching manifest for linux/s390x in the manifest list entries");
}

TEST_F(RegistryClientTest, unknown_manifest_reads_as_docker_says) {
    auto reg = registry({});
    ASSERT_TRUE(reg);
    RegistryClient& c = client();
    ASSERT_TRUE(push(c, reg->host() + "/berth/hello", "v1", make_image("amd64", "x")));
    auto res = wait<Resolved>([&](Done<Resolved> done) {
        c.resolve(ref_of(reg->host() + "/berth/hello:nope"), default_platform(), {},
                  std::move(done));
    });
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().kind, ErrorKind::not_found);
    EXPECT_EQ(res.error().message,
              "manifest for " + reg->host() +
                  "/berth/hello:nope not found: manifest unknown: manifest unknown");
}

TEST_F(RegistryClientTest, large_blob_streams_with_bounded_memory) {
    auto reg = registry({});
    ASSERT_TRUE(reg);
    long growth_kb = noise_round_trip(client(), reg->host(), 100ull * 1024 * 1024);
    if (rss_meaningful) {
        EXPECT_LT(growth_kb, 16 * 1024) << "RSS grew by " << growth_kb << " kB";
    }
    std::printf("100 MB up and down: RSS grew by %ld kB\n", growth_kb);
}

TEST_F(RegistryClientTest, tls_streams_a_large_blob) {
    auto reg = registry({RegistryAuth::none, true});
    ASSERT_TRUE(reg);
    long growth_kb = noise_round_trip(client(), reg->host(), 24ull * 1024 * 1024 + 12345);
    if (rss_meaningful) {
        EXPECT_LT(growth_kb, 16 * 1024) << "RSS grew by " << growth_kb << " kB";
    }
}

// ---- fake servers: what real registries do not do ----

namespace {

// A registry that answers /v2/ and serves `blob` for any blob digest.
FakeHttpServer::Handler serve_blob(std::string blob) {
    return [blob](const FakeRequest& req, int fd) {
        if (req.target == "/v2/") return FakeHttpServer::respond(fd, 200, "{}");
        return FakeHttpServer::respond(fd, 200, blob);
    };
}

}  // namespace

TEST_F(RegistryClientTest, wrong_blob_digest_is_detected) {
    FakeHttpServer server(serve_blob("these are not the bytes you want"));
    RegistryClient& c = client();
    std::string digest = graph::sha256_digest("expected bytes, 32 long exactly!");
    auto r = fetch_blob(c, ref_of(server.authority() + "/x/y"), digest, 32);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "filesystem layer verification failed for digest " + digest);
    // A registry that sends more than the manifest said is stopped early.
    auto big = fetch_blob(c, ref_of(server.authority() + "/x/y"), digest, 10);
    ASSERT_FALSE(big);
    EXPECT_NE(big.error().message.find("the registry sends 32 bytes, the manifest says 10"),
              std::string::npos)
        << big.error().message;
}

TEST_F(RegistryClientTest, wrong_manifest_digest_is_detected) {
    TestImage img = make_image("amd64", "x");
    FakeHttpServer server([&](const FakeRequest& req, int fd) {
        if (req.target == "/v2/") return FakeHttpServer::respond(fd, 200, "{}");
        return FakeHttpServer::respond(
            fd, 200, img.manifest,
            "Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n");
    });
    RegistryClient& c = client();
    std::string other = graph::sha256_digest("another manifest");
    auto r = wait<FetchedManifest>([&](Done<FetchedManifest> done) {
        c.get_manifest(ref_of(server.authority() + "/x/y@" + other), {}, std::move(done));
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "manifest verification failed for digest " + other);
}

TEST_F(RegistryClientTest, registry_that_hangs_mid_body_times_out) {
    FakeHttpServer* self = nullptr;
    FakeHttpServer server([&self](const FakeRequest& req, int fd) {
        if (req.target == "/v2/") return FakeHttpServer::respond(fd, 200, "{}");
        FakeHttpServer::send_all(
            fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(100, 'x'));
        self->wait_stop(30'000);
        return false;
    });
    self = &server;
    RegistryOptions o;
    o.timeouts.idle_ns = 300'000'000;
    RegistryClient& c = client(std::move(o));
    int64_t start = monotonic_ns();
    auto r = fetch_blob(c, ref_of(server.authority() + "/x/y"), graph::sha256_digest("z"), 1000);
    ASSERT_FALSE(r);
    EXPECT_LT(monotonic_ns() - start, 5'000'000'000);
    EXPECT_NE(
        r.error().message.find("net/http: request canceled (idle timeout: no data from 127.0.0.1:"),
        std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("for 300ms"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().sys_errno, ETIMEDOUT);
}

TEST_F(RegistryClientTest, registry_that_closes_mid_body_fails) {
    FakeHttpServer server([](const FakeRequest& req, int fd) {
        if (req.target == "/v2/") return FakeHttpServer::respond(fd, 200, "{}");
        FakeHttpServer::send_all(
            fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(100, 'x'));
        return false;  // close
    });
    RegistryClient& c = client();
    auto r = fetch_blob(c, ref_of(server.authority() + "/x/y"), graph::sha256_digest("z"), 1000);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("unexpected EOF"), std::string::npos) << r.error().message;
}

TEST_F(RegistryClientTest, blob_redirect_does_not_leak_credentials) {
    std::string blob = "layer bytes served by a storage host";
    std::atomic<int> storage_auth{0}, registry_auth{0};
    FakeHttpServer storage([&](const FakeRequest& req, int fd) {
        if (!req.header("authorization").empty()) ++storage_auth;
        return FakeHttpServer::respond(fd, 200, blob);
    });
    FakeHttpServer registry([&](const FakeRequest& req, int fd) {
        if (req.header("authorization").empty())
            return FakeHttpServer::respond(fd, 401,
                                           "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":"
                                           "\"authentication required\"}]}",
                                           "WWW-Authenticate: Basic realm=\"fake\"\r\n");
        ++registry_auth;
        if (req.target == "/v2/") return FakeHttpServer::respond(fd, 200, "{}");
        return FakeHttpServer::respond(fd, 307, "",
                                       "Location: " + storage.url("/blobs/data?sig=1") + "\r\n");
    });
    RegistryClient& c = client();
    auto r = fetch_blob(c, ref_of(registry.authority() + "/x/y"), graph::sha256_digest(blob),
                        blob.size(), good_creds());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, blob);
    EXPECT_GE(registry_auth.load(), 1);
    EXPECT_EQ(storage_auth.load(), 0);
}

TEST_F(RegistryClientTest, endless_redirects_stop_after_five) {
    FakeHttpServer* self = nullptr;
    FakeHttpServer server([&self](const FakeRequest& req, int fd) {
        if (req.target == "/v2/") return FakeHttpServer::respond(fd, 200, "{}");
        return FakeHttpServer::respond(fd, 302, "", "Location: " + self->url("/again") + "\r\n");
    });
    self = &server;
    RegistryClient& c = client();
    auto r = fetch_blob(c, ref_of(server.authority() + "/x/y"), graph::sha256_digest("z"), 1);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("stopped after 5 redirects"), std::string::npos)
        << r.error().message;
}

// ---- the HTTP client alone ----

class HttpClientTest : public RegistryClientTest {
  protected:
    void TearDown() override {
        if (http_) {
            http_->shutdown();
            EXPECT_TRUE(run_until([&] { return http_->quiescent(); }, 5000));
        }
        http_.reset();
    }
    HttpClient& http(HttpOptions o = {}) {
        http_ = std::make_unique<HttpClient>(*loop_, std::move(o));
        return *http_;
    }
    Result<HttpResponse> get(HttpClient& h, const std::string& url) {
        return wait<HttpResponse>([&](Done<HttpResponse> done) {
            HttpRequest req;
            req.url = *parse_url(url);
            h.fetch(std::move(req), 1 << 20, std::move(done));
        });
    }
    std::unique_ptr<HttpClient> http_;
};

TEST_F(HttpClientTest, chunked_and_close_delimited_bodies) {
    FakeHttpServer server([](const FakeRequest& req, int fd) {
        if (req.target == "/chunked")
            return FakeHttpServer::send_all(fd,
                                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                            "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
        FakeHttpServer::send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
        return false;
    });
    HttpClient& h = http();
    auto a = get(h, server.url("/chunked"));
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->body, "hello, world");
    auto b = get(h, server.url("/close"));
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->body, "until the end");
}

TEST_F(HttpClientTest, keep_alive_reuses_one_connection) {
    FakeHttpServer server(
        [](const FakeRequest&, int fd) { return FakeHttpServer::respond(fd, 200, "ok"); });
    HttpClient& h = http();
    for (int i = 0; i < 5; ++i) {
        auto r = get(h, server.url("/n"));
        ASSERT_TRUE(r) << r.error().message;
    }
    EXPECT_EQ(h.connections_opened(), 1u);
    EXPECT_EQ(server.connections(), 1);
}

TEST_F(HttpClientTest, stale_kept_alive_connection_is_retried) {
    FakeHttpServer server([](const FakeRequest&, int fd) {
        FakeHttpServer::respond(fd, 200, "once");
        return false;  // close after each answer, without saying so
    });
    HttpClient& h = http();
    for (int i = 0; i < 3; ++i) {
        auto r = get(h, server.url("/n"));
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->body, "once");
    }
}

TEST_F(HttpClientTest, kept_alive_connection_closed_under_a_request_is_retried) {
    // Each connection answers its first request and drops the second unanswered, as a server
    // whose keep-alive expired just as the request went out.
    FakeHttpServer server([](const FakeRequest&, int fd) {
        thread_local int served = 0;
        if (served++ > 0) return false;
        return FakeHttpServer::respond(fd, 200, "fresh");
    });
    HttpClient& h = http();
    for (int i = 0; i < 3; ++i) {
        auto r = get(h, server.url("/n"));
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->body, "fresh");
    }
    EXPECT_EQ(server.connections(), 3);
}

TEST_F(HttpClientTest, tls_handshake_that_never_answers_times_out) {
    auto silent = kernel::listen_tcp("127.0.0.1", 0);  // the kernel accepts; nobody answers
    ASSERT_TRUE(silent);
    HttpOptions o;
    o.timeouts.handshake_ns = 200'000'000;
    HttpClient& h = http(std::move(o));
    auto r = get(h, "https://127.0.0.1:" + std::to_string(silent->port) + "/v2/");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("net/http: TLS handshake timeout"), std::string::npos)
        << r.error().message;
}

TEST_F(HttpClientTest, pause_holds_the_body_and_the_idle_timer) {
    std::string body(1 << 20, 'b');
    FakeHttpServer server(
        [&](const FakeRequest&, int fd) { return FakeHttpServer::respond(fd, 200, body); });
    HttpOptions o;
    o.timeouts.idle_ns = 100'000'000;
    HttpClient& h = http(std::move(o));
    size_t got = 0;
    int chunks_while_paused = 0;
    bool paused = false, paused_once = false;
    std::optional<Result<>> done;
    HttpClient::RequestId id = 0;
    HttpRequest req;
    req.url = *parse_url(server.url("/big"));
    HttpHandlers hh;
    hh.on_body = [&](std::span<const std::byte> d) {
        if (paused) ++chunks_while_paused;
        got += d.size();
        if (got < body.size() && !paused_once) {
            paused = paused_once = true;
            h.pause(id);
        }
    };
    hh.on_done = [&](Result<> r) { done = std::move(r); };
    id = h.send(std::move(req), std::move(hh));
    ASSERT_TRUE(run_until([&] { return paused; }));
    size_t at_pause = got;
    int64_t until = monotonic_ns() + 400'000'000;  // four idle timeouts
    run_until([&] { return monotonic_ns() > until; });
    EXPECT_EQ(got, at_pause);
    EXPECT_EQ(chunks_while_paused, 0);
    EXPECT_FALSE(done);
    paused = false;
    h.resume(id);
    ASSERT_TRUE(run_until([&] { return done.has_value(); }));
    ASSERT_TRUE(*done) << done->error().message;
    EXPECT_EQ(got, body.size());
}

TEST_F(HttpClientTest, cancel_ends_a_request_without_callbacks) {
    FakeHttpServer* self = nullptr;
    FakeHttpServer server([&self](const FakeRequest&, int fd) {
        FakeHttpServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
        self->wait_stop(30'000);
        return false;
    });
    self = &server;
    HttpClient& h = http();
    bool called_done = false;
    size_t got = 0;
    HttpRequest req;
    req.url = *parse_url(server.url("/hang"));
    HttpHandlers hh;
    hh.on_body = [&](std::span<const std::byte> d) { got += d.size(); };
    hh.on_done = [&](Result<>) { called_done = true; };
    auto id = h.send(std::move(req), std::move(hh));
    ASSERT_TRUE(run_until([&] { return got == 2; }));
    h.cancel(id);
    ASSERT_TRUE(run_until([&] { return h.quiescent(); }, 5000));
    EXPECT_FALSE(called_done);
}

TEST_F(HttpClientTest, connection_refused_reads_like_go) {
    auto port = kernel::free_tcp_port();
    ASSERT_TRUE(port);
    HttpClient& h = http();
    auto r = get(h, "http://127.0.0.1:" + std::to_string(*port) + "/v2/");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "Get \"http://127.0.0.1:" + std::to_string(*port) +
                                     "/v2/\": dial tcp 127.0.0.1:" + std::to_string(*port) +
                                     ": connect: Connection refused");
}

// ---- parsing, no network ----

TEST(RegistryAuth, decodes_x_registry_auth) {
    // The docker CLI: base64url of JSON, with padding; older clients: standard alphabet.
    std::string json = "{\"username\":\"u\",\"password\":\"p?>\",\"serveraddress\":\"x\"}";
    std::string b64 = base64_encode(json);
    for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
    auto c = decode_registry_auth(b64);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->username, "u");
    EXPECT_EQ(c->password, "p?>");
    while (b64.back() == '=') b64.pop_back();
    EXPECT_TRUE(decode_registry_auth(b64));
    auto t = decode_registry_auth(base64_encode("{\"identitytoken\":\"tok\"}"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->identity_token, "tok");
    auto a = decode_registry_auth(base64_encode("{\"auth\":\"" + base64_encode("me:pw") + "\"}"));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->username, "me");
    EXPECT_EQ(a->password, "pw");
    EXPECT_TRUE(decode_registry_auth("")->empty());
    EXPECT_FALSE(decode_registry_auth("!!!"));
}

TEST(RegistryAuth, parses_challenges) {
    Challenge c = parse_challenge(
        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
        "scope=\"repository:library/busybox:pull\",error=\"insufficient_scope\"");
    EXPECT_EQ(c.scheme, Challenge::Scheme::bearer);
    EXPECT_EQ(c.realm, "https://auth.docker.io/token");
    EXPECT_EQ(c.service, "registry.docker.io");
    EXPECT_EQ(c.scope, "repository:library/busybox:pull");
    EXPECT_EQ(c.error, "insufficient_scope");
    Challenge b = parse_challenge("Basic realm=\"Registry Realm\"");
    EXPECT_EQ(b.scheme, Challenge::Scheme::basic);
    EXPECT_EQ(b.realm, "Registry Realm");
    EXPECT_EQ(parse_challenge("Basic realm=x, Bearer realm=\"y\"").scheme,
              Challenge::Scheme::bearer);
}

TEST(RegistryReference, docker_io_is_served_by_registry_1) {
    auto r = graph::Reference::parse("busybox");
    ASSERT_TRUE(r);
    EXPECT_EQ(registry_host(r->domain()), "registry-1.docker.io");
    EXPECT_EQ(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
    std::string d = graph::sha256_digest("x");
    auto q = graph::Reference::parse("localhost/app@" + d);
    ASSERT_TRUE(q);
    EXPECT_EQ(manifest_ref(*q), d);
}

TEST(RegistryManifest, parses_and_selects) {
    TestImage amd = make_image("amd64", "a"), arm = make_image("arm64", "b");
    auto m = parse_manifest(amd.manifest, "application/vnd.docker.distribution.manifest.v2+json");
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->kind, Manifest::Kind::image);
    EXPECT_EQ(m->image.config.digest, amd.config_digest);
    EXPECT_EQ(*layer_compression(m->image.layers[0].media_type), Compression::gzip);
    auto i = parse_manifest(index_of(amd, arm), "");
    ASSERT_TRUE(i) << i.error().message;
    ASSERT_EQ(i->kind, Manifest::Kind::index);
    EXPECT_EQ(select_manifest(i->index, default_platform())->digest, amd.digest);
    EXPECT_EQ(select_manifest(i->index, *parse_platform("linux/aarch64"))->digest, arm.digest);
    EXPECT_EQ(select_manifest(i->index, *parse_platform("linux/arm/v7")).error().message,
              "no matching manifest for linux/arm/v7 in the manifest list entries");
    EXPECT_FALSE(parse_manifest("{\"schemaVersion\":1,\"fsLayers\":[]}", ""));
    EXPECT_FALSE(parse_manifest(amd.manifest, std::string(media_type::oci_manifest)));
}
