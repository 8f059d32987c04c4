#include "registry_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "graph/digest.hpp"
#include "kernel/tcp_socket.hpp"
#include "registry/manifest.hpp"

namespace berth::registry_test {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return s;
}

std::string base64(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
    out.resize(size_t(n));
    return out;
}

std::string base64url(std::string_view in) {
    std::string s = base64(in);
    for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
}

std::string unbase64(std::string_view in) {
    std::string out(3 * ((in.size() + 3) / 4) + 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
    if (n < 0) return {};
    size_t pad = 0;
    for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) ++pad;
    out.resize(size_t(n) - pad);
    return out;
}

std::string url_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Result<> write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) return fail(Error::last_sys("write " + path));
    return {};
}

bool reason_for(int status, std::string& out) {
    switch (status) {
        case 200:
            out = "OK";
            return true;
        case 201:
            out = "Created";
            return true;
        case 202:
            out = "Accepted";
            return true;
        case 307:
            out = "Temporary Redirect";
            return true;
        case 401:
            out = "Unauthorized";
            return true;
        case 404:
            out = "Not Found";
            return true;
        default:
            out = "Status";
            return false;
    }
}

}  // namespace

Result<> run_command(const std::string& command, const std::string& log) {
    std::string full = "(" + command + ") >>'" + log + "' 2>&1";
    int rc = std::system(full.c_str());
    if (rc != 0)
        return fail(Error::internal("`" + command + "` failed (status " + std::to_string(rc) +
                                    "): " + read_text(log)));
    return {};
}

// ---- test images ----

std::string tar_file(const std::string& name, const std::string& content) {
    char h[512] = {};
    std::memcpy(h, name.data(), std::min<size_t>(name.size(), 99));
    std::snprintf(h + 100, 8, "%07o", 0644u);
    std::snprintf(h + 108, 8, "%07o", 0u);
    std::snprintf(h + 116, 8, "%07o", 0u);
    std::snprintf(h + 124, 12, "%011o", unsigned(content.size()));
    std::snprintf(h + 136, 12, "%011o", 0u);
    std::memset(h + 148, ' ', 8);
    h[156] = '0';
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 7, "%06o", sum);
    std::string out(h, 512);
    out += content;
    out.append((512 - content.size() % 512) % 512, '\0');
    out.append(1024, '\0');
    return out;
}

std::string gzip(const std::string& in) {
    z_stream z{};
    deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, uLong(in.size())) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = uInt(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

TestImage make_image(const std::string& arch, const std::string& text) {
    TestImage img;
    std::string tar = tar_file("hello.txt", text);
    img.layer = gzip(tar);
    img.layer_digest = graph::sha256_digest(img.layer);
    img.config = "{\"architecture\":\"" + arch + "\",\"os\":\"linux\",\"config\":{},\"rootfs\":" +
                 "{\"type\":\"layers\",\"diff_ids\":[\"" + graph::sha256_digest(tar) + "\"]}}";
    img.config_digest = graph::sha256_digest(img.config);
    img.manifest =
        "{\"schemaVersion\":2,\"mediaType\":\"" +
        std::string(registry::media_type::docker_manifest) + "\",\"config\":{\"mediaType\":\"" +
        std::string(registry::media_type::docker_config) +
        "\",\"size\":" + std::to_string(img.config.size()) + ",\"digest\":\"" + img.config_digest +
        "\"},\"layers\":[{\"mediaType\":\"" + std::string(registry::media_type::docker_layer) +
        "\",\"size\":" + std::to_string(img.layer.size()) + ",\"digest\":\"" + img.layer_digest +
        "\"}]}";
    img.digest = graph::sha256_digest(img.manifest);
    return img;
}

std::string index_of(const TestImage& amd64, const TestImage& arm64) {
    auto entry = [](const TestImage& i, const char* arch, const char* variant) {
        return "{\"mediaType\":\"" + std::string(registry::media_type::docker_manifest) +
               "\",\"size\":" + std::to_string(i.manifest.size()) + ",\"digest\":\"" + i.digest +
               "\",\"platform\":{\"architecture\":\"" + arch + "\",\"os\":\"linux\"" +
               (variant ? std::string(",\"variant\":\"") + variant + "\"" : "") + "}}";
    };
    return "{\"schemaVersion\":2,\"mediaType\":\"" + std::string(registry::media_type::oci_index) +
           "\",\"manifests\":[" + entry(arm64, "arm64", "v8") + "," +
           entry(amd64, "amd64", nullptr) + "]}";
}

// ---- FakeHttpServer ----

std::string FakeRequest::header(std::string_view name) const {
    std::string n = lower(std::string(name));
    for (const auto& [k, v] : headers)
        if (k == n) return v;
    return {};
}

FakeHttpServer::FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
    auto l = kernel::listen_tcp("127.0.0.1", 0);
    if (!l) std::abort();
    port_ = l->port;
    listen_fd_ = l->fd.release();
    acceptor_ = std::thread([this] { accept_loop(); });
}

