// Push-based decompression of layer blobs (gzip, zstd, or none, detected by magic): bytes go in
// as they arrive from the network or a file, decompressed chunks come out through a sink. Memory
// is bounded: one fixed output buffer, the codec's own window, nothing that grows with the input.
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <type_traits>

#include "base/error.hpp"

namespace berth::graph {

// Size of the single output buffer; every decompressed chunk handed to a sink is at most this
// long (uncompressed input passes through in the caller's own chunks).
inline constexpr size_t decompress_chunk_bytes = 64 << 10;

enum class Compression { none, gzip, zstd, detect };

// A non-owning reference to a callable `Result<>(std::span<const std::byte>)` (a function_ref):
// cheap to pass by value, valid for as long as the callable it was made from.
class ByteSink {
public:
    template <class F>
    requires(!std::same_as<std::remove_cvref_t<F>, ByteSink> &&
             std::invocable<F&, std::span<const std::byte>>)
        ByteSink(F&& f)  // NOLINT: implicit, like std::function_ref
        : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* o, std::span<const std::byte> s) -> Result<> {
              return (*static_cast<std::remove_reference_t<F>*>(o))(s);
          }) {}

    Result<> operator()(std::span<const std::byte> s) const { return call_(obj_, s); }

private:
    void* obj_;
    Result<> (*call_)(void*, std::span<const std::byte>);
};

class Decompressor {
public:
    static Result<std::unique_ptr<Decompressor>> create(Compression c);
    ~Decompressor();
    Decompressor(const Decompressor&) = delete;
    Decompressor& operator=(const Decompressor&) = delete;

    // Decompresses `in`, calling `out` for every full (or final) output chunk. Corrupt input is
    // an ErrorKind::invalid_parameter error ("gzip: invalid header", "zstd: …"); errors from
    // `out` are returned as they are. After an error the decompressor must not be fed again.
    Result<> feed(std::span<const std::byte> in, ByteSink out);
    // End of input: flushes what is left; a stream cut short is "unexpected EOF".
    Result<> finish(ByteSink out);

    // The format in use (`detect` until enough bytes have been seen).
    Compression format() const;

    struct Impl;

private:
    explicit Decompressor(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// "gzip", "zstd", "none", "detect".
const char* compression_name(Compression c);

}  // namespace berth::graph
