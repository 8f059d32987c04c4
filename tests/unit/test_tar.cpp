// The layer pipeline's parsers without a kernel: the push tar reader across every feed boundary,
// the tar writer read back (and by GNU tar), gzip/zstd decompression and their failure modes.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "graph/decompress.hpp"
#include "graph/tar_reader.hpp"
#include "graph/tar_writer.hpp"

using namespace berth;
using namespace berth::graph;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

// A hand-built ustar header block, for archives a well-behaved writer would not make.
struct RawHeader {
    std::string name{}, link{}, prefix{};
    char type = '0';
    uint64_t size = 0;
    unsigned mode = 0644, uid = 0, gid = 0, major = 0, minor = 0;
    long mtime = 1700000000;
    const char* magic = "ustar";  // "ustar" (POSIX) or "gnu" (GNU "ustar  ")
    int checksum_delta = 0;

    std::string block() const {
        std::string b(512, '\0');
        auto put = [&](size_t off, size_t len, const std::string& s) {
            std::memcpy(&b[off], s.data(), std::min(len, s.size()));
        };
        auto oct = [&](size_t off, size_t len, uint64_t v) {
            char t[32];
            std::snprintf(t, sizeof t, "%0*llo", int(len - 1), static_cast<unsigned long long>(v));
            put(off, len - 1, t);
        };
        put(0, 100, name);
        oct(100, 8, mode);
        oct(108, 8, uid);
        oct(116, 8, gid);
        oct(124, 12, size);
        oct(136, 12, uint64_t(mtime));
        b[156] = type;
        put(157, 100, link);
        if (std::string(magic) == "gnu") {
            put(257, 8, std::string("ustar  \0", 8));
        } else {
            put(257, 6, std::string("ustar\0", 6));
            put(263, 2, "00");
            put(345, 155, prefix);
        }
        oct(329, 8, major);
        oct(337, 8, minor);
        std::memset(&b[148], ' ', 8);
        unsigned sum = 0;
        for (unsigned char c : b) sum += c;
        char t[8];
        std::snprintf(t, sizeof t, "%06o", sum + unsigned(checksum_delta));
        put(148, 6, t);
        b[154] = '\0';
        return b;
    }
};

std::string pad(std::string data) {
    data.resize((data.size() + 511) / 512 * 512, '\0');
    return data;
}

std::string pax_record(const std::string& k, const std::string& v) {
    std::string body = " " + k + "=" + v + "\n";
    size_t len = body.size() + std::to_string(body.size()).size();
    if (std::to_string(len).size() != std::to_string(body.size()).size())
        len = body.size() + std::to_string(len).size();
    return std::to_string(len) + body;
}

std::string entry(RawHeader h, const std::string& data = {}) {
    h.size = data.size();
    return h.block() + pad(data);
}

std::string meta(char type, const std::string& payload) {
    RawHeader h{.name = "././@LongLink", .type = type, .magic = "gnu"};
    if (type == 'x') h = RawHeader{.name = "PaxHeaders.0/x", .type = 'x'};
    return entry(h, payload);
}

const std::string end_marker(1024, '\0');

struct Seen {
    TarEntry entry;
    std::string data;
};

// Records every event and checks they come in order.
class Recorder : public TarConsumer {
public:
    std::vector<Seen> entries;
    bool ended = false;
    bool open = false;
    int fail_on_begin = -1;

    Result<> begin_entry(const TarEntry& e) override {
        EXPECT_FALSE(open);
        if (int(entries.size()) == fail_on_begin) return fail(Error::conflict("stop here"));
        entries.push_back({e, {}});
        open = true;
        return {};
    }
    Result<> data(std::span<const std::byte> b) override {
        EXPECT_TRUE(open);
        entries.back().data.append(reinterpret_cast<const char*>(b.data()), b.size());
        return {};
    }
    Result<> end_entry() override {
        EXPECT_TRUE(open);
        EXPECT_EQ(entries.back().data.size(), entries.back().entry.size);
        open = false;
        return {};
    }
    Result<> end_archive() override {
        ended = true;
        return {};
    }
};

