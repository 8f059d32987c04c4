// gzip (zlib, multi-member as Go's gzip reader reads it) and zstd (libzstd streaming) behind
// one push interface. The format is chosen from the first four bytes when asked to detect.
#include "graph/decompress.hpp"

#include <zlib.h>
#include <zstd.h>

#include <array>
#include <cstring>
#include <string>
#include <string_view>

namespace berth::graph {

namespace {

constexpr std::array<unsigned char, 2> gzip_magic{0x1f, 0x8b};
constexpr std::array<unsigned char, 4> zstd_magic{0x28, 0xb5, 0x2f, 0xfd};
constexpr int gzip_window_bits = 16 + 15;  // gzip wrapper only, 32 KiB window

std::span<const std::byte> as_span(const std::byte* p, size_t n) {
    return {p, n};
}

// zlib's messages → Go's compress/gzip and compress/flate wording, as Docker reports them.
Error gzip_error(const z_stream& z, int rc) {
    if (rc == Z_MEM_ERROR) return Error::sys(ENOMEM, "gzip");
    if (rc == Z_NEED_DICT) return Error::invalid("gzip: invalid header (preset dictionary)");
    std::string_view msg = z.msg ? z.msg : "corrupt input";
    for (std::string_view header_msg :
         {"incorrect header check", "unknown compression method", "invalid window size",
          "unknown header flags set", "header crc mismatch"})
        if (msg == header_msg) return Error::invalid("gzip: invalid header");
    if (msg == "incorrect data check" || msg == "incorrect length check")
        return Error::invalid("gzip: invalid checksum");
    return Error::invalid("flate: corrupt input (" + std::string(msg) + ")");
}

Error unexpected_eof(Compression c) {
    return Error::invalid(std::string(compression_name(c)) + ": unexpected EOF");
}

}  // namespace

struct Decompressor::Impl {
    Compression format = Compression::none;
    std::array<std::byte, 4> magic{};
    size_t magic_len = 0;
    z_stream z{};
    bool z_ready = false;
    bool z_member_done = false;  // the last gzip member ended; more input starts a new one
    ZSTD_DStream* zs = nullptr;
    size_t zs_hint = 1;  // ZSTD_decompressStream's last return: 0 once a frame is complete
    std::unique_ptr<std::byte[]> buf;

    ~Impl() {
        if (z_ready) inflateEnd(&z);
        if (zs) ZSTD_freeDStream(zs);
    }

    Result<> start(Compression c) {
        format = c;
        if (c == Compression::gzip) {
            if (inflateInit2(&z, gzip_window_bits) != Z_OK) return fail(Error::sys(ENOMEM, "gzip"));
            z_ready = true;
        } else if (c == Compression::zstd) {
            zs = ZSTD_createDStream();
            if (!zs) return fail(Error::sys(ENOMEM, "zstd"));
            ZSTD_initDStream(zs);
        }
        if (c != Compression::none && c != Compression::detect && !buf)
            buf = std::make_unique_for_overwrite<std::byte[]>(decompress_chunk_bytes);
        return {};
    }

    // Picks the format from the magic bytes seen so far (all four unless the input was shorter).
    Compression detected() const {
        auto m = [&](size_t i) { return static_cast<unsigned char>(magic[i]); };
        if (magic_len >= 2 && m(0) == gzip_magic[0] && m(1) == gzip_magic[1])
            return Compression::gzip;
        if (magic_len == 4 && m(0) == zstd_magic[0] && m(1) == zstd_magic[1] &&
            m(2) == zstd_magic[2] && m(3) == zstd_magic[3])
            return Compression::zstd;
        return Compression::none;
    }

