#include "registry/tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace berth::registry {

namespace {

std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown TLS error" : out;
}

bool is_ip_address(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// A failed certificate check in the words Go (and so dockerd) uses.
std::string describe_verify_error(long code, const std::string& host) {
    switch (code) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            return "x509: certificate signed by unknown authority";
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return "x509: certificate is not valid for " + host;
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return "x509: certificate has expired or is not yet valid";
        default:
            return std::string("x509: ") + X509_verify_cert_error_string(code);
    }
}

}  // namespace

std::string TlsConfig::key() const {
    std::string k = verify ? "verify" : "noverify";
    for (const auto& f : ca_files) k += "|ca=" + f;
    if (!client_cert_file.empty()) k += "|cert=" + client_cert_file + "|key=" + client_key_file;
    return k;
}

Result<std::shared_ptr<TlsContext>> TlsContext::create(const TlsConfig& config) {
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return fail(Error::internal("tls: SSL_CTX_new: " + openssl_errors()));
    std::shared_ptr<TlsContext> out(new TlsContext(ctx, config.verify));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // The ring sees EOF before OpenSSL does; a peer that skips close_notify is not an attack
    // on a length-delimited HTTP body.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (config.verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        if (SSL_CTX_set_default_verify_paths(ctx) != 1)
            return fail(Error::internal("tls: load the system CA store: " + openssl_errors()));
        for (const auto& file : config.ca_files) {
            if (SSL_CTX_load_verify_locations(ctx, file.c_str(), nullptr) != 1)
                return fail(Error::invalid("tls: load CA file " + file + ": " + openssl_errors()));
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    if (!config.client_cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx, config.client_cert_file.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, config.client_key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            return fail(Error::invalid("tls: load client certificate " + config.client_cert_file +
                                       ": " + openssl_errors()));
    }
    return out;
}

TlsContext::~TlsContext() {
    SSL_CTX_free(ctx_);
}

Result<std::unique_ptr<TlsSession>> TlsSession::create(std::shared_ptr<TlsContext> context,
                                                       const std::string& host) {
    ERR_clear_error();
    std::unique_ptr<TlsSession> s(new TlsSession());
    s->context_ = std::move(context);
    s->host_ = host;
    s->ssl_ = SSL_new(s->context_->native());
    s->in_ = BIO_new(BIO_s_mem());
    s->out_ = BIO_new(BIO_s_mem());
    if (!s->ssl_ || !s->in_ || !s->out_) {
        if (s->in_) BIO_free(s->in_);
        if (s->out_) BIO_free(s->out_);
        s->in_ = s->out_ = nullptr;
        return fail(Error::internal("tls: SSL_new: " + openssl_errors()));
    }
    BIO_set_mem_eof_return(s->in_, -1);  // empty means "wait for more", not end of stream
    SSL_set_bio(s->ssl_, s->in_, s->out_);
    SSL_set_connect_state(s->ssl_);
    if (is_ip_address(host)) {
        if (s->context_->verify())
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl_), host.c_str());
    } else {
        SSL_set_tlsext_host_name(s->ssl_, host.c_str());
        if (s->context_->verify()) SSL_set1_host(s->ssl_, host.c_str());
    }
    return s;
}

TlsSession::~TlsSession() {
    if (ssl_) SSL_free(ssl_);  // frees both BIOs
}

Error TlsSession::failure(int rc, const char* what) {
    int err = SSL_get_error(ssl_, rc);
    if (std::string_view(first_bytes_).starts_with("HTTP/"))
        return Error::make(ErrorKind::unavailable,
                           "http: server gave HTTP response to HTTPS client");
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK && context_->verify()) {
        ERR_clear_error();
        return Error::make(ErrorKind::unavailable, describe_verify_error(verify, host_));
    }
    if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL)
        return Error::make(ErrorKind::unavailable,
                           std::string("tls: ") + what + ": " + openssl_errors());
    return Error::make(ErrorKind::unavailable, std::string("tls: ") + what + " failed (SSL error " +
                                                   std::to_string(err) + ")");
}

Result<bool> TlsSession::handshake() {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return true;
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return false;
    return fail(failure(rc, "handshake"));
}

void TlsSession::feed(std::span<const std::byte> data) {
    if (first_bytes_.size() < 5) {
        size_t n = std::min(data.size(), 5 - first_bytes_.size());
        first_bytes_.append(reinterpret_cast<const char*>(data.data()), n);
    }
    if (!data.empty()) BIO_write(in_, data.data(), int(data.size()));
}

size_t TlsSession::drain(std::span<std::byte> out) {
    int n = BIO_read(out_, out.data(), int(out.size()));
    return n > 0 ? size_t(n) : 0;
}

size_t TlsSession::pending_output() const {
    return BIO_ctrl_pending(out_);
}

Result<> TlsSession::write(std::span<const std::byte> plain) {
    if (plain.empty()) return {};
    ERR_clear_error();
    int rc = SSL_write(ssl_, plain.data(), int(plain.size()));
    if (rc <= 0) return fail(failure(rc, "write"));
    return {};
}

Result<size_t> TlsSession::read(std::span<std::byte> out, bool& closed) {
    closed = false;
    ERR_clear_error();
    int rc = SSL_read(ssl_, out.data(), int(out.size()));
    if (rc > 0) return size_t(rc);
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ) return 0;
    if (err == SSL_ERROR_ZERO_RETURN) {
        closed = true;
        return 0;
    }
    return fail(failure(rc, "read"));
}

}  // namespace berth::registry
