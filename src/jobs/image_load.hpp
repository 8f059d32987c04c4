// docker load: a docker-archive (docker save's manifest.json layout, legacy or with OCI blobs)
// or an OCI image layout (index.json) streamed in, spooled member by member (layers come
// before the manifest that says what they are), then each image's layers installed in chain
// order and the images filed with their tags.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "graph/spool.hpp"
#include "graph/tar_reader.hpp"

namespace berth::graph {
class ImageStore;
}
namespace berth::drivers {
class StorageDriver;
}

namespace berth::jobs {

struct LoadedImage {
    std::string id;
    std::vector<std::string> tags;  // familiar references
};

class ImageLoad final : graph::TarConsumer {
public:
    static Result<std::unique_ptr<ImageLoad>> create(graph::ImageStore& images,
                                                     drivers::StorageDriver& storage,
                                                     const std::string& tmp_root);
    // The next bytes of the archive.
    Result<> feed(std::span<const std::byte> bytes);
    // End of the archive: installs what it holds, image by image as Docker does; a failure
    // stops there, and no half-written layer or image is left (committed layers of a failed
    // image are swept by ImageStore::reconcile at the next start).
    Result<std::vector<LoadedImage>> finish();

private:
    ImageLoad(graph::ImageStore& images, drivers::StorageDriver& storage)
        : images_(images), storage_(storage), reader_(*this) {}
    Result<> begin_entry(const graph::TarEntry& entry) override;
    Result<> data(std::span<const std::byte> bytes) override;
    Result<> end_entry() override;
    Result<> end_archive() override { return {}; }

    struct ImageEntry {
        std::string config;               // member name of the config
        std::vector<std::string> layers;  // member names, bottom first
        std::vector<std::string> tags;    // as written in the archive
    };
    Result<std::vector<ImageEntry>> read_manifest();
    Result<std::vector<ImageEntry>> read_oci_index();
    Result<LoadedImage> install(const ImageEntry& image);

    graph::ImageStore& images_;
    drivers::StorageDriver& storage_;
    graph::TarReader reader_;
    std::unique_ptr<graph::Spool> spool_;
    bool in_member_ = false;
};

}  // namespace berth::jobs
