#include "graph/tar_split.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "kernel/rootfs_path.hpp"

namespace berth::graph {

namespace {

constexpr size_t flush_bytes = 1 << 20;

void put_u64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out += char((v >> (8 * i)) & 0xff);
}

bool get_u64(std::string_view& in, uint64_t& v) {
    if (in.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(in[size_t(i)])) << (8 * i);
    in.remove_prefix(8);
    return true;
}

Result<std::string> read_file(const std::string& path) {
    kernel::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Error::last_sys("open " + path));
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::last_sys("read " + path));
        if (n == 0) return out;
        out.append(buf, size_t(n));
    }
}

// Record framing: 'R' <u64 length> <bytes> | 'F' <u64 size> <u64 path length> <path> |
// 'P' <u64 F record index> <u64 length> <bytes> (the content of an F record whose file a later
// entry replaced; it stands in for the file when the tar is given back).
struct Record {
    char kind;
    std::string_view bytes;  // R: the bytes; F: the path; P: the content
    uint64_t size;           // F: content length; P: the F record's index
};

Result<> for_each_record(std::string_view in, const std::function<Result<>(const Record&)>& f) {
    while (!in.empty()) {
        char kind = in[0];
        in.remove_prefix(1);
        uint64_t a = 0, b = 0;
        if (kind == 'R') {
            if (!get_u64(in, a) || in.size() < a) return fail(Error::internal("corrupt tar-split"));
            if (auto r = f({'R', in.substr(0, a), 0}); !r) return r;
            in.remove_prefix(a);
        } else if (kind == 'F' || kind == 'P') {
            if (!get_u64(in, a) || !get_u64(in, b) || in.size() < b)
                return fail(Error::internal("corrupt tar-split"));
            if (auto r = f({kind, in.substr(0, b), a}); !r) return r;
            in.remove_prefix(b);
        } else {
            return fail(Error::internal("corrupt tar-split"));
        }
    }
    return {};
}

}  // namespace

Result<TarSplitWriter> TarSplitWriter::create(const std::string& path) {
    TarSplitWriter w;
    w.path_ = path;
    w.fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!w.fd_) return fail(Error::last_sys("create " + path));
    return w;
}

Result<> TarSplitWriter::raw(std::span<const std::byte> bytes) {
    if (auto r = close_file(); !r) return r;
    raw_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return raw_.size() >= flush_bytes ? flush_raw() : Result<>{};
}

Result<> TarSplitWriter::file(const std::string& rel, uint64_t n) {
    if (!in_file_ || rel != file_rel_) {
        if (auto r = close_file(); !r) return r;
        if (auto r = flush_raw(); !r) return r;
        in_file_ = true;
        file_rel_ = rel;
        file_size_ = 0;
    }
    file_size_ += n;
    return {};
}

Result<> TarSplitWriter::keep_replaced(const std::string& rel, std::string_view content) {
    auto it = last_record_.find(rel);
    if (it == last_record_.end()) return {};
    if (auto r = flush_raw(); !r) return r;
    out_ += 'P';
    put_u64(out_, it->second);
    put_u64(out_, content.size());
    out_ += content;
    last_record_.erase(it);
    return write_out(false);
}

Result<> TarSplitWriter::close_file() {
    if (!in_file_) return {};
    in_file_ = false;
    last_record_[file_rel_] = file_records_++;
    out_ += 'F';
    put_u64(out_, file_size_);
    put_u64(out_, file_rel_.size());
    out_ += file_rel_;
    return write_out(false);
}

Result<> TarSplitWriter::flush_raw() {
    if (raw_.empty()) return {};
    out_ += 'R';
    put_u64(out_, raw_.size());
    out_ += raw_;
    raw_.clear();
    return write_out(false);
}

