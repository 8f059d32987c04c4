// Image manifests as registries serve them: Docker schema2 and OCI image manifests, Docker
// manifest lists and OCI indexes (with platform selection, linux/amd64 by default), the media
// types of configs and layers, and verification of the manifest bytes against their digest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace berth::registry {

namespace media_type {
inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_schema1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view docker_schema1_signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view docker_layer =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view docker_foreign_layer =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view oci_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
}  // namespace media_type

// The Accept header for manifest requests: every type berth can use, lists first.
std::string_view manifest_accept();

bool is_index_media_type(std::string_view mt);
bool is_image_manifest_media_type(std::string_view mt);
bool is_config_media_type(std::string_view mt);

enum class Compression : unsigned char { none, gzip, zstd };
// A layer's compression from its media type (Docker, OCI and OCI non-distributable types).
Result<Compression> layer_compression(std::string_view media_type);

struct Platform {
    std::string os;
    std::string architecture;
    std::string variant;
    std::string os_version;
    // "linux/amd64", "linux/arm/v7".
    std::string str() const;
};

// linux/amd64: what berth pulls when no platform is asked for.
Platform default_platform();
// Docker's `platform=` values: "linux", "linux/arm64", "linux/arm/v7", "amd64" (normalised).
Result<Platform> parse_platform(std::string_view text);
// containerd's normalisation: x86_64 → amd64, aarch64 → arm64 (variant v8 dropped),
// armhf → arm/v7, armel → arm/v6, arm → arm/v7.
Platform normalize(Platform p);

struct Descriptor {
    std::string media_type;
    std::string digest;
    uint64_t size = 0;
    std::vector<std::string> urls;
    std::optional<Platform> platform;  // in lists and indexes
};

struct ImageManifest {
    Descriptor config;
    std::vector<Descriptor> layers;
};

struct ManifestIndex {
    std::vector<Descriptor> manifests;
};

struct Manifest {
    enum class Kind : unsigned char { image, index };
    Kind kind = Kind::image;
    std::string media_type;
    ImageManifest image;  // kind == image
    ManifestIndex index;  // kind == index
};

// Parses manifest bytes. The media type comes from the Content-Type (when it is a manifest
// type), else the document's mediaType, else the shape (OCI allows it to be absent).
Result<Manifest> parse_manifest(std::string_view bytes, std::string_view content_type);

// The entry of a list/index for `want`; Docker's error when there is none.
Result<Descriptor> select_manifest(const ManifestIndex& index, const Platform& want);

// Checks manifest bytes against the digest they were requested by and the registry's
// Docker-Content-Digest header (either may be empty); returns the bytes' digest.
Result<std::string> verify_manifest_digest(std::string_view bytes, std::string_view requested,
                                           std::string_view header_digest);

}  // namespace berth::registry
