#include "jobs/layer_install.hpp"

#include "drivers/storage/storage_driver.hpp"
#include "graph/images.hpp"

namespace berth::jobs {

Result<std::unique_ptr<LayerInstall>> LayerInstall::begin(graph::ImageStore& images,
                                                          drivers::StorageDriver& storage,
                                                          std::string parent_chain_id,
                                                          std::string diff_id,
                                                          graph::LayerWriterOptions options) {
    std::unique_ptr<LayerInstall> li(new LayerInstall());
    li->images_ = &images;
    li->diff_id_ = diff_id;
    auto begun = images.begin_layer({diff_id, parent_chain_id, ""});
    if (!begun) return fail(begun.error());
    li->chain_id_ = begun->chain_id;
    if (begun->was == graph::LayerState::complete) {
        li->exists_ = true;
        li->done_ = true;
        return li;
    }
    if (begun->was == graph::LayerState::pending) {
        li->done_ = true;  // not ours to abort
        return fail(Error::conflict("layer " + li->chain_id_ +
                                    " is being written by another pull or load"));
    }
    auto dir = storage.prepare_layer(li->chain_id_);
    if (!dir) return fail(dir.error());
    options.whiteouts = storage.layer_format() == drivers::LayerFormat::diff
                            ? graph::WhiteoutMode::overlay
                            : graph::WhiteoutMode::apply;
    auto writer = graph::LayerWriter::create(*dir, options);
    if (!writer) return fail(writer.error());
    li->writer_ = std::move(*writer);
    if (!parent_chain_id.empty())
        if (auto r = storage.populate_layer(li->chain_id_, parent_chain_id); !r)
            return fail(r.error());
    return li;
}

LayerInstall::~LayerInstall() {
    if (done_) return;
    writer_.reset();  // removes a half-written directory
    (void)images_->abort_layer(chain_id_);
}

Result<> LayerInstall::feed(std::span<const std::byte> bytes) {
    if (!writer_) return fail(Error::internal("layer " + chain_id_ + " is not being written"));
    return writer_->feed(bytes);
}

Result<graph::LayerInfo> LayerInstall::finish() {
    if (!writer_) return fail(Error::internal("layer " + chain_id_ + " is not being written"));
    auto info = writer_->finish();
    if (!info) return fail(info.error());
    if (info->diff_id != diff_id_)
        return fail(Error::invalid("layer diff ID mismatch: the image config says " + diff_id_ +
                                   ", the content is " + info->diff_id));
    if (auto r = images_->commit_layer(chain_id_, int64_t(info->unpacked_size)); !r)
        return fail(r.error());
    done_ = true;
    return info;
}

}  // namespace berth::jobs
