// docker import: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image. The
// body is spooled, hashed once uncompressed (the diff ID names the layer before it is written),
// then installed like any layer; the config is made here, with `changes` (CMD, ENTRYPOINT, ENV,
// WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL) applied as the Dockerfile would.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "graph/reference.hpp"
#include "graph/spool.hpp"

namespace berth::graph {
class ImageStore;
}
namespace berth::drivers {
class StorageDriver;
}

namespace berth::jobs {

struct ImportOptions {
    std::optional<graph::Reference> reference;  // repo:tag, if given
    std::string message;                        // history comment
    std::vector<std::string> changes;           // Dockerfile instructions
    std::string os = "linux", architecture = "amd64";
};

class ImageImport {
public:
    static Result<std::unique_ptr<ImageImport>> create(graph::ImageStore& images,
                                                       drivers::StorageDriver& storage,
                                                       const std::string& tmp_root,
                                                       ImportOptions options);
    // Checks the `changes` before any byte is read (Docker refuses bad ones up front).
    static Result<> validate_changes(const std::vector<std::string>& changes);
    Result<> feed(std::span<const std::byte> bytes) { return spool_->append(bytes); }
    // Returns the new image ID.
    Result<std::string> finish();

private:
    ImageImport(graph::ImageStore& images, drivers::StorageDriver& storage, ImportOptions o)
        : images_(images), storage_(storage), options_(std::move(o)) {}
    Result<std::string> config_json(const std::string& diff_id) const;

    graph::ImageStore& images_;
    drivers::StorageDriver& storage_;
    ImportOptions options_;
    std::unique_ptr<graph::Spool> spool_;
};

}  // namespace berth::jobs
