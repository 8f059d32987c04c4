#include "registry/auth.hpp"

#include <openssl/evp.h>
#include <simdjson.h>

#include <algorithm>
#include <map>

#include "base/time.hpp"
#include "graph/digest.hpp"
#include "registry/errors.hpp"

namespace berth::registry {

namespace {

// Docker never trusts a token for less than a minute (minimumTokenLifetimeSeconds).
constexpr int64_t token_lifetime_min_s = 60;
constexpr int64_t token_expiry_margin_s = 5;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

// A quoted-string (with backslash escapes) or a token up to ',' or space.
std::string read_value(std::string_view h, size_t& i) {
    std::string v;
    if (i < h.size() && h[i] == '"') {
        for (++i; i < h.size() && h[i] != '"'; ++i) {
            if (h[i] == '\\' && i + 1 < h.size()) ++i;
            v += h[i];
        }
        if (i < h.size()) ++i;  // closing quote
        return v;
    }
    while (i < h.size() && h[i] != ',' && !is_space(h[i])) v += h[i++];
    return v;
}

using Params = std::map<std::string, std::string>;

std::vector<std::pair<std::string, Params>> parse_challenges(std::string_view h) {
    std::vector<std::pair<std::string, Params>> out;
    size_t i = 0;
    while (i < h.size()) {
        while (i < h.size() && (is_space(h[i]) || h[i] == ',')) ++i;
        size_t start = i;
        while (i < h.size() && !is_space(h[i]) && h[i] != '=' && h[i] != ',') ++i;
        std::string token(h.substr(start, i - start));
        if (token.empty()) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < h.size() && is_space(h[j])) ++j;
        if (j < h.size() && h[j] == '=' && !out.empty()) {
            i = j + 1;
            while (i < h.size() && is_space(h[i])) ++i;
            out.back().second[lower(token)] = read_value(h, i);
        } else {
            out.emplace_back(lower(token), Params{});
        }
    }
    return out;
}

std::string params_get(const Params& p, const char* key) {
    auto it = p.find(key);
    return it == p.end() ? std::string() : it->second;
}

std::vector<std::string> split_scopes(const std::string& scope) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < scope.size()) {
        size_t j = scope.find(' ', i);
        if (j == std::string::npos) j = scope.size();
        if (j > i) out.push_back(scope.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

struct Token {
    std::string value;
    int64_t expires_in_s = token_lifetime_min_s;
};

Result<Token> parse_token(std::string_view body) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc))
        return fail(Error::make(ErrorKind::unavailable, std::string("invalid token response: ") +
                                                            simdjson::error_message(err)));
    Token t;
    std::string_view v;
    if (!doc["token"].get(v) && !v.empty())
        t.value = v;
    else if (!doc["access_token"].get(v) && !v.empty())
        t.value = v;
    else
        return fail(Error::make(ErrorKind::unavailable,
                                "authorization server did not include a token in the response"));
    int64_t expires = 0;
    if (!doc["expires_in"].get(expires)) t.expires_in_s = std::max(expires, token_lifetime_min_s);
    return t;
}

}  // namespace

std::string Credentials::fingerprint() const {
    if (empty()) return "anonymous";
    std::string all = username + '\0' + password + '\0' + identity_token + '\0' + registry_token;
    return graph::sha256_digest(all);
}

std::string base64_encode(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()), int(data.size()));
    out.resize(size_t(n));
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    std::string s;
    for (char c : text) {
        if (c == '\r' || c == '\n' || c == ' ') continue;
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '=';
        if (!ok) return fail(Error::invalid("illegal base64 data"));
        s += c;
    }
    while (!s.empty() && s.back() == '=') s.pop_back();
    if (s.size() % 4 == 1) return fail(Error::invalid("illegal base64 data"));
    size_t data_len = s.size() * 3 / 4;
    while (s.size() % 4) s += '=';
    std::string out(s.size() / 4 * 3 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
    if (n < 0) return fail(Error::invalid("illegal base64 data"));
    out.resize(data_len);
    return out;
}

Result<Credentials> decode_registry_auth(std::string_view header) {
    Credentials c;
    if (header.empty()) return c;
    auto json = base64_decode(header);
    if (!json)
        return fail(Error::invalid("invalid X-Registry-Auth header: " + json.error().message));
    simdjson::dom::parser parser;
    simdjson::padded_string padded(*json);
    simdjson::dom::element doc;
    simdjson::dom::object obj;
    if (parser.parse(padded).get(doc) || doc.get(obj))
        return fail(Error::invalid("invalid X-Registry-Auth header: not a JSON object"));
    auto get = [&](const char* key, std::string& out) {
        std::string_view v;
        if (!obj[key].get(v)) out = v;
    };
    get("username", c.username);
    get("password", c.password);
    get("identitytoken", c.identity_token);
    get("registrytoken", c.registry_token);
    std::string auth;
    get("auth", auth);
    if (!auth.empty() && c.username.empty()) {
        auto pair = base64_decode(auth);
        if (!pair) return fail(Error::invalid("invalid X-Registry-Auth header: bad auth field"));
        size_t colon = pair->find(':');
        if (colon == std::string::npos)
            return fail(Error::invalid("invalid X-Registry-Auth header: bad auth field"));
        c.username = pair->substr(0, colon);
        c.password = pair->substr(colon + 1);
    }
    return c;
}

