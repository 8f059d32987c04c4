// A push-based tar parser: bytes in any split, entries out as events to a consumer. Reads ustar,
// pax extended headers (path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*) and GNU long
// names ('L'/'K'), verifies header checksums, and holds only a header block and at most one
// bounded pax/long-name record in memory: file data streams through to the consumer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"

namespace berth::graph {

// Largest pax header or GNU long name/link record accepted (Go's archive/tar limit).
inline constexpr size_t tar_record_bytes_max = 1 << 20;

// One archive member, as the headers (ustar + pax + GNU) describe it. Paths are as written in
// the archive (not normalised: the layer writer decides what they mean).
struct TarEntry {
    enum class Type : unsigned char {
        file,
        hardlink,
        symlink,
        char_device,
        block_device,
        directory,
        fifo
    };
    Type type = Type::file;
    std::string path{};
    std::string link_target{};  // symlink target or hardlink source name
    uint32_t mode = 0;          // permission bits incl. setuid/setgid/sticky (07777)
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint64_t size = 0;  // bytes of data that follow (regular files only; 0 for the rest)
    int64_t mtime_s = 0;
    uint32_t mtime_ns = 0;
    uint32_t dev_major = 0;
    uint32_t dev_minor = 0;
    std::vector<std::pair<std::string, std::string>> xattrs{};  // name → raw value
};

// What a tar reader reports. For every entry: begin_entry, data (regular files only, in pieces
// summing to entry.size, possibly none), end_entry; the entry passed to begin_entry stays valid
// until end_entry returns. An error returned stops the reader and comes back out of
// TarReader::feed/finish unchanged.
class TarConsumer {
public:
    virtual ~TarConsumer() = default;
    virtual Result<> begin_entry(const TarEntry& entry) = 0;
    virtual Result<> data(std::span<const std::byte> bytes) = 0;
    virtual Result<> end_entry() = 0;
    // The end-of-archive marker was read (or the input ended cleanly on a header boundary).
    virtual Result<> end_archive() = 0;
    // Every byte that is not file content (header blocks, pax and long-name records, padding,
    // the end blocks and what follows them), in order, before the events it leads to: with
    // data(), the archive byte for byte (what a tar-split keeps).
    virtual Result<> raw(std::span<const std::byte>) { return {}; }
};

class TarReader {
public:
    explicit TarReader(TarConsumer& consumer);
    ~TarReader();
    TarReader(const TarReader&) = delete;
    TarReader& operator=(const TarReader&) = delete;

    // Parses what it can of `in`. Malformed input is an ErrorKind::invalid_parameter error in
    // Go's words ("archive/tar: invalid tar header: …"). Bytes after the end-of-archive marker
    // are accepted and ignored (Docker drains them too).
    Result<> feed(std::span<const std::byte> in);
    // End of input. Ending inside a header or an entry's data is "unexpected EOF"; ending on a
    // header boundary without the two zero blocks is accepted as Go's reader accepts it.
    Result<> finish();

    bool ended() const;

    struct State;

private:
    std::unique_ptr<State> s_;
};

}  // namespace berth::graph