// Feeds `archive` in pieces whose sizes come from `next_size`, then finishes.
template <class F>
Result<> read_in_pieces(const std::string& archive, Recorder& rec, F next_size) {
    TarReader reader(rec);
    for (size_t off = 0; off < archive.size();) {
        size_t n = std::min(archive.size() - off, std::max<size_t>(1, next_size()));
        if (auto r = reader.feed(as_bytes(archive).subspan(off, n)); !r) return r;
        off += n;
    }
    return reader.finish();
}

Result<> read_all(const std::string& archive, Recorder& rec) {
    return read_in_pieces(archive, rec, [&] { return archive.size(); });
}

std::string sample_archive() {
    std::string long_name = std::string(150, 'n') + "/" + std::string(120, 'f');
    std::string long_link = "target/" + std::string(130, 't');
    std::string a;
    a += entry({.name = "dir/", .type = '5', .mode = 0755});
    a += entry({.name = "dir/file", .mode = 04755, .uid = 1000, .gid = 1000},
               std::string(1300, 'x'));
    a += meta('x', pax_record("path", long_name) + pax_record("SCHILY.xattr.user.k", "v\n=1") +
                       pax_record("mtime", "1700000000.25") + pax_record("uid", "70000"));
    a += entry({.name = "ignored", .mode = 0600}, "pax data");
    a += meta('L', "gnu/" + std::string(200, 'g') + std::string(1, '\0'));
    a += meta('K', long_link + std::string(1, '\0'));
    a += entry({.name = "trunc", .type = '2'});
    a += entry({.name = "empty"});
    a += entry({.name = "dev/null", .type = '3', .mode = 0666, .major = 1, .minor = 3});
    a += entry({.name = "fifo", .type = '6'});
    a += entry({.name = "hard", .link = "dir/file", .type = '1'});
    return a + end_marker;
}

void expect_sample(const Recorder& rec) {
    ASSERT_TRUE(rec.ended);
    ASSERT_EQ(rec.entries.size(), 8u);
    const auto& e = rec.entries;
    EXPECT_EQ(e[0].entry.type, TarEntry::Type::directory);
    EXPECT_EQ(e[1].entry.path, "dir/file");
    EXPECT_EQ(e[1].entry.mode, 04755u);
    EXPECT_EQ(e[1].entry.uid, 1000u);
    EXPECT_EQ(e[1].data, std::string(1300, 'x'));
    EXPECT_EQ(e[2].entry.path, std::string(150, 'n') + "/" + std::string(120, 'f'));
    EXPECT_EQ(e[2].data, "pax data");
    EXPECT_EQ(e[2].entry.uid, 70000u);
    EXPECT_EQ(e[2].entry.mtime_s, 1700000000);
    EXPECT_EQ(e[2].entry.mtime_ns, 250000000u);
    ASSERT_EQ(e[2].entry.xattrs.size(), 1u);
    EXPECT_EQ(e[2].entry.xattrs[0].first, "user.k");
    EXPECT_EQ(e[2].entry.xattrs[0].second, "v\n=1");
    EXPECT_EQ(e[3].entry.type, TarEntry::Type::symlink);
    EXPECT_EQ(e[3].entry.path, "gnu/" + std::string(200, 'g'));
    EXPECT_EQ(e[3].entry.link_target, "target/" + std::string(130, 't'));
    EXPECT_EQ(e[4].entry.path, "empty");
    EXPECT_EQ(e[4].entry.uid, 0u);  // pax and GNU records apply to one entry only
    EXPECT_TRUE(e[4].entry.xattrs.empty());
    EXPECT_EQ(e[5].entry.type, TarEntry::Type::char_device);
    EXPECT_EQ(e[5].entry.dev_major, 1u);
    EXPECT_EQ(e[5].entry.dev_minor, 3u);
    EXPECT_EQ(e[6].entry.type, TarEntry::Type::fifo);
    EXPECT_EQ(e[7].entry.type, TarEntry::Type::hardlink);
    EXPECT_EQ(e[7].entry.link_target, "dir/file");
}

bool same(const Recorder& a, const Recorder& b) {
    if (a.entries.size() != b.entries.size() || a.ended != b.ended) return false;
    for (size_t i = 0; i < a.entries.size(); ++i) {
        const auto &x = a.entries[i], &y = b.entries[i];
        if (x.entry.path != y.entry.path || x.entry.link_target != y.entry.link_target ||
            x.entry.type != y.entry.type || x.entry.size != y.entry.size ||
            x.entry.mtime_ns != y.entry.mtime_ns || x.entry.xattrs != y.entry.xattrs ||
            x.data != y.data)
            return false;
    }
    return true;
}

}  // namespace

