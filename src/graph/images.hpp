// ImageStore: the image/layer/tag graph in berth.db. Images are content-addressed (ID = sha256 of
// the config), layers are shared by chain ID and reference-counted through image_layers, tags map
// references to images. Every state change is one BEGIN IMMEDIATE transaction; layer files are
// removed only after the commit that dropped their records, and reconcile() sweeps what a crash
// left between the two. Errors are Docker's: 404 "No such image: …", 409 conflicts, 400 names.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "graph/reference.hpp"
#include "graph/store.hpp"

struct sqlite3_stmt;

namespace berth::graph {

// OCI image spec: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
std::string chain_id(std::string_view parent_chain_id, std::string_view diff_id);
std::vector<std::string> chain_ids(std::span<const std::string> diff_ids);

// What the store needs from whoever keeps layer contents on disk (the storage driver), wired by
// the composition root: list the chain IDs that have something on disk, remove one.
struct LayerFiles {
    std::function<Result<std::vector<std::string>>()> list;
    std::function<Result<void>(std::string_view chain_id)> remove;
};

enum class LayerState : unsigned char { absent, pending, complete };

struct NewLayer {
    std::string diff_id;          // sha256 of the uncompressed tar
    std::string parent_chain_id;  // "" for a bottom layer
    std::string blob_digest;      // the compressed blob it came from, "" if none
};

struct LayerBegin {
    std::string chain_id;
    LayerState was = LayerState::absent;  // absent: the caller now owns the pending record
};

struct LayerRecord {
    std::string chain_id, diff_id, parent_chain_id, blob_digest;
    int64_t size = 0;
    bool complete = false;
};

struct NewImage {
    std::string config_json;            // stored verbatim; its sha256 is the image ID
    std::vector<Reference> references;  // tags and digests set in the same transaction
    std::string parent_id;              // "" for pulled, loaded and imported images
};

struct ImageRecord {
    std::string id, config_json, parent_id;
    int64_t created_ns = 0;
    int64_t size = 0;
    std::vector<std::string> chain;                    // layer chain IDs, bottom first
    std::vector<std::string> repo_tags, repo_digests;  // familiar, sorted
};

// One item of GET /images/json. `containers` is -1 unless counted (Docker counts only for
// `docker system df`); `has_children` lets the handler hide intermediate images as Docker does.
struct ImageSummary {
    std::string id, parent_id;
    std::vector<std::string> repo_tags, repo_digests;
    int64_t created_ns = 0;
    int64_t size = 0;
    std::map<std::string, std::string> labels;
    int64_t containers = -1;
    bool has_children = false;
};

// ImageDeleteResponseItem: exactly one of the two is set.
struct DeleteItem {
    std::string untagged;  // familiar reference
    std::string deleted;   // image ID or layer chain ID
};

struct PruneOptions {
    bool all = false;  // dangling=false: also tagged images no container uses
    // Further filters (until, label); an image is a candidate only if this returns true.
    std::function<bool(const ImageSummary&)> filter;
};

struct PruneReport {
    std::vector<DeleteItem> deleted;
    int64_t space_reclaimed = 0;
};

struct ReconcileReport {
    size_t pending_layers = 0;  // records of half-written layers dropped
    size_t removed_images = 0;  // force-removed images no container uses any more
    size_t orphan_layers = 0;   // complete layers no image used
    std::vector<std::string> removed_layer_files;  // chain IDs whose files were removed
};

class ImageStore {
  public:
    // Fails if berth.db lacks schema 2 (images.removed).
    static Result<std::unique_ptr<ImageStore>> open(Store& store, LayerFiles files);
    ~ImageStore();
    ImageStore(const ImageStore&) = delete;
    ImageStore& operator=(const ImageStore&) = delete;

    // ---- layers: pending while written, complete after; the parent must be complete ----
    Result<LayerBegin> begin_layer(const NewLayer& layer);
    Result<void> commit_layer(std::string_view chain_id, int64_t size);
    // Drops a pending record and its files (a failed pull).
    Result<void> abort_layer(std::string_view chain_id);
    Result<std::optional<LayerRecord>> layer(std::string_view chain_id);

    // ---- images ----
    // Files the image (its layers must be complete and match the config's diff_ids) and its
    // references at once. Returns the image ID; adding an existing image only adds references.
    Result<std::string> add_image(const NewImage& image);
    // Docker's GetImage: ID, `sha256:`ID, reference, or a unique ID prefix.
    Result<std::string> resolve(std::string_view name);
    Result<ImageRecord> inspect(std::string_view name);
    // Layer chain IDs bottom first, for a container's lower dirs.
    Result<std::vector<std::string>> layer_chain(std::string_view image_id);
    // `docker tag`: points the reference at the image, replacing a tag; a digest never moves.
    Result<void> tag(const Reference& ref, std::string_view image_id);
    Result<bool> untag(const Reference& ref);
    Result<std::vector<ImageSummary>> list(bool count_containers);

    // `docker rmi [-f] [--no-prune]`: the items Docker answers with, in its order.
    Result<std::vector<DeleteItem>> remove(std::string_view name, bool force, bool prune);
    Result<PruneReport> prune(const PruneOptions& options);

    // After a container is deleted: images removed with `rmi -f` while it used them go now,
    // with the layers only they held. Returns how many images went.
    Result<size_t> collect_removed_images();
    // Start-up only (no pull in flight): drop pending layers and their descendants, complete
    // layers no image uses (a pull that failed half-way), force-removed images nothing uses,
    // and layer files with no complete record.
    Result<ReconcileReport> reconcile();

  private:
    ImageStore(Store& store, LayerFiles files);
    class Statements;
    class DeleteRun;
    template <class F>
    auto in_transaction(F&& body) -> decltype(body());
    Result<std::string> resolve_locked(std::string_view name);
    Result<void> tag_locked(const Reference& ref, std::string_view image_id);
    Result<std::vector<std::string>> release_removed_images_locked(size_t& images);
    Result<std::vector<std::string>> drop_orphan_layers_locked();
    void remove_files(std::span<const std::string> chain_ids);

    Store& store_;
    LayerFiles files_;
    std::unique_ptr<Statements> statements_;
};

}  // namespace berth::graph
