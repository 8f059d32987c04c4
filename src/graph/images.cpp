// ImageStore over berth.db: layers (pending → complete), images filed with their layer chain and
// references in one transaction, Docker's name resolution, tags and the image list. Statements
// are prepared once at open, which also proves the schema has what this file needs.
// `docker rmi`, prune and the start-up sweep live in image_delete.cpp.
#include "graph/images.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "base/log.hpp"
#include "base/time.hpp"
#include "graph/digest.hpp"
#include "graph/image_config.hpp"
#include "graph/image_statements.hpp"

namespace berth::graph {

using namespace image_sql;

std::string chain_id(std::string_view parent_chain_id, std::string_view diff_id) {
    if (parent_chain_id.empty()) return std::string(diff_id);
    std::string text(parent_chain_id);
    text += ' ';
    text += diff_id;
    return sha256_digest(text);
}

std::vector<std::string> chain_ids(std::span<const std::string> diff_ids) {
    std::vector<std::string> out;
    out.reserve(diff_ids.size());
    for (const std::string& d : diff_ids) out.push_back(chain_id(out.empty() ? "" : out.back(), d));
    return out;
}

Result<std::unique_ptr<ImageStore>> ImageStore::open(Store& store, LayerFiles files) {
    std::unique_ptr<ImageStore> s{new ImageStore(store, std::move(files))};
    s->statements_ = std::make_unique<Statements>(store.db());
    if (auto r = s->statements_->prepare_all(); !r)
        return fail(std::move(r.error()).wrap("open image store (is berth.db at schema 2?)"));
    return s;
}

ImageStore::ImageStore(Store& store, LayerFiles files) : store_(store), files_(std::move(files)) {}
ImageStore::~ImageStore() = default;

void ImageStore::remove_files(std::span<const std::string> chain_ids) {
    for (const std::string& c : chain_ids) {
        // The record is gone already; a leftover directory is swept by the next reconcile().
        if (auto r = files_.remove(c); !r)
            log::warn("remove layer " + c + ": " + r.error().message);
    }
}

// ---- layers ----

Result<LayerBegin> ImageStore::begin_layer(const NewLayer& layer) {
    if (!is_sha256_digest(layer.diff_id))
        return fail(Error::invalid("invalid diff ID \"" + layer.diff_id + "\""));
    LayerBegin out{chain_id(layer.parent_chain_id, layer.diff_id), LayerState::absent};
    auto r = in_transaction([&]() -> Result<void> {
        auto existing = this->layer(out.chain_id);
        if (!existing) return fail(std::move(existing.error()));
        if (*existing) {
            out.was = (*existing)->complete ? LayerState::complete : LayerState::pending;
            return {};
        }
        if (!layer.parent_chain_id.empty()) {
            auto parent = this->layer(layer.parent_chain_id);
            if (!parent) return fail(std::move(parent.error()));
            if (!*parent)
                return fail(
                    Error::not_found("parent layer " + layer.parent_chain_id + " does not exist"));
        }
        return (*statements_)(Sql::layer_insert)
            .bind(1, out.chain_id)
            .bind(2, layer.diff_id)
            .bind(3, layer.parent_chain_id)
            .bind(4, layer.blob_digest)
            .run();
    });
    if (!r) return fail(std::move(r.error()));
    return out;
}

Result<void> ImageStore::commit_layer(std::string_view chain, int64_t size) {
    return in_transaction([&]() -> Result<void> {
        auto q = (*statements_)(Sql::layer_commit);
        if (auto r = q.bind(1, chain).bind(2, size).run(); !r) return r;
        if (q.changes() != 1)
            return fail(Error::conflict("layer " + std::string(chain) + " is not pending"));
        return {};
    });
}

Result<void> ImageStore::abort_layer(std::string_view chain) {
    auto r = in_transaction([&]() -> Result<void> {
        auto q = (*statements_)(Sql::layer_delete_pending);
        if (auto d = q.bind(1, chain).run(); !d) return d;
        if (q.changes() != 1)
            return fail(Error::conflict("layer " + std::string(chain) +
                                        " is not pending or has pending children"));
        return {};
    });
    if (!r) return r;
    std::string c(chain);
    remove_files(std::span(&c, 1));
    return {};
}

Result<std::optional<LayerRecord>> ImageStore::layer(std::string_view chain) {
    auto q = (*statements_)(Sql::layer_get);
    auto row = q.bind(1, chain).step();
    if (!row) return fail(std::move(row.error()));
    if (!*row) return std::optional<LayerRecord>{};
    return std::optional<LayerRecord>{LayerRecord{q.text(0), q.text(1), q.text(2), q.text(3),
                                                  q.integer(4), q.text(5) == "complete"}};
}

// ---- images ----

Result<std::string> ImageStore::add_image(const NewImage& image) {
    auto info = parse_image_config(image.config_json);
    if (!info) return fail(std::move(info.error()));
    const std::string id = sha256_digest(image.config_json);
    const std::vector<std::string> chain = chain_ids(info->diff_ids);
    auto& st = *statements_;
    auto r = in_transaction([&]() -> Result<void> {
        int64_t size = 0;
        for (const std::string& c : chain) {
            auto l = layer(c);
            if (!l) return fail(std::move(l.error()));
            if (!*l || !(*l)->complete)
                return fail(Error::not_found("layer " + c + " of image " + id + " is not stored"));
            size += (*l)->size;
        }
        if (!image.parent_id.empty()) {
            auto p = one_text(std::move(st(Sql::image_get).bind(1, image.parent_id)));
            if (!p) return fail(std::move(p.error()));
            if (!*p) return fail(no_such_image(image.parent_id));
        }
        auto q = st(Sql::image_get);
        auto row = q.bind(1, id).step();
        if (!row) return fail(std::move(row.error()));
        if (!*row) {
            auto ins = st(Sql::image_insert)
                           .bind(1, id)
                           .bind(2, image.config_json)
                           .bind(3, info->created_ns)
                           .bind(4, size)
                           .bind(5, chain.empty() ? std::string() : chain.back())
                           .bind(6, wall_clock_ns())
                           .bind(7, image.parent_id)
                           .run();
            if (!ins) return ins;
            for (size_t i = 0; i < chain.size(); ++i) {
                auto l = st(Sql::image_layer_insert)
                             .bind(1, id)
                             .bind(2, static_cast<int64_t>(i))
                             .bind(3, chain[i])
                             .run();
                if (!l) return l;
            }
        } else if (q.integer(5) != 0) {
            // Pulled again after `rmi -f` while a container kept it: it is visible again.
            if (auto u = st(Sql::image_unremove).bind(1, id).run(); !u) return u;
            if (auto p = st(Sql::image_parent).bind(1, id).bind(2, image.parent_id).run(); !p)
                return p;
        }
        for (const Reference& ref : image.references)
            if (auto t = tag_locked(ref, id); !t) return t;
        return {};
    });
    if (!r) return fail(std::move(r.error()));
    return id;
}

Result<std::string> ImageStore::resolve_locked(std::string_view name) {
    auto any = parse_any_reference(name);
    if (!any) return fail(std::move(any.error()));
    auto& st = *statements_;
    if (any->id) {
        auto q = st(Sql::image_get);
        auto row = q.bind(1, *any->id).step();
        if (!row) return fail(std::move(row.error()));
        if (!*row || q.integer(5) != 0) return fail(no_such_image(*any->id));
        return *any->id;
    }
    auto tagged = one_text(std::move(st(Sql::tag_get).bind(1, any->named->lookup_key())));
    if (!tagged) return fail(std::move(tagged.error()));
    if (*tagged) return std::move(**tagged);
    // Docker's image store search: a unique ID prefix. Two matches are "not found" too.
    if (auto prefix = image_id_prefix(name)) {
        auto ids = texts(std::move(st(Sql::image_by_prefix).bind(1, *prefix)));
        if (!ids) return fail(std::move(ids.error()));
        if (ids->size() == 1) return std::move(ids->front());
    }
    return fail(no_such_image(any->named->with_default_tag().familiar()));
}

Result<std::string> ImageStore::resolve(std::string_view name) {
    return resolve_locked(name);
}

Result<std::vector<std::string>> ImageStore::layer_chain(std::string_view image_id) {
    return texts(std::move((*statements_)(Sql::image_chain).bind(1, image_id)));
}

namespace {

// RepoTags and RepoDigests in familiar form, sorted as Docker's reference store returns them.
void add_reference(std::string_view stored, std::vector<std::string>& tags,
                   std::vector<std::string>& digests) {
    auto ref = Reference::parse_named(stored);
    if (!ref) return;  // never written by us; skip rather than fail a listing
    (is_digest_ref(*ref) ? digests : tags).push_back(ref->familiar());
}

}  // namespace

Result<ImageRecord> ImageStore::inspect(std::string_view name) {
    auto id = resolve_locked(name);
    if (!id) return fail(std::move(id.error()));
    auto& st = *statements_;
    ImageRecord out;
    {
        auto q = st(Sql::image_get);
        auto row = q.bind(1, *id).step();
        if (!row) return fail(std::move(row.error()));
        if (!*row) return fail(no_such_image(*id));
        out = ImageRecord{q.text(0), q.text(1), q.text(2), q.integer(3), q.integer(4), {}, {}, {}};
    }
    auto chain = layer_chain(*id);
    if (!chain) return fail(std::move(chain.error()));
    out.chain = std::move(*chain);
    auto refs = texts(std::move(st(Sql::tags_of).bind(1, *id)));
    if (!refs) return fail(std::move(refs.error()));
    for (const std::string& r : *refs) add_reference(r, out.repo_tags, out.repo_digests);
    std::ranges::sort(out.repo_tags);
    std::ranges::sort(out.repo_digests);
    return out;
}

Result<void> ImageStore::tag_locked(const Reference& ref, std::string_view image_id) {
    // Docker refuses a repository called like a digest algorithm: "sha256:<hex>" would then
    // read as both an image ID and a tag.
    if (ref.familiar_name() == "sha256")
        return fail(
            Error::invalid("refusing to create an ambiguous tag using digest algorithm as name"));
    auto& st = *statements_;
    const std::string key = ref.lookup_key();
    auto existing = one_text(std::move(st(Sql::tag_get).bind(1, key)));
    if (!existing) return fail(std::move(existing.error()));
    if (*existing && **existing != image_id && is_digest_ref(ref))
        return fail(Error::conflict("Cannot overwrite digest " + ref.digest()));
    return st(Sql::tag_put)
        .bind(1, key)
        .bind(2, image_id)
        .bind(3, std::string_view(is_digest_ref(ref) ? "digest" : "tag"))
        .run();
}

Result<void> ImageStore::tag(const Reference& ref, std::string_view image_id) {
    return in_transaction([&]() -> Result<void> {
        auto q = (*statements_)(Sql::image_get);
        auto row = q.bind(1, image_id).step();
        if (!row) return fail(std::move(row.error()));
        if (!*row || q.integer(5) != 0) return fail(no_such_image(image_id));
        return tag_locked(ref, image_id);
    });
}

Result<bool> ImageStore::untag(const Reference& ref) {
    return in_transaction([&]() -> Result<bool> {
        auto q = (*statements_)(Sql::tag_delete);
        if (auto r = q.bind(1, ref.lookup_key()).run(); !r) return fail(std::move(r.error()));
        return q.changes() > 0;
    });
}

Result<std::vector<ImageSummary>> ImageStore::list(bool count_containers) {
    auto& st = *statements_;
    std::vector<ImageSummary> out;
    std::unordered_map<std::string, size_t> index;
    {
        auto q = st(Sql::images_list);
        for (;;) {
            auto row = q.step();
            if (!row) return fail(std::move(row.error()));
            if (!*row) break;
            ImageSummary s;
            s.id = q.text(0);
            s.parent_id = q.text(1);
            s.created_ns = q.integer(2);
            s.size = q.integer(3);
            if (auto info = parse_image_config(q.text(4))) s.labels = std::move(info->labels);
            s.has_children = q.integer(5) != 0;
            index.emplace(s.id, out.size());
            out.push_back(std::move(s));
        }
    }
    {
        auto q = st(Sql::tags_all);
        for (;;) {
            auto row = q.step();
            if (!row) return fail(std::move(row.error()));
            if (!*row) break;
            auto it = index.find(q.text(0));
            if (it != index.end())
                add_reference(q.text(1), out[it->second].repo_tags, out[it->second].repo_digests);
        }
    }
    for (ImageSummary& s : out) {
        std::ranges::sort(s.repo_tags);
        std::ranges::sort(s.repo_digests);
        if (count_containers) s.containers = 0;
    }
    if (!count_containers) return out;
    auto q = st(Sql::container_counts);
    for (;;) {
        auto row = q.step();
        if (!row) return fail(std::move(row.error()));
        if (!*row) break;
        auto it = index.find(q.text(0));
        if (it != index.end()) out[it->second].containers = q.integer(1);
    }
    return out;
}

}  // namespace berth::graph
