#include "jobs/pull.hpp"

#include "drivers/storage/storage_driver.hpp"
#include "graph/image_config.hpp"
#include "graph/images.hpp"
#include "jobs/layer_install.hpp"
#include "jobs/progress.hpp"

namespace berth::jobs {

namespace {
constexpr size_t config_bytes_max = 8 << 20;
constexpr uint64_t progress_every_bytes = 512 * 1024;
}  // namespace

struct Pull::Layer {
    size_t index = 0;
    registry::Descriptor blob;
    std::string diff_id, chain_id, parent_chain_id;
    std::unique_ptr<LayerInstall> install;
    enum class State : unsigned char { present, waiting, downloading, done } state = State::waiting;
    uint64_t op = 0;
    uint64_t received = 0, reported = 0;
};

Pull::Pull(registry::RegistryClient& client, graph::ImageStore& images,
           drivers::StorageDriver& storage, PullRequest request, Progress progress, Done done)
    : client_(client),
      images_(images),
      storage_(storage),
      req_(std::move(request)),
      progress_(std::move(progress)),
      done_(std::move(done)) {}

Pull::~Pull() {
    for (auto& l : layers_)
        if (l->op) client_.cancel(l->op);
    if (config_op_) client_.cancel(config_op_);
}

std::string Pull::short_id(const std::string& digest) const {
    return digest.substr(digest.find(':') + 1, 12);
}

void Pull::start() {
    const graph::Reference& ref = req_.reference;
    client_.resolve(ref, req_.platform, req_.credentials,
                    [this](Result<registry::Resolved> r) { on_resolved(std::move(r)); });
}

void Pull::on_resolved(Result<registry::Resolved> r) {
    if (finished_) return;
    if (!r) return finish(fail(std::move(r.error())));
    // As dockerd: nothing is said before the manifest is found, so a missing image is a plain
    // HTTP error ("manifest for … not found") rather than a message in a stream.
    const graph::Reference& ref = req_.reference;
    progress_(progress_status(ref.digest().empty() ? ref.tag() : ref.digest(),
                              "Pulling from " + ref.path()));
    manifest_ = std::move(r->manifest);
    const registry::Descriptor& config = manifest_.manifest.image.config;
    registry::HttpHandlers h;
    h.on_body = [this](std::span<const std::byte> d) {
        if (config_json_.size() + d.size() <= config_bytes_max)
            config_json_.append(reinterpret_cast<const char*>(d.data()), d.size());
    };
    h.on_done = [this](Result<> done) {
        config_op_ = 0;
        on_config(std::move(done));
    };
    config_op_ = client_.fetch_blob_verified(req_.reference, config.digest, config.size,
                                             req_.credentials, std::move(h));
}

void Pull::on_config(Result<> r) {
    if (finished_) return;
    if (!r) return finish(fail(std::move(r.error())));
    auto info = graph::parse_image_config(config_json_);
    if (!info) return finish(fail(std::move(info.error())));
    if (info->diff_ids.size() != manifest_.manifest.image.layers.size())
        return finish(fail(Error::invalid("the image config lists " +
                                          std::to_string(info->diff_ids.size()) +
                                          " layers, the manifest " +
                                          std::to_string(manifest_.manifest.image.layers.size()))));
    diff_ids_ = info->diff_ids;
    plan_layers();
    if (!finished_) start_downloads();
}

// Which layers the store already has (Docker's "Already exists"), and the chain of the rest.
void Pull::plan_layers() {
    std::string parent;
    for (size_t i = 0; i < diff_ids_.size(); ++i) {
        auto l = std::make_unique<Layer>();
        l->index = i;
        l->blob = manifest_.manifest.image.layers[i];
        l->diff_id = diff_ids_[i];
        l->parent_chain_id = parent;
        l->chain_id = graph::chain_id(parent, diff_ids_[i]);
        auto rec = images_.layer(l->chain_id);
        if (rec && *rec && (*rec)->complete) {
            l->state = Layer::State::present;
            progress_(progress_status(short_id(l->blob.digest), "Already exists"));
        } else {
            progress_(progress_status(short_id(l->blob.digest), "Pulling fs layer"));
        }
        parent = l->chain_id;
        layers_.push_back(std::move(l));
    }
    for (auto& l : layers_)
        if (l->state == Layer::State::waiting)
            progress_(progress_status(short_id(l->blob.digest), "Waiting"));
}

// Overlay keeps each layer's diff apart, so several can stream at once; a flattened layer (vfs)
// starts as a copy of its parent, so those go one after the other, in order.
void Pull::start_downloads() {
    bool independent = storage_.layer_format() == drivers::LayerFormat::diff;
    size_t limit = independent ? std::max<size_t>(1, req_.max_concurrent_downloads) : 1;
    bool all_done = true;
    for (auto& l : layers_) {
        if (finished_) return;
        if (l->state == Layer::State::present || l->state == Layer::State::done) continue;
        all_done = false;
        if (l->state == Layer::State::downloading) {
            if (!independent) return;
            continue;
        }
        if (active_ >= limit) return;
        if (!independent && l->index > 0) {
            auto& prev = layers_[l->index - 1];
            if (prev->state != Layer::State::present && prev->state != Layer::State::done) return;
        }
        download(*l);
    }
    if (all_done && active_ == 0) finish_image();
}

void Pull::download(Layer& l) {
    auto compression = registry::layer_compression(l.blob.media_type);
    if (!compression) return finish(fail(std::move(compression.error())));
    graph::LayerWriterOptions opts;
    opts.compression = *compression == registry::Compression::gzip   ? graph::Compression::gzip
                       : *compression == registry::Compression::zstd ? graph::Compression::zstd
                                                                     : graph::Compression::none;
    opts.expected_digest = l.blob.digest;
    opts.expected_size = l.blob.size;
    auto install = LayerInstall::begin(images_, storage_, l.parent_chain_id, l.diff_id, opts);
    if (!install) return finish(fail(std::move(install.error())));
    l.install = std::move(*install);
    if (l.install->exists()) {  // another pull finished it meanwhile
        l.state = Layer::State::done;
        progress_(progress_status(short_id(l.blob.digest), "Already exists"));
        return;
    }
    l.state = Layer::State::downloading;
    ++active_;
    registry::HttpHandlers h;
    h.on_body = [this, &l](std::span<const std::byte> d) { on_layer_body(l, d); };
    h.on_done = [this, &l](Result<> r) {
        l.op = 0;
        on_layer_done(l, std::move(r));
    };
    // The install verifies digest and size as it extracts; the client fetches plainly.
    l.op = client_.fetch_blob(req_.reference, l.blob.digest, req_.credentials, std::move(h));
}

void Pull::on_layer_body(Layer& l, std::span<const std::byte> data) {
    if (finished_ || !l.install) return;
    if (auto r = l.install->feed(data); !r) {
        if (l.op) client_.cancel(l.op);
        l.op = 0;
        return on_layer_done(l, fail(std::move(r.error())));
    }
    l.received += data.size();
    if (l.received - l.reported >= progress_every_bytes || l.reported == 0) {
        l.reported = l.received;
        progress_(progress_bytes(short_id(l.blob.digest), "Downloading", l.received, l.blob.size));
    }
}

void Pull::on_layer_done(Layer& l, Result<> r) {
    if (finished_) return;
    --active_;
    if (!r) return finish(fail(std::move(r.error())));
    std::string id = short_id(l.blob.digest);
    progress_(progress_status(id, "Verifying Checksum"));
    auto info = l.install->finish();
    if (!info) return finish(fail(std::move(info.error())));
    progress_(progress_status(id, "Download complete"));
    progress_(progress_bytes(id, "Extracting", l.blob.size, l.blob.size));
    progress_(progress_status(id, "Pull complete"));
    l.state = Layer::State::done;
    l.install.reset();
    start_downloads();
}

void Pull::finish_image() {
    graph::NewImage ni;
    ni.config_json = config_json_;
    const graph::Reference& ref = req_.reference;
    // The tag pulled (when the reference had one) and name@digest, as Docker records both.
    if (auto t = ref.name_only().with_tag(ref.tag()); !ref.tag().empty() && t)
        ni.references.push_back(*t);
    if (auto d = ref.name_only().with_digest(manifest_.digest); d) ni.references.push_back(*d);
    bool fresh = false;
    for (const auto& l : layers_) fresh |= l->state == Layer::State::done;
    auto existing = images_.resolve(ref.familiar());
    auto id = images_.add_image(ni);
    if (!id) return finish(fail(std::move(id.error())));
    progress_(progress_status("", "Digest: " + manifest_.digest));
    bool up_to_date = !fresh && existing && *existing == *id;
    progress_(progress_status("", std::string(up_to_date ? "Status: Image is up to date for "
                                                         : "Status: Downloaded newer image for ") +
                                      ref.familiar()));
    finish(std::move(*id));
}

void Pull::cancel() {
    if (!finished_) finish(fail(Error::make(ErrorKind::unavailable, "context canceled")));
}

void Pull::finish(Result<std::string> r) {
    if (finished_) return;
    finished_ = true;
    for (auto& l : layers_) {
        if (l->op) client_.cancel(l->op);
        l->op = 0;
        l->install.reset();  // aborts what was half-written
    }
    if (config_op_) client_.cancel(config_op_);
    config_op_ = 0;
    auto done = std::move(done_);
    done(std::move(r));
}

}  // namespace berth::jobs
