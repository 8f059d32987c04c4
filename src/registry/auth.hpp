// Registry authentication: the X-Registry-Auth header the docker CLI sends, WWW-Authenticate
// challenges (Bearer realm/service/scope, Basic), and bearer tokens fetched from the realm,
// cached per scope until they expire; concurrent requests for one scope share one fetch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.hpp"
#include "registry/http_client.hpp"

namespace berth::registry {

struct Credentials {
    std::string username;
    std::string password;
    std::string identity_token;  // an OAuth refresh token (docker login against a token service)
    std::string registry_token;  // a bearer token used as is
    bool empty() const {
        return username.empty() && password.empty() && identity_token.empty() &&
               registry_token.empty();
    }
    // A digest of the credentials: keys caches without keeping secrets in keys.
    std::string fingerprint() const;
};

// Decodes X-Registry-Auth: base64url JSON (padding optional, the standard alphabet tolerated)
// of {username, password, auth ("user:pass" in base64), identitytoken, registrytoken, …}.
// An empty header means no credentials.
Result<Credentials> decode_registry_auth(std::string_view header);

std::string base64_encode(std::string_view data);
// Either alphabet (standard or URL), padding optional.
Result<std::string> base64_decode(std::string_view text);

struct Challenge {
    enum class Scheme : unsigned char { none, basic, bearer };
    Scheme scheme = Scheme::none;
    std::string realm;
    std::string service;
    std::string scope;
    std::string error;  // RFC 6750 error="insufficient_scope" / "invalid_token"
};

// Parses a WWW-Authenticate value; Bearer wins when several challenges are offered.
Challenge parse_challenge(std::string_view header);

// "repository:<name>:pull" or "repository:<name>:pull,push".
std::string repository_scope(std::string_view name, bool push);

class Authenticator {
  public:
    // An Authorization header value, or "" to send none.
    using Done = std::move_only_function<void(Result<std::string>)>;
    static constexpr size_t token_response_bytes_max = 1 << 20;
    static constexpr size_t entries_max = 1024;  // scopes × credentials; expired ones go first

    explicit Authenticator(HttpClient& http) : http_(http) {}

    // The Authorization value for a request that `challenge` guards, needing `scope` (several
    // scopes separated by spaces). Bearer tokens come from the cache or the realm. `done` may
    // run before this returns when nothing has to be fetched.
    void authorize(const Challenge& challenge, const Credentials& creds, const std::string& scope,
                   Done done);
    // Forgets the token for this scope (the registry refused it).
    void invalidate(const Challenge& challenge, const Credentials& creds, const std::string& scope);
    // Forgets everything, waiters included (at shutdown).
    void reset() { entries_.clear(); }
    uint64_t tokens_fetched() const { return tokens_fetched_; }

  private:
    struct Entry {
        std::string token;
        int64_t expires_ns = 0;
        bool fetching = false;
        std::vector<Done> waiters;
    };
    void prune();
    void fetch(const std::string& key, const Challenge& challenge, const Credentials& creds,
               const std::string& scope);
    void fetched(const std::string& key, Result<HttpResponse> response, const std::string& realm);

    HttpClient& http_;
    std::unordered_map<std::string, Entry> entries_;
    uint64_t tokens_fetched_ = 0;
};

}  // namespace berth::registry
