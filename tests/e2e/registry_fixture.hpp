// Servers for the registry client's tests: Debian's docker-registry (distribution v2.8) started
// on 127.0.0.1 with a free port and a temporary storage dir — plain, with htpasswd basic auth,
// behind TLS with a CA made here, or with token auth served by a tiny in-process token server
// (RS256 JWTs) — and a scriptable fake HTTP server (blocking sockets, a thread per connection)
// for the failure cases a real registry will not produce. Everything is removed on destruction.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/error.hpp"

namespace berth::registry_test {

struct FakeRequest {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
    std::string body;
    std::string header(std::string_view name) const;
};

// One HTTP/1.1 server on 127.0.0.1. The handler writes the raw response itself, so it can
// stall, cut a body short or close; it returns whether the connection may carry another request.
class FakeHttpServer {
  public:
    using Handler = std::function<bool(const FakeRequest&, int fd)>;

    explicit FakeHttpServer(Handler handler);
    ~FakeHttpServer();
    FakeHttpServer(const FakeHttpServer&) = delete;
    FakeHttpServer& operator=(const FakeHttpServer&) = delete;

    uint16_t port() const { return port_; }
    std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string url(std::string_view target) const {
        return "http://" + authority() + std::string(target);
    }
    // For handlers that hang: waits until the server stops or `ms` pass; true when stopping.
    bool wait_stop(int ms);
    int requests() const { return requests_.load(); }
    int connections() const { return connections_.load(); }

    static bool send_all(int fd, std::string_view data);
    // A complete response with Content-Length; extra_headers are "Name: value\r\n" lines.
    static bool respond(int fd, int status, std::string_view body,
                        std::string_view extra_headers = {});

  private:
    void accept_loop();
    void serve(int fd);

    Handler handler_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> requests_{0};
    std::atomic<int> connections_{0};
    std::mutex mu_;
    std::vector<int> open_fds_;
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

// A token server as distribution's `auth: token:` expects: GET /token?service=&scope= with
// optional basic credentials → {"token", "access_token", "expires_in"}; anonymous clients get
// pull access only, wrong credentials a 401.
class TokenServer {
  public:
    static Result<std::unique_ptr<TokenServer>> start(const std::string& dir, std::string username,
                                                      std::string password);
    std::string realm() const { return server_->url("/token"); }
    const std::string& cert_file() const { return cert_file_; }
    static constexpr const char* service = "berth-test-registry";
    static constexpr const char* issuer = "berth-test-issuer";
    int token_requests() const { return server_->requests(); }
    // Builds a signed token for `access` ("repository:name:pull,push" scopes) — for tests.
    std::string sign(const std::string& subject, const std::vector<std::string>& scopes,
                     bool allow_push) const;

  private:
    TokenServer() = default;
    bool handle(const FakeRequest& req, int fd) const;

    std::string username_, password_;
    std::string key_file_, cert_file_;
    std::string cert_der_b64_;
    std::unique_ptr<FakeHttpServer> server_;
};

enum class RegistryAuth { none, basic, token };

struct RegistryVariant {
    RegistryAuth auth = RegistryAuth::none;
    bool tls = false;
};

class RegistryFixture {
  public:
    static constexpr const char* username = "berth";
    static constexpr const char* password = "s3cret-pass";

    // Starts docker-registry; the error says why not (binary missing, no bcrypt tool, timeout).
    static Result<std::unique_ptr<RegistryFixture>> start(RegistryVariant variant);
    ~RegistryFixture();
    RegistryFixture(const RegistryFixture&) = delete;
    RegistryFixture& operator=(const RegistryFixture&) = delete;

    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    uint16_t port() const { return port_; }
    const std::string& dir() const { return dir_; }
    const std::string& ca_file() const { return ca_file_; }  // TLS: the CA of the server cert
    TokenServer* token_server() const { return token_.get(); }
    std::string log() const;  // the registry's output, for failure messages

  private:
    RegistryFixture() = default;
    Result<> write_config(RegistryVariant variant);
    Result<> make_tls();
    Result<> make_htpasswd();
    Result<> spawn();
    Result<> wait_ready();

    std::string dir_;
    uint16_t port_ = 0;
    pid_t pid_ = -1;
    std::string ca_file_, cert_file_, key_file_;
    std::unique_ptr<TokenServer> token_;
};

// A one-layer image for pushing: a gzipped tar holding hello.txt, its config (for `arch`) and
// a Docker schema2 manifest, with their digests.
struct TestImage {
    std::string config, layer, manifest;
    std::string config_digest, layer_digest, digest;
};
TestImage make_image(const std::string& arch, const std::string& text);
// An OCI index of an amd64 and an arm64/v8 image.
std::string index_of(const TestImage& amd64, const TestImage& arm64);
// A ustar archive of one regular file, and gzip of anything (zlib).
std::string tar_file(const std::string& name, const std::string& content);
std::string gzip(const std::string& in);

// Runs a shell command quietly (output appended to `log`); an error carries the exit status.
Result<> run_command(const std::string& command, const std::string& log);

}  // namespace berth::registry_test
