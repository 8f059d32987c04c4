// The push job (POST /images/{name}/push): each layer the registry lacks is uploaded as its
// original tar (an OCI layer, digest = diff ID, streamed from the layer's tar-split with no
// temporary copy), then the config and an OCI manifest under the tag. Progress goes out as
// Docker's JSON messages, ending with the "<tag>: digest: … size: …" line and its aux record.
#pragma once

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

class Push {
public:
    using Progress = std::function<void(const std::string& json_line)>;
    using Done = std::function<void(Result<std::string> manifest_digest)>;

    // Fails at once (before any output) when the image or a layer's tar-split is missing.
    static Result<std::unique_ptr<Push>> create(registry::RegistryClient& client,
                                                graph::ImageStore& images,
                                                drivers::StorageDriver& storage,
                                                graph::Reference ref,
                                                registry::Credentials creds, Progress progress,
                                                Done done);
    ~Push();
    void start();
    void cancel();

private:
    struct Blob {
        std::string digest;
        uint64_t size = 0;
        std::string layer_dir, split;  // a layer
        std::string bytes;             // the config
    };
    Push(registry::RegistryClient& client) : client_(client) {}
    void next();
    void upload(Blob& b);
    void put_manifest();
    void finish(Result<std::string> r);
    std::string short_id(const std::string& d) const { return d.substr(7, 12); }

    registry::RegistryClient& client_;
    graph::Reference ref_;
    registry::Credentials creds_;
    Progress progress_;
    Done done_;
    std::vector<Blob> layers_;
    Blob config_;
    size_t next_ = 0;
    uint64_t op_ = 0;
    bool finished_ = false;
    // Cleared when the Push goes: callbacks of requests that cannot be cancelled by id (blob
    // HEAD, manifest PUT) check it before touching anything.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace berth::jobs