TEST(TarReader, reads_ustar_pax_and_gnu_entries) {
    Recorder rec;
    ASSERT_TRUE(read_all(sample_archive(), rec));
    expect_sample(rec);
}

TEST(TarReader, one_byte_at_a_time_gives_the_same_entries) {
    Recorder rec;
    ASSERT_TRUE(read_in_pieces(sample_archive(), rec, [] { return 1; }));
    expect_sample(rec);
}

TEST(TarReader, every_split_point_gives_the_same_entries) {
    std::string a = sample_archive();
    Recorder whole;
    ASSERT_TRUE(read_all(a, whole));
    for (size_t cut = 0; cut <= a.size(); ++cut) {
        Recorder rec;
        TarReader reader(rec);
        ASSERT_TRUE(reader.feed(as_bytes(a).first(cut)));
        ASSERT_TRUE(reader.feed(as_bytes(a).subspan(cut)));
        ASSERT_TRUE(reader.finish());
        ASSERT_TRUE(same(whole, rec)) << "split at " << cut;
    }
}

TEST(TarReader, random_chunk_sizes_give_the_same_entries) {
    std::string a = sample_archive();
    std::mt19937 rng(42);
    for (int round = 0; round < 200; ++round) {
        std::uniform_int_distribution<size_t> size(1, round % 2 ? 700 : 37);
        Recorder rec;
        ASSERT_TRUE(read_in_pieces(a, rec, [&] { return size(rng); }));
        expect_sample(rec);
    }
}

TEST(TarReader, ustar_prefix_is_joined_to_the_name) {
    Recorder rec;
    ASSERT_TRUE(read_all(entry({.name = "name", .prefix = "some/prefix"}) + end_marker, rec));
    ASSERT_EQ(rec.entries.size(), 1u);
    EXPECT_EQ(rec.entries[0].entry.path, "some/prefix/name");
}

TEST(TarReader, base256_numbers_are_read) {
    std::string h = RawHeader{.name = "big"}.block();
    h[108] = char(0x80);  // uid 0x010203 in base-256
    std::memset(&h[109], 0, 4);
    h[113] = 1, h[114] = 2, h[115] = 3;
    std::memset(&h[148], ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(&h[148], 8, "%06o", sum);
    Recorder rec;
    ASSERT_TRUE(read_all(h + end_marker, rec));
    EXPECT_EQ(rec.entries.at(0).entry.uid, 0x010203u);
}

TEST(TarReader, checksum_mismatch_is_an_invalid_header) {
    Recorder rec;
    auto r = read_all(entry({.name = "f", .checksum_delta = 1}, "x") + end_marker, rec);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_parameter);
    EXPECT_NE(r.error().message.find("archive/tar: invalid tar header: checksum mismatch"),
              std::string::npos)
        << r.error().message;
    EXPECT_TRUE(rec.entries.empty());
}

TEST(TarReader, truncated_archive_is_unexpected_eof) {
    std::string a = entry({.name = "f"}, std::string(2000, 'd')) + end_marker;
    for (size_t cut : {size_t(100), size_t(512 + 10), size_t(512 + 2000), size_t(512 + 2047)}) {
        Recorder rec;
        auto r = read_all(a.substr(0, cut), rec);
        ASSERT_FALSE(r) << cut;
        EXPECT_NE(r.error().message.find("unexpected EOF"), std::string::npos);
    }
}

TEST(TarReader, end_without_zero_blocks_on_a_header_boundary_is_accepted) {
    Recorder rec;
    ASSERT_TRUE(read_all(entry({.name = "f"}, "abc"), rec));
    EXPECT_TRUE(rec.ended);
    EXPECT_EQ(rec.entries.size(), 1u);
}

TEST(TarReader, bytes_after_the_end_marker_are_ignored) {
    Recorder rec;
    ASSERT_TRUE(read_all(entry({.name = "f"}, "abc") + end_marker + "trailing garbage", rec));
    EXPECT_EQ(rec.entries.size(), 1u);
}