Result<> TarSplitWriter::write_out(bool force) {
    if (!force && out_.size() < flush_bytes) return {};
    std::string_view rest = out_;
    while (!rest.empty()) {
        ssize_t n = ::write(fd_.get(), rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(Error::last_sys("write " + path_));
        rest.remove_prefix(size_t(n));
    }
    out_.clear();
    return {};
}

Result<> TarSplitWriter::finish() {
    if (auto r = close_file(); !r) return r;
    if (auto r = flush_raw(); !r) return r;
    if (auto r = write_out(true); !r) return r;
    fd_.reset();
    return {};
}

Result<std::unique_ptr<LayerTarCursor>> LayerTarCursor::open(const std::string& layer_dir,
                                                              const std::string& split_path) {
    std::unique_ptr<LayerTarCursor> c(new LayerTarCursor());
    auto split = read_file(split_path);
    if (!split) return fail(split.error());
    c->split_ = std::move(*split);
    c->root_.reset(::open(layer_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!c->root_) return fail(Error::last_sys("open " + layer_dir));
    auto r = for_each_record(c->split_, [&](const Record& rec) -> Result<> {
        if (rec.kind == 'P') c->replaced_[rec.size] = rec.bytes;
        else c->size_ += rec.kind == 'R' ? rec.bytes.size() : rec.size;
        return {};
    });
    if (!r) return fail(r.error());
    return c;
}

Result<size_t> LayerTarCursor::read(std::span<std::byte> out) {
    while (raw_.empty() && file_left_ == 0) {
        if (pos_ >= split_.size()) return size_t(0);
        std::string_view in = std::string_view(split_).substr(pos_);
        char kind = in[0];
        in.remove_prefix(1);
        uint64_t a = 0, b = 0;
        if (!get_u64(in, a)) return fail(Error::internal("corrupt tar-split"));
        if (kind == 'R') {
            if (in.size() < a) return fail(Error::internal("corrupt tar-split"));
            raw_ = in.substr(0, a);
            in.remove_prefix(a);
        } else if (kind == 'P') {
            if (!get_u64(in, b) || in.size() < b) return fail(Error::internal("corrupt tar-split"));
            in.remove_prefix(b);  // read up front by open()
        } else {
            if (!get_u64(in, b) || in.size() < b) return fail(Error::internal("corrupt tar-split"));
            file_rel_ = std::string(in.substr(0, b));
            in.remove_prefix(b);
            if (auto kept = replaced_.find(file_records_++); kept != replaced_.end()) {
                raw_ = kept->second;  // a later entry replaced this file: its content was kept
            } else {
                int fd = kernel::open_in_root(root_.get(), file_rel_.c_str(), O_RDONLY | O_NOFOLLOW);
                if (fd < 0) return fail(Error::sys(-fd, "open " + file_rel_ + " in the layer"));
                file_.reset(fd);
                file_left_ = a;
            }
        }
        pos_ = split_.size() - in.size();
    }
    if (!raw_.empty()) {
        size_t n = std::min(out.size(), raw_.size());
        std::memcpy(out.data(), raw_.data(), n);
        raw_.remove_prefix(n);
        return n;
    }
    for (;;) {
        ssize_t n = ::read(file_.get(), out.data(), size_t(std::min<uint64_t>(out.size(), file_left_)));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return fail(Error::internal(file_rel_ + " in the layer is shorter than its tar entry"));
        file_left_ -= uint64_t(n);
        if (file_left_ == 0) file_.reset();
        return size_t(n);
    }
}

Result<uint64_t> layer_tar_size(const std::string& split_path) {
    auto split = read_file(split_path);
    if (!split) return fail(split.error());
    uint64_t total = 0;
    auto r = for_each_record(*split, [&](const Record& rec) -> Result<> {
        if (rec.kind != 'P') total += rec.kind == 'R' ? rec.bytes.size() : rec.size;
        return {};
    });
    if (!r) return fail(r.error());
    return total;
}

Result<> reproduce_layer_tar(const std::string& layer_dir, const std::string& split_path,
                             const std::function<Result<>(std::span<const std::byte>)>& sink) {
    auto cursor = LayerTarCursor::open(layer_dir, split_path);
    if (!cursor) return fail(cursor.error());
    std::string buf(1 << 16, '\0');
    for (;;) {
        auto n = (*cursor)->read(std::as_writable_bytes(std::span(buf.data(), buf.size())));
        if (!n) return fail(n.error());
        if (*n == 0) return {};
        if (auto r = sink(std::as_bytes(std::span(buf.data(), *n))); !r) return r;
    }
}

}  // namespace berth::graph
