// VolumeService: a volume is created record first, directory second, and removed by renaming
// its directory to .trash-<name> (atomic), dropping the record, then deleting the tree; so
// reconcile() can finish whichever step a crash interrupted. Options' filesystems are mounted
// while at least one running container uses the volume, as Docker's local driver does.
#include "jobs/volumes.hpp"

#include <simdjson.h>
#include <sys/random.h>

#include <algorithm>

#include "base/json.hpp"
#include "base/log.hpp"
#include "base/time.hpp"
#include "drivers/storage/file_tree.hpp"
#include "jobs/events.hpp"
#include "jobs/mount_points.hpp"
#include "kernel/files.hpp"
#include "kernel/overlay_mount.hpp"
#include "kernel/volume_fs.hpp"

namespace berth::jobs {

namespace {

constexpr unsigned volumes_dir_mode = 0701;  // as dockerd's volumes/: others may traverse
constexpr unsigned volume_dir_mode = 0755;
constexpr std::string_view trash_prefix = ".trash-";  // never a valid name (starts with '.')

std::string random_name() {
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != ssize_t(sizeof raw))
        for (auto& c : raw) c = static_cast<unsigned char>(std::rand());
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

// Docker's local driver options: type, device and o, each needing the others it implies.
Result<> validate_options(const std::map<std::string, std::string>& opts) {
    for (const auto& [k, v] : opts)
        if (k != "type" && k != "device" && k != "o")
            return fail(Error::invalid("invalid option: \"" + k + "\""));
    auto need = [&](const char* have, std::initializer_list<const char*> wants) -> Result<> {
        if (!opts.contains(have)) return {};
        for (const char* w : wants)
            if (!opts.contains(w))
                return fail(Error::invalid(std::string("missing required option: \"") + w + "\""));
        return {};
    };
    if (auto r = need("device", {"type"}); !r) return r;
    if (auto r = need("type", {"device"}); !r) return r;
    return need("o", {"device", "type"});
}

}  // namespace

VolumeService::VolumeService(loop::Loop& loop, graph::VolumeStore& store, EventBus& events,
                             std::string data_root)
    : loop_(loop), store_(store), events_(events), root_(std::move(data_root) + "/volumes") {
    trash_tick_.context = this;
    trash_tick_.callback = &VolumeService::on_trash_tick;
}

VolumeService::~VolumeService() = default;

std::string VolumeService::mountpoint(const std::string& name) const {
    return root_ + "/" + name + "/_data";
}

void VolumeService::publish(const std::string& action, const std::string& name,
                            std::vector<std::pair<std::string, std::string>> extra) {
    Event e;
    e.type = "volume";
    e.action = action;
    e.actor_id = name;
    e.attributes = std::move(extra);
    if (action != "prune" && std::none_of(e.attributes.begin(), e.attributes.end(),
                                          [](const auto& a) { return a.first == "driver"; }))
        e.attributes.emplace_back("driver", "local");
    events_.publish(std::move(e));
}

Result<graph::VolumeRecord> VolumeService::create(const VolumeCreate& req, bool* created) {
    if (created) *created = false;
    std::string name = req.name.empty() ? random_name() : req.name;
    if (!valid_volume_name(name)) return fail(invalid_volume_name(name));
    std::string driver = req.driver.empty() ? "local" : req.driver;
    if (driver != "local")
        return fail(Error::not_found("create " + name + ": error looking up volume plugin " +
                                     driver + ": plugin \"" + driver + "\" not found"));
    if (auto existing = store_.get(name); existing) {
        if (existing->driver != driver)
            return fail(Error::conflict("create " + name + ": volume name conflict: driver '" +
                                        existing->driver + "' already has volume '" + name + "'"));
        return *existing;
    } else if (existing.error().kind != ErrorKind::not_found) {
        return fail(existing.error());
    }
    if (req.options)
        if (auto r = validate_options(*req.options); !r)
            return fail(std::move(r.error()).wrap("create " + name));
    graph::VolumeRecord v;
    v.name = name;
    v.driver = driver;
    if (req.labels) v.labels_json = json_object_of(*req.labels);
    if (req.options) v.options_json = json_object_of(*req.options);
    v.created_ns = wall_clock_ns();
    if (auto r = store_.insert(v); !r) return fail(r.error());
    auto made = kernel::make_dir(root_ + "/" + name, volume_dir_mode);
    if (made) made = kernel::make_dir(mountpoint(name), volume_dir_mode);
    if (!made) {
        (void)store_.remove(name);
        return fail(std::move(made.error()).wrap("create " + name));
    }
    if (created) *created = true;
    publish("create", name);
    return v;
}

Result<graph::VolumeRecord> VolumeService::get(const std::string& name) {
    return store_.get(name);
}

Result<std::vector<graph::VolumeRecord>> VolumeService::list() {
    return store_.list();
}

Result<std::set<std::string>> VolumeService::used() {
    auto names = store_.used_names();
    if (!names) return fail(names.error());
    return std::set<std::string>(names->begin(), names->end());
}

Result<> VolumeService::remove(const std::string& name, bool force) {
    auto v = store_.get(name);
    if (!v) {
        if (force && v.error().kind == ErrorKind::not_found) return {};
        return fail(v.error());
    }
    auto users = store_.users(name);
    if (!users) return fail(users.error());
    if (!users->empty()) {
        std::string ids;
        for (const auto& id : *users) ids += (ids.empty() ? "" : ", ") + id;
        return fail(Error::conflict("remove " + name + ": volume is in use - [" + ids + "]"));
    }
    if (fs_mounted_.contains(name)) deactivate(name);
    // Never rename (and later empty) a directory something is still mounted on.
    if (kernel::is_mount_point(mountpoint(name)))
        return fail(Error::sys(EBUSY, "remove " + name + ": " + mountpoint(name) + " is mounted"));
    std::string trash =
        root_ + "/" + std::string(trash_prefix) + name + "-" + random_name().substr(0, 8);
    if (auto r = kernel::rename_entry(root_ + "/" + name, trash);
        !r && r.error().sys_errno != ENOENT)
        return fail(std::move(r.error()).wrap("remove " + name));
    if (auto r = store_.remove(name); !r) return fail(r.error());
    empty_trash(trash);
    publish("destroy", name, {{"driver", v->driver}});
    return {};
}

// The first step at once (a small volume is gone before the reply); a big tree goes on over
// the next ticks, one bounded step each.
void VolumeService::empty_trash(const std::string& path) {
    trash_.emplace_back(path);
    if (trash_.size() == 1) on_trash_tick(trash_tick_);
}

void VolumeService::on_trash_tick(loop::Completion& c) {
    auto* self = static_cast<VolumeService*>(c.context);
    auto& queue = self->trash_;
    if (queue.empty()) return;
    auto done = queue.front().step(trash_step_entries);
    if (!done) log::warn("remove volume files: " + done.error().message);
    if (!done || *done) queue.pop_front();
    if (!queue.empty() && !c.in_flight()) self->loop_.post(c);
}

Result<VolumeService::Pruned> VolumeService::prune(
    const std::function<bool(const graph::VolumeRecord&)>& selected) {
    auto all = store_.list();
    if (!all) return fail(all.error());
    auto in_use = used();
    if (!in_use) return fail(in_use.error());
    Pruned out;
    for (const auto& v : *all) {
        if (in_use->contains(v.name) || !selected(v)) continue;
        uint64_t size = drivers::tree_size(mountpoint(v.name));
        if (auto r = remove(v.name, false); !r) return fail(r.error());
        out.names.push_back(v.name);
        out.space_reclaimed += size;
    }
    publish("prune", "", {{"reclaimed", std::to_string(out.space_reclaimed)}});
    return out;
}

Result<std::string> VolumeService::create_anonymous(const std::string&) {
    VolumeCreate req;
    req.labels = std::map<std::string, std::string>{{anonymous_volume_label, ""}};
    auto v = create(req);
    if (!v) return fail(v.error());
    return v->name;
}

}  // namespace berth::jobs
