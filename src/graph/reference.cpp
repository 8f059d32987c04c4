// Docker's reference grammar (distribution/reference regexp.go) as small hand-written matchers,
// and the normalisation around it (normalize.go). Each matcher accepts exactly what the matching
// Go regular expression accepts; the parse steps and their errors follow reference.go's Parse.
#include "graph/reference.hpp"

#include <array>

namespace berth::graph {
namespace {

constexpr std::string_view official_prefix = "library/";
constexpr std::string_view legacy_default_domain = "index.docker.io";
constexpr std::string_view localhost = "localhost";

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_word(char c) {
    return is_alnum(c) || c == '_';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_lower_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool all_of(std::string_view s, bool (*pred)(char)) {
    for (char c : s)
        if (!pred(c)) return false;
    return true;
}

// pathComponent: [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*
bool is_path_component(std::string_view s) {
    if (s.empty() || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
    size_t i = 0;
    while (i < s.size()) {
        if (is_lower_alnum(s[i])) {
            ++i;
            continue;
        }
        size_t run = i;
        while (run < s.size() && !is_lower_alnum(s[run])) ++run;
        std::string_view sep = s.substr(i, run - i);
        bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
        if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
        i = run;
    }
    return true;
}

// pathComponent ("/" pathComponent)*
bool is_path(std::string_view s) {
    for (;;) {
        size_t slash = s.find('/');
        if (!is_path_component(s.substr(0, slash))) return false;
        if (slash == std::string_view::npos) return true;
        s.remove_prefix(slash + 1);
    }
}

// domainNameComponent: [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool is_domain_component(std::string_view s) {
    if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
    for (char c : s)
        if (!is_alnum(c) && c != '-') return false;
    return true;
}

// host (":" [0-9]+)?, host = domainName | "[" [a-fA-F0-9:]+ "]"
bool is_domain(std::string_view s) {
    std::string_view host = s;
    std::string_view port;
    bool has_port = false;
    if (s.starts_with('[')) {
        size_t close = s.find(']');
        if (close == std::string_view::npos) return false;
        host = s.substr(0, close + 1);
        std::string_view rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            has_port = true;
            port = rest.substr(1);
        }
        std::string_view inner = host.substr(1, host.size() - 2);
        if (inner.empty()) return false;
        for (char c : inner)
            if (!is_hex(c) && c != ':') return false;
    } else {
        size_t colon = s.find(':');
        if (colon != std::string_view::npos) {
            host = s.substr(0, colon);
            port = s.substr(colon + 1);
            has_port = true;
        }
        for (;;) {
            size_t dot = host.find('.');
            if (!is_domain_component(host.substr(0, dot))) return false;
            if (dot == std::string_view::npos) break;
            host.remove_prefix(dot + 1);
        }
    }
    return !has_port || (!port.empty() && all_of(port, is_digit));
}

// digestPat: [A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}
bool matches_digest_pattern(std::string_view s) {
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view alg = s.substr(0, colon);
    std::string_view hex = s.substr(colon + 1);
    if (hex.size() < 32 || !all_of(hex, is_hex)) return false;
    bool want_letter = true;
    for (char c : alg) {
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (want_letter) {
            if (!letter) return false;
            want_letter = false;
        } else if (c == '-' || c == '_' || c == '+' || c == '.') {
            want_letter = true;
        } else if (!is_alnum(c)) {
            return false;
        }
    }
    return !alg.empty() && !want_letter;
}

// go-digest's DigestRegexp, used only to tell an unknown algorithm from a malformed digest:
// [a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+
bool matches_go_digest_regexp(std::string_view s) {
    size_t colon = s.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
    std::string_view alg = s.substr(0, colon);
    bool after_sep = true;
    for (char c : alg) {
        if (is_lower_alnum(c)) {
            after_sep = false;
        } else if ((c == '.' || c == '+' || c == '_' || c == '-') && !after_sep) {
            after_sep = true;
        } else {
            return false;
        }
    }
    if (after_sep) return false;
    for (char c : s.substr(colon + 1))
        if (!is_alnum(c) && c != '=' && c != '_' && c != '-') return false;
    return true;
}

struct Split {
    std::string_view name, tag, digest;
};

// ReferenceRegexp: name (":" tag)? ("@" digest)?, anchored. Returns nothing if it does not match.
std::optional<Split> match_reference(std::string_view s) {
    Split out;
    size_t at = s.find('@');
    if (at != std::string_view::npos) {
        out.digest = s.substr(at + 1);
        if (!matches_digest_pattern(out.digest)) return std::nullopt;
        s = s.substr(0, at);
    }
    size_t last_slash = s.rfind('/');
    size_t colon = s.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
    if (colon != std::string_view::npos) {
        out.tag = s.substr(colon + 1);
        if (!is_valid_tag(out.tag)) return std::nullopt;
        s = s.substr(0, colon);
    }
    out.name = s;
    size_t slash = s.find('/');
    bool with_domain = slash != std::string_view::npos && is_domain(s.substr(0, slash)) &&
                       is_path(s.substr(slash + 1));
    if (!with_domain && !is_path(s)) return std::nullopt;
    return out;
}

struct Parts {
    std::string domain, path, tag, digest;
};

// reference.Parse: the grammar, the name length and the digest's algorithm and length.
Result<Parts> parse_full(std::string_view s) {
    auto m = match_reference(s);
    if (!m) {
        if (s.empty())
            return fail(Error::invalid("repository name must have at least one component"));
        if (match_reference(to_lower(s)))
            return fail(Error::invalid("repository name must be lowercase"));
        return fail(Error::invalid("invalid reference format"));
    }
    if (m->name.size() > reference_name_bytes_max)
        return fail(Error::invalid("repository name must not be more than 255 characters"));
    if (!m->digest.empty())
        if (auto r = validate_digest(m->digest); !r) return fail(std::move(r.error()));
    Parts out{.domain = {},
              .path = std::string(m->name),
              .tag = std::string(m->tag),
              .digest = std::string(m->digest)};
    // anchoredNameRegexp prefers a domain whenever the first component can be one.
    size_t slash = m->name.find('/');
    if (slash != std::string_view::npos && is_domain(m->name.substr(0, slash)) &&
        is_path(m->name.substr(slash + 1))) {
        out.domain = m->name.substr(0, slash);
        out.path = m->name.substr(slash + 1);
    }
    return out;
}

// splitDockerDomain: a first component is a domain if it is localhost, has a '.' or ':', or
// has an uppercase letter (Docker Hub namespaces never do); otherwise the name is on Docker Hub.
std::pair<std::string, std::string> split_docker_domain(std::string_view name) {
    std::string domain;
    std::string remainder;
    size_t slash = name.find('/');
    std::string_view first = name.substr(0, slash);
    if (slash == std::string_view::npos ||
        (first != localhost && first.find_first_of(".:") == std::string_view::npos &&
         to_lower(first) == first)) {
        domain = default_domain;
        remainder = name;
    } else {
        domain = first;
        remainder = name.substr(slash + 1);
    }
    if (domain == legacy_default_domain) domain = default_domain;
    if (domain == default_domain && remainder.find('/') == std::string::npos)
        remainder = std::string(official_prefix) + remainder;
    return {domain, remainder};
}

bool is_64_hex(std::string_view s) {
    return s.size() == 64 && all_of(s, is_lower_hex);
}

}  // namespace

bool is_valid_tag(std::string_view tag) {
    // [\w][\w.-]{0,127}
    if (tag.empty() || tag.size() > reference_tag_bytes_max || !is_word(tag.front())) return false;
    for (char c : tag)
        if (!is_word(c) && c != '.' && c != '-') return false;
    return true;
}

Result<void> validate_digest(std::string_view d) {
    struct Algorithm {
        std::string_view name;
        size_t hex_size;
    };
    // The algorithms go-digest has available in dockerd (crypto/sha256 and crypto/sha512).
    constexpr std::array<Algorithm, 3> algorithms{Algorithm{"sha256", 64}, Algorithm{"sha384", 96},
                                                  Algorithm{"sha512", 128}};
    size_t colon = d.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == d.size())
        return fail(Error::invalid("invalid checksum digest format"));
    std::string_view alg = d.substr(0, colon);
    std::string_view hex = d.substr(colon + 1);
    for (const Algorithm& a : algorithms) {
        if (a.name != alg) continue;
        if (hex.size() != a.hex_size) return fail(Error::invalid("invalid checksum digest length"));
        if (!all_of(hex, is_lower_hex))
            return fail(Error::invalid("invalid checksum digest format"));
        return {};
    }
    if (!matches_go_digest_regexp(d)) return fail(Error::invalid("invalid checksum digest format"));
    return fail(Error::invalid("unsupported digest algorithm"));
}

