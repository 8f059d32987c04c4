#include "jobs/image_load.hpp"

#include <simdjson.h>

#include "graph/image_config.hpp"
#include "graph/images.hpp"
#include "graph/reference.hpp"
#include "jobs/layer_install.hpp"

namespace berth::jobs {

namespace {

constexpr uint64_t metadata_bytes_max = 16 << 20;

// Member names as docker save writes them; "./" prefixes are tolerated.
std::string clean(std::string_view name) {
    while (name.starts_with("./")) name.remove_prefix(2);
    return std::string(name);
}

std::string blob_member(std::string_view digest) {
    return "blobs/sha256/" + std::string(digest.substr(digest.find(':') + 1));
}

Error bad_archive(std::string_view why) {
    return Error::invalid("invalid archive: " + std::string(why));
}

}  // namespace

Result<std::unique_ptr<ImageLoad>> ImageLoad::create(graph::ImageStore& images,
                                                     drivers::StorageDriver& storage,
                                                     const std::string& tmp_root) {
    std::unique_ptr<ImageLoad> job(new ImageLoad(images, storage));
    auto spool = graph::Spool::create(tmp_root);
    if (!spool) return fail(spool.error());
    job->spool_ = std::move(*spool);
    return job;
}

Result<> ImageLoad::feed(std::span<const std::byte> bytes) { return reader_.feed(bytes); }

Result<> ImageLoad::begin_entry(const graph::TarEntry& entry) {
    if (entry.type != graph::TarEntry::Type::file) return {};
    in_member_ = true;
    return spool_->begin(clean(entry.path), entry.size);
}

Result<> ImageLoad::data(std::span<const std::byte> bytes) {
    return in_member_ ? spool_->append(bytes) : Result<>{};
}

Result<> ImageLoad::end_entry() {
    if (!in_member_) return {};
    in_member_ = false;
    return spool_->end();
}

// docker-archive: [{"Config":"<hex>.json","RepoTags":["busybox:latest"],"Layers":[…]}]
Result<std::vector<ImageLoad::ImageEntry>> ImageLoad::read_manifest() {
    auto text = spool_->read_all("manifest.json", metadata_bytes_max);
    if (!text) return fail(text.error());
    simdjson::dom::parser parser;
    simdjson::padded_string padded(*text);
    simdjson::dom::array items;
    if (parser.parse(padded).get(items)) return fail(bad_archive("manifest.json is not a JSON array"));
    std::vector<ImageEntry> out;
    for (simdjson::dom::element item : items) {
        ImageEntry e;
        std::string_view config;
        simdjson::dom::array layers;
        if (item["Config"].get(config) || item["Layers"].get(layers))
            return fail(bad_archive("manifest.json entry without Config or Layers"));
        e.config = clean(config);
        for (simdjson::dom::element l : layers) {
            std::string_view name;
            if (l.get(name)) return fail(bad_archive("manifest.json: a layer is not a string"));
            e.layers.push_back(clean(name));
        }
        simdjson::dom::array tags;
        if (!item["RepoTags"].get(tags))
            for (simdjson::dom::element t : tags) {
                std::string_view tag;
                if (!t.get(tag)) e.tags.emplace_back(tag);
            }
        out.push_back(std::move(e));
    }
    return out;
}

// OCI image layout: index.json → manifests → config and layers, tags from the annotations.
Result<std::vector<ImageLoad::ImageEntry>> ImageLoad::read_oci_index() {
    auto text = spool_->read_all("index.json", metadata_bytes_max);
    if (!text) return fail(text.error());
    simdjson::dom::parser parser;
    simdjson::padded_string padded(*text);
    simdjson::dom::array manifests;
    if (parser.parse(padded)["manifests"].get(manifests))
        return fail(bad_archive("index.json has no manifests"));
    std::vector<ImageEntry> out;
    for (simdjson::dom::element m : manifests) {
        std::string_view digest, ref;
        if (m["digest"].get(digest)) return fail(bad_archive("index.json: manifest without digest"));
        ImageEntry e;
        if (!m["annotations"]["io.containerd.image.name"].get(ref) ||
            !m["annotations"]["org.opencontainers.image.ref.name"].get(ref))
            e.tags.emplace_back(ref);
        auto body = spool_->read_all(blob_member(digest), metadata_bytes_max);
        if (!body) return fail(body.error());
        simdjson::dom::parser mp;
        simdjson::padded_string mpad(*body);
        simdjson::dom::element manifest;
        std::string_view config;
        simdjson::dom::array layers;
        if (mp.parse(mpad).get(manifest) || manifest["config"]["digest"].get(config) ||
            manifest["layers"].get(layers))
            return fail(bad_archive("manifest " + std::string(digest) + " is not an image manifest"));
        e.config = blob_member(config);
        for (simdjson::dom::element l : layers) {
            std::string_view ld;
            if (l["digest"].get(ld)) return fail(bad_archive("manifest layer without digest"));
            e.layers.push_back(blob_member(ld));
        }
        out.push_back(std::move(e));
    }
    return out;
}

Result<LoadedImage> ImageLoad::install(const ImageEntry& image) {
    auto config = spool_->read_all(image.config, metadata_bytes_max);
    if (!config) return fail(config.error());
    auto info = graph::parse_image_config(*config);
    if (!info) return fail(info.error());
    if (info->diff_ids.size() != image.layers.size())
        return fail(bad_archive("the config lists " + std::to_string(info->diff_ids.size()) +
                                " layers, the manifest " + std::to_string(image.layers.size())));
    std::string parent;
    for (size_t i = 0; i < image.layers.size(); ++i) {
        auto li = LayerInstall::begin(images_, storage_, parent, info->diff_ids[i], {});
        if (!li) return fail(li.error());
        if (!(*li)->exists()) {
            auto fed = spool_->read(image.layers[i], [&](std::span<const std::byte> d) {
                return (*li)->feed(d);
            });
            if (!fed) return fail(fed.error());
            if (auto done = (*li)->finish(); !done) return fail(done.error());
        }
        parent = (*li)->chain_id();
    }
    graph::NewImage ni;
    ni.config_json = *config;
    LoadedImage out;
    for (const std::string& tag : image.tags) {
        auto ref = graph::Reference::parse(tag);
        if (!ref) return fail(ref.error());
        ni.references.push_back(*ref);
        out.tags.push_back(ref->familiar());
    }
    auto id = images_.add_image(ni);
    if (!id) return fail(id.error());
    out.id = *id;
    return out;
}

Result<std::vector<LoadedImage>> ImageLoad::finish() {
    if (auto r = reader_.finish(); !r) return fail(r.error());
    Result<std::vector<ImageEntry>> entries =
        spool_->has("manifest.json") ? read_manifest()
        : spool_->has("index.json")  ? read_oci_index()
                                     : fail(bad_archive("no manifest.json or index.json"));
    if (!entries) return fail(entries.error());
    std::vector<LoadedImage> loaded;
    for (const ImageEntry& e : *entries) {
        auto img = install(e);
        if (!img) return fail(img.error());
        loaded.push_back(std::move(*img));
    }
    return loaded;
}

}  // namespace berth::jobs
