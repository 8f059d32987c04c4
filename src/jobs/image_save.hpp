// docker save: images written as one tar that docker load (berth's and Docker's) takes — the OCI
// image layout (oci-layout, index.json, blobs/sha256/…) with Docker's manifest.json beside it.
// Layers are their original tars, given back byte for byte from each layer's tar-split, so the
// image IDs and diff IDs survive the round trip. Produced piece by piece, so the HTTP stream can
// apply back-pressure; each layer's digest is checked as it goes out.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "graph/digest.hpp"
#include "graph/tar_split.hpp"
#include "graph/tar_writer.hpp"

namespace berth::graph {
class ImageStore;
}
namespace berth::drivers {
class StorageDriver;
}

namespace berth::jobs {

class ImageSave {
public:
    // `names` as the user gave them; a name that is a tag names that tag in the archive.
    static Result<std::unique_ptr<ImageSave>> create(graph::ImageStore& images,
                                                     drivers::StorageDriver& storage,
                                                     const std::vector<std::string>& names);
    // Appends up to about `max` bytes of the archive to `out`; false once it is complete.
    Result<bool> produce(std::string& out, size_t max);

private:
    struct Part {
        std::string name;
        std::string bytes;                             // small members, or
        std::string layer_dir, split, diff_id;         // a layer's original tar
    };
    ImageSave() = default;
    Result<> add_image(graph::ImageStore& images, drivers::StorageDriver& storage,
                       const std::string& name);
    Result<> add_small(const std::string& name, std::string bytes);
    Result<> start_part(Part& p);

    std::deque<Part> parts_;
    std::vector<std::string> blobs_;  // names already queued (layers shared by images)
    std::string* out_ = nullptr;
    std::unique_ptr<graph::TarWriter> tar_;
    std::unique_ptr<graph::LayerTarCursor> cursor_;
    graph::Sha256 hash_;
    std::string expect_;
    bool started_ = false, finished_ = false;
    // manifest.json and index.json, completed after the images are queued.
    std::string manifest_json_ = "[", index_json_;
};

}  // namespace berth::jobs
