// Tar encoding (ustar headers, pax records, padding, the end marker) and the directory-tree walk
// that archives a layer or a container's files. Invariant: a regular file's header promises
// exactly `size` bytes, and end_entry refuses to pad over a short or long write.
#include "graph/tar_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernel/fd.hpp"
#include "kernel/rootfs_path.hpp"

namespace berth::graph {

namespace {

using kernel::UniqueFd;

constexpr size_t block_bytes = 512;
constexpr uint64_t octal8_max = 07777777;          // 7 digits + NUL
constexpr uint64_t octal12_max = 077777777777ull;  // 11 digits + NUL
constexpr char whiteout_prefix[] = ".wh.";
constexpr char whiteout_opaque[] = ".wh..wh..opq";

struct Block {
    std::array<char, block_bytes> b{};

    void text(size_t off, size_t len, std::string_view s) {
        if (!s.empty()) std::memcpy(b.data() + off, s.data(), std::min(len, s.size()));
    }
    // Octal with leading zeros and a NUL, or base-256 (GNU) when it does not fit.
    void number(size_t off, size_t len, uint64_t v) {
        uint64_t max = len == 8 ? octal8_max : octal12_max;
        if (v <= max) {
            for (size_t i = len - 1; i-- > 0; v >>= 3) b[off + i] = char('0' + (v & 7));
            return;
        }
        for (size_t i = len; i-- > 1; v >>= 8) b[off + i] = char(v & 0xff);
        b[off] = char(0x80);
    }
    void checksum() {
        std::memset(b.data() + 148, ' ', 8);
        unsigned sum = 0;
        for (char c : b) sum += static_cast<unsigned char>(c);
        char tmp[8];
        std::snprintf(tmp, sizeof tmp, "%06o", sum);
        std::memcpy(b.data() + 148, tmp, 6);
        b[154] = '\0';
        b[155] = ' ';
    }
};

char type_flag(TarEntry::Type t) {
    using T = TarEntry::Type;
    switch (t) {
        case T::file:
            return '0';
        case T::hardlink:
            return '1';
        case T::symlink:
            return '2';
        case T::char_device:
            return '3';
        case T::block_device:
            return '4';
        case T::directory:
            return '5';
        case T::fifo:
            return '6';
    }
    return '0';
}

// "<len> key=value\n" where len counts itself.
void append_pax(std::string& out, std::string_view key, std::string_view value) {
    size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
    size_t len = body + std::to_string(body).size();
    if (std::to_string(len).size() != std::to_string(body).size())
        len = body + std::to_string(len).size();
    out += std::to_string(len);
    out += ' ';
    out += key;
    out += '=';
    out += value;
    out += '\n';
}

// Splits a name into ustar prefix (≤155) and name (≤100) at a '/', if it can be.
bool split_ustar(std::string_view path, std::string_view& prefix, std::string_view& name) {
    if (path.size() <= 100) {
        prefix = {};
        name = path;
        return true;
    }
    for (size_t i = path.size() - 1; i > 0; --i) {
        if (path[i] != '/') continue;
        if (path.size() - i - 1 > 100) return false;
        if (i <= 155 && i + 1 < path.size()) {
            prefix = path.substr(0, i);
            name = path.substr(i + 1);
            return true;
        }
    }
    return false;
}

std::string pax_header_name(std::string_view path) {
    std::string_view p = path;
    while (p.ends_with('/')) p.remove_suffix(1);
    auto slash = p.rfind('/');
    std::string base{slash == std::string_view::npos ? p : p.substr(slash + 1)};
    return ("PaxHeaders.0/" + base).substr(0, 100);
}

}  // namespace

struct TarWriter::State {
    explicit State(Sink s) : sink(std::move(s)) { buf.reserve(tar_write_buffer_bytes); }

    Sink sink;
    std::vector<std::byte> buf;
    uint64_t written = 0;
    uint64_t data_left = 0;
    uint64_t data_size = 0;
    bool in_entry = false;
    bool finished = false;

