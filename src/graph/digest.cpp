#include "graph/digest.hpp"

#include <utility>

namespace berth::graph {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }

Sha256::~Sha256() {
    if (ctx_) EVP_MD_CTX_free(ctx_);
}

Sha256::Sha256(Sha256&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}

Sha256& Sha256::operator=(Sha256&& o) noexcept {
    if (this != &o) {
        if (ctx_) EVP_MD_CTX_free(ctx_);
        ctx_ = std::exchange(o.ctx_, nullptr);
    }
    return *this;
}

void Sha256::update(std::span<const std::byte> data) {
    EVP_DigestUpdate(ctx_, data.data(), data.size());
}

std::string Sha256::digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

std::string sha256_digest(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.digest();
}

bool is_sha256_digest(std::string_view d) {
    if (d.size() != 71 || !d.starts_with("sha256:")) return false;
    for (char c : d.substr(7))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string_view digest_hex(std::string_view d) { return d.substr(7); }

}  // namespace berth::graph
