// `docker rmi` and `docker image prune` as daemon/images/image_delete.go and prune.go do them,
// step for step (the order of the checks decides which message a user sees), plus the garbage
// collection of force-removed images and the start-up sweep of what a crash left behind.
#include <algorithm>
#include <set>
#include <utility>

#include "graph/digest.hpp"
#include "graph/image_statements.hpp"
#include "graph/images.hpp"

namespace berth::graph {

using namespace image_sql;

// ---- docker rmi ---------------------------------------------------------------------------

// One `docker rmi` inside one transaction: the records it answers with and the layers whose
// files go after the commit.
class ImageStore::DeleteRun {
  public:
    explicit DeleteRun(ImageStore& s) : s_(s), st_(*s.statements_) {}

    Result<void> run(std::string_view name, bool force, bool prune);
    Result<void> delete_image(const std::string& id, bool& tombstoned);

    std::vector<DeleteItem> records;
    std::vector<std::string> freed_layers;  // top first
    int64_t freed_bytes = 0;

  private:
    // Docker's conflictType bits.
    static constexpr unsigned dependent_child = 1, running_container = 2, active_reference = 4,
                              stopped_container = 8;
    static constexpr unsigned hard = dependent_child | running_container;
    static constexpr unsigned soft = active_reference | stopped_container;

    struct Conflict {
        bool hard = false;
        bool used = false;
        std::string message;
    };

    Result<std::vector<Reference>> references(const std::string& id);
    Result<std::optional<std::string>> first_container(const std::string& id, bool running);
    Result<std::optional<Conflict>> conflict(const std::string& id, unsigned mask);
    Result<void> untag(const Reference& ref);
    Result<void> untag_name(std::string_view name, const std::string& id, bool& done);
    Result<void> helper(const std::string& id, bool force, bool prune, bool quiet);
    Result<void> release_layers(const std::vector<std::string>& chain);

