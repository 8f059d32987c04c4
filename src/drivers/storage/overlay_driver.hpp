// overlay2: layers are diff directories stacked as overlayfs lower dirs under a per-container
// upper and work dir (containers/<id>/{upper,work}), mounted at containers/<id>/rootfs.
//
// mount() gives a path, not a detached mount fd. The mount itself is built detached (fsopen,
// one "lowerdir+" per layer, fsmount) and then attached at the path, because everything that
// consumes a rootfs today takes a path: the spawn plan (ContainerSpec::rootfs, bound onto itself
// and pivoted into by the child), the user lookup in the image's /etc/passwd before the spawn,
// and later cp/export/diff and inspect's GraphDriver.Data.MergedDir. A crash leaves the mount in
// the daemon's namespace, and cleanup_stale() finds it through mountinfo. Handing the detached
// fd to the child instead (no mount in the daemon's namespace, nothing copied into each new
// container namespace, teardown by the kernel) is a change to the spawn plan, not to this driver.
#pragma once

#include <memory>

#include "drivers/storage/storage_driver.hpp"
#include "kernel/overlay_mount.hpp"

namespace berth::drivers {

class OverlayDriver final : public StorageDriver {
  public:
    // Fails unless overlay works on the data root's filesystem (probe mount, d_type).
    static Result<std::unique_ptr<OverlayDriver>> open(const std::string& data_root);
    // As open(), with the features given rather than probed: tests force the mount(2) path.
    static Result<std::unique_ptr<OverlayDriver>> open(const std::string& data_root,
                                                       const kernel::OverlayFeatures& features);

    std::string_view name() const override { return "overlay2"; }
    std::vector<std::pair<std::string, std::string>> status() const override;
    LayerFormat layer_format() const override { return LayerFormat::diff; }

    Result<void> populate_layer(std::string_view, std::string_view) override { return {}; }
    Result<void> remove_layer(std::string_view chain_id) override;

    Result<void> create_container_layer(std::string_view id,
                                        std::span<const std::string> lowers_top_first) override;
    Result<std::string> mount(std::string_view id) override;
    Result<void> unmount(std::string_view id) override;
    // A running container's mounted root; else the overlay built detached (fsmount), or with
    // mount(2) before Linux 6.8 attached, opened and at once detached.
    Result<kernel::UniqueFd> open_root(std::string_view id) override;
    Result<void> remove_container_layer(std::string_view id) override;
    uint64_t container_layer_size(std::string_view id) const override;
    Result<StaleCleanup> cleanup_stale(const std::set<std::string>& keep) override;

    bool uses_lowerdir_append() const { return features_.lowerdir_append; }

  private:
    OverlayDriver(std::string data_root, kernel::OverlayFeatures f, std::string backing,
                  bool d_type)
        : StorageDriver(std::move(data_root)),
          features_(f),
          backing_fs_(std::move(backing)),
          d_type_(d_type) {}
    Result<void> probe();
    Result<std::vector<std::string>> read_lowers(std::string_view id) const;
    Result<void> mount_relative(const std::vector<std::string>& lowers, const std::string& dir,
                                const std::string& target);
    Result<std::string> short_link(std::string_view chain_id);
    void remove_dangling_links(StaleCleanup& out);
    void remove_probe_dirs(StaleCleanup& out);

    kernel::OverlayFeatures features_;
    std::string backing_fs_;
    bool d_type_ = false;
};

}  // namespace berth::drivers
