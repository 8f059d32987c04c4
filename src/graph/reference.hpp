// Image references as Docker normalises them (distribution/reference's ParseNormalizedNamed):
// `busybox` is docker.io/library/busybox, shown back as `busybox:latest`. A Reference always has
// a domain and a path; tag and digest are optional (both may be present). Error messages are
// Docker's, word for word, because the CLI prints them as they come.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace berth::graph {

// Docker Hub's canonical domain, the registry it is served from, and its official namespace.
inline constexpr std::string_view default_domain = "docker.io";
inline constexpr std::string_view default_registry_host = "registry-1.docker.io";
inline constexpr std::string_view default_tag = "latest";
// distribution/reference's NameTotalLengthMax: the name with its domain, without tag or digest.
inline constexpr size_t reference_name_bytes_max = 255;
inline constexpr size_t reference_tag_bytes_max = 128;

class Reference {
  public:
    // ParseNormalizedNamed followed by TagNameOnly: a name without tag or digest gets `latest`.
    static Result<Reference> parse(std::string_view text);
    // ParseNormalizedNamed alone: no default tag (`docker push name`, `docker pull --all-tags`).
    static Result<Reference> parse_named(std::string_view text);

    const std::string& domain() const { return domain_; }  // docker.io, localhost:5000
    const std::string& path() const { return path_; }      // library/busybox, team/app
    const std::string& tag() const { return tag_; }        // "" when none
    const std::string& digest() const { return digest_; }  // "" or sha256:<hex>

    // docker.io/library/busybox
    std::string name() const;
    // busybox, user/app, localhost:5000/app (Docker's FamiliarName)
    std::string familiar_name() const;
    // docker.io/library/busybox:latest[@sha256:…]
    std::string str() const;
    // busybox:latest, busybox@sha256:… (Docker's FamiliarString, as RepoTags shows it)
    std::string familiar() const;
    // The key a tag or digest is stored under: name@digest when there is a digest (it takes
    // precedence over a tag, as in Docker's reference store), else name:tag (tag defaulted).
    std::string lookup_key() const;
    // The host to open connections to: docker.io is served by registry-1.docker.io.
    std::string registry_host() const;

    // TagNameOnly: `latest` when there is neither tag nor digest.
    Reference with_default_tag() const;
    // The same name with this tag (validated) and no digest; or with this digest and no tag.
    Result<Reference> with_tag(std::string_view tag) const;
    Result<Reference> with_digest(std::string_view digest) const;
    Reference name_only() const;

    bool operator==(const Reference&) const = default;

  private:
    std::string domain_;
    std::string path_;
    std::string tag_;
    std::string digest_;
};

// ParseAnyReference: a 64-hex string or a full `sha256:<64 hex>` is an image ID (returned as
// sha256:<hex> in `id`); anything else must be a name, parsed without a default tag.
struct AnyReference {
    std::optional<std::string> id;
    std::optional<Reference> named;
};
Result<AnyReference> parse_any_reference(std::string_view text);

// The ID-prefix rule of Docker's image store (digestset.Lookup): `text` names an image by ID
// prefix if it is hex digits, optionally after `sha256:`. Returns the hex part, or nothing.
// Docker sets no minimum length; the caller still tries tags first, as Docker does.
std::optional<std::string> image_id_prefix(std::string_view text);

// isImageIDPrefix in Docker's image_delete.go: `text` is a prefix of the full ID or of its hex.
bool is_image_id_prefix(std::string_view image_id, std::string_view text);

// "sha256:<hex>" → the first 12 hex digits, as stringid.TruncateID shows IDs in messages.
std::string short_id(std::string_view id);

// Validation pieces, exposed for the API handlers that take repo and tag separately.
bool is_valid_tag(std::string_view tag);
// go-digest's Digest.Validate; the error is Docker's ("invalid checksum digest format", …).
Result<void> validate_digest(std::string_view digest);

}  // namespace berth::graph
