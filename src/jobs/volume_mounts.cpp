// VolumeService's side of containers: mount points recorded at create, volumes mounted and
// filled from the image at start (the copy-up runs in bounded steps, one per loop tick), and
// unmounted at exit; inspect's Mounts; the start-up reconciliation of the volumes directory.
#include <simdjson.h>

#include <algorithm>

#include "base/json.hpp"
#include "base/log.hpp"
#include "base/time.hpp"
#include "drivers/storage/file_tree.hpp"
#include "jobs/mount_points.hpp"
#include "jobs/volumes.hpp"
#include "kernel/files.hpp"
#include "kernel/overlay_mount.hpp"
#include "kernel/volume_fs.hpp"

namespace berth::jobs {

namespace {

std::map<std::string, std::string> options_of(const graph::VolumeRecord& v) {
    return v.options_json ? json_string_map(*v.options_json) : std::map<std::string, std::string>{};
}

}  // namespace

// One start waiting for its copy-ups: planned once no other start is filling one of its
// volumes (two containers starting on one new volume copy once), then a step per tick.
struct VolumeService::CopyJob {
    VolumeService* service;
    std::string container_id, rootfs;
    std::vector<graph::VolumeMount> rows;
    StartMounts mounts;
    bool planned = false;
    std::vector<std::string> filling;  // the volumes this job copies into
    std::vector<std::unique_ptr<kernel::TreeCopyUp>> copies;
    size_t current = 0;
    std::function<void(Result<StartMounts>)> done;
    loop::Completion tick;
};

Result<> VolumeService::attach(const std::string& container_id, std::string_view config_json,
                               std::string_view host_config_json) {
    auto points = container_mount_points(config_json, host_config_json);
    if (!points) return fail(points.error());
    for (const MountPoint& p : *points) {
        if (p.type != "volume") continue;
        graph::VolumeMount m;
        m.container_id = container_id;
        m.destination = p.destination;
        m.mode = p.mode;
        m.rw = p.rw;
        m.copy_data = p.copy_data;
        m.anonymous = p.source.empty();
        if (m.anonymous) {
            auto name = create_anonymous(container_id);
            if (!name) return fail(name.error());
            m.volume_name = *name;
        } else {
            VolumeCreate req;
            req.name = p.source;
            req.driver = p.driver;
            if (!p.volume_labels.empty()) req.labels = p.volume_labels;
            if (!p.driver_opts.empty()) req.options = p.driver_opts;
            auto v = create(req);
            if (!v) return fail(v.error());
            m.volume_name = v->name;
        }
        if (auto r = store_.add_mount(m); !r) return fail(r.error());
    }
    return {};
}

// The options' filesystem goes on _data when the first running container needs it.
Result<> VolumeService::activate(const graph::VolumeRecord& v) {
    int& n = active_[v.name];
    if (n++ > 0 || fs_mounted_.contains(v.name)) return {};
    auto opts = options_of(v);
    if (!opts.contains("type")) return {};
    auto r = kernel::mount_volume_fs(opts["type"], opts["device"], opts["o"], mountpoint(v.name));
    if (!r) {
        if (--n == 0) active_.erase(v.name);
        return fail(
            std::move(r.error()).wrap("error while mounting volume '" + mountpoint(v.name) + "'"));
    }
    fs_mounted_.insert(v.name);
    return {};
}

void VolumeService::deactivate(const std::string& name) {
    auto it = active_.find(name);
    if (it != active_.end() && --it->second > 0) return;
    if (it != active_.end()) active_.erase(it);
    if (fs_mounted_.erase(name))
        if (auto r = kernel::detach_mount(mountpoint(name)); !r)
            log::warn("unmount volume " + name + ": " + r.error().message);
}

// Copy-ups for the volumes that want one: empty, not nocopy, and the image has a directory at
// the destination (resolved inside the container's root).
Result<> VolumeService::plan_copies(CopyJob& job) {
    kernel::UniqueFd root;
    for (const auto& m : job.rows) {
        if (!m.copy_data) continue;
        auto dst = kernel::open_directory(mountpoint(m.volume_name));
        if (!dst) return fail(dst.error());
        auto empty = kernel::directory_empty(dst->get());
        if (!empty) return fail(empty.error());
        if (!*empty) continue;
        if (!root) {
            auto r = kernel::open_directory(job.rootfs);
            if (!r) return fail(r.error());
            root = std::move(*r);
        }
        auto src = kernel::open_directory_in_root(root.get(), m.destination);
        if (!src) return fail(src.error());
        if (!*src) continue;  // nothing in the image there
        job.copies.push_back(
            std::make_unique<kernel::TreeCopyUp>(std::move(*src), std::move(*dst)));
        job.filling.push_back(m.volume_name);
    }
    for (const auto& n : job.filling) filling_.insert(n);
    job.planned = true;
    return {};
}

void VolumeService::prepare(const std::string& container_id, const std::string& rootfs,
                            std::string_view config_json, std::string_view host_config_json,
                            std::function<void(Result<StartMounts>)> done) {
    auto points = container_mount_points(config_json, host_config_json);
    auto rows = store_.mounts_of(container_id);
    if (!points || !rows) return done(fail(!points ? points.error() : rows.error()));
    auto job = std::make_unique<CopyJob>();
    job->service = this;
    job->container_id = container_id;
    job->tick.context = job.get();
    job->tick.callback = &VolumeService::on_copy_tick;
    for (const MountPoint& p : *points) {
        if (p.from_binds || p.type == "volume") continue;  // Binds/Tmpfs: the engine's own
        if (p.type == "bind")
            job->mounts.binds.push_back({p.source, p.destination, !p.rw, p.propagation});
        else
            job->mounts.tmpfs.push_back({p.destination, p.tmpfs_options});
    }
    auto& mine = mounted_by_[container_id];
    for (const auto& m : *rows) {
        auto v = store_.get(m.volume_name);
        Result<> on = v ? activate(*v) : fail(v.error());
        if (!on) {
            release(container_id);
            return done(fail(on.error()));
        }
        mine.push_back(m.volume_name);
        job->mounts.binds.push_back({mountpoint(m.volume_name), m.destination, !m.rw, ""});
        publish("mount", m.volume_name,
                {{"container", container_id},
                 {"destination", m.destination},
                 {"driver", v->driver},
                 {"propagation", ""},
                 {"read/write", m.rw ? "true" : "false"}});
    }
    if (std::none_of(rows->begin(), rows->end(), [](const auto& m) { return m.copy_data; }))
        return done(std::move(job->mounts));
    job->rootfs = rootfs;
    job->rows = std::move(*rows);
    job->done = std::move(done);
    run_copy(job.release());
}

// Plans when it may, then one bounded step; the rest on the next tick.
void VolumeService::run_copy(CopyJob* job) {
    bool busy = !job->planned && std::any_of(job->rows.begin(), job->rows.end(), [&](auto& m) {
        return m.copy_data && filling_.contains(m.volume_name);
    });
    if (busy) return loop_.post(job->tick);
    if (!job->planned)
        if (auto r = plan_copies(*job); !r) return finish_copy(job, fail(r.error()));
    while (job->current < job->copies.size()) {
        auto finished = job->copies[job->current]->step(copy_step_bytes, copy_step_entries);
        if (!finished) return finish_copy(job, fail(finished.error()));
        if (!*finished) return loop_.post(job->tick);
        job->copies[job->current].reset();  // closes its fds now
        ++job->current;
    }
    finish_copy(job, {});
}

void VolumeService::finish_copy(CopyJob* job, Result<> r) {
    std::unique_ptr<CopyJob> owned(job);
    for (const auto& n : job->filling) filling_.erase(n);
    if (!r) {
        release(job->container_id);
        return owned->done(fail(std::move(r.error()).wrap("copy image content into volume")));
    }
    owned->done(std::move(owned->mounts));
}

void VolumeService::on_copy_tick(loop::Completion& c) {
    auto* job = static_cast<CopyJob*>(c.context);
    job->service->run_copy(job);
}

void VolumeService::release(const std::string& container_id) {
    auto node = mounted_by_.extract(container_id);
    if (node.empty()) return;
    for (const std::string& name : node.mapped()) {
        deactivate(name);
        publish("unmount", name, {{"container", container_id}});
    }
}

std::vector<std::string> VolumeService::anonymous_volumes(const std::string& container_id) {
    std::vector<std::string> out;
    if (auto rows = store_.mounts_of(container_id))
        for (const auto& m : *rows)
            if (m.anonymous) out.push_back(m.volume_name);
    return out;
}

void VolumeService::remove_unused(const std::vector<std::string>& names) {
    for (const auto& n : names) {
        auto users = store_.users(n);
        if (!users || !users->empty()) continue;
        if (auto r = remove(n, true); !r)
            log::warn("remove volume " + n + ": " + r.error().message);
    }
}

// inspect's Mounts, as dockerd shows them: volumes with Name and Driver, binds with their
// propagation, tmpfs with an empty Source; by destination.
std::string VolumeService::mounts_json(const std::string& container_id,
                                       std::string_view config_json,
                                       std::string_view host_config_json) {
    auto points = container_mount_points(config_json, host_config_json);
    // `docker ps` asks this for every container: no query for those without volumes.
    if (!points || points->empty()) return "[]";
    bool volumes = std::any_of(points->begin(), points->end(),
                               [](const MountPoint& p) { return p.type == "volume"; });
    std::map<std::string, const graph::VolumeMount*> by_dst;
    decltype(store_.mounts_of(container_id)) rows;
    if (volumes) rows = store_.mounts_of(container_id);
    if (volumes && rows)
        for (const auto& m : *rows) by_dst[m.destination] = &m;
    std::vector<MountPoint> list = points ? std::move(*points) : std::vector<MountPoint>{};
    std::sort(list.begin(), list.end(), [](const MountPoint& a, const MountPoint& b) {
        return a.destination < b.destination;
    });
    JsonWriter w;
    w.begin_array();
    for (const MountPoint& p : list) {
        w.begin_object().field("Type", p.type);
        if (p.type == "volume") {
            auto it = by_dst.find(p.destination);
            std::string name = it != by_dst.end() ? it->second->volume_name : p.source;
            w.field("Name", name).field("Source", mountpoint(name));
            w.field("Destination", p.destination).field("Driver", p.driver);
        } else {
            w.field("Source", p.source).field("Destination", p.destination);
        }
        w.field("Mode", p.mode).field("RW", p.rw).field("Propagation", p.propagation);
        w.end_object();
    }
    w.end_array();
    return w.take();
}

Result<> VolumeService::reconcile() {
    if (auto r = kernel::make_dir(root_, 0701); !r) return r;
    auto names = kernel::list_directory(root_);
    if (!names) return fail(names.error());
    auto records = store_.list();
    if (!records) return fail(records.error());
    std::set<std::string> known, on_disk;
    for (const auto& v : *records) known.insert(v.name);
    for (const std::string& n : *names) {
        // No container runs before reconcile: a mount left on _data is a crash's.
        (void)kernel::detach_mount(root_ + "/" + n + "/_data");
        if (n.starts_with(".trash-")) {
            if (auto r = drivers::remove_tree(root_ + "/" + n); !r) log::warn(r.error().message);
            continue;
        }
        if (!valid_volume_name(n)) continue;  // not ours (metadata.db of a dockerd root, …)
        on_disk.insert(n);
        if (known.contains(n)) continue;
        // A directory without a record: adopted as a volume, as the local driver finds them.
        graph::VolumeRecord v;
        v.name = n;
        v.created_ns = wall_clock_ns();
        (void)kernel::make_dir(mountpoint(n), 0755);
        if (auto r = store_.insert(v); !r) return fail(r.error());
        log::info("volume " + n + " found without a record: kept");
    }
    for (const auto& v : *records) {
        if (on_disk.contains(v.name)) continue;
        auto users = store_.users(v.name);
        if (users && users->empty()) {
            (void)store_.remove(v.name);  // created or removed halfway through
            continue;
        }
        (void)kernel::make_dir(root_ + "/" + v.name, 0755);
        (void)kernel::make_dir(mountpoint(v.name), 0755);
    }
    return {};
}

}  // namespace berth::jobs
