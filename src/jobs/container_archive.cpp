#include "jobs/container_archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include <vector>

#include <simdjson.h>

#include "graph/layer_writer.hpp"
#include "graph/tree_archive.hpp"
#include "kernel/container_path.hpp"
#include "kernel/user.hpp"

namespace berth::jobs {

namespace {

// Go's filepath.Join("/", p) then archive.PreserveTrailingDotOrSeparator: a clean absolute
// path that keeps a trailing "/." or "/" the client gave (they mean "the contents of").
std::string docker_abs_path(std::string_view p) {
    std::string out = kernel::clean_absolute(p);
    bool dot = p.ends_with("/.") || p == ".";
    if (dot && !out.ends_with("/."))
        out += out == "/" ? "." : "/.";
    else if (!dot && p.ends_with('/') && !out.ends_with('/'))
        out += "/";
    return out;
}

// Go's filepath.Base.
std::string base_name(std::string_view p) {
    while (p.size() > 1 && p.ends_with('/')) p.remove_suffix(1);
    if (p == "/") return "/";
    size_t slash = p.rfind('/');
    return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

Error file_not_found(std::string_view path, std::string_view container_ref) {
    return Error::not_found("Could not find the file " + std::string(path) + " in container " +
                            std::string(container_ref));
}

// "/a/b/." and "/a/b/" → "/a/b"; "/." → "/".
std::string without_trailing(std::string p) {
    while (p.size() > 1 && (p.ends_with("/.") || p.ends_with('/')))
        p.resize(p.ends_with('/') ? p.size() - 1 : p.size() - 2);
    return p.empty() ? "/" : p;
}

// Where a path lives: `fd` is the root to resolve `path` in (the container's, or a bind's
// source, then owned by `owned`), `path` absolute there with the client's trailing "/." or "/".
struct Located {
    int fd = -1;
    kernel::UniqueFd owned;
    std::string path;
    const ContainerMount* mount = nullptr;
};

Result<Located> locate(const ContainerFs& fs, std::string_view path) {
    Located out{fs.root.get(), {}, docker_abs_path(path), nullptr};
    const std::string clean = without_trailing(out.path);
    for (const ContainerMount& m : fs.mounts) {
        bool under = clean == m.target || clean.starts_with(m.target + "/");
        if (under && (!out.mount || m.target.size() > out.mount->target.size())) out.mount = &m;
    }
    if (!out.mount) return out;
    if (out.mount->tmpfs) {
        if (!fs.running) {  // a stopped container's tmpfs is empty: dockerd shows the root's
            out.mount = nullptr;
            return out;
        }
        return fail(Error::make(ErrorKind::not_implemented,
                                "copying files in the tmpfs mounted at " + out.mount->target +
                                    " of a running container is not supported yet"));
    }
    auto src = kernel::open_dir_path(out.mount->source);
    if (!src && src.error().sys_errno == ENOTDIR && clean == out.mount->target) {
        // A file bound onto the target: its directory is the root, its name the path.
        const std::string& file = out.mount->source;
        src = kernel::open_dir_path(file.substr(0, file.rfind('/') + 1));
        out.path = file.substr(file.rfind('/'));
    } else {
        out.path = "/" + out.path.substr(std::min(out.mount->target.size() + 1, out.path.size()));
    }
    if (!src) return fail(std::move(src.error()).wrap("bind mount " + out.mount->target));
    out.owned = std::move(*src);
    out.fd = out.owned.get();
    return out;
}

}  // namespace

std::vector<ContainerMount> container_mounts(const std::string& host_config_json) {
    std::vector<ContainerMount> out;
    simdjson::dom::parser parser;
    simdjson::padded_string text(host_config_json);
    simdjson::dom::element hc;
    if (parser.parse(text).get(hc)) return out;
    simdjson::dom::array binds;
    if (!hc["Binds"].get(binds))
        for (auto b : binds) {
            std::string_view spec;
            if (b.get(spec)) continue;
            size_t c1 = spec.find(':');
            if (c1 == std::string_view::npos || !spec.starts_with('/')) continue;  // volumes
            size_t c2 = spec.find(':', c1 + 1);
            ContainerMount m;
            m.source = spec.substr(0, c1);
            m.target = without_trailing(
                docker_abs_path(spec.substr(c1 + 1, c2 == spec.npos ? spec.npos : c2 - c1 - 1)));
            if (m.target == "/") continue;  // refused at create; never the whole root
            std::string_view opts = c2 == spec.npos ? "" : spec.substr(c2 + 1);
            m.read_only = opts == "ro" || opts.starts_with("ro,") || opts.find(",ro") != opts.npos;
            out.push_back(std::move(m));
        }
    simdjson::dom::object tmpfs;
    if (!hc["Tmpfs"].get(tmpfs))
        for (auto [target, opts] : tmpfs) {
            (void)opts;
            out.push_back({without_trailing(docker_abs_path(target)), {}, true, false});
        }
    return out;
}

Result<kernel::ContainerPathStat> stat_container_path(const ContainerFs& fs, std::string_view path,
                                                      std::string_view container_ref) {
    auto where = locate(fs, path);
    if (!where) return fail(std::move(where.error()));
    auto st = kernel::stat_in_container(where->fd, where->path);
    if (!st && st.error().kind == ErrorKind::not_found)
        return fail(file_not_found(path, container_ref));
    if (!st) return st;
    st->name = base_name(docker_abs_path(path));  // the mount's own root is named as asked
    if (where->mount && !st->link_target.empty())
        st->link_target = where->mount->target + st->link_target;
    return st;
}

ArchiveRead::~ArchiveRead() = default;

Result<std::unique_ptr<ArchiveRead>> ArchiveRead::path(ContainerFs fs, std::string_view path,
                                                       std::string_view container_ref) {
    std::unique_ptr<ArchiveRead> job(new ArchiveRead());
    auto st = stat_container_path(fs, path, container_ref);
    if (!st) return fail(std::move(st.error()));
    job->stat_ = std::move(*st);
    auto where = locate(fs, path);
    if (!where) return fail(std::move(where.error()));
    const std::string& abs = where->path;
    const std::string rebase = job->stat_.name;
    if (S_ISDIR(job->stat_.mode)) {
        auto dir = kernel::open_in_container(where->fd, abs, O_RDONLY | O_DIRECTORY);
        if (!dir && dir.error().kind == ErrorKind::not_found)
            return fail(file_not_found(path, container_ref));
        if (!dir) return fail(std::move(dir.error()));
        // "." is renamed to the base name; for "/" to "" so that names do not start with "//".
        std::string top = rebase == "/" ? "/" : rebase + "/";
        job->tar_ = graph::TreeArchive::directory(std::move(*dir), top, top);
    } else {
        std::string parent = abs.substr(0, abs.rfind('/') + 1);
        auto dir = kernel::open_in_container(where->fd, parent, O_RDONLY | O_DIRECTORY);
        if (!dir) return fail(std::move(dir.error()));
        job->tar_ = graph::TreeArchive::single(std::move(*dir), base_name(abs), rebase);
    }
    job->root_ = std::move(fs.root);
    job->mount_root_ = std::move(where->owned);
    return job;
}

Result<std::unique_ptr<ArchiveRead>> ArchiveRead::whole_root(kernel::UniqueFd root) {
    std::unique_ptr<ArchiveRead> job(new ArchiveRead());
    auto dir = kernel::open_in_container(root.get(), "/", O_RDONLY | O_DIRECTORY);
    if (!dir) return fail(std::move(dir.error()));
    job->tar_ = graph::TreeArchive::directory(std::move(*dir), "", "");
    job->root_ = std::move(root);
    return job;
}

Result<bool> ArchiveRead::produce(std::string& out, size_t max) {
    return tar_->produce(out, max);
}

ExtractToDir::~ExtractToDir() = default;

Result<std::unique_ptr<ExtractToDir>> ExtractToDir::create(ContainerFs fs, std::string_view path,
                                                           std::string_view container_ref,
                                                           const ExtractOptions& options) {
    auto where = locate(fs, path);
    if (!where) return fail(std::move(where.error()));
    auto dir = kernel::resolve_dir_in_container(where->fd, where->path);
    if (!dir && dir.error().kind == ErrorKind::not_found)
        return fail(file_not_found(path, container_ref));
    if (!dir && dir.error().sys_errno == ENOTDIR)
        return fail(Error::invalid("extraction point is not a directory"));
    if (!dir) return fail(std::move(dir.error()));
    // dockerd's checkWritablePath: the mount's flag, else the rootfs's.
    if (where->mount && where->mount->read_only)
        return fail(Error::invalid("mounted volume is marked read-only"));
    if (!where->mount && fs.readonly_rootfs)
        return fail(Error::invalid("container rootfs is marked read-only"));
    graph::TreeExtractOptions o;
    o.dir = dir->path.substr(1);  // without its leading '/': "" for the root
    o.no_overwrite_dir_nondir = options.no_overwrite_dir_nondir;
    if (!options.copy_uid_gid_user.empty()) {
        // The user as the container's own /etc/passwd and /etc/group name it.
        std::string root_path = "/proc/self/fd/" + std::to_string(fs.root.get());
        auto user = kernel::resolve_user_in_root(root_path, options.copy_uid_gid_user, {});
        if (!user) return fail(std::move(user.error()));
        o.owner = std::pair<uint32_t, uint32_t>{user->uid, user->gid};
    }
    std::unique_ptr<ExtractToDir> job(new ExtractToDir());
    auto x = graph::TreeExtractor::create(where->fd, std::move(o));
    if (!x) return fail(std::move(x.error()));
    job->extractor_ = std::move(*x);
    job->root_ = std::move(fs.root);
    job->mount_root_ = std::move(where->owned);
    return job;
}

Result<> ExtractToDir::feed(std::span<const std::byte> bytes) {
    return extractor_->feed(bytes);
}

Result<> ExtractToDir::finish() {
    return extractor_->finish();
}

}  // namespace berth::jobs
