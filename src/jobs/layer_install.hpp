// Installing one image layer, shared by pull and load: the layer's record goes in as pending,
// its blob streams through a LayerWriter into the storage driver's layer directory, and the
// record is committed once the unpacked content's diff ID matches the image config's. Dropped
// before finish(), it aborts: the record and the directory go.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "base/error.hpp"
#include "graph/layer_writer.hpp"

namespace berth::graph {
class ImageStore;
}
namespace berth::drivers {
class StorageDriver;
}

namespace berth::jobs {

class LayerInstall {
public:
    // `diff_id` is the config's rootfs.diff_ids entry for this layer. When the layer (this
    // chain) is already complete, exists() is true and nothing needs feeding.
    static Result<std::unique_ptr<LayerInstall>> begin(graph::ImageStore& images,
                                                       drivers::StorageDriver& storage,
                                                       std::string parent_chain_id,
                                                       std::string diff_id,
                                                       graph::LayerWriterOptions options);
    ~LayerInstall();
    LayerInstall(const LayerInstall&) = delete;
    LayerInstall& operator=(const LayerInstall&) = delete;

    bool exists() const { return exists_; }
    const std::string& chain_id() const { return chain_id_; }
    Result<> feed(std::span<const std::byte> bytes);
    // Checks the unpacked layer is the one the config names and commits its record.
    Result<graph::LayerInfo> finish();

private:
    LayerInstall() = default;
    graph::ImageStore* images_ = nullptr;
    std::string chain_id_, diff_id_;
    bool exists_ = false;
    bool done_ = false;
    std::unique_ptr<graph::LayerWriter> writer_;
};

}  // namespace berth::jobs
