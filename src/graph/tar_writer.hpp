// Writes tar streams (ustar, with pax extended headers where ustar cannot say it: long names,
// big sizes and ids, xattrs) into a sink, for `docker save`, export and layer diffs. Output is
// deterministic: directory trees are walked in sorted order, pax header names are fixed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "graph/tar_reader.hpp"

namespace berth::graph {

// The writer gathers small pieces (headers, padding) and hands the sink chunks of up to this.
inline constexpr size_t tar_write_buffer_bytes = 256 << 10;

struct TarAttrs {
    uint32_t mode = 0644;
    uint32_t uid = 0;
    uint32_t gid = 0;
    int64_t mtime_s = 0;
};

struct TarFsOptions {
    // Overlay whiteouts (0/0 char devices, trusted.overlay.opaque=y dirs) become OCI `.wh.`
    // entries, as Docker's overlay2 driver writes a layer diff.
    bool overlay_whiteouts = false;
    // Docker archives only `security.capability`; with this, every xattr but trusted.overlay.*.
    bool all_xattrs = false;
};

class TarWriter {
public:
    using Sink = std::function<Result<>(std::span<const std::byte>)>;

    explicit TarWriter(Sink sink);
    ~TarWriter();
    TarWriter(const TarWriter&) = delete;
    TarWriter& operator=(const TarWriter&) = delete;

    // Streaming form: the header (preceded by a pax header when needed); a regular file's
    // entry.size bytes must then come through data()/data_from_fd(), then end_entry().
    Result<> begin_entry(const TarEntry& entry);
    Result<> data(std::span<const std::byte> bytes);
    // Copies `size` bytes from `fd` (its current offset) as entry data.
    Result<> data_from_fd(int fd, uint64_t size);
    Result<> end_entry();

    Result<> add_file(std::string_view path, std::span<const std::byte> data, TarAttrs a = {});
    Result<> add_dir(std::string_view path, TarAttrs a = {.mode = 0755});
    Result<> add_symlink(std::string_view path, std::string_view target,
                         TarAttrs a = {.mode = 0777});

    // Archives `rel_path` under the directory `root_fd` (the whole tree, without the root's own
    // entry, for "" or "."): names relative to the root, directories with a trailing '/',
    // children sorted by name, regular files streamed from disk, hardlinks found by inode,
    // sockets skipped (as Docker does). Symlinks are archived, never followed.
    Result<> add_from_fs(int root_fd, std::string_view rel_path, const TarFsOptions& options = {});

    // The two zero blocks that end the archive, and a final flush.
    Result<> finish();

    uint64_t bytes_written() const;

    struct State;

private:
    std::unique_ptr<State> s_;
};

}  // namespace berth::graph
