#include "jobs/container_archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include <vector>

#include "graph/layer_writer.hpp"
#include "graph/tree_archive.hpp"
#include "kernel/user.hpp"

namespace berth::jobs {

namespace {

// Go's filepath.Join("/", p) then archive.PreserveTrailingDotOrSeparator: a clean absolute
// path that keeps a trailing "/." or "/" the client gave (they mean "the contents of").
std::string docker_abs_path(std::string_view p) {
    std::vector<std::string_view> parts;
    for (std::string_view rest = p; !rest.empty();) {
        size_t slash = rest.find('/');
        std::string_view c = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (c.empty() || c == ".") continue;
        if (c == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(c);
    }
    std::string out;
    for (auto c : parts) out += "/" + std::string(c);
    if (out.empty()) out = "/";
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

}  // namespace

Result<kernel::ContainerPathStat> stat_container_path(int root_fd, std::string_view path,
                                                      std::string_view container_ref) {
    auto st = kernel::stat_in_container(root_fd, docker_abs_path(path));
    if (!st && st.error().kind == ErrorKind::not_found)
        return fail(file_not_found(path, container_ref));
    return st;
}

ArchiveRead::~ArchiveRead() = default;

Result<std::unique_ptr<ArchiveRead>> ArchiveRead::path(kernel::UniqueFd root, std::string_view path,
                                                       std::string_view container_ref) {
    std::unique_ptr<ArchiveRead> job(new ArchiveRead());
    auto st = stat_container_path(root.get(), path, container_ref);
    if (!st) return fail(std::move(st.error()));
    job->stat_ = std::move(*st);
    const std::string abs = docker_abs_path(path);
    const std::string rebase = base_name(abs);
    if (S_ISDIR(job->stat_.mode)) {
        auto dir = kernel::open_in_container(root.get(), abs, O_RDONLY | O_DIRECTORY);
        if (!dir && dir.error().kind == ErrorKind::not_found)
            return fail(file_not_found(path, container_ref));
        if (!dir) return fail(std::move(dir.error()));
        // "." is renamed to the base name; for "/" to "" so that names do not start with "//".
        std::string top = rebase == "/" ? "/" : rebase + "/";
        job->tar_ = graph::TreeArchive::directory(std::move(*dir), top, top);
    } else {
        std::string parent = abs.substr(0, abs.rfind('/') + 1);
        auto dir = kernel::open_in_container(root.get(), parent, O_RDONLY | O_DIRECTORY);
        if (!dir) return fail(std::move(dir.error()));
        job->tar_ = graph::TreeArchive::single(std::move(*dir), rebase, rebase);
    }
    job->root_ = std::move(root);
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

Result<std::unique_ptr<ExtractToDir>> ExtractToDir::create(kernel::UniqueFd root,
                                                           std::string_view path,
                                                           std::string_view container_ref,
                                                           const ExtractOptions& options) {
    auto dir = kernel::resolve_dir_in_container(root.get(), docker_abs_path(path));
    if (!dir && dir.error().kind == ErrorKind::not_found)
        return fail(file_not_found(path, container_ref));
    if (!dir && dir.error().sys_errno == ENOTDIR)
        return fail(Error::invalid("extraction point is not a directory"));
    if (!dir) return fail(std::move(dir.error()));
    graph::TreeExtractOptions o;
    o.dir = dir->path.substr(1);  // without its leading '/': "" for the root
    o.no_overwrite_dir_nondir = options.no_overwrite_dir_nondir;
    if (!options.copy_uid_gid_user.empty()) {
        // The user as the container's own /etc/passwd and /etc/group name it.
        std::string root_path = "/proc/self/fd/" + std::to_string(root.get());
        auto user = kernel::resolve_user_in_root(root_path, options.copy_uid_gid_user, {});
        if (!user) return fail(std::move(user.error()));
        o.owner = std::pair<uint32_t, uint32_t>{user->uid, user->gid};
    }
    std::unique_ptr<ExtractToDir> job(new ExtractToDir());
    auto x = graph::TreeExtractor::create(root.get(), std::move(o));
    if (!x) return fail(std::move(x.error()));
    job->extractor_ = std::move(*x);
    job->root_ = std::move(root);
    return job;
}

Result<> ExtractToDir::feed(std::span<const std::byte> bytes) {
    return extractor_->feed(bytes);
}

Result<> ExtractToDir::finish() {
    return extractor_->finish();
}

}  // namespace berth::jobs
