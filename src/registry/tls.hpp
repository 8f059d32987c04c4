// TLS for the registry client through OpenSSL memory BIOs: OpenSSL never touches the socket;
// the Connection moves ciphertext between the ring and the BIOs. A TlsContext owns one SSL_CTX
// (system CAs + extra CA files, optional client certificate, verification on or off); a
// TlsSession owns one SSL with SNI and host name (or IP) verification.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace berth::registry {

struct TlsConfig {
    // false: no certificate check at all (dockerd's insecure registries over https).
    bool verify = true;
    // CA files trusted on top of the system store (certs.d/<host>/ca.crt and friends).
    std::vector<std::string> ca_files;
    // A client certificate (certs.d/<host>/client.cert + client.key), both or neither.
    std::string client_cert_file;
    std::string client_key_file;

    // Identity for caching contexts: equal keys give equal contexts.
    std::string key() const;
};

class TlsContext {
  public:
    static Result<std::shared_ptr<TlsContext>> create(const TlsConfig& config);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    SSL_CTX* native() const { return ctx_; }
    bool verify() const { return verify_; }

  private:
    TlsContext(SSL_CTX* ctx, bool verify) : ctx_(ctx), verify_(verify) {}
    SSL_CTX* ctx_;
    bool verify_;
};

class TlsSession {
  public:
    // A client session for `host` (a name gets SNI and name verification, an IP address gets
    // IP verification and no SNI, as RFC 6066 wants).
    static Result<std::unique_ptr<TlsSession>> create(std::shared_ptr<TlsContext> context,
                                                      const std::string& host);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    // Runs the handshake as far as the input allows: true once complete. Errors use Go's
    // words where a user would recognise them ("x509: certificate signed by unknown authority",
    // "http: server gave HTTP response to HTTPS client").
    Result<bool> handshake();
    // Ciphertext received from the peer.
    void feed(std::span<const std::byte> ciphertext);
    // Ciphertext to send: moves up to out.size() bytes out of the session.
    size_t drain(std::span<std::byte> out);
    size_t pending_output() const;
    // Encrypts all of `plain` (the output grows by about its size; callers bound their chunks).
    Result<> write(std::span<const std::byte> plain);
    // Decrypts into `out`: the byte count, 0 when more ciphertext is needed; `closed` is set
    // when the peer sent close_notify.
    Result<size_t> read(std::span<std::byte> out, bool& closed);

  private:
    TlsSession() = default;
    Error failure(int rc, const char* what);

    std::shared_ptr<TlsContext> context_;
    SSL* ssl_ = nullptr;
    BIO* in_ = nullptr;   // ciphertext from the peer (owned by ssl_)
    BIO* out_ = nullptr;  // ciphertext to the peer (owned by ssl_)
    std::string host_;
    std::string first_bytes_;  // the peer's first few bytes, to recognise a plain HTTP server
};

}  // namespace berth::registry