Result<Reference> Reference::parse_named(std::string_view text) {
    if (is_64_hex(text))
        return fail(Error::invalid("invalid repository name (" + std::string(text) +
                                   "), cannot specify 64-byte hexadecimal strings"));
    auto [domain, remainder] = split_docker_domain(text);
    std::string_view remote = remainder;
    remote = remote.substr(0, remote.find(':'));
    if (to_lower(remote) != remote)
        return fail(Error::invalid("invalid reference format: repository name (" +
                                   std::string(remote) + ") must be lowercase"));
    auto parts = parse_full(domain + "/" + remainder);
    if (!parts) return fail(std::move(parts.error()));
    // Never empty after split_docker_domain; kept as Docker's "has no name" guard.
    if (parts->domain.empty()) return fail(Error::invalid("invalid reference format"));
    Reference ref;
    ref.domain_ = std::move(parts->domain);
    ref.path_ = std::move(parts->path);
    ref.tag_ = std::move(parts->tag);
    ref.digest_ = std::move(parts->digest);
    return ref;
}

Result<Reference> Reference::parse(std::string_view text) {
    auto ref = parse_named(text);
    if (!ref) return ref;
    return ref->with_default_tag();
}

std::string Reference::name() const {
    return domain_ + "/" + path_;
}

std::string Reference::familiar_name() const {
    if (domain_ != default_domain) return name();
    std::string_view p = path_;
    // Only one level under library/ is an official image; library/a/b stays as it is.
    if (p.starts_with(official_prefix) &&
        p.substr(official_prefix.size()).find('/') == std::string_view::npos)
        p.remove_prefix(official_prefix.size());
    return std::string(p);
}