FakeHttpServer::~FakeHttpServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mu_);
        for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
        threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
}

bool FakeHttpServer::wait_stop(int ms) {
    for (int waited = 0; waited < ms && !stopping_; waited += 10)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return stopping_;
}

void FakeHttpServer::accept_loop() {
    while (!stopping_) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (stopping_ || errno == EINVAL) return;
            continue;
        }
        ++connections_;
        std::lock_guard lock(mu_);
        open_fds_.push_back(fd);
        threads_.emplace_back([this, fd] { serve(fd); });
    }
}

namespace {

// Reads one request from `buf` + the socket; false at EOF or on a malformed request.
bool read_request(int fd, std::string& buf, FakeRequest& req) {
    size_t end;
    char tmp[65536];
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        buf.append(tmp, size_t(n));
        if (buf[0] == 0x16) {
            // A TLS ClientHello: answer as Go's net/http does, so clients fall back to http.
            FakeHttpServer::send_all(fd,
                                     "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP "
                                     "request to an HTTPS server.\n");
            return false;
        }
    }
    std::istringstream head(buf.substr(0, end));
    std::string line;
    std::getline(head, line);
    std::istringstream first(line);
    first >> req.method >> req.target;
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value[0] == ' ') value.erase(0, 1);
        req.headers.emplace_back(lower(line.substr(0, colon)), value);
    }
    buf.erase(0, end + 4);
    std::string cl = req.header("content-length");
    size_t length = cl.empty() ? 0 : std::stoul(cl);
    while (buf.size() < length) {
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        buf.append(tmp, size_t(n));
    }
    req.body = buf.substr(0, length);
    buf.erase(0, length);
    return true;
}

}  // namespace

void FakeHttpServer::serve(int fd) {
    std::string buf;
    while (!stopping_) {
        FakeRequest req;
        if (!read_request(fd, buf, req)) break;
        ++requests_;
        if (!handler_(req, fd)) break;
    }
    std::lock_guard lock(mu_);
    std::erase(open_fds_, fd);
    ::close(fd);
}

bool FakeHttpServer::send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        data.remove_prefix(size_t(n));
    }
    return true;
}

bool FakeHttpServer::respond(int fd, int status, std::string_view body,
                             std::string_view extra_headers) {
    std::string reason;
    reason_for(status, reason);
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
                      std::string(extra_headers) + "\r\n" + std::string(body);
    return send_all(fd, out);
}

// ---- TokenServer ----

Result<std::unique_ptr<TokenServer>> TokenServer::start(const std::string& dir,
                                                        std::string username,
                                                        std::string password) {
    std::unique_ptr<TokenServer> t(new TokenServer());
    t->username_ = std::move(username);
    t->password_ = std::move(password);
    t->key_file_ = dir + "/token.key";
    t->cert_file_ = dir + "/token.crt";
    std::string cnf = dir + "/token.cnf";
    // distribution checks that the x5c leaf may sign (keyUsage digitalSignature) and chains to
    // rootcertbundle: one self-signed certificate is both.
    auto w = write_text(cnf,
                        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = berth-test-token\n"
                        "[ext]\nbasicConstraints = critical,CA:TRUE\n"
                        "keyUsage = critical,digitalSignature,keyCertSign\n");
    if (!w) return fail(std::move(w.error()));
    auto r = run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -config '" + cnf +
                             "' -extensions ext -keyout '" + t->key_file_ + "' -out '" +
                             t->cert_file_ + "'",
                         dir + "/openssl.log");
    if (!r) return fail(std::move(r.error()));
    FILE* f = std::fopen(t->cert_file_.c_str(), "r");
    if (!f) return fail(Error::last_sys("open " + t->cert_file_));
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!cert) return fail(Error::internal("read token certificate"));
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    t->cert_der_b64_ = base64(std::string_view(reinterpret_cast<char*>(der), size_t(len)));
    OPENSSL_free(der);
    X509_free(cert);
    TokenServer* self = t.get();
    t->server_ = std::make_unique<FakeHttpServer>(
        [self](const FakeRequest& req, int fd) { return self->handle(req, fd); });
    return t;
}

