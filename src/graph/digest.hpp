// Content digests as the OCI specs write them ("sha256:<64 hex>"), computed incrementally so a
// blob is hashed while it streams through, never read twice.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace berth::graph {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    void update(std::span<const std::byte> data);
    void update(std::string_view data) { update(std::as_bytes(std::span(data.data(), data.size()))); }
    // "sha256:<hex>"; the hasher starts over afterwards.
    std::string digest();

private:
    EVP_MD_CTX* ctx_;
};

// "sha256:<hex>" of a whole buffer.
std::string sha256_digest(std::string_view data);
// True for "sha256:" followed by exactly 64 lowercase hex digits.
bool is_sha256_digest(std::string_view digest);
// The 64 hex digits of a valid digest (without "sha256:").
std::string_view digest_hex(std::string_view digest);

}  // namespace berth::graph
