// The pull job (POST /images/create?fromImage=): resolve the manifest for the platform, fetch
// the config, then download the layers the store lacks — up to max-concurrent-downloads at once
// where the storage driver keeps layers independent — each streamed through digest →
// decompression → extraction in one pass, and file the image with its tag and digest. Progress
// goes out as Docker's JSON messages; an error ends the stream with one, and leaves no partial
// layer or image.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "graph/reference.hpp"
#include "registry/auth.hpp"
#include "registry/client.hpp"

namespace berth::graph {
class ImageStore;
}
namespace berth::drivers {
class StorageDriver;
}

namespace berth::jobs {

class LayerInstall;

struct PullRequest {
    graph::Reference reference;
    registry::Platform platform;
    registry::Credentials credentials;
    size_t max_concurrent_downloads = 3;
};

class Pull {
public:
    using Progress = std::function<void(const std::string& json_line)>;
    // `done` runs once, last; after it the Pull may be destroyed.
    using Done = std::function<void(Result<std::string> image_id)>;

    Pull(registry::RegistryClient& client, graph::ImageStore& images,
         drivers::StorageDriver& storage, PullRequest request, Progress progress, Done done);
    ~Pull();
    void start();
    // The client went away: stop, leave nothing half-written; `done` still runs.
    void cancel();

private:
    struct Layer;
    void on_resolved(Result<registry::Resolved> r);
    void on_config(Result<> r);
    void plan_layers();
    void start_downloads();
    void download(Layer& l);
    void on_layer_body(Layer& l, std::span<const std::byte> data);
    void on_layer_done(Layer& l, Result<> r);
    void finish_image();
    void finish(Result<std::string> r);
    std::string short_id(const std::string& digest) const;

    registry::RegistryClient& client_;
    graph::ImageStore& images_;
    drivers::StorageDriver& storage_;
    PullRequest req_;
    Progress progress_;
    Done done_;
    registry::FetchedManifest manifest_;
    std::string config_json_;
    std::vector<std::string> diff_ids_;
    std::vector<std::unique_ptr<Layer>> layers_;
    size_t active_ = 0;
    uint64_t config_op_ = 0;
    bool finished_ = false;
};

}  // namespace berth::jobs