Challenge parse_challenge(std::string_view header) {
    Challenge out;
    const Params* chosen = nullptr;
    auto all = parse_challenges(header);
    for (const auto& [scheme, params] : all) {
        if (scheme == "bearer") {
            out.scheme = Challenge::Scheme::bearer;
            chosen = &params;
            break;
        }
        if (scheme == "basic" && out.scheme == Challenge::Scheme::none) {
            out.scheme = Challenge::Scheme::basic;
            chosen = &params;
        }
    }
    if (chosen) {
        out.realm = params_get(*chosen, "realm");
        out.service = params_get(*chosen, "service");
        out.scope = params_get(*chosen, "scope");
        out.error = params_get(*chosen, "error");
    }
    return out;
}

std::string repository_scope(std::string_view name, bool push) {
    return "repository:" + std::string(name) + (push ? ":pull,push" : ":pull");
}

void Authenticator::authorize(const Challenge& challenge, const Credentials& creds,
                              const std::string& scope, Done done) {
    switch (challenge.scheme) {
        case Challenge::Scheme::none:
            return done(std::string());
        case Challenge::Scheme::basic:
            // Without credentials the request goes out bare and the 401 says why.
            if (creds.username.empty() && creds.password.empty()) return done(std::string());
            return done("Basic " + base64_encode(creds.username + ":" + creds.password));
        case Challenge::Scheme::bearer:
            break;
    }
    if (!creds.registry_token.empty()) return done("Bearer " + creds.registry_token);
    std::string key =
        challenge.realm + "|" + challenge.service + "|" + scope + "|" + creds.fingerprint();
    if (entries_.size() >= entries_max) prune();
    Entry& e = entries_[key];
    if (!e.token.empty() && monotonic_ns() < e.expires_ns) return done("Bearer " + e.token);
    e.waiters.push_back(std::move(done));
    if (!e.fetching) fetch(key, challenge, creds, scope);
}

void Authenticator::prune() {
    int64_t now = monotonic_ns();
    std::erase_if(entries_, [now](const auto& kv) {
        return !kv.second.fetching && kv.second.expires_ns <= now;
    });
}

void Authenticator::invalidate(const Challenge& challenge, const Credentials& creds,
                               const std::string& scope) {
    std::string key =
        challenge.realm + "|" + challenge.service + "|" + scope + "|" + creds.fingerprint();
    if (auto it = entries_.find(key); it != entries_.end() && !it->second.fetching)
        entries_.erase(it);
}

void Authenticator::fetch(const std::string& key, const Challenge& challenge,
                          const Credentials& creds, const std::string& scope) {
    entries_[key].fetching = true;
    ++tokens_fetched_;
    auto url = parse_url(challenge.realm);
    if (!url) {
        Error e = std::move(url.error()).wrap("invalid token realm \"" + challenge.realm + "\"");
        return fetched(key, fail(std::move(e)), challenge.realm);
    }
    HttpRequest req;
    req.url = std::move(*url);
    if (!creds.identity_token.empty()) {
        // docker login with a token service: trade the refresh token for an access token.
        req.method = "POST";
        req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
        req.body = "grant_type=refresh_token&client_id=berth&refresh_token=" +
                   query_escape(creds.identity_token) +
                   "&service=" + query_escape(challenge.service) + "&scope=" + query_escape(scope);
    } else {
        if (!challenge.service.empty())
            req.url.target = add_query(req.url.target, "service", challenge.service);
        for (const std::string& s : split_scopes(scope))
            req.url.target = add_query(req.url.target, "scope", s);
        if (!creds.username.empty())
            req.url.target = add_query(req.url.target, "account", creds.username);
        if (!creds.username.empty() || !creds.password.empty())
            req.headers.push_back(
                {"Authorization", "Basic " + base64_encode(creds.username + ":" + creds.password)});
    }
    std::string realm = challenge.realm;
    http_.fetch(std::move(req), token_response_bytes_max,
                [this, key, realm](Result<HttpResponse> r) { fetched(key, std::move(r), realm); });
}

void Authenticator::fetched(const std::string& key, Result<HttpResponse> response,
                            const std::string& realm) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;  // reset meanwhile
    Entry& e = it->second;
    e.fetching = false;
    std::vector<Done> waiters = std::move(e.waiters);
    e.waiters.clear();
    Result<std::string> out = std::string();
    if (!response) {
        out = fail(std::move(response.error()));
    } else if (response->status != 200) {
        out = fail(registry_error(response->status, response->body, response->headers));
    } else if (auto t = parse_token(response->body); !t) {
        out = fail(std::move(t.error()).wrap("fetch token from " + realm));
    } else {
        e.token = t->value;
        e.expires_ns = monotonic_ns() + (t->expires_in_s - token_expiry_margin_s) * 1'000'000'000;
        out = "Bearer " + t->value;
    }
    // The waiters may call authorize() again: `e` is not touched past this point.
    for (Done& w : waiters) w(out);
}

}  // namespace berth::registry
