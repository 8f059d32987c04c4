#include "jobs/push.hpp"

#include "base/json.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "graph/digest.hpp"
#include "graph/image_config.hpp"
#include "graph/images.hpp"
#include "graph/tar_split.hpp"
#include "jobs/progress.hpp"

namespace berth::jobs {

namespace {
constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";
constexpr uint64_t progress_every_bytes = 512 * 1024;
}  // namespace

Result<std::unique_ptr<Push>> Push::create(registry::RegistryClient& client,
                                           graph::ImageStore& images,
                                           drivers::StorageDriver& storage, graph::Reference ref,
                                           registry::Credentials creds, Progress progress,
                                           Done done) {
    auto rec = images.inspect(ref.familiar());
    if (!rec)
        return fail(Error::not_found("An image does not exist locally with the tag: " +
                                     ref.familiar_name()));
    auto info = graph::parse_image_config(rec->config_json);
    if (!info) return fail(info.error());
    std::unique_ptr<Push> p(new Push(client));
    p->ref_ = std::move(ref);
    p->creds_ = std::move(creds);
    p->progress_ = std::move(progress);
    p->done_ = std::move(done);
    for (size_t i = 0; i < rec->chain.size() && i < info->diff_ids.size(); ++i) {
        Blob b;
        b.digest = info->diff_ids[i];
        b.layer_dir = storage.layer_path(rec->chain[i]);
        b.split = b.layer_dir + ".tar-split";
        auto size = graph::layer_tar_size(b.split);
        if (!size)
            return fail(Error::make(ErrorKind::not_implemented,
                                    "layer " + b.digest + " was stored before berth kept layer "
                                    "tars; pull it again to push it"));
        b.size = *size;
        p->layers_.push_back(std::move(b));
    }
    p->config_.digest = rec->id;
    p->config_.bytes = rec->config_json;
    p->config_.size = rec->config_json.size();
    return p;
}

Push::~Push() {
    *alive_ = false;
    if (op_) client_.cancel(op_);
}

void Push::start() {
    progress_(progress_status("", "The push refers to repository [" + ref_.name() + "]"));
    // Top layer first, as the CLI lists them.
    for (size_t i = layers_.size(); i-- > 0;)
        progress_(progress_status(short_id(layers_[i].digest), "Preparing"));
    next();
}

void Push::next() {
    if (finished_) return;
    if (next_ == layers_.size()) return upload(config_);
    if (next_ > layers_.size()) return put_manifest();
    Blob& b = layers_[next_];
    client_.stat_blob(ref_, b.digest, creds_, [this, &b, alive = alive_](Result<std::optional<uint64_t>> st) {
        if (!*alive || finished_) return;
        if (!st) return finish(fail(std::move(st.error())));
        if (*st) {
            progress_(progress_status(short_id(b.digest), "Layer already exists"));
            ++next_;
            return next();
        }
        upload(b);
    });
}

void Push::upload(Blob& b) {
    registry::BodySource src;
    src.length = b.size;
    bool layer = !b.layer_dir.empty();
    if (layer) {
        auto cursor = graph::LayerTarCursor::open(b.layer_dir, b.split);
        if (!cursor) return finish(fail(std::move(cursor.error())));
        auto hash = std::make_shared<graph::Sha256>();
        auto sent = std::make_shared<uint64_t>(0);
        auto reported = std::make_shared<uint64_t>(0);
        src.read = [this, &b, c = std::shared_ptr<graph::LayerTarCursor>(std::move(*cursor)), hash,
                    sent, reported](std::span<std::byte> buf) -> Result<size_t> {
            auto n = c->read(buf);
            if (!n) return n;
            hash->update(buf.first(*n));
            *sent += *n;
            if (*sent - *reported >= progress_every_bytes || *sent == b.size) {
                *reported = *sent;
                progress_(progress_bytes(short_id(b.digest), "Pushing", *sent, b.size));
            }
            // A layer changed on disk would be pushed under the wrong digest: refuse it.
            if (*sent == b.size && hash->digest() != b.digest)
                return fail(Error::internal("layer " + b.digest + " no longer matches its digest"));
            return n;
        };
    } else {
        auto off = std::make_shared<size_t>(0);
        src.read = [&b, off](std::span<std::byte> buf) -> Result<size_t> {
            size_t n = std::min(buf.size(), b.bytes.size() - *off);
            std::memcpy(buf.data(), b.bytes.data() + *off, n);
            *off += n;
            return n;
        };
    }
    op_ = client_.upload_blob(ref_, b.digest, std::move(src), creds_,
                              [this, &b, layer](Result<void> r) {
                                  op_ = 0;
                                  if (finished_) return;
                                  if (!r) return finish(fail(std::move(r.error())));
                                  if (layer) progress_(progress_status(short_id(b.digest), "Pushed"));
                                  ++next_;
                                  next();
                              });
}

void Push::put_manifest() {
    JsonWriter m;
    m.begin_object().field("schemaVersion", 2).field("mediaType", oci_manifest);
    m.key("config").begin_object().field("mediaType", oci_config).field("digest", config_.digest);
    m.field("size", config_.size).end_object();
    m.key("layers").begin_array();
    for (const Blob& b : layers_)
        m.begin_object().field("mediaType", oci_layer).field("digest", b.digest).field("size", b.size).end_object();
    m.end_array().end_object();
    std::string bytes = m.take();
    size_t size = bytes.size();
    client_.put_manifest(ref_, std::string(oci_manifest), std::move(bytes), creds_,
                         [this, size, alive = alive_](Result<std::string> digest) {
                             if (!*alive || finished_) return;
                             if (!digest) return finish(fail(std::move(digest.error())));
                             std::string tag = ref_.tag().empty() ? "latest" : ref_.tag();
                             progress_(progress_status("", tag + ": digest: " + *digest +
                                                               " size: " + std::to_string(size)));
                             JsonWriter aux;
                             aux.begin_object().key("progressDetail").begin_object().end_object();
                             aux.key("aux").begin_object().field("Tag", tag).field("Digest", *digest);
                             aux.field("Size", size).end_object().end_object();
                             progress_(aux.take() + "\r\n");
                             finish(std::move(*digest));
                         });
}

void Push::cancel() {
    if (!finished_) finish(fail(Error::make(ErrorKind::unavailable, "context canceled")));
}

void Push::finish(Result<std::string> r) {
    if (finished_) return;
    finished_ = true;
    if (op_) client_.cancel(op_);
    op_ = 0;
    auto done = std::move(done_);
    done(std::move(r));
}

}  // namespace berth::jobs
