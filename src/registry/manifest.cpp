#include "registry/manifest.hpp"

#include <simdjson.h>

#include "graph/digest.hpp"

namespace berth::registry {

namespace {

constexpr size_t descriptors_max = 10'000;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

// "application/json; charset=utf-8" → "application/json".
std::string_view bare_media_type(std::string_view ct) {
    ct = ct.substr(0, ct.find(';'));
    while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
    return ct;
}

bool is_manifest_type(std::string_view mt) {
    return is_index_media_type(mt) || is_image_manifest_media_type(mt) ||
           mt == media_type::docker_schema1 || mt == media_type::docker_schema1_signed;
}

Error invalid_manifest(std::string why) {
    return Error::invalid("invalid manifest: " + std::move(why));
}

std::string_view get_string(simdjson::dom::object o, std::string_view key) {
    std::string_view v;
    if (o[key].get(v)) return {};
    return v;
}

Result<Platform> parse_platform_object(simdjson::dom::object o) {
    Platform p;
    p.os = get_string(o, "os");
    p.architecture = get_string(o, "architecture");
    p.variant = get_string(o, "variant");
    p.os_version = get_string(o, "os.version");
    if (p.os.empty() || p.architecture.empty())
        return fail(invalid_manifest("platform without os or architecture"));
    return p;
}

Result<Descriptor> parse_descriptor(simdjson::dom::element e) {
    simdjson::dom::object o;
    if (e.get(o)) return fail(invalid_manifest("descriptor is not an object"));
    Descriptor d;
    d.media_type = get_string(o, "mediaType");
    d.digest = get_string(o, "digest");
    if (!graph::is_sha256_digest(d.digest))
        return fail(invalid_manifest("unsupported or malformed digest \"" + d.digest + "\""));
    int64_t size = -1;
    if (o["size"].get(size) || size < 0)
        return fail(invalid_manifest("descriptor " + d.digest + " has no valid size"));
    d.size = uint64_t(size);
    simdjson::dom::array urls;
    if (!o["urls"].get(urls))
        for (simdjson::dom::element u : urls)
            if (std::string_view s; !u.get(s)) d.urls.emplace_back(s);
    simdjson::dom::object platform;
    if (!o["platform"].get(platform)) {
        auto p = parse_platform_object(platform);
        if (!p) return fail(std::move(p.error()));
        d.platform = std::move(*p);
    }
    return d;
}

Result<std::vector<Descriptor>> parse_descriptors(simdjson::dom::object o, std::string_view key) {
    simdjson::dom::array arr;
    if (o[key].get(arr))
        return fail(invalid_manifest(std::string("missing \"") + std::string(key) + "\""));
    if (arr.size() > descriptors_max) return fail(invalid_manifest("too many descriptors"));
    std::vector<Descriptor> out;
    for (simdjson::dom::element e : arr) {
        auto d = parse_descriptor(e);
        if (!d) return fail(std::move(d.error()));
        out.push_back(std::move(*d));
    }
    return out;
}

// The media type of a document: the header when it names a manifest type, else the
// document's own field, else the shape.
Result<std::string> decide_media_type(simdjson::dom::object o, std::string_view content_type) {
    std::string_view header = bare_media_type(content_type);
    std::string_view field = get_string(o, "mediaType");
    if (is_manifest_type(header)) {
        if (!field.empty() && field != header)
            return fail(invalid_manifest("mediaType in manifest should be '" + std::string(header) +
                                         "' not '" + std::string(field) + "'"));
        return std::string(header);
    }
    if (!field.empty()) return std::string(field);
    simdjson::dom::element ignored;
    if (!o["manifests"].get(ignored)) return std::string(media_type::oci_index);
    if (!o["config"].get(ignored)) return std::string(media_type::oci_manifest);
    return fail(invalid_manifest("unknown manifest format"));
}

// How well an index entry fits: higher is better, 0 means not at all.
int platform_score(const Platform& want, const Platform& have) {
    if (want.os != have.os || want.architecture != have.architecture) return 0;
    if (want.variant == have.variant) return 100;
    if (want.variant.empty()) return 50;  // any variant of the architecture will do
    // arm/v7 runs v6 and v5 code: prefer the newest below the one asked for.
    if (want.architecture == "arm" && want.variant.size() == 2 && have.variant.size() == 2 &&
        have.variant[1] < want.variant[1])
        return 10 + (have.variant[1] - '0');
    return 0;
}

}  // namespace

std::string_view manifest_accept() {
    static const std::string accept = std::string(media_type::oci_index) + ", " +
                                      std::string(media_type::docker_manifest_list) + ", " +
                                      std::string(media_type::oci_manifest) + ", " +
                                      std::string(media_type::docker_manifest);
    return accept;
}

bool is_index_media_type(std::string_view mt) {
    return mt == media_type::oci_index || mt == media_type::docker_manifest_list;
}

bool is_image_manifest_media_type(std::string_view mt) {
    return mt == media_type::oci_manifest || mt == media_type::docker_manifest;
}

bool is_config_media_type(std::string_view mt) {
    return mt == media_type::docker_config || mt == media_type::oci_config;
}

Result<Compression> layer_compression(std::string_view mt) {
    if (mt == media_type::docker_layer || mt == media_type::docker_foreign_layer ||
        mt == media_type::oci_layer_gzip ||
        mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
        return Compression::gzip;
    if (mt == media_type::oci_layer_zstd ||
        mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
        return Compression::zstd;
    if (mt == media_type::oci_layer ||
        mt == "application/vnd.oci.image.layer.nondistributable.v1.tar")
        return Compression::none;
    return fail(
        Error::make(ErrorKind::not_implemented, "unsupported layer media type " + std::string(mt)));
}

std::string Platform::str() const {
    std::string s = os + "/" + architecture;
    if (!variant.empty()) s += "/" + variant;
    return s;
}

Platform default_platform() {
    return Platform{"linux", "amd64", "", ""};
}

Platform normalize(Platform p) {
    p.os = lower(p.os);
    if (p.os == "macos") p.os = "darwin";
    std::string arch = lower(p.architecture);
    std::string& v = p.variant;
    if (arch == "i386")
        arch = "386";
    else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
        arch = "amd64";
        if (v == "v1") v.clear();
    } else if (arch == "aarch64" || arch == "arm64") {
        arch = "arm64";
        if (v == "8" || v == "v8") v.clear();
    } else if (arch == "armhf") {
        arch = "arm";
        v = "v7";
    } else if (arch == "armel") {
        arch = "arm";
        v = "v6";
    } else if (arch == "arm") {
        if (v.empty() || v == "7")
            v = "v7";
        else if (v == "5" || v == "6" || v == "8")
            v = "v" + v;
    }
    p.architecture = arch;
    return p;
}

Result<Platform> parse_platform(std::string_view text) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= text.size()) {
        size_t j = text.find('/', i);
        if (j == std::string_view::npos) j = text.size();
        parts.emplace_back(text.substr(i, j - i));
        i = j + 1;
    }
    auto bad = [&] {
        return fail(
            Error::invalid("\"" + std::string(text) +
                           "\": unknown operating system or architecture: invalid argument"));
    };
    for (const auto& p : parts)
        if (p.empty()) return bad();
    Platform p;
    if (parts.size() == 1) {
        // One word: an OS (with the default architecture) or an architecture (on linux).
        std::string w = lower(parts[0]);
        bool is_os = w == "linux" || w == "windows" || w == "darwin" || w == "freebsd";
        p = is_os ? Platform{w, "amd64", "", ""} : Platform{"linux", w, "", ""};
    } else if (parts.size() <= 3) {
        p = Platform{parts[0], parts[1], parts.size() == 3 ? parts[2] : "", ""};
    } else {
        return bad();
    }
    return normalize(std::move(p));
}

