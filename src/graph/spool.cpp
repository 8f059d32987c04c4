#include "graph/spool.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel/lock_file.hpp"

namespace berth::graph {

namespace {

int remove_entry(const char* path, const struct stat*, int, FTW*) { return ::remove(path); }

Result<> remove_tree(const std::string& dir) {
    // FTW_PHYS: never follow a symlink out of the tree; FTW_DEPTH: children first.
    if (nftw(dir.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return fail(Error::last_sys("remove " + dir));
    return {};
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::create(const std::string& tmp_root) {
    if (auto r = kernel::make_dirs(tmp_root, 0700); !r) return fail(r.error());
    std::string tmpl = tmp_root + "/spool-XXXXXX";
    if (!mkdtemp(tmpl.data())) return fail(Error::last_sys("create spool in " + tmp_root));
    std::unique_ptr<Spool> s(new Spool());
    s->dir_ = tmpl;
    return s;
}

Spool::~Spool() {
    current_fd_.reset();
    if (!dir_.empty()) (void)remove_tree(dir_);
}

Result<> Spool::begin(const std::string& name, uint64_t size) {
    Blob& b = blobs_[name];
    b = Blob{};
    b.size = size;
    current_ = &b;
    if (size <= in_memory_bytes_max) {
        b.memory.reserve(size);
        return {};
    }
    b.path = dir_ + "/" + std::to_string(next_file_++);
    current_fd_.reset(::open(b.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!current_fd_) return fail(Error::last_sys("create " + b.path));
    return {};
}

Result<> Spool::append(std::span<const std::byte> data) {
    if (!current_) return fail(Error::internal("spool: append outside a member"));
    if (!current_fd_) {
        current_->memory.append(reinterpret_cast<const char*>(data.data()), data.size());
        return {};
    }
    while (!data.empty()) {
        ssize_t n = ::write(current_fd_.get(), data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(Error::last_sys("write " + current_->path));
        data = data.subspan(size_t(n));
    }
    return {};
}

Result<> Spool::end() {
    current_ = nullptr;
    current_fd_.reset();
    return {};
}

uint64_t Spool::size(const std::string& name) const {
    auto it = blobs_.find(name);
    return it == blobs_.end() ? 0 : it->second.size;
}

Result<> Spool::read_chunk(const std::string& name, uint64_t offset, std::string& out) const {
    out.clear();
    auto it = blobs_.find(name);
    if (it == blobs_.end()) return fail(Error::not_found("archive has no member " + name));
    const Blob& b = it->second;
    if (b.path.empty()) {
        if (offset < b.memory.size()) out = b.memory.substr(offset, 1 << 20);
        return {};
    }
    kernel::UniqueFd fd(::open(b.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Error::last_sys("open " + b.path));
    out.resize(1 << 20);
    ssize_t n = ::pread(fd.get(), out.data(), out.size(), off_t(offset));
    if (n < 0) return fail(Error::last_sys("read " + b.path));
    out.resize(size_t(n));
    return {};
}

Result<std::string> Spool::read_all(const std::string& name, uint64_t max) const {
    if (size(name) > max)
        return fail(Error::invalid(name + " is too large: " + std::to_string(size(name)) + " bytes"));
    std::string out;
    auto r = read(name, [&](std::span<const std::byte> d) -> Result<> {
        out.append(reinterpret_cast<const char*>(d.data()), d.size());
        return {};
    });
    if (!r) return fail(r.error());
    return out;
}

Result<> clear_tmp(const std::string& tmp_root) { return remove_tree(tmp_root); }

}  // namespace berth::graph
