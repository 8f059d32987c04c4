// A layer's tar comes back byte for byte from its unpacked directory and its tar-split: the
// digest `docker save` and `docker push` must reproduce is the diff ID.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "graph/digest.hpp"
#include "graph/layer_writer.hpp"
#include "graph/tar_split.hpp"
#include "graph/tar_writer.hpp"

using namespace berth;
using namespace berth::graph;

namespace {

std::span<const std::byte> bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/berth-split-XXXXXX";
        path = mkdtemp(tmpl) ? tmpl : "";
    }
    ~TempDir() { std::system(("rm -rf " + path).c_str()); }
};

std::string sample_tar() {
    std::string out;
    TarWriter w([&](std::span<const std::byte> d) -> Result<> {
        out.append(reinterpret_cast<const char*>(d.data()), d.size());
        return {};
    });
    EXPECT_TRUE(w.add_dir("etc"));
    EXPECT_TRUE(w.add_file("etc/hello", bytes("hello\n")));
    EXPECT_TRUE(w.add_file("etc/empty", {}));
    std::string big(70000, 'x');
    for (size_t i = 0; i < big.size(); i += 97) big[i] = char('a' + i % 26);
    EXPECT_TRUE(w.add_file("data/" + std::string(150, 'n') + "/big.bin", bytes(big)));
    EXPECT_TRUE(w.add_symlink("etc/link", "hello"));
    EXPECT_TRUE(w.add_file("etc/.wh.gone", {}));
    EXPECT_TRUE(w.finish());
    return out;
}

}  // namespace

TEST(TarSplit, unpacked_layer_gives_back_its_tar_byte_for_byte) {
    TempDir tmp;
    std::string tar = sample_tar();
    std::string dir = tmp.path + "/diff";
    LayerWriterOptions opts;
    opts.compression = Compression::none;
    opts.apply_ownership = false;
    auto w = LayerWriter::create(dir, opts);
    ASSERT_TRUE(w) << w.error().message;
    // Fed in odd pieces, as a network would.
    for (size_t i = 0; i < tar.size(); i += 777)
        ASSERT_TRUE((*w)->feed(bytes(tar.substr(i, 777))));
    auto info = (*w)->finish();
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->diff_id, sha256_digest(tar));

    std::string again;
    auto r = reproduce_layer_tar(dir, dir + ".tar-split", [&](std::span<const std::byte> d) -> Result<> {
        again.append(reinterpret_cast<const char*>(d.data()), d.size());
        return {};
    });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(again.size(), tar.size());
    EXPECT_EQ(sha256_digest(again), info->diff_id);
    auto size = layer_tar_size(dir + ".tar-split");
    ASSERT_TRUE(size);
    EXPECT_EQ(*size, tar.size());
}

TEST(TarSplit, a_changed_file_is_detected_not_silently_reproduced) {
    TempDir tmp;
    std::string tar = sample_tar();
    std::string dir = tmp.path + "/diff";
    LayerWriterOptions opts;
    opts.compression = Compression::none;
    opts.apply_ownership = false;
    auto w = LayerWriter::create(dir, opts);
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->feed(bytes(tar)));
    ASSERT_TRUE((*w)->finish());
    ASSERT_EQ(std::system(("truncate -s 2 " + dir + "/etc/hello").c_str()), 0);
    auto r = reproduce_layer_tar(dir, dir + ".tar-split",
                                 [](std::span<const std::byte>) -> Result<> { return {}; });
    EXPECT_FALSE(r);
}

TEST(TarSplit, failed_extraction_leaves_no_split_behind) {
    TempDir tmp;
    std::string dir = tmp.path + "/diff";
    LayerWriterOptions opts;
    opts.compression = Compression::none;
    opts.apply_ownership = false;
    {
        auto w = LayerWriter::create(dir, opts);
        ASSERT_TRUE(w);
        ASSERT_TRUE((*w)->feed(bytes(sample_tar().substr(0, 1000))));
    }  // abandoned
    EXPECT_NE(std::system(("test -e " + dir + ".tar-split").c_str()), 0);
    EXPECT_NE(std::system(("test -e " + dir).c_str()), 0);
}

TEST(TarSplit, a_file_written_twice_in_one_layer_still_gives_back_the_tar) {
    TempDir tmp;
    std::string tar;
    TarWriter w([&](std::span<const std::byte> d) -> Result<> {
        tar.append(reinterpret_cast<const char*>(d.data()), d.size());
        return {};
    });
    ASSERT_TRUE(w.add_file("a.txt", bytes("first version, longer\n")));
    ASSERT_TRUE(w.add_file("b.txt", bytes("b\n")));
    ASSERT_TRUE(w.add_file("a.txt", bytes("second\n")));
    ASSERT_TRUE(w.finish());
    std::string dir = tmp.path + "/diff";
    LayerWriterOptions opts;
    opts.compression = Compression::none;
    opts.apply_ownership = false;
    auto lw = LayerWriter::create(dir, opts);
    ASSERT_TRUE(lw);
    ASSERT_TRUE((*lw)->feed(bytes(tar)));
    auto info = (*lw)->finish();
    ASSERT_TRUE(info) << info.error().message;
    std::string again;
    auto r = reproduce_layer_tar(dir, dir + ".tar-split", [&](std::span<const std::byte> d) -> Result<> {
        again.append(reinterpret_cast<const char*>(d.data()), d.size());
        return {};
    });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(sha256_digest(again), info->diff_id);
}