    ImageStore& s_;
    Statements& st_;
};

namespace {

// isSingleReference: every reference is in one repository and at most one is a tag.
bool is_single_reference(const std::vector<Reference>& refs) {
    if (refs.size() <= 1) return refs.size() == 1;
    const Reference* single = nullptr;
    std::set<std::string> canonical_names;
    for (const Reference& r : refs) {
        if (is_digest_ref(r)) {
            canonical_names.insert(r.name());
        } else if (!single) {
            single = &r;
        } else {
            return false;
        }
    }
    if (!single) single = &refs.front();
    return canonical_names.size() == 1 && canonical_names.contains(single->name());
}

// imageDeleteConflict.Error()
Error conflict_error(const std::string& id, const std::string& message, bool hard) {
    return Error::conflict("conflict: unable to delete " + short_id(id) + " (" +
                           (hard ? "cannot be forced" : "must be forced") + ") - " + message);
}

}  // namespace

Result<std::vector<Reference>> ImageStore::DeleteRun::references(const std::string& id) {
    auto stored = texts(std::move(st_(Sql::tags_of).bind(1, id)));
    if (!stored) return fail(std::move(stored.error()));
    std::vector<Reference> out;
    for (const std::string& s : *stored)
        if (auto r = Reference::parse_named(s)) out.push_back(std::move(*r));
    std::ranges::sort(out, {}, [](const Reference& r) { return r.familiar(); });
    return out;
}

Result<std::optional<std::string>> ImageStore::DeleteRun::first_container(const std::string& id,
                                                                          bool running) {
    return one_text(std::move(st_(Sql::container_first).bind(1, id).bind(2, int64_t{running})));
}

// checkImageDeleteConflict, in Docker's order: children, running, references, stopped.
Result<std::optional<ImageStore::DeleteRun::Conflict>> ImageStore::DeleteRun::conflict(
    const std::string& id, unsigned mask) {
    using Found = std::optional<Conflict>;
    if (mask & dependent_child) {
        auto n = one_int(std::move(st_(Sql::image_children).bind(1, id)));
        if (!n) return fail(std::move(n.error()));
        if (*n > 0) return Found{Conflict{true, false, "image has dependent child images"}};
    }
    if (mask & running_container) {
        auto c = first_container(id, true);
        if (!c) return fail(std::move(c.error()));
        if (*c)
            return Found{
                Conflict{true, true, "image is being used by running container " + short_id(**c)}};
    }
    if (mask & active_reference) {
        auto refs = texts(std::move(st_(Sql::tags_of).bind(1, id)));
        if (!refs) return fail(std::move(refs.error()));
        if (!refs->empty())
            return Found{Conflict{false, false, "image is referenced in multiple repositories"}};
    }
    if (mask & stopped_container) {
        auto c = first_container(id, false);
        if (!c) return fail(std::move(c.error()));
        if (*c)
            return Found{
                Conflict{false, true, "image is being used by stopped container " + short_id(**c)}};
    }
    return Found{};
}

// removeImageRef: idempotent; the record names the reference as the user would write it.
Result<void> ImageStore::DeleteRun::untag(const Reference& ref) {
    Reference full = ref.with_default_tag();
    if (auto r = st_(Sql::tag_delete).bind(1, full.lookup_key()).run(); !r) return r;
    records.push_back(DeleteItem{full.familiar(), {}});
    return {};
}

// The repository-reference branch of ImageDelete. `done` when other references remain.
Result<void> ImageStore::DeleteRun::untag_name(std::string_view name, const std::string& id,
                                               bool& done) {
    auto parsed = Reference::parse_named(name);
    if (!parsed) return fail(std::move(parsed.error()));
    if (auto r = untag(*parsed); !r) return r;
    auto refs = references(id);
    if (!refs) return fail(std::move(refs.error()));
    // A tag removed and no tag of that repository left: its digest references go too.
    if (!is_digest_ref(*parsed)) {
        bool tag_left = std::ranges::any_of(*refs, [&](const Reference& r) {
            return !is_digest_ref(r) && r.name() == parsed->name();
        });
        if (!tag_left) {
            std::vector<Reference> remaining;
            for (const Reference& r : *refs) {
                if (is_digest_ref(r) && r.name() == parsed->name()) {
                    if (auto u = untag(r); !u) return u;
                } else {
                    remaining.push_back(r);
                }
            }
            *refs = std::move(remaining);
        }
    }
    done = !refs->empty();
    return {};
}

Result<void> ImageStore::DeleteRun::run(std::string_view name, bool force, bool prune) {
    auto resolved = s_.resolve_locked(name);
    if (!resolved) return fail(std::move(resolved.error()));
    const std::string id = std::move(*resolved);
    auto refs = references(id);
    if (!refs) return fail(std::move(refs.error()));
    bool removed_repository_ref = false;
    if (!is_image_id_prefix(id, name)) {
        if (!force && is_single_reference(*refs)) {
            auto c = first_container(id, true);
            if (c && !*c) c = first_container(id, false);
            if (!c) return fail(std::move(c.error()));
            if (*c)
                return fail(Error::conflict("conflict: unable to remove repository reference \"" +
                                            std::string(name) + "\" (must force) - container " +
                                            short_id(**c) + " is using its referenced image " +
                                            short_id(id)));
        }
        bool done = false;
        if (auto r = untag_name(name, id, done); !r || done) return r;
        removed_repository_ref = true;
    } else if (is_single_reference(*refs)) {
        // An ID with one repository's references: those go first, unless something forbids it.
        unsigned mask = hard | (force ? 0 : (soft & ~active_reference));
        auto c = conflict(id, mask);
        if (!c) return fail(std::move(c.error()));
        if (*c) return fail(conflict_error(id, (*c)->message, (*c)->hard));
        for (const Reference& r : *refs)
            if (auto u = untag(r); !u) return u;
    }
    return helper(id, force, prune, removed_repository_ref);
}

// imageDeleteHelper: delete the image if nothing forbids it, then (with prune) its untagged
// parents, quietly stopping at the first one something still uses.
Result<void> ImageStore::DeleteRun::helper(const std::string& id, bool force, bool prune,
                                           bool quiet) {
    auto c = conflict(id, hard | (force ? 0 : soft));
    if (!c) return fail(std::move(c.error()));
    if (*c) {
        if (quiet) {
            // imageIsDangling: no references and no children.
            auto refs = texts(std::move(st_(Sql::tags_of).bind(1, id)));
            if (!refs) return fail(std::move(refs.error()));
            auto children = one_int(std::move(st_(Sql::image_children).bind(1, id)));
            if (!children) return fail(std::move(children.error()));
            bool dangling = refs->empty() && *children == 0;
            if (!dangling || (*c)->used) return {};
        }
        return fail(conflict_error(id, (*c)->message, (*c)->hard));
    }
    std::string parent;
    {
        auto q = st_(Sql::image_get);
        auto row = q.bind(1, id).step();
        if (!row) return fail(std::move(row.error()));
        if (*row) parent = q.text(2);
    }
    auto refs = references(id);
    if (!refs) return fail(std::move(refs.error()));
    for (const Reference& r : *refs)
        if (auto u = untag(r); !u) return u;
    bool tombstoned = false;
    if (auto d = delete_image(id, tombstoned); !d) return d;
    if (!prune || parent.empty()) return {};
    return helper(parent, false, true, true);
}

// imageStore.Delete: the record goes and, top first, every layer nothing else references.
// An image a container still uses stays as a hidden row instead (images.removed, schema 2 in store.cpp).
Result<void> ImageStore::DeleteRun::delete_image(const std::string& id, bool& tombstoned) {
    auto users = one_int(std::move(st_(Sql::container_count).bind(1, id)));
    if (!users) return fail(std::move(users.error()));
    tombstoned = *users > 0;
    if (tombstoned) {
        if (auto r = st_(Sql::image_tombstone).bind(1, id).run(); !r) return r;
        records.push_back(DeleteItem{{}, id});
        return {};
    }
    auto chain = s_.layer_chain(id);
    if (!chain) return fail(std::move(chain.error()));
    if (auto r = st_(Sql::image_delete).bind(1, id).run(); !r) return r;
    records.push_back(DeleteItem{{}, id});
    return release_layers(*chain);
}

Result<void> ImageStore::DeleteRun::release_layers(const std::vector<std::string>& chain) {
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        auto unused = one_int(std::move(st_(Sql::layer_unreferenced).bind(1, *it)));
        if (!unused) return fail(std::move(unused.error()));
        // Still used: so is everything below it (an image lists its whole chain).
        if (!*unused) return {};
        auto l = s_.layer(*it);
        if (!l) return fail(std::move(l.error()));
        if (auto r = st_(Sql::layer_delete).bind(1, *it).run(); !r) return r;
        if (*l) freed_bytes += (*l)->size;
        freed_layers.push_back(*it);
        records.push_back(DeleteItem{{}, *it});
    }
    return {};
}

