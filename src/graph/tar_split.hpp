// Tar-split: what it takes to give back a layer's tar byte for byte (its diff ID) after it was
// unpacked. Kept beside the layer's directory as "<dir>.tar-split": every byte of the tar that
// is not a regular file's content (headers, pax records, padding, the end blocks) verbatim, and
// for file content only a reference (path in the layer, size). `docker save` and `docker push`
// stream the original tar from it, as Docker's layer store does with its tar-split data.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "kernel/fd.hpp"

namespace berth::graph {

class TarSplitWriter {
public:
    static Result<TarSplitWriter> create(const std::string& path);
    TarSplitWriter(TarSplitWriter&&) = default;
    TarSplitWriter& operator=(TarSplitWriter&&) = default;

    // Bytes of the tar kept as they are.
    Result<> raw(std::span<const std::byte> bytes);
    // `n` bytes of content of the regular file `rel` (relative to the layer directory).
    Result<> file(const std::string& rel, uint64_t n);
    // Whether `rel`'s content was recorded by reference (so replacing it would lose it).
    bool references(const std::string& rel) const { return last_record_.contains(rel); }
    // `rel` is about to be replaced or removed by a later entry of the same tar: its earlier
    // content, kept in the split so the tar can still be given back.
    Result<> keep_replaced(const std::string& rel, std::string_view content);
    Result<> finish();
    const std::string& path() const { return path_; }

private:
    TarSplitWriter() = default;
    Result<> close_file();
    Result<> flush_raw();
    Result<> write_out(bool force);

    std::string path_;
    kernel::UniqueFd fd_;
    std::string raw_;  // raw bytes not yet framed
    std::string out_;  // framed records not yet written
    std::string file_rel_;
    uint64_t file_size_ = 0;
    bool in_file_ = false;
    uint64_t file_records_ = 0;                     // F records emitted so far
    std::map<std::string, uint64_t> last_record_;  // path → its latest F record
};

// Reads a layer's original tar piece by piece (for streaming with back-pressure).
class LayerTarCursor {
public:
    static Result<std::unique_ptr<LayerTarCursor>> open(const std::string& layer_dir,
                                                        const std::string& split_path);
    // Up to out.size() bytes of the tar; 0 at its end.
    Result<size_t> read(std::span<std::byte> out);
    uint64_t size() const { return size_; }

private:
    LayerTarCursor() = default;
    std::string split_;
    std::map<uint64_t, std::string_view> replaced_;  // F record → content kept in the split
    uint64_t file_records_ = 0;
    size_t pos_ = 0;          // next record in split_
    std::string_view raw_;    // what is left of the current raw record
    kernel::UniqueFd root_, file_;
    std::string file_rel_;
    uint64_t file_left_ = 0;  // of the current file record
    uint64_t size_ = 0;
};

// The tar as it was: raw bytes and file content read from `layer_dir`, in order, to `sink`.
// Fails if a file no longer has the size recorded.
Result<> reproduce_layer_tar(const std::string& layer_dir, const std::string& split_path,
                             const std::function<Result<>(std::span<const std::byte>)>& sink);
// The length of that tar, from the split alone.
Result<uint64_t> layer_tar_size(const std::string& split_path);

}  // namespace berth::graph