    Result<> flush() {
        if (buf.empty()) return {};
        auto r = sink(buf);
        buf.clear();
        return r;
    }
    Result<> emit(std::span<const std::byte> s) {
        written += s.size();
        if (buf.empty() && s.size() >= tar_write_buffer_bytes) return sink(s);
        while (!s.empty()) {
            size_t n = std::min(s.size(), tar_write_buffer_bytes - buf.size());
            buf.insert(buf.end(), s.begin(), s.begin() + std::ptrdiff_t(n));
            s = s.subspan(n);
            if (buf.size() == tar_write_buffer_bytes)
                if (auto r = flush(); !r) return r;
        }
        return {};
    }
    Result<> emit_block(const Block& b) { return emit(std::as_bytes(std::span(b.b))); }
    Result<> zeros(size_t n) {
        static constexpr std::array<std::byte, block_bytes> z{};
        return emit(std::span(z).first(n));
    }

    Result<> write_pax(const TarEntry& e, std::string_view records);
    Result<> write_header(const TarEntry& e);
};

Result<> TarWriter::State::write_pax(const TarEntry& e, std::string_view records) {
    Block h;
    h.text(0, 100, pax_header_name(e.path));
    h.number(100, 8, 0644);
    h.number(108, 8, 0);
    h.number(116, 8, 0);
    h.number(124, 12, records.size());
    h.number(136, 12, 0);
    h.b[156] = 'x';
    h.text(257, 6, std::string_view("ustar\0", 6));
    h.text(263, 2, "00");
    h.checksum();
    if (auto r = emit_block(h); !r) return r;
    if (auto r = emit(std::as_bytes(std::span(records.data(), records.size()))); !r) return r;
    return zeros((block_bytes - records.size() % block_bytes) % block_bytes);
}

Result<> TarWriter::State::write_header(const TarEntry& e) {
    std::string pax;
    std::string_view prefix, name;
    if (!split_ustar(e.path, prefix, name)) append_pax(pax, "path", e.path);
    if (e.link_target.size() > 100) append_pax(pax, "linkpath", e.link_target);
    uint64_t size = e.type == TarEntry::Type::file ? e.size : 0;
    if (size > octal12_max) append_pax(pax, "size", std::to_string(size));
    if (e.uid > octal8_max) append_pax(pax, "uid", std::to_string(e.uid));
    if (e.gid > octal8_max) append_pax(pax, "gid", std::to_string(e.gid));
    bool mtime_fits = e.mtime_s >= 0 && uint64_t(e.mtime_s) <= octal12_max;
    if (!mtime_fits || e.mtime_ns) {
        char t[48];
        if (e.mtime_ns == 0)
            std::snprintf(t, sizeof t, "%lld", static_cast<long long>(e.mtime_s));
        else if (e.mtime_s >= 0)
            std::snprintf(t, sizeof t, "%lld.%09u", static_cast<long long>(e.mtime_s), e.mtime_ns);
        else  // -1.5 s is stored as seconds -2, ns 500000000
            std::snprintf(t, sizeof t, "-%lld.%09u", -static_cast<long long>(e.mtime_s + 1),
                          1000000000u - e.mtime_ns);
        append_pax(pax, "mtime", t);
    }
    for (const auto& [k, v] : e.xattrs) append_pax(pax, "SCHILY.xattr." + k, v);
    if (!pax.empty())
        if (auto r = write_pax(e, pax); !r) return r;

    Block h;
    if (pax.find(" path=") == std::string::npos) {
        h.text(0, 100, name);
        h.text(345, 155, prefix);
    } else {
        h.text(0, 100, e.path);  // truncated; the pax path wins
    }
    h.number(100, 8, e.mode & 07777);
    h.number(108, 8, e.uid > octal8_max ? 0 : e.uid);
    h.number(116, 8, e.gid > octal8_max ? 0 : e.gid);
    h.number(124, 12, size);
    h.number(136, 12, mtime_fits ? uint64_t(e.mtime_s) : 0);
    h.b[156] = type_flag(e.type);
    h.text(157, 100, e.link_target);
    h.text(257, 6, std::string_view("ustar\0", 6));
    h.text(263, 2, "00");
    if (e.type == TarEntry::Type::char_device || e.type == TarEntry::Type::block_device) {
        h.number(329, 8, e.dev_major);
        h.number(337, 8, e.dev_minor);
    }
    h.checksum();
    return emit_block(h);
}

TarWriter::TarWriter(Sink sink) : s_(std::make_unique<State>(std::move(sink))) {}
TarWriter::~TarWriter() = default;

Result<> TarWriter::begin_entry(const TarEntry& e) {
    if (s_->in_entry || s_->finished)
        return fail(Error::internal("tar writer: begin_entry inside an entry"));
    if (e.path.empty()) return fail(Error::invalid("tar writer: empty entry name"));
    if (auto r = s_->write_header(e); !r) return r;
    s_->data_size = s_->data_left = e.type == TarEntry::Type::file ? e.size : 0;
    s_->in_entry = true;
    return {};
}

Result<> TarWriter::data(std::span<const std::byte> bytes) {
    if (bytes.size() > s_->data_left) return fail(Error::internal("archive/tar: write too long"));
    s_->data_left -= bytes.size();
    return s_->emit(bytes);
}

// Reads straight into the output buffer: one copy from the page cache to the sink.
Result<> TarWriter::data_from_fd(int fd, uint64_t size) {
    State& s = *s_;
    if (size > s.data_left) return fail(Error::internal("archive/tar: write too long"));
    while (size > 0) {
        if (s.buf.size() == tar_write_buffer_bytes)
            if (auto r = s.flush(); !r) return r;
        size_t room = tar_write_buffer_bytes - s.buf.size();
        size_t want = size_t(std::min<uint64_t>(room, size));
        size_t old = s.buf.size();
        s.buf.resize(old + want);
        ssize_t n = ::read(fd, s.buf.data() + old, want);
        if (n <= 0) {
            s.buf.resize(old);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail(Error::last_sys("read"));
            return fail(Error::invalid("archive/tar: file shrank while being archived"));
        }
        s.buf.resize(old + size_t(n));
        s.written += uint64_t(n);
        s.data_left -= uint64_t(n);
        size -= uint64_t(n);
    }
    return {};
}

Result<> TarWriter::end_entry() {
    State& s = *s_;
    if (!s.in_entry) return fail(Error::internal("tar writer: end_entry outside an entry"));
    if (s.data_left)
        return fail(Error::internal("archive/tar: missed writing " + std::to_string(s.data_left) +
                                    " bytes"));
    s.in_entry = false;
    return s.zeros((block_bytes - s.data_size % block_bytes) % block_bytes);
}

namespace {

TarEntry make_entry(TarEntry::Type type, std::string path, const TarAttrs& a) {
    TarEntry e;
    e.type = type;
    e.path = std::move(path);
    e.mode = a.mode;
    e.uid = a.uid;
    e.gid = a.gid;
    e.mtime_s = a.mtime_s;
    return e;
}

}  // namespace

Result<> TarWriter::add_file(std::string_view path, std::span<const std::byte> bytes, TarAttrs a) {
    TarEntry e = make_entry(TarEntry::Type::file, std::string(path), a);
    e.size = bytes.size();
    if (auto r = begin_entry(e); !r) return r;
    if (auto r = data(bytes); !r) return r;
    return end_entry();
}

Result<> TarWriter::add_dir(std::string_view path, TarAttrs a) {
    TarEntry e = make_entry(TarEntry::Type::directory, std::string(path), a);
    if (!e.path.ends_with('/')) e.path += '/';
    if (auto r = begin_entry(e); !r) return r;
    return end_entry();
}

Result<> TarWriter::add_symlink(std::string_view path, std::string_view target, TarAttrs a) {
    TarEntry e = make_entry(TarEntry::Type::symlink, std::string(path), a);
    e.link_target = target;
    if (auto r = begin_entry(e); !r) return r;
    return end_entry();
}

Result<> TarWriter::finish() {
    if (s_->in_entry) return fail(Error::internal("tar writer: finish inside an entry"));
    if (!s_->finished) {
        if (auto r = s_->zeros(block_bytes); !r) return r;
        if (auto r = s_->zeros(block_bytes); !r) return r;
        s_->finished = true;
    }
    return s_->flush();
}

uint64_t TarWriter::bytes_written() const {
    return s_->written;
}

// ---- the directory-tree walk ----

namespace {

std::string proc_path(int dirfd, const std::string& name) {
    return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

// xattrs of an entry: through its fd when open, else by path (symlinks, devices, fifos).
Result<std::vector<std::pair<std::string, std::string>>> read_xattrs(int fd,
                                                                     const std::string& path,
                                                                     bool all) {
    std::vector<std::pair<std::string, std::string>> out;
    auto get = [&](const char* name) -> Result<> {
        char val[65536];
        ssize_t n = fd >= 0 ? fgetxattr(fd, name, val, sizeof val)
                            : lgetxattr(path.c_str(), name, val, sizeof val);
        if (n < 0) {
            if (errno == ENODATA || errno == ENOTSUP || errno == EPERM) return {};
            return fail(Error::last_sys(std::string("getxattr ") + name));
        }
        out.emplace_back(name, std::string(val, size_t(n)));
        return {};
    };
    if (!all) {
        if (auto r = get("security.capability"); !r) return fail(std::move(r.error()));
        return out;
    }
    char names[65536];
    ssize_t n = fd >= 0 ? flistxattr(fd, names, sizeof names)
                        : llistxattr(path.c_str(), names, sizeof names);
    if (n < 0) {
        if (errno == ENOTSUP) return out;
        return fail(Error::last_sys("listxattr"));
    }
    std::vector<std::string> sorted;
    for (ssize_t i = 0; i < n; i += ssize_t(std::strlen(names + i)) + 1)
        if (!std::string_view(names + i).starts_with("trusted.overlay."))
            sorted.emplace_back(names + i);
    std::sort(sorted.begin(), sorted.end());
    for (const auto& name : sorted)
        if (auto r = get(name.c_str()); !r) return fail(std::move(r.error()));
    return out;
}

Result<std::vector<std::string>> sorted_names(int dirfd) {
    int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return fail(Error::last_sys("dup"));
    DIR* d = fdopendir(dup);
    if (!d) {
        close(dup);
        return fail(Error::last_sys("fdopendir"));
    }
    rewinddir(d);
    std::vector<std::string> names;
    while (dirent* de = readdir(d)) {
        std::string_view n = de->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

class TreeWalk {
public:
    TreeWalk(TarWriter& w, const TarFsOptions& o) : w_(w), o_(o) {}
    Result<> entry(int dirfd, const std::string& name, const std::string& rel);
    Result<> children(int dirfd, const std::string& rel_prefix);

private:
    Result<> directory(int dirfd, const std::string& name, TarEntry& e);
    Result<> regular(int dirfd, const std::string& name, TarEntry& e);
    Result<> header_only(TarEntry& e) {
        if (auto r = w_.begin_entry(e); !r) return r;
        return w_.end_entry();
    }

    TarWriter& w_;
    const TarFsOptions& o_;
    std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first name of each multi-link inode
};

Result<> TreeWalk::children(int dirfd, const std::string& rel_prefix) {
    auto names = sorted_names(dirfd);
    if (!names) return fail(std::move(names.error()));
    for (const auto& n : *names)
        if (auto r = entry(dirfd, n, rel_prefix + n); !r) return r;
    return {};
}

Result<> TreeWalk::directory(int dirfd, const std::string& name, TarEntry& e) {
    UniqueFd fd{openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
    if (!fd) return fail(Error::last_sys("open " + e.path));
    auto xattrs = read_xattrs(fd.get(), {}, o_.all_xattrs);
    if (!xattrs) return fail(std::move(xattrs.error()).wrap(e.path));
    e.xattrs = std::move(*xattrs);
    e.path += '/';
    if (auto r = header_only(e); !r) return r;
    char opaque[2];
    if (o_.overlay_whiteouts &&
        fgetxattr(fd.get(), "trusted.overlay.opaque", opaque, sizeof opaque) == 1 &&
        opaque[0] == 'y') {
        // Docker's overlay2 diff: an empty regular file inheriting the dir's owner and perms.
        TarEntry wo =
            make_entry(TarEntry::Type::file, e.path + whiteout_opaque,
                       {.mode = e.mode & 0777, .uid = e.uid, .gid = e.gid, .mtime_s = e.mtime_s});
        if (auto r = header_only(wo); !r) return r;
    }
    return children(fd.get(), e.path);
}

Result<> TreeWalk::regular(int dirfd, const std::string& name, TarEntry& e) {
    UniqueFd fd{openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
    if (!fd) return fail(Error::last_sys("open " + e.path));
    auto xattrs = read_xattrs(fd.get(), {}, o_.all_xattrs);
    if (!xattrs) return fail(std::move(xattrs.error()).wrap(e.path));
    e.xattrs = std::move(*xattrs);
    if (auto r = w_.begin_entry(e); !r) return r;
    if (auto r = w_.data_from_fd(fd.get(), e.size); !r)
        return fail(std::move(r.error()).wrap(e.path));
    return w_.end_entry();
}

Result<> TreeWalk::entry(int dirfd, const std::string& name, const std::string& rel) {
    struct stat st {};
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(Error::last_sys("stat " + rel));
    // Whole seconds, as Docker's archives.
    TarEntry e = make_entry(TarEntry::Type::file, rel,
                            {.mode = st.st_mode & 07777,
                             .uid = st.st_uid,
                             .gid = st.st_gid,
                             .mtime_s = st.st_mtim.tv_sec});
    if (S_ISDIR(st.st_mode)) {
        e.type = TarEntry::Type::directory;
        return directory(dirfd, name, e);
    }
    if (S_ISSOCK(st.st_mode)) return {};
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0 && o_.overlay_whiteouts) {
        auto slash = rel.rfind('/');
        e.path = rel.substr(0, slash + 1) + whiteout_prefix + rel.substr(slash + 1);
        e.mode = 0600;
        return header_only(e);
    }
    if (st.st_nlink > 1) {
        auto [it, fresh] = links_.try_emplace({st.st_dev, st.st_ino}, rel);
        if (!fresh) {
            e.type = TarEntry::Type::hardlink;
            e.link_target = it->second;
            return header_only(e);
        }
    }
    if (S_ISREG(st.st_mode)) {
        e.size = uint64_t(st.st_size);
        return regular(dirfd, name, e);
    }
    if (o_.all_xattrs) {  // security.capability, Docker's one xattr, exists on files only
        auto xattrs = read_xattrs(-1, proc_path(dirfd, name), o_.all_xattrs);
        if (!xattrs) return fail(std::move(xattrs.error()).wrap(rel));
        e.xattrs = std::move(*xattrs);
    }
    if (S_ISLNK(st.st_mode)) {
        std::string target(size_t(st.st_size) + 1, '\0');
        ssize_t n = readlinkat(dirfd, name.c_str(), target.data(), target.size());
        if (n < 0) return fail(Error::last_sys("readlink " + rel));
        target.resize(size_t(n));
        e.type = TarEntry::Type::symlink;
        e.link_target = std::move(target);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        e.type = S_ISCHR(st.st_mode) ? TarEntry::Type::char_device : TarEntry::Type::block_device;
        e.dev_major = major(st.st_rdev);
        e.dev_minor = minor(st.st_rdev);
    } else if (S_ISFIFO(st.st_mode)) {
        e.type = TarEntry::Type::fifo;
    }
    return header_only(e);
}

}  // namespace

Result<> TarWriter::add_from_fs(int root_fd, std::string_view rel_path, const TarFsOptions& o) {
    std::string rel{rel_path};
    while (rel.starts_with("./")) rel.erase(0, 2);
    while (rel.starts_with('/')) rel.erase(0, 1);
    while (rel.ends_with('/')) rel.pop_back();
    TreeWalk walk(*this, o);
    if (rel.empty() || rel == ".") {
        UniqueFd fd{kernel::open_in_root(root_fd, "/", O_RDONLY | O_DIRECTORY)};
        if (!fd) return fail(Error::sys(-fd.release(), "open archive root"));
        return walk.children(fd.get(), "");
    }
    auto slash = rel.rfind('/');
    std::string parent = slash == std::string::npos ? "/" : rel.substr(0, slash);
    std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    int pfd = kernel::open_in_root(root_fd, parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (pfd < 0) return fail(Error::sys(-pfd, "open " + parent));
    UniqueFd parent_fd{pfd};
    return walk.entry(parent_fd.get(), name, rel);
}

}  // namespace berth::graph