Result<std::vector<DeleteItem>> ImageStore::remove(std::string_view name, bool force, bool prune) {
    DeleteRun run(*this);
    auto r = in_transaction([&] { return run.run(name, force, prune); });
    if (!r) return fail(std::move(r.error()));
    remove_files(run.freed_layers);
    return std::move(run.records);
}

// ---- prune and reconcile ----

namespace {

// imageDeleteFailed: conflicts and vanished images are expected while pruning.
bool skippable(const Error& e) {
    return e.kind == ErrorKind::conflict || e.kind == ErrorKind::not_found;
}

}  // namespace

// ImagesPrune: dangling images (no tag; digest references do not count), or with `all` every
// image that is not an untagged parent; each deleted as `docker rmi` would without force. Images
// a container uses are left alone, tags and all ("unused images" in `docker image prune -a`).
Result<PruneReport> ImageStore::prune(const PruneOptions& options) {
    auto images = list(true);
    if (!images) return fail(std::move(images.error()));
    PruneReport report;
    for (const ImageSummary& img : *images) {
        bool referenced = !img.repo_tags.empty() || !img.repo_digests.empty();
        if (!referenced && img.has_children) continue;  // an intermediate image
        if (!options.all && (img.has_children || !img.repo_tags.empty())) continue;
        if (img.containers > 0) continue;
        if (options.filter && !options.filter(img)) continue;
        std::vector<std::string> names;
        if (referenced) {
            auto refs = texts(std::move((*statements_)(Sql::tags_of).bind(1, img.id)));
            if (!refs) return fail(std::move(refs.error()));
            names = std::move(*refs);
        } else {
            names.emplace_back(digest_hex(img.id));
        }
        for (const std::string& name : names) {
            DeleteRun run(*this);
            auto r = in_transaction([&] { return run.run(name, false, true); });
            if (!r) {
                if (!skippable(r.error())) return fail(std::move(r.error()));
                continue;
            }
            remove_files(run.freed_layers);
            report.space_reclaimed += run.freed_bytes;
            for (DeleteItem& d : run.records) report.deleted.push_back(std::move(d));
        }
    }
    return report;
}