Result<Manifest> parse_manifest(std::string_view bytes, std::string_view content_type) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(bytes);
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc))
        return fail(invalid_manifest(std::string("not JSON: ") + simdjson::error_message(err)));
    simdjson::dom::object o;
    if (doc.get(o)) return fail(invalid_manifest("not a JSON object"));
    int64_t schema = 0;
    if (!o["schemaVersion"].get(schema) && schema == 1)
        return fail(Error::make(ErrorKind::not_implemented,
                                "Docker Image manifest version 2, schema 1 is not supported: "
                                "push the image again with a current client"));
    auto mt = decide_media_type(o, content_type);
    if (!mt) return fail(std::move(mt.error()));
    Manifest m;
    m.media_type = std::move(*mt);
    if (is_index_media_type(m.media_type)) {
        m.kind = Manifest::Kind::index;
        auto list = parse_descriptors(o, "manifests");
        if (!list) return fail(std::move(list.error()));
        m.index.manifests = std::move(*list);
        return m;
    }
    if (!is_image_manifest_media_type(m.media_type))
        return fail(Error::make(ErrorKind::not_implemented,
                                "unsupported manifest media type " + m.media_type));
    simdjson::dom::element config;
    if (o["config"].get(config)) return fail(invalid_manifest("missing \"config\""));
    auto c = parse_descriptor(config);
    if (!c) return fail(std::move(c.error()));
    m.image.config = std::move(*c);
    auto layers = parse_descriptors(o, "layers");
    if (!layers) return fail(std::move(layers.error()));
    m.image.layers = std::move(*layers);
    return m;
}

Result<Descriptor> select_manifest(const ManifestIndex& index, const Platform& want_raw) {
    Platform want = normalize(want_raw);
    const Descriptor* best = nullptr;
    int best_score = 0;
    for (const Descriptor& d : index.manifests) {
        if (!d.platform || !is_image_manifest_media_type(d.media_type)) continue;
        int score = platform_score(want, normalize(*d.platform));
        if (score > best_score) {
            best = &d;
            best_score = score;
        }
    }
    if (!best)
        return fail(Error::not_found("no matching manifest for " + want.str() +
                                     " in the manifest list entries"));
    return *best;
}

Result<std::string> verify_manifest_digest(std::string_view bytes, std::string_view requested,
                                           std::string_view header_digest) {
    std::string actual = graph::sha256_digest(bytes);
    if (!requested.empty() && actual != requested)
        return fail(
            Error::invalid("manifest verification failed for digest " + std::string(requested)));
    // Only sha256 is computed here; a header in another algorithm cannot be compared.
    if (graph::is_sha256_digest(header_digest) && header_digest != actual)
        return fail(Error::invalid("manifest verification failed for digest " +
                                   std::string(header_digest)));
    return actual;
}

}  // namespace berth::registry
