// vfs: no union filesystem at all. Each layer directory is a full copy of its parent with the
// layer's changes applied (whiteouts by deletion), and a container's root is a copy of its top
// layer. Slow and large, but it works on any filesystem; dockerd's fallback of last resort too.
#pragma once

#include <memory>

#include "drivers/storage/storage_driver.hpp"

namespace berth::drivers {

class VfsDriver final : public StorageDriver {
  public:
    static Result<std::unique_ptr<VfsDriver>> open(const std::string& data_root);

    std::string_view name() const override { return "vfs"; }
    std::vector<std::pair<std::string, std::string>> status() const override { return {}; }
    LayerFormat layer_format() const override { return LayerFormat::flattened; }

    Result<void> populate_layer(std::string_view chain_id,
                                std::string_view parent_chain_id) override;

    Result<void> create_container_layer(std::string_view id,
                                        std::span<const std::string> lowers_top_first) override;
    Result<std::string> mount(std::string_view id) override;
    Result<void> unmount(std::string_view) override { return {}; }
    Result<void> remove_container_layer(std::string_view id) override;
    uint64_t container_layer_size(std::string_view id) const override;
    Result<StaleCleanup> cleanup_stale(const std::set<std::string>& keep) override;

  private:
    explicit VfsDriver(std::string data_root) : StorageDriver(std::move(data_root)) {}
};

}  // namespace berth::drivers