// Force-removed images that no container uses any more, with the layers only they held.
Result<std::vector<std::string>> ImageStore::release_removed_images_locked(size_t& images) {
    auto ids = texts((*statements_)(Sql::images_removed_unused));
    if (!ids) return fail(std::move(ids.error()));
    DeleteRun run(*this);
    for (const std::string& id : *ids) {
        bool tombstoned = false;
        if (auto r = run.delete_image(id, tombstoned); !r) return fail(std::move(r.error()));
    }
    images = ids->size();
    return std::move(run.freed_layers);
}

Result<size_t> ImageStore::collect_removed_images() {
    size_t images = 0;
    auto freed = in_transaction([&] { return release_removed_images_locked(images); });
    if (!freed) return fail(std::move(freed.error()));
    remove_files(*freed);
    return images;
}

// Complete layers that no image and no layer references: left by a pull that failed after
// committing some of its layers. Only safe when no pull is in flight (start-up).
Result<std::vector<std::string>> ImageStore::drop_orphan_layers_locked() {
    std::vector<std::string> dropped;
    for (;;) {
        auto orphans = texts((*statements_)(Sql::layers_orphans));
        if (!orphans) return fail(std::move(orphans.error()));
        if (orphans->empty()) return dropped;
        for (const std::string& c : *orphans) {
            if (auto r = (*statements_)(Sql::layer_delete).bind(1, c).run(); !r)
                return fail(std::move(r.error()));
            dropped.push_back(c);
        }
    }
}

Result<ReconcileReport> ImageStore::reconcile() {
    ReconcileReport report;
    auto records = in_transaction([&]() -> Result<void> {
        auto q = (*statements_)(Sql::layers_drop_pending);
        if (auto r = q.run(); !r) return r;
        report.pending_layers = static_cast<size_t>(q.changes());
        auto freed = release_removed_images_locked(report.removed_images);
        if (!freed) return fail(std::move(freed.error()));
        auto orphans = drop_orphan_layers_locked();
        if (!orphans) return fail(std::move(orphans.error()));
        report.orphan_layers = orphans->size();
        return {};
    });
    if (!records) return fail(std::move(records.error()));
    // Files second: whatever is on disk without a complete record goes, whichever crash left it.
    auto complete = texts((*statements_)(Sql::layers_complete));
    if (!complete) return fail(std::move(complete.error()));
    std::set<std::string> keep(complete->begin(), complete->end());
    auto on_disk = files_.list();
    if (!on_disk) return fail(std::move(on_disk.error()).wrap("list layer files"));
    for (const std::string& c : *on_disk) {
        if (keep.contains(c)) continue;
        if (auto r = files_.remove(c); !r)
            return fail(std::move(r.error()).wrap("remove layer " + c));
        report.removed_layer_files.push_back(c);
    }
    return report;
}

}  // namespace berth::graph
