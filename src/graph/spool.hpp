// Spooled blobs: the members of an archive that cannot be used until the archive's end has been
// read (docker load: layers come before manifest.json). Small members stay in memory, larger
// ones go to a temporary file under <data-root>/tmp, which is removed with the Spool (and swept
// at start-up after a crash).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::graph {

class Spool {
public:
    static constexpr uint64_t in_memory_bytes_max = 1 << 20;

    // A fresh directory <tmp_root>/spool-XXXXXX.
    static Result<std::unique_ptr<Spool>> create(const std::string& tmp_root);
    ~Spool();  // removes the directory and everything in it

    // Starts member `name` of `size` bytes; then append() its bytes.
    Result<> begin(const std::string& name, uint64_t size);
    Result<> append(std::span<const std::byte> data);
    Result<> end();

    bool has(const std::string& name) const { return blobs_.contains(name); }
    uint64_t size(const std::string& name) const;
    // The whole member, for metadata (refused above `max` bytes).
    Result<std::string> read_all(const std::string& name, uint64_t max) const;
    // Streams the member to `sink` in chunks.
    template <class Sink>
    Result<> read(const std::string& name, Sink&& sink) const {
        std::string chunk;
        for (uint64_t off = 0;;) {
            auto r = read_chunk(name, off, chunk);
            if (!r) return r;
            if (chunk.empty()) return {};
            off += chunk.size();
            if (auto s = sink(std::as_bytes(std::span(chunk.data(), chunk.size()))); !s) return s;
        }
    }

private:
    struct Blob {
        uint64_t size = 0;
        std::string memory;  // small members
        std::string path;    // larger ones
    };
    Spool() = default;
    Result<> read_chunk(const std::string& name, uint64_t offset, std::string& out) const;

    std::string dir_;
    std::map<std::string, Blob> blobs_;
    Blob* current_ = nullptr;
    kernel::UniqueFd current_fd_;
    int next_file_ = 0;
};

// Removes <tmp_root> and everything under it (start-up, after a crash).
Result<> clear_tmp(const std::string& tmp_root);

}  // namespace berth::graph