std::string TokenServer::sign(const std::string& subject, const std::vector<std::string>& scopes,
                              bool allow_push) const {
    std::string access = "[";
    for (const std::string& scope : scopes) {
        // repository:<name>:<actions>; the name may itself hold ':' only for a port — not here.
        size_t a = scope.find(':'), b = scope.rfind(':');
        if (a == std::string::npos || a == b) continue;
        std::string type = scope.substr(0, a), name = scope.substr(a + 1, b - a - 1);
        std::string actions, granted;
        std::istringstream in(scope.substr(b + 1));
        while (std::getline(in, actions, ','))
            if (actions == "pull" || allow_push)
                granted += (granted.empty() ? "\"" : ",\"") + actions + "\"";
        if (access.size() > 1) access += ",";
        access +=
            "{\"type\":\"" + type + "\",\"name\":\"" + name + "\",\"actions\":[" + granted + "]}";
    }
    access += "]";
    long now = long(std::time(nullptr));
    std::string header = "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5c\":[\"" + cert_der_b64_ + "\"]}";
    std::string claims =
        "{\"iss\":\"" + std::string(issuer) + "\",\"sub\":\"" + subject + "\",\"aud\":\"" +
        std::string(service) + "\",\"exp\":" + std::to_string(now + 300) +
        ",\"nbf\":" + std::to_string(now - 10) + ",\"iat\":" + std::to_string(now) + ",\"jti\":\"" +
        std::to_string(now) + std::to_string(std::rand()) + "\",\"access\":" + access + "}";
    std::string input = base64url(header) + "." + base64url(claims);
    FILE* f = std::fopen(key_file_.c_str(), "r");
    if (!f) return {};
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t siglen = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, nullptr, &siglen, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(siglen, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &siglen,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(siglen);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return input + "." + base64url(sig);
}

bool TokenServer::handle(const FakeRequest& req, int fd) const {
    if (req.method != "GET" || !req.target.starts_with("/token"))
        return FakeHttpServer::respond(fd, 404, "{\"details\":\"not found\"}");
    std::vector<std::string> scopes;
    std::string query = req.target.substr(std::min(req.target.size(), req.target.find('?') + 1));
    std::istringstream in(query);
    std::string pair;
    while (std::getline(in, pair, '&')) {
        size_t eq = pair.find('=');
        if (eq != std::string::npos && pair.substr(0, eq) == "scope")
            scopes.push_back(url_decode(pair.substr(eq + 1)));
    }
    std::string auth = req.header("authorization");
    bool authenticated = false;
    if (!auth.empty()) {
        std::string creds = auth.starts_with("Basic ") ? unbase64(auth.substr(6)) : "";
        if (creds != username_ + ":" + password_)
            return FakeHttpServer::respond(fd, 401,
                                           "{\"details\":\"incorrect username or password\"}",
                                           "Content-Type: application/json\r\n");
        authenticated = true;
    }
    std::string token = sign(authenticated ? username_ : "", scopes, authenticated);
    std::string body =
        "{\"token\":\"" + token + "\",\"access_token\":\"" + token + "\",\"expires_in\":300}";
    return FakeHttpServer::respond(fd, 200, body, "Content-Type: application/json\r\n");
}

// ---- RegistryFixture ----

Result<std::unique_ptr<RegistryFixture>> RegistryFixture::start(RegistryVariant variant) {
    if (::access("/usr/bin/docker-registry", X_OK) != 0)
        return fail(Error::not_found(
            "/usr/bin/docker-registry is missing (apt-get install docker-registry)"));
    std::unique_ptr<RegistryFixture> f(new RegistryFixture());
    char tmpl[] = "/tmp/berth-registry-XXXXXX";
    if (!mkdtemp(tmpl)) return fail(Error::last_sys("mkdtemp"));
    f->dir_ = tmpl;
    auto port = kernel::free_tcp_port();
    if (!port) return fail(std::move(port.error()));
    f->port_ = *port;
    if (variant.tls)
        if (auto r = f->make_tls(); !r) return fail(std::move(r.error()));
    if (variant.auth == RegistryAuth::basic)
        if (auto r = f->make_htpasswd(); !r) return fail(std::move(r.error()));
    if (variant.auth == RegistryAuth::token) {
        auto t = TokenServer::start(f->dir_, username, password);
        if (!t) return fail(std::move(t.error()));
        f->token_ = std::move(*t);
    }
    if (auto r = f->write_config(variant); !r) return fail(std::move(r.error()));
    if (auto r = f->spawn(); !r) return fail(std::move(r.error()));
    if (auto r = f->wait_ready(); !r) return fail(std::move(r.error()));
    return f;
}

RegistryFixture::~RegistryFixture() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        int status = 0;
        for (int i = 0; i < 500 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (::kill(pid_, 0) == 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
        }
    }
    token_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string RegistryFixture::log() const {
    return read_text(dir_ + "/registry.log");
}

Result<> RegistryFixture::make_tls() {
    ca_file_ = dir_ + "/ca.crt";
    cert_file_ = dir_ + "/server.crt";
    key_file_ = dir_ + "/server.key";
    std::string cnf = dir_ + "/tls.cnf";
    auto w = write_text(cnf,
                        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = berth-test-ca\n"
                        "[ca]\nbasicConstraints = critical,CA:TRUE\n"
                        "keyUsage = critical,keyCertSign,cRLSign\n"
                        "[server]\nsubjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
                        "keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n");
    if (!w) return w;
    std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string log = dir_ + "/openssl.log";
    std::string d = "'" + dir_ + "'";
    auto r = run_command("cd " + d + " && openssl req -x509 " + ec + " -days 2 -config tls.cnf " +
                             "-extensions ca -keyout ca.key -out ca.crt && openssl req " + ec +
                             " -config tls.cnf -subj /CN=127.0.0.1 -keyout server.key -out " +
                             "server.csr && openssl x509 -req -in server.csr -CA ca.crt -CAkey " +
                             "ca.key -CAcreateserial -days 2 -extfile tls.cnf -extensions server " +
                             "-out server.crt",
                         log);
    return r;
}

Result<> RegistryFixture::make_htpasswd() {
    std::string file = dir_ + "/htpasswd";
    // distribution accepts bcrypt only: apache2-utils' htpasswd -B, else python3's crypt
    // (libxcrypt knows bcrypt).
    if (::access("/usr/bin/htpasswd", X_OK) == 0)
        return run_command("htpasswd -Bbn '" + std::string(username) + "' '" + password +
                               "' | head -n1 > '" + file + "'",
                           dir_ + "/htpasswd.log");
    return run_command("python3 -W ignore -c 'import crypt; print(\"" + std::string(username) +
                           ":\" + crypt.crypt(\"" + password +
                           "\", crypt.mksalt(crypt.METHOD_BLOWFISH)))' > '" + file + "'",
                       dir_ + "/htpasswd.log");
}

Result<> RegistryFixture::write_config(RegistryVariant variant) {
    std::string c =
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n  filesystem:\n    rootdirectory: " +
        dir_ +
        "/data\n"
        "  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n"
        "http:\n  addr: 127.0.0.1:" +
        std::to_string(port_) + "\n  secret: berth-test-secret\n";
    if (variant.tls)
        c += "  tls:\n    certificate: " + cert_file_ + "\n    key: " + key_file_ + "\n";
    if (variant.auth == RegistryAuth::basic)
        c += "auth:\n  htpasswd:\n    realm: berth-test-realm\n    path: " + dir_ + "/htpasswd\n";
    if (variant.auth == RegistryAuth::token)
        c += "auth:\n  token:\n    realm: " + token_->realm() +
             "\n    service: " + TokenServer::service + "\n    issuer: " + TokenServer::issuer +
             "\n    rootcertbundle: " + token_->cert_file() + "\n";
    return write_text(dir_ + "/config.yml", c);
}

Result<> RegistryFixture::spawn() {
    std::string config = dir_ + "/config.yml";
    std::string log = dir_ + "/registry.log";
    pid_t pid = ::fork();
    if (pid < 0) return fail(Error::last_sys("fork"));
    if (pid == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        ::setpgid(0, 0);
        ::execl("/usr/bin/docker-registry", "docker-registry", "serve", config.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    pid_ = pid;
    return {};
}

Result<> RegistryFixture::wait_ready() {
    for (int i = 0; i < 1500; ++i) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return fail(Error::internal("docker-registry exited at start: " + log()));
        }
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port_);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        if (up) return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return fail(Error::internal("docker-registry did not listen within 15 s: " + log()));
}

}  // namespace berth::registry_test