    Result<> inflate_some(std::span<const std::byte> in, ByteSink out) {
        z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
        z.avail_in = static_cast<uInt>(in.size());
        for (;;) {
            if (z_member_done) {
                if (z.avail_in == 0) return {};
                inflateReset(&z);  // another gzip member follows (multistream, as Go reads)
                z_member_done = false;
            }
            z.next_out = reinterpret_cast<Bytef*>(buf.get());
            z.avail_out = static_cast<uInt>(decompress_chunk_bytes);
            int rc = inflate(&z, Z_NO_FLUSH);
            size_t produced = decompress_chunk_bytes - z.avail_out;
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
                return fail(gzip_error(z, rc));
            if (produced > 0)
                if (auto r = out(as_span(buf.get(), produced)); !r) return r;
            if (rc == Z_STREAM_END) {
                z_member_done = true;
                continue;
            }
            if (z.avail_in == 0 && z.avail_out != 0) return {};
            if (rc == Z_BUF_ERROR && produced == 0) return {};
        }
    }

    Result<> zstd_some(std::span<const std::byte> in, ByteSink out) {
        ZSTD_inBuffer ib{in.data(), in.size(), 0};
        for (;;) {
            ZSTD_outBuffer ob{buf.get(), decompress_chunk_bytes, 0};
            size_t consumed = ib.pos;
            size_t r = ZSTD_decompressStream(zs, &ob, &ib);
            if (ZSTD_isError(r))
                return fail(Error::invalid(std::string("zstd: ") + ZSTD_getErrorName(r)));
            // A call that did nothing (draining after a full buffer) would report the next
            // frame's header size, not whether this one is complete.
            if (ib.pos != consumed || ob.pos != 0) zs_hint = r;
            if (ob.pos > 0)
                if (auto s = out(as_span(buf.get(), ob.pos)); !s) return s;
            if (ib.pos == ib.size && ob.pos < ob.size) return {};
        }
    }

    Result<> process(std::span<const std::byte> in, ByteSink out) {
        if (in.empty()) return {};
        switch (format) {
            case Compression::gzip:
                return inflate_some(in, out);
            case Compression::zstd:
                return zstd_some(in, out);
            default:
                return out(in);
        }
    }

    // Holds the first bytes back until four are seen, then starts the codec and replays them.
    Result<> detect_and_process(std::span<const std::byte> in, ByteSink out) {
        size_t take = std::min(in.size(), magic.size() - magic_len);
        if (take) std::memcpy(magic.data() + magic_len, in.data(), take);
        magic_len += take;
        if (magic_len < magic.size()) return {};
        if (auto r = start(detected()); !r) return r;
        if (auto r = process({magic.data(), magic_len}, out); !r) return r;
        return process(in.subspan(take), out);
    }
};

Decompressor::Decompressor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Decompressor::~Decompressor() = default;

Result<std::unique_ptr<Decompressor>> Decompressor::create(Compression c) {
    auto impl = std::make_unique<Impl>();
    if (auto r = impl->start(c); !r) return fail(std::move(r.error()));
    return std::unique_ptr<Decompressor>(new Decompressor(std::move(impl)));
}

Result<> Decompressor::feed(std::span<const std::byte> in, ByteSink out) {
    if (impl_->format == Compression::detect) return impl_->detect_and_process(in, out);
    return impl_->process(in, out);
}

Result<> Decompressor::finish(ByteSink out) {
    Impl& d = *impl_;
    if (d.format == Compression::detect) {  // fewer than four bytes in all
        if (auto r = d.start(d.detected()); !r) return r;
        if (auto r = d.process({d.magic.data(), d.magic_len}, out); !r) return r;
    }
    if (d.format == Compression::gzip && !d.z_member_done) return fail(unexpected_eof(d.format));
    if (d.format == Compression::zstd && d.zs_hint != 0) return fail(unexpected_eof(d.format));
    return {};
}

Compression Decompressor::format() const {
    return impl_->format;
}

const char* compression_name(Compression c) {
    switch (c) {
        case Compression::none:
            return "none";
        case Compression::gzip:
            return "gzip";
        case Compression::zstd:
            return "zstd";
        case Compression::detect:
            return "detect";
    }
    return "?";
}

}  // namespace berth::graph