std::string Reference::str() const {
    std::string out = name();
    if (!tag_.empty()) out += ":" + tag_;
    if (!digest_.empty()) out += "@" + digest_;
    return out;
}

std::string Reference::familiar() const {
    std::string out = familiar_name();
    if (!tag_.empty()) out += ":" + tag_;
    if (!digest_.empty()) out += "@" + digest_;
    return out;
}

std::string Reference::lookup_key() const {
    if (!digest_.empty()) return name() + "@" + digest_;
    return name() + ":" + (tag_.empty() ? std::string(default_tag) : tag_);
}

std::string Reference::registry_host() const {
    return domain_ == default_domain ? std::string(default_registry_host) : domain_;
}

Reference Reference::with_default_tag() const {
    Reference r = *this;
    if (r.tag_.empty() && r.digest_.empty()) r.tag_ = default_tag;
    return r;
}

Result<Reference> Reference::with_tag(std::string_view tag) const {
    if (!is_valid_tag(tag)) return fail(Error::invalid("invalid tag format"));
    Reference r = name_only();
    r.tag_ = tag;
    return r;
}

Result<Reference> Reference::with_digest(std::string_view digest) const {
    if (!matches_digest_pattern(digest)) return fail(Error::invalid("invalid digest format"));
    if (auto v = validate_digest(digest); !v) return fail(std::move(v.error()));
    Reference r = name_only();
    r.digest_ = digest;
    return r;
}

Reference Reference::name_only() const {
    Reference r;
    r.domain_ = domain_;
    r.path_ = path_;
    return r;
}

Result<AnyReference> parse_any_reference(std::string_view text) {
    AnyReference out;
    if (is_64_hex(text)) {
        out.id = "sha256:" + std::string(text);
        return out;
    }
    if (text.starts_with("sha256:") && is_64_hex(text.substr(7))) {
        out.id = std::string(text);
        return out;
    }
    auto named = Reference::parse_named(text);
    if (!named) return fail(std::move(named.error()));
    out.named = std::move(*named);
    return out;
}

std::optional<std::string> image_id_prefix(std::string_view text) {
    if (text.starts_with("sha256:")) text.remove_prefix(7);
    if (text.empty() || text.size() > 64 || !all_of(text, is_lower_hex)) return std::nullopt;
    return std::string(text);
}

bool is_image_id_prefix(std::string_view image_id, std::string_view text) {
    if (image_id.starts_with(text)) return true;
    size_t colon = image_id.find(':');
    return colon != std::string_view::npos && image_id.substr(colon + 1).starts_with(text);
}

std::string short_id(std::string_view id) {
    size_t colon = id.find(':');
    if (colon != std::string_view::npos) id.remove_prefix(colon + 1);
    return std::string(id.substr(0, 12));
}

}  // namespace berth::graph
