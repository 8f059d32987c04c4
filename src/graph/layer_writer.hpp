// A layer blob in, an unpacked layer directory out, in one pass: the bytes are hashed (digest),
// decompressed, hashed again (diff_id) and extracted as they arrive. Extraction is confined to
// the layer directory whatever the archive says; a layer that fails or is abandoned is removed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "base/error.hpp"
#include "graph/decompress.hpp"

namespace berth::graph {

enum class WhiteoutMode {
    // For overlay lowerdirs: `.wh.<name>` becomes a 0/0 character device `<name>`, and
    // `.wh..wh..opq` the xattr trusted.overlay.opaque=y on its directory (Docker's overlay2).
    overlay,
    // For a directory that already holds the parent's files (vfs): `.wh.<name>` deletes
    // `<name>`, `.wh..wh..opq` deletes what the parent put in the directory.
    apply,
};

struct LayerWriterOptions {
    Compression compression = Compression::detect;
    std::optional<std::string> expected_digest{};  // "sha256:<hex>" of the bytes fed
    std::optional<uint64_t> expected_size{};       // bytes fed
    WhiteoutMode whiteouts = WhiteoutMode::overlay;
    bool apply_ownership = true;  // chown to the archive's uid/gid (needs root)
};

struct LayerInfo {
    std::string digest;   // sha256 of the bytes fed (the blob)
    std::string diff_id;  // sha256 of the uncompressed tar
    uint64_t compressed_size = 0;
    uint64_t tar_size = 0;
    uint64_t unpacked_size = 0;  // sum of regular file sizes
};

class LayerWriter {
public:
    using Options = LayerWriterOptions;

    // Creates `dir` (0755; it must not exist). In apply mode the caller may fill it (a copy of
    // the parent layer) before the first feed.
    static Result<std::unique_ptr<LayerWriter>> create(std::string dir, Options options);
    // Removes the directory unless finish() succeeded.
    ~LayerWriter();
    LayerWriter(const LayerWriter&) = delete;
    LayerWriter& operator=(const LayerWriter&) = delete;

    // The next bytes of the blob. A bad archive, a corrupt stream or a failed write removes the
    // directory. With an expected digest, such errors are held back and the rest of the blob is
    // only hashed, so that a blob which is not the one asked for reports Docker's verification
    // error rather than whatever its bytes broke; extraction_failed() tells a caller it may stop
    // early. Bytes beyond the expected size fail at once.
    Result<> feed(std::span<const std::byte> bytes);
    // End of the blob: checks the stream and the archive ended properly, sets directory mtimes,
    // verifies digest and size ("filesystem layer verification failed for digest sha256:…").
    Result<LayerInfo> finish();

    bool extraction_failed() const;
    uint64_t bytes_fed() const;
    const std::string& dir() const;

    struct State;

private:
    explicit LayerWriter(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
};

// docker cp into a container (PUT /containers/{id}/archive): a tar, possibly compressed,
// extracted under a directory of a container's root with Docker's Untar rules rather than a
// layer's: no whiteouts, "." skipped. The same confinement: every parent resolved inside the
// root, the last component never followed, relative names and links climbing out refused.
struct TreeExtractOptions {
    std::string dir;  // the target directory: a clean path inside the root, "" for the root
    bool no_overwrite_dir_nondir = false;                  // Docker's NoOverwriteDirNonDir
    std::optional<std::pair<uint32_t, uint32_t>> owner{};  // uid, gid for every entry (cp -a)
};

class TreeExtractor {
  public:
    // `root_fd` (an O_PATH directory) is borrowed: it must outlive the extractor.
    static Result<std::unique_ptr<TreeExtractor>> create(int root_fd, TreeExtractOptions options);
    ~TreeExtractor();
    TreeExtractor(const TreeExtractor&) = delete;
    TreeExtractor& operator=(const TreeExtractor&) = delete;

    Result<> feed(std::span<const std::byte> bytes);
    // The end of the archive: it must have ended properly; sets directory mtimes. What was
    // extracted before an error stays, as with Docker.
    Result<> finish();

    struct State;

  private:
    explicit TreeExtractor(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
};

}  // namespace berth::graph
