#include "jobs/image_save.hpp"

#include <algorithm>

#include "base/json.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "graph/image_config.hpp"
#include "graph/images.hpp"

namespace berth::jobs {

namespace {

std::string blob_name(std::string_view digest) {
    return "blobs/sha256/" + std::string(graph::digest_hex(digest));
}

constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";

}  // namespace

Result<std::unique_ptr<ImageSave>> ImageSave::create(graph::ImageStore& images,
                                                     drivers::StorageDriver& storage,
                                                     const std::vector<std::string>& names) {
    std::unique_ptr<ImageSave> job(new ImageSave());
    JsonWriter index;
    index.begin_object().field("schemaVersion", 2).field("mediaType", "application/vnd.oci.image.index.v1+json");
    index.key("manifests").begin_array();
    job->index_json_ = index.take();
    for (const auto& n : names)
        if (auto r = job->add_image(images, storage, n); !r) return fail(r.error());
    job->manifest_json_ += "]";
    job->index_json_ += "]}";
    if (auto r = job->add_small("index.json", job->index_json_); !r) return fail(r.error());
    if (auto r = job->add_small("manifest.json", job->manifest_json_); !r) return fail(r.error());
    if (auto r = job->add_small("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"); !r)
        return fail(r.error());
    return job;
}

Result<> ImageSave::add_small(const std::string& name, std::string bytes) {
    if (std::find(blobs_.begin(), blobs_.end(), name) != blobs_.end()) return {};
    blobs_.push_back(name);
    Part p;
    p.name = name;
    p.bytes = std::move(bytes);
    parts_.push_back(std::move(p));
    return {};
}

Result<> ImageSave::add_image(graph::ImageStore& images, drivers::StorageDriver& storage,
                              const std::string& name) {
    auto rec = images.inspect(name);
    if (!rec) return fail(rec.error());
    auto info = graph::parse_image_config(rec->config_json);
    if (!info) return fail(info.error());
    if (info->diff_ids.size() != rec->chain.size())
        return fail(Error::internal("image " + rec->id + " has a broken layer chain"));
    JsonWriter manifest;
    manifest.begin_object().field("schemaVersion", 2).field("mediaType", oci_manifest);
    manifest.key("config").begin_object().field("mediaType", oci_config);
    manifest.field("digest", rec->id).field("size", rec->config_json.size()).end_object();
    manifest.key("layers").begin_array();
    std::vector<std::string> layer_names;
    for (size_t i = 0; i < rec->chain.size(); ++i) {
        std::string dir = storage.layer_path(rec->chain[i]);
        std::string split = dir + ".tar-split";
        auto size = graph::layer_tar_size(split);
        if (!size)
            return fail(Error::make(ErrorKind::not_implemented,
                                    "layer " + info->diff_ids[i] +
                                        " was stored before berth kept layer tars; pull it again "
                                        "to save it"));
        std::string member = blob_name(info->diff_ids[i]);
        layer_names.push_back(member);
        manifest.begin_object().field("mediaType", oci_layer).field("digest", info->diff_ids[i]);
        manifest.field("size", *size).end_object();
        if (std::find(blobs_.begin(), blobs_.end(), member) != blobs_.end()) continue;
        blobs_.push_back(member);
        Part p;
        p.name = member;
        p.layer_dir = dir;
        p.split = split;
        p.diff_id = info->diff_ids[i];
        parts_.push_back(std::move(p));
    }
    manifest.end_array().end_object();
    std::string manifest_bytes = manifest.take();
    std::string manifest_digest = graph::sha256_digest(manifest_bytes);
    if (auto r = add_small(blob_name(rec->id), rec->config_json); !r) return r;
    if (auto r = add_small(blob_name(manifest_digest), manifest_bytes); !r) return r;

    // The tags to write: the one named, or all of the image's when it was named by ID.
    std::vector<std::string> tags;
    auto ref = graph::Reference::parse(name);
    bool by_tag = false;
    for (const auto& t : rec->repo_tags)
        if (ref && t == ref->familiar()) by_tag = true;
    if (by_tag) tags.push_back(ref->familiar());
    else tags = rec->repo_tags;

    JsonWriter m;
    m.begin_object().field("Config", blob_name(rec->id)).key("RepoTags").begin_array();
    for (const auto& t : tags) m.value(t);
    m.end_array().key("Layers").begin_array();
    for (const auto& l : layer_names) m.value(l);
    m.end_array().end_object();
    if (manifest_json_.size() > 1) manifest_json_ += ",";
    manifest_json_ += m.str();
    for (size_t i = 0; i < std::max<size_t>(1, tags.size()); ++i) {
        JsonWriter d;
        d.begin_object().field("mediaType", oci_manifest).field("digest", manifest_digest);
        d.field("size", manifest_bytes.size());
        if (!tags.empty()) {
            auto full = graph::Reference::parse(tags[i]);
            d.key("annotations").begin_object();
            if (full) d.field("io.containerd.image.name", full->str());
            d.field("org.opencontainers.image.ref.name", tags[i].substr(tags[i].rfind(':') + 1));
            d.end_object();
        }
        d.end_object();
        if (index_json_.back() != '[') index_json_ += ",";
        index_json_ += d.str();
    }
    return {};
}

Result<> ImageSave::start_part(Part& p) {
    graph::TarEntry e;
    e.type = graph::TarEntry::Type::file;
    e.path = p.name;
    e.mode = 0644;
    if (p.layer_dir.empty()) {
        e.size = p.bytes.size();
        if (auto r = tar_->begin_entry(e); !r) return r;
        if (auto r = tar_->data(std::as_bytes(std::span(p.bytes.data(), p.bytes.size()))); !r) return r;
        return tar_->end_entry();
    }
    auto c = graph::LayerTarCursor::open(p.layer_dir, p.split);
    if (!c) return fail(c.error());
    cursor_ = std::move(*c);
    expect_ = p.diff_id;
    e.size = cursor_->size();
    return tar_->begin_entry(e);
}

Result<bool> ImageSave::produce(std::string& out, size_t max) {
    if (finished_) return false;
    out_ = &out;
    if (!started_) {
        started_ = true;
        tar_ = std::make_unique<graph::TarWriter>([this](std::span<const std::byte> d) -> Result<> {
            out_->append(reinterpret_cast<const char*>(d.data()), d.size());
            return {};
        });
        for (const char* dir : {"blobs", "blobs/sha256"})
            if (auto r = tar_->add_dir(dir); !r) return fail(r.error());
    }
    size_t start = out.size();
    std::string buf;
    while (out.size() - start < max) {
        if (cursor_) {
            buf.resize(std::min<size_t>(1 << 16, max));
            auto n = cursor_->read(std::as_writable_bytes(std::span(buf.data(), buf.size())));
            if (!n) return fail(n.error());
            if (*n > 0) {
                auto chunk = std::as_bytes(std::span(buf.data(), *n));
                hash_.update(chunk);
                if (auto r = tar_->data(chunk); !r) return fail(r.error());
                continue;
            }
            cursor_.reset();
            if (hash_.digest() != expect_)
                return fail(Error::internal("layer " + expect_ + " no longer matches its diff ID"));
            if (auto r = tar_->end_entry(); !r) return fail(r.error());
            continue;
        }
        if (parts_.empty()) {
            if (auto r = tar_->finish(); !r) return fail(r.error());
            finished_ = true;
            return false;
        }
        Part p = std::move(parts_.front());
        parts_.pop_front();
        if (auto r = start_part(p); !r) return fail(r.error());
    }
    return true;
}

}  // namespace berth::jobs
