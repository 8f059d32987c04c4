// Layer extraction: blob → sha256 → decompress → sha256 → tar → files, all in one pass. Every
// entry is created with *at() calls under a parent directory resolved with RESOLVE_IN_ROOT, the
// last component never followed; so nothing an archive says can reach outside the layer dir.
#include "graph/layer_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "graph/digest.hpp"
#include "graph/tar_reader.hpp"
#include "graph/tar_split.hpp"
#include "kernel/fd.hpp"
#include "kernel/files.hpp"
#include "kernel/rootfs_path.hpp"

namespace berth::graph {

namespace {

using kernel::open_in_root;
using kernel::UniqueFd;
using Type = TarEntry::Type;

constexpr size_t entry_path_bytes_max = 4095;  // PATH_MAX less the NUL
constexpr std::string_view whiteout_prefix = ".wh.";
constexpr std::string_view whiteout_opaque = ".wh..wh..opq";
constexpr std::string_view whiteout_meta_prefix = ".wh..wh.";  // AUFS metadata (plnk, aufs, orph)
constexpr char opaque_xattr[] = "trusted.overlay.opaque";

// ---- path rules ----

// Cleans an archive path as Docker's filepath.Clean + Join(root, …) reads it: "./a//b/" → "a/b",
// "/x/../y" → "y" (a rooted path cannot climb), "", "." and "/" → "" (the root itself).
// A relative path that climbs above the root gives nullopt.
std::optional<std::string> clean_path(std::string_view p) {
    bool rooted = p.starts_with('/');
    std::vector<std::string_view> parts;
    while (!p.empty()) {
        size_t slash = p.find('/');
        std::string_view c = p.substr(0, slash);
        p = slash == std::string_view::npos ? std::string_view{} : p.substr(slash + 1);
        if (c.empty() || c == ".") continue;
        if (c != "..") {
            parts.push_back(c);
        } else if (!parts.empty()) {
            parts.pop_back();
        } else if (!rooted) {
            return std::nullopt;
        }
    }
    std::string out;
    for (auto c : parts) {
        if (!out.empty()) out += '/';
        out += c;
    }
    return out;
}

std::string quoted(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

Error sys_error(std::string_view op, std::string_view rel) {
    return Error::last_sys(std::string(op) + " " + std::string(rel));
}

// ---- extraction ----

struct DirTime {
    std::string rel;
    timespec mtime;
};

timespec mtime_of(const TarEntry& e) {
    return {static_cast<time_t>(e.mtime_s), static_cast<long>(e.mtime_ns)};
}

class Extractor final : public TarConsumer {
public:
    Extractor(int root_fd, const std::string& dir, const LayerWriterOptions& o)
        : root_(root_fd), dir_(dir), whiteouts_(o.whiteouts), ownership_(o.apply_ownership) {}
    // docker cp's Untar rules (TreeExtractor): entries go under `o.dir` of the root, no
    // whiteouts, "." is skipped.
    Extractor(int root_fd, const std::string& dir, const TreeExtractOptions& o)
        : root_(root_fd),
          dir_(dir),
          whiteouts_(WhiteoutMode::overlay),  // unused (no whiteouts); keeps no path set
          ownership_(true),
          copy_(true),
          base_(o.dir),
          no_overwrite_(o.no_overwrite_dir_nondir),
          owner_(o.owner) {}

    Result<> begin_entry(const TarEntry& e) override;
    Result<> data(std::span<const std::byte> bytes) override;
    Result<> end_entry() override;
    Result<> end_archive() override { return {}; }
    Result<> raw(std::span<const std::byte> bytes) override {
        return split_ ? split_->raw(bytes) : Result<>{};
    }
    void keep_split(TarSplitWriter* split) { split_ = split; }
    Result<> keep_for_split(int pfd, const std::string& name);

    // Directory mtimes, set last so that creating their children does not change them.
    Result<> set_dir_times();
    // Drops every fd into the tree (before it is removed).
    void close_all() {
        file_.reset();
        cached_fd_.reset();
    }
    uint64_t unpacked_size() const { return unpacked_size_; }

private:
    Result<int> parent_fd(const std::string& parent);
    Result<int> make_parents(const std::string& parent);
    Result<> root_entry(const TarEntry& e);
    Result<> whiteout(int pfd, const std::string& parent, const std::string& name,
                      const TarEntry& e);
    Result<> remove_lower(int dirfd, const std::string& rel);
    Result<> create(int pfd, const std::string& parent, const std::string& name, const TarEntry& e);
    Result<> create_hardlink(int pfd, const std::string& name, const TarEntry& e);
    Result<> finish_node(int pfd, const std::string& name, const TarEntry& e);
    Result<> set_xattrs(int fd, int pfd, const std::string& name, const TarEntry& e);
    void mark_unpacked(std::string rel);
    Result<> check_overwrite(const struct stat& st, const TarEntry& e) const;
    Result<> check_link_target(const std::string& parent, const TarEntry& e) const;
    uint32_t uid_of(const TarEntry& e) const { return owner_ ? owner_->first : e.uid; }
    uint32_t gid_of(const TarEntry& e) const { return owner_ ? owner_->second : e.gid; }

    int root_;
    const std::string& dir_;
    WhiteoutMode whiteouts_;
    bool ownership_;
    bool copy_ = false;
    std::string base_;  // copy: the target directory inside the root ("" = the root)
    bool no_overwrite_ = false;
    std::optional<std::pair<uint32_t, uint32_t>> owner_;
    // The last parent directory resolved; entries of one directory usually come together.
    std::string cached_parent_;
    UniqueFd cached_fd_;
    bool cache_stale_ = false;  // something was removed: the cached directory may be gone
    // The regular file being written.
    UniqueFd file_;
    const TarEntry* entry_ = nullptr;
    std::string rel_;
    std::vector<DirTime> dirs_;
    std::unordered_set<std::string> unpacked_;  // apply mode: what this layer brought
    uint64_t unpacked_size_ = 0;
    TarSplitWriter* split_ = nullptr;  // records the tar for reproducing it byte for byte
};

Result<> Extractor::begin_entry(const TarEntry& e) {
    entry_ = nullptr;
    auto rel = clean_path(e.path);
    if (!rel) return fail(Error::invalid(quoted(e.path) + " is outside of " + quoted(dir_)));
    if (copy_) {
        if (rel->empty()) return {};  // "." : the target keeps its own metadata (Docker's Untar)
        if (!base_.empty()) *rel = base_ + "/" + *rel;
    }
    if (rel->size() > entry_path_bytes_max)
        return fail(Error::invalid("tar entry name too long: " + quoted(e.path.substr(0, 64))));
    // AUFS metadata directories (.wh..wh.plnk, …) are skipped, as Docker does.
    if (!copy_ && rel->starts_with(whiteout_meta_prefix) && *rel != whiteout_opaque) return {};
    if (rel->empty()) return root_entry(e);
    size_t slash = rel->rfind('/');
    std::string parent = slash == std::string::npos ? "" : rel->substr(0, slash);
    std::string name = slash == std::string::npos ? *rel : rel->substr(slash + 1);
    auto pfd = parent_fd(parent);
    if (!pfd) return fail(std::move(pfd.error()).wrap(*rel));
    rel_ = std::move(*rel);
    if (!copy_ && name.starts_with(whiteout_prefix)) return whiteout(*pfd, parent, name, e);
    return create(*pfd, parent, name, e);
}

Result<int> Extractor::parent_fd(const std::string& parent) {
    if (cache_stale_) {
        cached_fd_.reset();
        cache_stale_ = false;
    }
    if (cached_fd_ && cached_parent_ == parent) return cached_fd_.get();
    cached_fd_.reset();
    int fd = open_in_root(root_, parent.empty() ? "/" : parent.c_str(), O_PATH | O_DIRECTORY);
    if (fd == -ENOENT) {
        auto made = make_parents(parent);
        if (!made) return fail(std::move(made.error()));
        fd = *made;
    }
    if (fd < 0) return fail(Error::sys(-fd, "open parent directory " + quoted(parent)));
    cached_fd_.reset(fd);
    cached_parent_ = parent;
    return fd;
}

// mkdir -p (0755) of the missing directories of `parent`, each step resolved inside the root;
// a dangling symlink on the way is an error, not a directory created somewhere.
Result<int> Extractor::make_parents(const std::string& parent) {
    UniqueFd cur{open_in_root(root_, "/", O_PATH | O_DIRECTORY)};
    std::string prefix;
    std::string_view rest = parent;
    while (!rest.empty()) {
        size_t slash = rest.find('/');
        std::string c{rest.substr(0, slash)};
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        prefix += prefix.empty() ? c : "/" + c;
        int fd = open_in_root(root_, prefix.c_str(), O_PATH | O_DIRECTORY);
        if (fd == -ENOENT) {
            if (mkdirat(cur.get(), c.c_str(), 0755) != 0 && errno != EEXIST)
                return fail(sys_error("mkdir", prefix));
            // Exact, whatever the umask; never through a symlink swapped in meanwhile (docker
            // cp into a running container).
            fchmodat(cur.get(), c.c_str(), 0755, AT_SYMLINK_NOFOLLOW);
            fd = open_in_root(root_, prefix.c_str(), O_PATH | O_DIRECTORY);
        }
        if (fd < 0) return fail(Error::sys(-fd, "mkdir " + quoted(prefix)));
        cur.reset(fd);
    }
    return cur.release();
}

// "./" in the archive: its metadata goes on the layer directory itself, as Docker does.
Result<> Extractor::root_entry(const TarEntry& e) {
    if (e.type != Type::directory)
        return fail(Error::invalid("tar entry " + quoted(e.path) + " replaces the layer root"));
    if (ownership_ && fchown(root_, e.uid, e.gid) != 0) return fail(sys_error("chown", "/"));
    if (fchmod(root_, e.mode & 07777) != 0) return fail(sys_error("chmod", "/"));
    if (auto r = set_xattrs(root_, -1, {}, e); !r) return r;
    dirs_.push_back({"", mtime_of(e)});
    return {};
}

Result<> Extractor::whiteout(int pfd, const std::string& parent, const std::string& name,
                             const TarEntry& e) {
    if (name == whiteout_opaque) {
        UniqueFd dir{
            open_in_root(root_, parent.empty() ? "/" : parent.c_str(), O_RDONLY | O_DIRECTORY)};
        if (!dir) return fail(Error::sys(-dir.release(), "open " + quoted(parent)));
        if (whiteouts_ == WhiteoutMode::apply) return remove_lower(dir.get(), parent);
        if (fsetxattr(dir.get(), opaque_xattr, "y", 1, 0) != 0)
            return fail(sys_error("setxattr trusted.overlay.opaque=y on", quoted(parent)));
        return {};
    }
    std::string original = name.substr(whiteout_prefix.size());
    if (original.empty() || original == "." || original == "..")
        return fail(Error::invalid("invalid whiteout " + quoted(e.path)));
    if (whiteouts_ == WhiteoutMode::apply) {
        cache_stale_ = true;
        return kernel::remove_at(pfd, original);
    }
    // A name this layer itself created stays: a whiteout hides lower layers only (OCI spec).
    if (mknodat(pfd, original.c_str(), S_IFCHR, makedev(0, 0)) != 0)
        return errno == EEXIST ? Result<>{} : fail(sys_error("mknod whiteout", rel_));
    if (ownership_ && fchownat(pfd, original.c_str(), e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(sys_error("chown", rel_));
    return {};
}

// Opaque directory in apply mode: deletes whatever this layer did not bring, at any depth.
Result<> Extractor::remove_lower(int dirfd, const std::string& rel) {
    cache_stale_ = true;
    int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup < 0 ? nullptr : fdopendir(dup);
    if (!d) {
        if (dup >= 0) close(dup);
        return fail(sys_error("opendir", rel));
    }
    std::vector<std::string> names;
    while (dirent* de = readdir(d))
        if (std::string_view n = de->d_name; n != "." && n != "..") names.emplace_back(n);
    closedir(d);
    for (const auto& n : names) {
        std::string child = rel.empty() ? n : rel + "/" + n;
        if (!unpacked_.contains(child)) {
            if (auto r = kernel::remove_at(dirfd, n); !r) return r;
            continue;
        }
        UniqueFd sub{openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
        if (sub)
            if (auto r = remove_lower(sub.get(), child); !r) return r;
    }
    return {};
}

// Docker's NoOverwriteDirNonDir (docker cp without a directory to replace), in its words.
Result<> Extractor::check_overwrite(const struct stat& st, const TarEntry& e) const {
    if (!no_overwrite_) return {};
    bool dir = e.type == Type::directory;
    if (S_ISDIR(st.st_mode) && !dir)
        return fail(Error::make(ErrorKind::system, "cannot overwrite directory " +
                                                       quoted("/" + rel_) + " with non-directory " +
                                                       quoted("/" + base_)));
    if (!S_ISDIR(st.st_mode) && dir)
        return fail(Error::make(ErrorKind::system, "cannot overwrite non-directory " +
                                                       quoted("/" + rel_) + " with directory " +
                                                       quoted("/" + base_)));
    return {};
}

// Docker refuses a relative target that climbs out of the layer (for docker cp: out of the
// target directory); an absolute one is read inside the container's root, where it resolves.
Result<> Extractor::check_link_target(const std::string& parent, const TarEntry& e) const {
    if (e.link_target.starts_with('/')) return {};
    std::string lexical = parent.empty() ? e.link_target : parent + "/" + e.link_target;
    auto clean = clean_path(lexical);
    bool inside =
        clean && (!copy_ || base_.empty() || *clean == base_ || clean->starts_with(base_ + "/"));
    if (!inside)
        return fail(
            Error::invalid("invalid symlink " + quoted(rel_) + " -> " + quoted(e.link_target)));
    return {};
}

void Extractor::mark_unpacked(std::string rel) {
    if (whiteouts_ != WhiteoutMode::apply) return;
    while (!rel.empty() && unpacked_.insert(rel).second) {
        size_t slash = rel.rfind('/');
        rel.resize(slash == std::string::npos ? 0 : slash);
    }
}

Result<> Extractor::create(int pfd, const std::string& parent, const std::string& name,
                           const TarEntry& e) {
    const char* n = name.c_str();
    struct stat st {};
    bool exists = fstatat(pfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0;
    // An existing entry is replaced, except a directory by a directory: that merges (Docker).
    if (exists && copy_)
        if (auto r = check_overwrite(st, e); !r) return r;
    if (exists && !(S_ISDIR(st.st_mode) && e.type == Type::directory)) {
        // A file this tar already wrote is replaced: keep its content for the tar-split.
        if (split_ && S_ISREG(st.st_mode) && split_->references(rel_))
            if (auto r = keep_for_split(pfd, name); !r) return r;
        cache_stale_ = true;
        if (auto r = kernel::remove_at(pfd, name); !r) return fail(std::move(r.error()).wrap(rel_));
    }
    mark_unpacked(rel_);
    switch (e.type) {
        case Type::file: {
            file_.reset(openat(pfd, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
            if (!file_) return fail(sys_error("create", rel_));
            entry_ = &e;
            unpacked_size_ += e.size;
            return {};
        }
        case Type::directory:
            if (!(exists && S_ISDIR(st.st_mode)) && mkdirat(pfd, n, 0700) != 0)
                return fail(sys_error("mkdir", rel_));
            dirs_.push_back({rel_, mtime_of(e)});
            return finish_node(pfd, name, e);
        case Type::symlink: {
            // Docker refuses a relative target that climbs out of the layer; an absolute one is
            // read inside the container's root, which is where this layer will be resolved.
            if (auto r = check_link_target(parent, e); !r) return r;
            if (symlinkat(e.link_target.c_str(), pfd, n) != 0)
                return fail(sys_error("symlink", rel_));
            return finish_node(pfd, name, e);
        }
        case Type::hardlink:
            return create_hardlink(pfd, name, e);
        case Type::char_device:
        case Type::block_device:
        case Type::fifo: {
            mode_t kind = e.type == Type::fifo          ? S_IFIFO
                          : e.type == Type::char_device ? S_IFCHR
                                                        : S_IFBLK;
            if (mknodat(pfd, n, kind | 0600, makedev(e.dev_major, e.dev_minor)) != 0)
                return fail(sys_error("mknod", rel_));
            return finish_node(pfd, name, e);
        }
    }
    return {};
}

// The link target is resolved inside the root like any path, so neither "../" nor a symlink
// on the way can make it name a file outside; linking the opened inode leaves no race.
Result<> Extractor::create_hardlink(int pfd, const std::string& name, const TarEntry& e) {
    auto target = clean_path(e.link_target);
    if (target && copy_ && !target->empty() && !base_.empty()) *target = base_ + "/" + *target;
    if (!target || target->empty())
        return fail(
            Error::invalid("invalid hardlink " + quoted(rel_) + " -> " + quoted(e.link_target)));
    UniqueFd t{open_in_root(root_, target->c_str(), O_PATH | O_NOFOLLOW)};
    if (!t)
        return fail(
            Error::sys(-t.release(), "hardlink " + quoted(rel_) + " -> " + quoted(e.link_target)));
    if (linkat(t.get(), "", pfd, name.c_str(), AT_EMPTY_PATH) == 0) return {};
    if (errno == ENOENT) {  // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does not
        std::string proc = "/proc/self/fd/" + std::to_string(t.get());
        if (linkat(AT_FDCWD, proc.c_str(), pfd, name.c_str(), AT_SYMLINK_FOLLOW) == 0) return {};
    }
    return fail(sys_error("link", quoted(rel_) + " -> " + quoted(e.link_target)));
}

// Owner, then mode (chown clears setuid bits), then xattrs, then times; by name, never
// following a symlink. Directories get their times at the end.
Result<> Extractor::finish_node(int pfd, const std::string& name, const TarEntry& e) {
    const char* n = name.c_str();
    if (ownership_ && fchownat(pfd, n, uid_of(e), gid_of(e), AT_SYMLINK_NOFOLLOW) != 0)
        return fail(sys_error("chown", rel_));
    // AT_SYMLINK_NOFOLLOW: what a running container swapped in for the entry is refused, not
    // followed to a file outside (glibc does it on an O_PATH fd of the entry itself).
    if (e.type != Type::symlink && fchmodat(pfd, n, e.mode & 07777, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(sys_error("chmod", rel_));
    if (auto r = set_xattrs(-1, pfd, name, e); !r) return r;
    if (e.type == Type::directory) return {};
    timespec ts[2] = {mtime_of(e), mtime_of(e)};
    if (utimensat(pfd, n, ts, AT_SYMLINK_NOFOLLOW) != 0) return fail(sys_error("utimes", rel_));
    return {};
}

// Through `fd` when there is one, else by "/proc/self/fd/<pfd>/<name>" without following the
// last component. Unsupported or refused names are skipped as Docker skips them (ENOTSUP,
// EPERM). trusted.overlay.* from an archive is dropped: only whiteout conversion may steer the
// overlay mount (opaque, redirect, metacopy).
Result<> Extractor::set_xattrs(int fd, int pfd, const std::string& name, const TarEntry& e) {
    if (e.xattrs.empty()) return {};
    std::string path = "/proc/self/fd/" + std::to_string(pfd) + "/" + name;
    for (const auto& [key, value] : e.xattrs) {
        if (key.starts_with("trusted.overlay.")) continue;
        int rc = fd >= 0 ? fsetxattr(fd, key.c_str(), value.data(), value.size(), 0)
                         : lsetxattr(path.c_str(), key.c_str(), value.data(), value.size(), 0);
        if (rc != 0 && errno != ENOTSUP && errno != EPERM)
            return fail(sys_error("setxattr " + key + " on", rel_));
    }
    return {};
}

Result<> Extractor::keep_for_split(int pfd, const std::string& name) {
    UniqueFd fd(openat(pfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return fail(sys_error("read replaced", rel_));
    std::string content;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(sys_error("read replaced", rel_));
        if (n == 0) break;
        content.append(buf, size_t(n));
    }
    return split_->keep_replaced(rel_, content);
}

Result<> Extractor::data(std::span<const std::byte> bytes) {
    if (split_) {
        // Content that lands in a file is referenced; anything skipped is kept verbatim.
        auto r = file_ ? split_->file(rel_, bytes.size()) : split_->raw(bytes);
        if (!r) return r;
    }
    if (!file_) return {};  // data of a skipped entry (whiteout, AUFS metadata)
    while (!bytes.empty()) {
        ssize_t n = ::write(file_.get(), bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(sys_error("write", rel_));
        bytes = bytes.subspan(size_t(n));
    }
    return {};
}

Result<> Extractor::end_entry() {
    if (!file_ || !entry_) return {};
    const TarEntry& e = *entry_;
    int fd = file_.get();
    if (ownership_ && fchown(fd, uid_of(e), gid_of(e)) != 0) return fail(sys_error("chown", rel_));
    if (fchmod(fd, e.mode & 07777) != 0) return fail(sys_error("chmod", rel_));
    if (auto r = set_xattrs(fd, -1, {}, e); !r) return r;
    timespec ts[2] = {mtime_of(e), mtime_of(e)};
    if (futimens(fd, ts) != 0) return fail(sys_error("utimes", rel_));
    file_.reset();
    entry_ = nullptr;
    return {};
}

Result<> Extractor::set_dir_times() {
    close_all();
    for (const auto& d : dirs_) {
        UniqueFd fd{open_in_root(root_, d.rel.empty() ? "/" : d.rel.c_str(),
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
        if (!fd) continue;  // replaced or whited out later in the archive
        timespec ts[2] = {d.mtime, d.mtime};
        if (futimens(fd.get(), ts) != 0) return fail(sys_error("utimes", d.rel));
    }
    return {};
}

}  // namespace

// ---- the pipeline ----

struct LayerWriter::State {
    std::string dir;
    LayerWriterOptions opts;
    UniqueFd root;
    std::unique_ptr<Decompressor> decompressor;
    std::unique_ptr<Extractor> extractor;
    std::unique_ptr<TarReader> tar;
    std::optional<TarSplitWriter> split;
    Sha256 blob_hash, tar_hash;
    uint64_t fed = 0, tar_bytes = 0;
    std::optional<Error> error;  // the first failure
    bool final_error = false;    // false while a held-back extraction error waits for the digest
    bool removed = false, done = false;

    Result<> to_tar(std::span<const std::byte> s) {
        tar_hash.update(s);
        tar_bytes += s.size();
        return tar->feed(s);
    }
    // Docker's words; without an expected digest, the one computed (when there is one yet).
    Error verification_error(const std::string& digest) const {
        std::string d = opts.expected_digest.value_or(digest);
        if (d.empty())
            return Error::invalid("filesystem layer verification failed: more than " +
                                  std::to_string(*opts.expected_size) + " bytes");
        return Error::invalid("filesystem layer verification failed for digest " + d);
    }
    // Removes the directory (best effort: start-up reconciliation removes what is left).
    void remove_dir() {
        if (removed) return;
        removed = true;
        extractor->close_all();
        if (root) {
            if (int fd = fcntl(root.get(), F_DUPFD_CLOEXEC, 0); fd >= 0)
                (void)kernel::remove_contents(UniqueFd{fd});
            root.reset();
        }
        rmdir(dir.c_str());
        if (split) unlink(split->path().c_str());
    }
    // Records the failure; the directory goes at once either way.
    Result<> failed(Error e, bool final) {
        if (!error) error = std::move(e);
        final_error = final_error || final || !opts.expected_digest;
        remove_dir();
        if (final_error) return fail(*error);
        return {};
    }
};

LayerWriter::LayerWriter(std::unique_ptr<State> s) : s_(std::move(s)) {}

LayerWriter::~LayerWriter() {
    if (s_ && !s_->done) s_->remove_dir();
}

Result<std::unique_ptr<LayerWriter>> LayerWriter::create(std::string dir, Options options) {
    if (options.expected_digest && !is_sha256_digest(*options.expected_digest))
        return fail(Error::invalid("unsupported digest " + quoted(*options.expected_digest)));
    auto decompressor = Decompressor::create(options.compression);
    if (!decompressor) return fail(std::move(decompressor.error()));
    if (mkdir(dir.c_str(), 0755) != 0) return fail(sys_error("create layer directory", dir));
    auto s = std::make_unique<State>();
    s->dir = std::move(dir);
    s->opts = std::move(options);
    s->decompressor = std::move(*decompressor);
    s->root.reset(open(s->dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    s->extractor = std::make_unique<Extractor>(s->root.get(), s->dir, s->opts);
    auto split = TarSplitWriter::create(s->dir + ".tar-split");
    if (split) {
        s->split.emplace(std::move(*split));
        s->extractor->keep_split(&*s->split);
    }
    s->tar = std::make_unique<TarReader>(*s->extractor);
    auto w = std::unique_ptr<LayerWriter>(new LayerWriter(std::move(s)));
    if (!w->s_->root || fchmod(w->s_->root.get(), 0755) != 0)
        return fail(sys_error("open layer directory", w->s_->dir));  // ~LayerWriter removes it
    return w;
}

Result<> LayerWriter::feed(std::span<const std::byte> bytes) {
    State& s = *s_;
    if (s.done) return fail(Error::internal("layer writer: feed after finish"));
    if (s.error && s.final_error) return fail(*s.error);
    s.blob_hash.update(bytes);
    s.fed += bytes.size();
    if (s.opts.expected_size && s.fed > *s.opts.expected_size)
        return s.failed(s.verification_error(""), true);
    if (s.error) return {};  // held back: only hashing now
    auto sink = [&s](std::span<const std::byte> out) { return s.to_tar(out); };
    if (auto r = s.decompressor->feed(bytes, sink); !r)
        return s.failed(std::move(r.error()), false);
    return {};
}

Result<LayerInfo> LayerWriter::finish() {
    State& s = *s_;
    if (s.done) return fail(Error::internal("layer writer: finish twice"));
    if (s.error && s.final_error) return fail(*s.error);
    if (!s.error) {
        auto sink = [&s](std::span<const std::byte> out) { return s.to_tar(out); };
        auto r = s.decompressor->finish(sink);
        if (r) r = s.tar->finish();
        if (r) r = s.extractor->set_dir_times();
        if (r && s.split) r = s.split->finish();
        if (!r) (void)s.failed(std::move(r.error()), false);
    }
    LayerInfo info{s.blob_hash.digest(), s.tar_hash.digest(), s.fed, s.tar_bytes,
                   s.extractor->unpacked_size()};
    bool digest_ok = !s.opts.expected_digest || info.digest == *s.opts.expected_digest;
    bool size_ok = !s.opts.expected_size || info.compressed_size == *s.opts.expected_size;
    if (!digest_ok || !size_ok) {
        s.error.reset();  // a blob that is not the one asked for: that is the error to report
        (void)s.failed(s.verification_error(info.digest), true);
        return fail(*s.error);
    }
    if (s.error) {
        s.final_error = true;
        return fail(*s.error);
    }
    s.done = true;
    return info;
}

// ---- docker cp's extraction ----

struct TreeExtractor::State {
    std::string dir;
    std::unique_ptr<Decompressor> decompressor;
    std::unique_ptr<Extractor> extractor;
    std::unique_ptr<TarReader> tar;
    bool failed = false;
};

TreeExtractor::TreeExtractor(std::unique_ptr<State> s) : s_(std::move(s)) {}
TreeExtractor::~TreeExtractor() = default;

Result<std::unique_ptr<TreeExtractor>> TreeExtractor::create(int root_fd,
                                                             TreeExtractOptions options) {
    // Docker's DecompressStream: gzip, zstd or a plain tar, told apart by their magic.
    auto decompressor = Decompressor::create(Compression::detect);
    if (!decompressor) return fail(std::move(decompressor.error()));
    auto s = std::make_unique<State>();
    s->dir = "/" + options.dir;
    s->decompressor = std::move(*decompressor);
    s->extractor = std::make_unique<Extractor>(root_fd, s->dir, options);
    s->tar = std::make_unique<TarReader>(*s->extractor);
    return std::unique_ptr<TreeExtractor>(new TreeExtractor(std::move(s)));
}

Result<> TreeExtractor::feed(std::span<const std::byte> bytes) {
    State& s = *s_;
    if (s.failed) return fail(Error::internal("extract: feed after an error"));
    auto sink = [&s](std::span<const std::byte> out) { return s.tar->feed(out); };
    auto r = s.decompressor->feed(bytes, sink);
    if (!r) {
        s.failed = true;
        s.extractor->close_all();
    }
    return r;
}

Result<> TreeExtractor::finish() {
    State& s = *s_;
    if (s.failed) return fail(Error::internal("extract: finish after an error"));
    auto sink = [&s](std::span<const std::byte> out) { return s.tar->feed(out); };
    auto r = s.decompressor->finish(sink);
    if (r) r = s.tar->finish();
    if (r) r = s.extractor->set_dir_times();
    s.extractor->close_all();
    s.failed = !r;
    return r;
}

bool LayerWriter::extraction_failed() const {
    return s_->error.has_value();
}
uint64_t LayerWriter::bytes_fed() const {
    return s_->fed;
}
const std::string& LayerWriter::dir() const {
    return s_->dir;
}

}  // namespace berth::graph