TEST(TarReader, a_zero_block_followed_by_a_header_is_invalid) {
    Recorder rec;
    auto r = read_all(std::string(512, '\0') + entry({.name = "f"}), rec);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_parameter);
}

TEST(TarReader, oversized_pax_record_is_refused_before_it_is_buffered) {
    RawHeader h{.name = "PaxHeaders.0/x", .type = 'x', .size = tar_record_bytes_max + 1};
    Recorder rec;
    TarReader reader(rec);
    auto r = reader.feed(as_bytes(h.block()));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("larger than"), std::string::npos);
}

TEST(TarReader, malformed_pax_record_is_invalid) {
    Recorder rec;
    auto r = read_all(meta('x', "99 path=x\n") + entry({.name = "f"}) + end_marker, rec);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("malformed pax record"), std::string::npos);
}

TEST(TarReader, consumer_error_stops_the_reader) {
    Recorder rec;
    rec.fail_on_begin = 1;
    auto r = read_all(sample_archive(), rec);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "stop here");
    EXPECT_EQ(rec.entries.size(), 1u);
}

TEST(TarReader, sparse_files_are_refused) {
    Recorder rec;
    auto r = read_all(entry({.name = "s", .type = 'S'}) + end_marker, rec);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("sparse"), std::string::npos);
}

// ---- writer ----

namespace {

std::string write_archive(const std::function<void(TarWriter&)>& body) {
    std::string out;
    TarWriter w([&](std::span<const std::byte> b) -> Result<> {
        out.append(reinterpret_cast<const char*>(b.data()), b.size());
        return {};
    });
    body(w);
    EXPECT_TRUE(w.finish());
    EXPECT_EQ(out.size() % 512, 0u);
    EXPECT_EQ(w.bytes_written(), out.size());
    return out;
}

}  // namespace

TEST(TarWriter, round_trips_through_the_reader) {
    std::string long_path = std::string(120, 'a') + "/" + std::string(130, 'b') + "/c";
    std::string big(300000, 'z');
    std::string a = write_archive([&](TarWriter& w) {
        ASSERT_TRUE(w.add_dir("etc", {.mode = 0755, .mtime_s = 1}));
        ASSERT_TRUE(w.add_file("etc/passwd", as_bytes(std::string("root:x:0:0\n")),
                               {.mode = 0644, .uid = 0, .gid = 0, .mtime_s = 1700000000}));
        ASSERT_TRUE(w.add_file(long_path, as_bytes(big), {.mode = 04755, .uid = 10000000}));
        ASSERT_TRUE(w.add_symlink("link", std::string(200, 'l')));
        TarEntry dev{.type = TarEntry::Type::block_device,
                     .path = "dev/sda",
                     .mode = 0660,
                     .dev_major = 8,
                     .dev_minor = 1};
        dev.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}};
        dev.mtime_s = -5;
        dev.mtime_ns = 500;
        ASSERT_TRUE(w.begin_entry(dev));
        ASSERT_TRUE(w.end_entry());
        TarEntry hard{
            .type = TarEntry::Type::hardlink, .path = "hard", .link_target = "etc/passwd"};
        ASSERT_TRUE(w.begin_entry(hard));
        ASSERT_TRUE(w.end_entry());
    });
    Recorder rec;
    ASSERT_TRUE(read_in_pieces(a, rec, [] { return 4099; }));
    ASSERT_EQ(rec.entries.size(), 6u);
    const auto& e = rec.entries;
    EXPECT_EQ(e[0].entry.path, "etc/");
    EXPECT_EQ(e[0].entry.type, TarEntry::Type::directory);
    EXPECT_EQ(e[1].data, "root:x:0:0\n");
    EXPECT_EQ(e[1].entry.mtime_s, 1700000000);
    EXPECT_EQ(e[2].entry.path, long_path);
    EXPECT_EQ(e[2].entry.uid, 10000000u);
    EXPECT_EQ(e[2].entry.mode, 04755u);
    EXPECT_EQ(e[2].data, big);
    EXPECT_EQ(e[3].entry.link_target, std::string(200, 'l'));
    EXPECT_EQ(e[4].entry.dev_major, 8u);
    EXPECT_EQ(e[4].entry.dev_minor, 1u);
    EXPECT_EQ(e[4].entry.mtime_s, -5);
    EXPECT_EQ(e[4].entry.mtime_ns, 500u);
    EXPECT_EQ(e[4].entry.xattrs.at(0).second, std::string("\x01\x00\x00\x02", 4));
    EXPECT_EQ(e[5].entry.type, TarEntry::Type::hardlink);
    EXPECT_EQ(e[5].entry.link_target, "etc/passwd");
}

TEST(TarWriter, output_is_deterministic) {
    auto make = [] {
        return write_archive([](TarWriter& w) {
            ASSERT_TRUE(w.add_file(std::string(300, 'p'), as_bytes(std::string("x"))));
        });
    };
    EXPECT_EQ(make(), make());
}

TEST(TarWriter, short_or_long_data_is_refused) {
    TarWriter w([](std::span<const std::byte>) -> Result<> { return {}; });
    TarEntry e{.path = "f", .size = 3};
    ASSERT_TRUE(w.begin_entry(e));
    ASSERT_TRUE(w.data(as_bytes(std::string("ab"))));
    EXPECT_FALSE(w.data(as_bytes(std::string("cd"))));
    EXPECT_FALSE(w.end_entry());
}

// Interoperability with GNU tar, both ways (skipped where tar is not installed).
TEST(TarWriter, gnu_tar_lists_what_we_write_and_we_read_what_it_writes) {
    if (std::system("tar --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no tar";
    char tmpl[] = "/tmp/berth-tar-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    std::string dir = tmpl, long_name = std::string(120, 'd') + "/" + std::string(140, 'f');
    std::string ours = write_archive(
        [&](TarWriter& w) { ASSERT_TRUE(w.add_file(long_name, as_bytes(std::string("hello")))); });
    FILE* f = std::fopen((dir + "/ours.tar").c_str(), "w");
    std::fwrite(ours.data(), 1, ours.size(), f);
    std::fclose(f);
    std::string cmd = "cd " + dir + " && tar -xf ours.tar && cat " + long_name + " > out.txt";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    std::string check = "grep -qx hello " + dir + "/out.txt";
    EXPECT_EQ(std::system(check.c_str()), 0);
    for (const char* format : {"gnu", "pax"}) {
        cmd = "cd " + dir + " && tar --format=" + format + " -cf theirs.tar " +
              long_name.substr(0, 120);
        ASSERT_EQ(std::system(cmd.c_str()), 0);
        std::string theirs;
        f = std::fopen((dir + "/theirs.tar").c_str(), "r");
        char buf[4096];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) theirs.append(buf, n);
        std::fclose(f);
        Recorder rec;
        ASSERT_TRUE(read_all(theirs, rec)) << format;
        ASSERT_EQ(rec.entries.size(), 2u) << format;
        EXPECT_EQ(rec.entries[1].entry.path, long_name) << format;
        EXPECT_EQ(rec.entries[1].data, "hello") << format;
    }
    std::system(("rm -rf " + dir).c_str());
}

// ---- decompression ----

namespace {

std::string gzip(const std::string& in) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, in.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = uInt(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

std::string zstd(const std::string& in) {
    std::string out(ZSTD_compressBound(in.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    out.resize(n);
    return out;
}

std::string some_text(size_t n) {
    std::string s;
    std::mt19937 rng(7);
    while (s.size() < n) s += "line " + std::to_string(rng() % 1000) + " of a layer\n";
    s.resize(n);
    return s;
}

struct Decoded {
    Result<> result;
    std::string out;
    size_t biggest_chunk = 0;
    Compression format = Compression::detect;
};

Decoded decode(const std::string& in, Compression c, size_t piece) {
    Decoded d;
    auto dec = Decompressor::create(c);
    EXPECT_TRUE(dec);
    auto sink = [&](std::span<const std::byte> b) -> Result<> {
        d.out.append(reinterpret_cast<const char*>(b.data()), b.size());
        d.biggest_chunk = std::max(d.biggest_chunk, b.size());
        return {};
    };
    for (size_t off = 0; off < in.size(); off += piece) {
        d.result = (*dec)->feed(as_bytes(in).subspan(off, std::min(piece, in.size() - off)), sink);
        if (!d.result) return d;
    }
    d.result = (*dec)->finish(sink);
    d.format = (*dec)->format();
    return d;
}

}  // namespace

TEST(Decompressor, gzip_and_zstd_are_detected_and_decoded_in_any_pieces) {
    std::string text = some_text(1 << 20);
    for (auto [blob, want] :
         {std::pair{gzip(text), Compression::gzip}, std::pair{zstd(text), Compression::zstd},
          std::pair{text, Compression::none}}) {
        for (size_t piece : {size_t(1), size_t(3), size_t(4096), size_t(1 << 22)}) {
            if (piece == 1 && blob.size() > 200000) continue;  // uncompressed: slow, same path
            Decoded d = decode(blob, Compression::detect, piece);
            ASSERT_TRUE(d.result) << d.result.error().message;
            EXPECT_EQ(d.format, want);
            EXPECT_TRUE(d.out == text) << compression_name(want) << " piece " << piece;
            if (want != Compression::none) {
                EXPECT_LE(d.biggest_chunk, decompress_chunk_bytes);
            }
        }
    }
}

TEST(Decompressor, concatenated_gzip_members_are_one_stream) {
    Decoded d = decode(gzip("first ") + gzip("second"), Compression::gzip, 5);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.out, "first second");
}

TEST(Decompressor, inputs_shorter_than_the_magic_pass_through) {
    Decoded d = decode("ab", Compression::detect, 1);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.out, "ab");
    EXPECT_EQ(d.format, Compression::none);
    Decoded empty = decode("", Compression::detect, 1);
    ASSERT_TRUE(empty.result);
    EXPECT_EQ(empty.out, "");
}

TEST(Decompressor, corrupt_gzip_header_is_invalid) {
    std::string blob = gzip("hello");
    blob[3] = char(0xff);  // reserved flag bits
    Decoded d = decode(blob, Compression::gzip, 64);
    ASSERT_FALSE(d.result);
    EXPECT_EQ(d.result.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(d.result.error().message, "gzip: invalid header");
    Decoded not_gzip = decode("plain text", Compression::gzip, 64);
    ASSERT_FALSE(not_gzip.result);
    EXPECT_EQ(not_gzip.result.error().message, "gzip: invalid header");
}

TEST(Decompressor, corrupt_gzip_data_and_checksum_are_invalid) {
    std::string text = some_text(100000);
    std::string blob = gzip(text);
    std::string bad_crc = blob;
    bad_crc[bad_crc.size() - 6] ^= 0x55;
    Decoded d = decode(bad_crc, Compression::detect, 1000);
    ASSERT_FALSE(d.result);
    EXPECT_EQ(d.result.error().message, "gzip: invalid checksum");
    std::string bad_data = blob;
    for (size_t i = 20; i < 60; ++i) bad_data[i] = char(0xff);
    Decoded d2 = decode(bad_data, Compression::detect, 1000);
    ASSERT_FALSE(d2.result);
    EXPECT_EQ(d2.result.error().kind, ErrorKind::invalid_parameter);
}

TEST(Decompressor, truncated_streams_are_unexpected_eof) {
    std::string text = some_text(100000);
    std::string g = gzip(text), z = zstd(text);
    Decoded dg = decode(g.substr(0, g.size() / 2), Compression::detect, 999);
    ASSERT_FALSE(dg.result);
    EXPECT_EQ(dg.result.error().message, "gzip: unexpected EOF");
    Decoded dz = decode(z.substr(0, z.size() - 1), Compression::detect, 999);
    ASSERT_FALSE(dz.result);
    EXPECT_EQ(dz.result.error().message, "zstd: unexpected EOF");
}

TEST(Decompressor, corrupt_zstd_is_invalid) {
    std::string z = zstd(some_text(100000));
    for (size_t i = 10; i < 40; ++i) z[i] = char(0xa5);
    Decoded d = decode(z, Compression::detect, 4096);
    ASSERT_FALSE(d.result);
    EXPECT_EQ(d.result.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(d.result.error().message.rfind("zstd: ", 0), 0u) << d.result.error().message;
}

TEST(Decompressor, sink_errors_come_back_unchanged) {
    auto dec = Decompressor::create(Compression::detect);
    ASSERT_TRUE(dec);
    auto r = (*dec)->feed(as_bytes(gzip("data")), [](std::span<const std::byte>) -> Result<> {
        return fail(Error::conflict("disk full, say"));
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "disk full, say");
}
