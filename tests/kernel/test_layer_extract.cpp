// Layer extraction on a real filesystem, as root: every entry type with its owner, mode, times
// and xattrs; overlay and apply whiteouts; digests checked against OpenSSL directly; failed
// layers removed; and hostile archives that must leave nothing outside the layer directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>

#include "graph/layer_writer.hpp"
#include "graph/tar_writer.hpp"

using namespace berth;
using namespace berth::graph;
namespace fs = std::filesystem;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

std::string sha256_hex(const std::string& s) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return std::string("sha256:") + hex;
}

std::string gzip(const std::string& in) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, in.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = uInt(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

// Archives built entry by entry with the exact names given (hostile ones included).
class Archive {
public:
    Archive()
        : w_([this](std::span<const std::byte> b) -> Result<> {
              out_.append(reinterpret_cast<const char*>(b.data()), b.size());
              return {};
          }) {}
    Archive& add(TarEntry e, const std::string& data = {}) {
        e.size = e.type == TarEntry::Type::file ? data.size() : 0;
        EXPECT_TRUE(w_.begin_entry(e));
        EXPECT_TRUE(w_.data(as_bytes(data)));
        EXPECT_TRUE(w_.end_entry());
        return *this;
    }
    Archive& file(const std::string& p, const std::string& data, uint32_t mode = 0644) {
        return add(entry(TarEntry::Type::file, p, mode), data);
    }
    Archive& dir(const std::string& p, uint32_t mode = 0755) {
        return add(entry(TarEntry::Type::directory, p, mode));
    }
    Archive& symlink(const std::string& p, const std::string& target) {
        auto e = entry(TarEntry::Type::symlink, p, 0777);
        e.link_target = target;
        return add(e);
    }
    Archive& hardlink(const std::string& p, const std::string& target) {
        auto e = entry(TarEntry::Type::hardlink, p, 0644);
        e.link_target = target;
        return add(e);
    }
    std::string done() {
        EXPECT_TRUE(w_.finish());
        return out_;
    }
    static TarEntry entry(TarEntry::Type t, const std::string& p, uint32_t mode) {
        TarEntry e;
        e.type = t;
        e.path = p;
        e.mode = mode;
        e.mtime_s = 1600000000;
        return e;
    }

private:
    std::string out_;
    TarWriter w_;
};

Result<LayerInfo> extract(const std::string& dir, const std::string& blob,
                          LayerWriterOptions o = {}, size_t piece = 65536) {
    auto w = LayerWriter::create(dir, std::move(o));
    if (!w) return fail(std::move(w.error()));
    for (size_t off = 0; off < blob.size(); off += piece)
        if (auto r = (*w)->feed(as_bytes(blob).subspan(off, std::min(piece, blob.size() - off)));
            !r)
            return fail(std::move(r.error()));
    return (*w)->finish();
}

std::string read_file(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

struct stat lstat_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
    return st;
}

std::string xattr_of(const std::string& p, const char* name) {
    char buf[256];
    ssize_t n = lgetxattr(p.c_str(), name, buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf, size_t(n));
}

// A temp base with the layer path (not yet created), a sibling marker dir, and a directory
// outside it that hostile archives aim at.
class LayerExtract : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root";
        char tmpl[] = "/tmp/berth-layer-XXXXXX";
        ASSERT_TRUE(mkdtemp(tmpl));
        base_ = tmpl;
        layer_ = base_ + "/layer";
        fs::create_directories(base_ + "/marker/sub");
        std::ofstream(base_ + "/marker/sub/file") << "marker";
        outside_ = "/tmp/berth-outside-" + std::to_string(getpid());
        fs::create_directories(outside_);
        std::ofstream(outside_ + "/victim") << "victim";
        before_ = snapshot();
    }
    void TearDown() override {
        if (base_.empty()) return;
        fs::remove_all(base_);
        fs::remove_all(outside_);
        fs::remove("/tmp/escape-" + std::to_string(getpid()));
    }

    // Everything outside the layer directory that an escape could touch.
    std::set<std::string> snapshot() const {
        std::set<std::string> s;
        for (const auto& root : {base_, outside_})
            for (auto& e : fs::recursive_directory_iterator(root)) {
                if (e.path().string().starts_with(layer_)) continue;
                auto st = lstat_of(e.path());
                s.insert(e.path().string() + " " + std::to_string(st.st_mode) + " " +
                         std::to_string(st.st_size) + " " + std::to_string(st.st_nlink) + " " +
                         xattr_of(e.path(), "trusted.overlay.opaque"));
            }
        s.insert("victim=" + read_file(outside_ + "/victim"));
        s.insert("marker=" + read_file(base_ + "/marker/sub/file"));
        return s;
    }
    void expect_nothing_outside() {
        EXPECT_EQ(snapshot(), before_);
        std::string pid = std::to_string(getpid());
        EXPECT_FALSE(fs::exists("/tmp/escape-" + pid));
        EXPECT_FALSE(fs::exists("/escape-" + pid));
        struct stat passwd {};
        ASSERT_EQ(stat("/etc/passwd", &passwd), 0);
        EXPECT_EQ(passwd.st_nlink, 1u);
    }

    std::string base_, layer_, outside_;
    std::set<std::string> before_;
};

std::string capability_v2() {  // CAP_NET_BIND_SERVICE, effective
    std::string v(20, '\0');
    uint32_t words[5] = {0x02000001, 1u << 10, 0, 0, 0};
    std::memcpy(v.data(), words, sizeof words);
    return v;
}

}  // namespace

TEST_F(LayerExtract, extracts_every_entry_type_with_owner_mode_times_and_xattrs) {
    Archive a;
    a.dir("etc/", 0750);
    auto host = Archive::entry(TarEntry::Type::file, "etc/hostname", 0640);
    host.uid = host.gid = 1000;
    host.mtime_s = 1500000000;
    a.add(host, "berth\n");
    a.file("bin/su", std::string(100000, 's'), 04755);  // bin/ itself is not in the archive
    a.symlink("bin/sh", "busybox").symlink("abs", "/etc/hostname");
    a.hardlink("etc/hostname.bak", "etc/hostname");
    auto fifo = Archive::entry(TarEntry::Type::fifo, "run/fifo", 0600);
    auto null = Archive::entry(TarEntry::Type::char_device, "dev/null", 0666);
    null.dev_major = 1;
    null.dev_minor = 3;
    auto ping = Archive::entry(TarEntry::Type::file, "bin/ping", 0755);
    ping.xattrs = {{"security.capability", capability_v2()}, {"user.berth", "yes"}};
    a.add(fifo).add(null).add(ping, "ping");
    std::string tar = a.done(), blob = gzip(tar);

    auto info = extract(layer_, blob, {}, 7);  // small pieces: every boundary inside entries
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->digest, sha256_hex(blob));
    EXPECT_EQ(info->diff_id, sha256_hex(tar));
    EXPECT_EQ(info->compressed_size, blob.size());
    EXPECT_EQ(info->tar_size, tar.size());
    EXPECT_EQ(info->unpacked_size, 6u + 100000u + 4u);

    auto h = lstat_of(layer_ + "/etc/hostname");
    EXPECT_EQ(read_file(layer_ + "/etc/hostname"), "berth\n");
    EXPECT_EQ(h.st_uid, 1000u);
    EXPECT_EQ(h.st_gid, 1000u);
    EXPECT_EQ(h.st_mode & 07777, 0640u);
    EXPECT_EQ(h.st_mtim.tv_sec, 1500000000);
    EXPECT_EQ(h.st_nlink, 2u);
    EXPECT_EQ(lstat_of(layer_ + "/etc/hostname.bak").st_ino, h.st_ino);
    auto etc = lstat_of(layer_ + "/etc");
    EXPECT_EQ(etc.st_mode & 07777, 0750u);
    EXPECT_EQ(etc.st_mtim.tv_sec, 1600000000);  // set after its children were created
    EXPECT_EQ(lstat_of(layer_ + "/bin").st_mode & 07777, 0755u);
    EXPECT_EQ(lstat_of(layer_ + "/bin/su").st_mode & 07777, 04755u);
    EXPECT_EQ(fs::read_symlink(layer_ + "/bin/sh"), "busybox");
    EXPECT_EQ(fs::read_symlink(layer_ + "/abs"), "/etc/hostname");
    EXPECT_EQ(lstat_of(layer_ + "/abs").st_mtim.tv_sec, 1600000000);
    EXPECT_TRUE(S_ISFIFO(lstat_of(layer_ + "/run/fifo").st_mode));
    auto dev = lstat_of(layer_ + "/dev/null");
    EXPECT_TRUE(S_ISCHR(dev.st_mode));
    EXPECT_EQ(dev.st_rdev, makedev(1, 3));
    EXPECT_EQ(dev.st_mode & 07777, 0666u);
    EXPECT_EQ(xattr_of(layer_ + "/bin/ping", "security.capability"), capability_v2());
    EXPECT_EQ(xattr_of(layer_ + "/bin/ping", "user.berth"), "yes");
    expect_nothing_outside();
}

TEST_F(LayerExtract, overlay_whiteouts_become_char_devices_and_opaque_xattrs) {
    Archive a;
    a.dir("a/").file("a/keep", "k").file("a/.wh..wh..opq", "").file(".wh.gone", "");
    a.dir("b/").file("b/.wh.old", "");
    std::string tar = a.done();
    ASSERT_TRUE(extract(layer_, tar));
    EXPECT_EQ(xattr_of(layer_ + "/a", "trusted.overlay.opaque"), "y");
    EXPECT_TRUE(fs::exists(layer_ + "/a/keep"));
    for (const char* w : {"/gone", "/b/old"}) {
        auto st = lstat_of(layer_ + w);
        EXPECT_TRUE(S_ISCHR(st.st_mode)) << w;
        EXPECT_EQ(st.st_rdev, makedev(0, 0)) << w;
    }
    EXPECT_FALSE(fs::exists(layer_ + "/.wh.gone"));
    EXPECT_FALSE(fs::exists(layer_ + "/a/.wh..wh..opq"));
}

TEST_F(LayerExtract, apply_whiteouts_delete_what_the_parent_brought) {
    Archive a;
    a.dir("a/").file("a/new", "n").file("a/.wh..wh..opq", "").file(".wh.gone", "");
    a.file("b/.wh.missing", "");
    std::string tar = a.done();
    auto w = LayerWriter::create(layer_, {.whiteouts = WhiteoutMode::apply});
    ASSERT_TRUE(w);
    // The parent's files, as the vfs driver copies them in before extracting.
    fs::create_directories(layer_ + "/a/sub");
    fs::create_directories(layer_ + "/b");
    std::ofstream(layer_ + "/a/lower") << "l";
    std::ofstream(layer_ + "/a/sub/lower2") << "l";
    std::ofstream(layer_ + "/gone") << "g";
    std::ofstream(layer_ + "/b/stay") << "s";
    ASSERT_TRUE((*w)->feed(as_bytes(tar)));
    auto info = (*w)->finish();
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_TRUE(fs::exists(layer_ + "/a/new"));  // this layer's own entry survives the opaque
    EXPECT_FALSE(fs::exists(layer_ + "/a/lower"));
    EXPECT_FALSE(fs::exists(layer_ + "/a/sub"));
    EXPECT_FALSE(fs::exists(layer_ + "/gone"));
    EXPECT_TRUE(fs::exists(layer_ + "/b/stay"));
    EXPECT_FALSE(fs::exists(layer_ + "/a/.wh..wh..opq"));
    EXPECT_FALSE(fs::exists(layer_ + "/b/.wh.missing"));
}

TEST_F(LayerExtract, digest_mismatch_fails_and_removes_the_layer) {
    std::string blob = gzip(Archive().file("f", std::string(5000, 'x')).done());
    std::string wrong = sha256_hex("something else");
    auto r = extract(layer_, blob, {.expected_digest = wrong});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(r.error().message, "filesystem layer verification failed for digest " + wrong);
    EXPECT_FALSE(fs::exists(layer_));
    auto ok =
        extract(layer_, blob, {.expected_digest = sha256_hex(blob), .expected_size = blob.size()});
    ASSERT_TRUE(ok) << ok.error().message;
}

TEST_F(LayerExtract, too_many_bytes_fail_at_once_and_remove_the_layer) {
    std::string blob = gzip(Archive().file("f", "data").done());
    auto w = LayerWriter::create(layer_, {.expected_size = blob.size() - 1});
    ASSERT_TRUE(w);
    auto r = (*w)->feed(as_bytes(blob));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("filesystem layer verification failed"), std::string::npos);
    EXPECT_FALSE(fs::exists(layer_));
}

TEST_F(LayerExtract, corrupt_blob_reports_verification_first_then_the_codec_error) {
    std::string blob = gzip(Archive().file("f", std::string(50000, 'q')).done());
    std::string good_digest = sha256_hex(blob);
    blob[blob.size() / 2] ^= 0x5a;
    auto r = extract(layer_, blob, {.expected_digest = good_digest}, 512);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "filesystem layer verification failed for digest " + good_digest);
    EXPECT_FALSE(fs::exists(layer_));
    // The registry's own digest of a truly corrupt blob matches: the codec error is reported.
    std::string bad = gzip("not a tar at all, and then cut");
    bad.resize(bad.size() - 4);
    auto r2 = extract(layer_, bad, {.expected_digest = sha256_hex(bad)});
    ASSERT_FALSE(r2);
    EXPECT_NE(r2.error().message.find("unexpected EOF"), std::string::npos) << r2.error().message;
    EXPECT_FALSE(fs::exists(layer_));
}

TEST_F(LayerExtract, abandoned_writer_removes_the_layer) {
    std::string tar = Archive().dir("d/").file("d/f", std::string(100000, 'x')).done();
    {
        auto w = LayerWriter::create(layer_, {});
        ASSERT_TRUE(w);
        ASSERT_TRUE((*w)->feed(as_bytes(tar).first(tar.size() / 2)));
        EXPECT_TRUE(fs::exists(layer_ + "/d/f"));
    }
    EXPECT_FALSE(fs::exists(layer_));
    expect_nothing_outside();
}

TEST_F(LayerExtract, later_entries_replace_earlier_ones_as_docker_does) {
    Archive a;
    a.dir("d/").file("d/x", "x").dir("d/sub/").file("d/sub/y", "y");
    a.file("d", "now a file");                                    // a whole tree replaced by a file
    a.file("f", "old").symlink("f", "target");                    // a file by a symlink
    a.dir("keep/", 0700).file("keep/a", "a").dir("keep/", 0755);  // dir on dir: merged
    ASSERT_TRUE(extract(layer_, a.done()));
    EXPECT_EQ(read_file(layer_ + "/d"), "now a file");
    EXPECT_EQ(fs::read_symlink(layer_ + "/f"), "target");
    EXPECT_EQ(read_file(layer_ + "/keep/a"), "a");
    EXPECT_EQ(lstat_of(layer_ + "/keep").st_mode & 07777, 0755u);
}

TEST_F(LayerExtract, deep_trees_are_removed_with_the_layer) {
    Archive a;
    std::string p;
    for (int i = 0; i < 1500; ++i) p += "d/";  // deeper than the fd limit of 1024
    a.file(p + "leaf", "x");
    std::string tar = a.done();
    {
        auto w = LayerWriter::create(layer_, {});
        ASSERT_TRUE(w);
        ASSERT_TRUE((*w)->feed(as_bytes(tar)));
    }
    EXPECT_FALSE(fs::exists(layer_));
}

TEST_F(LayerExtract, existing_directory_is_refused_and_left_alone) {
    auto r = extract(base_ + "/marker", Archive().file("f", "x").done());
    ASSERT_FALSE(r);
    expect_nothing_outside();
}

// ---- hostile archives ----

namespace {

struct Hostile {
    const char* name;
    std::function<std::string(const std::string& outside)> archive;
    bool must_fail;
};

class HostileArchive : public LayerExtract, public ::testing::WithParamInterface<Hostile> {};

}  // namespace

TEST_P(HostileArchive, leaves_nothing_outside_the_layer) {
    const Hostile& h = GetParam();
    for (WhiteoutMode mode : {WhiteoutMode::overlay, WhiteoutMode::apply}) {
        auto r = extract(layer_, h.archive(outside_), {.whiteouts = mode});
        if (h.must_fail) {
            ASSERT_FALSE(r) << h.name;
            EXPECT_TRUE(r.error().kind == ErrorKind::invalid_parameter ||
                        r.error().kind == ErrorKind::system);
            EXPECT_FALSE(r.error().message.empty());
            EXPECT_FALSE(fs::exists(layer_)) << h.name;
            RecordProperty("error", r.error().message);
        }
        expect_nothing_outside();
        fs::remove_all(layer_);
    }
}

namespace {
const std::string pid = std::to_string(getpid());
}  // namespace

INSTANTIATE_TEST_SUITE_P(
    LayerExtract, HostileArchive,
    ::testing::Values(
        Hostile{
            "dotdot_escape",
            [](const std::string&) { return Archive().file("../../escape-" + pid, "x").done(); },
            true},
        Hostile{"dotdot_into_sibling",
                [](const std::string&) { return Archive().file("../marker/evil", "x").done(); },
                true},
        Hostile{"dotdot_inside_name",
                [](const std::string&) { return Archive().file("a/../../escape", "x").done(); },
                true},
        Hostile{"symlink_to_outside_then_file_under_it",
                [](const std::string& out) {
                    return Archive().symlink("link", out).file("link/file", "x").done();
                },
                true},
        Hostile{"symlink_to_dotdot_then_walk_through_it",
                [](const std::string&) {
                    return Archive().symlink("l", "..").file("l/l/escape-" + pid, "x").done();
                },
                true},
        Hostile{"relative_symlink_climbing_out",
                [](const std::string&) { return Archive().symlink("p", "../marker").done(); },
                true},
        Hostile{
            "hardlink_to_dotdot_passwd",
            [](const std::string&) { return Archive().hardlink("h", "../../etc/passwd").done(); },
            true},
        Hostile{"hardlink_to_absolute_shadow",
                [](const std::string&) { return Archive().hardlink("h", "/etc/shadow").done(); },
                true},
        Hostile{"hardlink_through_a_symlink_to_root",
                [](const std::string&) {
                    return Archive().symlink("s", "/").hardlink("h", "s/etc/passwd").done();
                },
                true},
        Hostile{"directory_replaced_by_symlink_then_file_under_it",
                [](const std::string& out) {
                    return Archive().dir("d/").symlink("d", out).file("d/victim", "pwned").done();
                },
                true},
        Hostile{"whiteout_through_a_symlink",
                [](const std::string& out) {
                    return Archive().symlink("s", out).file("s/.wh.victim", "").done();
                },
                true},
        Hostile{"opaque_through_a_symlink",
                [](const std::string& out) {
                    return Archive().symlink("s", out).file("s/.wh..wh..opq", "").done();
                },
                true},
        Hostile{"absolute_path_is_kept_inside",
                [](const std::string&) {
                    return Archive().file("/abs/path", "x").file("/../../x", "y").done();
                },
                false},
        Hostile{"symlink_replaced_by_directory_mid_archive",
                [](const std::string& out) {
                    return Archive().symlink("s", out).dir("s/").file("s/victim", "x").done();
                },
                false},
        Hostile{"hardlink_to_absolute_symlink_links_the_symlink",
                [](const std::string&) {
                    return Archive().symlink("s", "/etc/passwd").hardlink("h", "s").done();
                },
                false},
        // Absolute targets pass Docker's lexical check; RESOLVE_IN_ROOT keeps them inside.
        Hostile{"absolute_symlink_climbing_is_resolved_inside",
                [](const std::string&) {
                    return Archive().symlink("r", "/../../..").file("r/escape-" + pid, "x").done();
                },
                false},
        Hostile{"symlink_chain_through_root_is_resolved_inside",
                [](const std::string&) {
                    return Archive()
                        .symlink("r", "/")
                        .symlink("u", "r/..")
                        .file("u/u/escape-" + pid, "x")
                        .done();
                },
                false},
        Hostile{"trusted_overlay_xattrs_are_dropped",
                [](const std::string&) {
                    auto e = Archive::entry(TarEntry::Type::directory, "d/", 0755);
                    e.xattrs = {{"trusted.overlay.redirect", "/etc"}};
                    return Archive().add(e).done();
                },
                false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(LayerExtract, neutralised_entries_land_inside) {
    ASSERT_TRUE(extract(layer_, Archive()
                                    .file("/abs/path", "x")
                                    .symlink("s", outside_)
                                    .dir("s/")
                                    .file("s/victim", "mine")
                                    .done()));
    EXPECT_EQ(read_file(layer_ + "/abs/path"), "x");
    EXPECT_TRUE(fs::is_directory(fs::symlink_status(layer_ + "/s")));
    EXPECT_EQ(read_file(layer_ + "/s/victim"), "mine");
    auto e = Archive::entry(TarEntry::Type::directory, "d/", 0755);
    e.xattrs = {{"trusted.overlay.redirect", "/etc"}};
    fs::remove_all(layer_);
    ASSERT_TRUE(extract(layer_, Archive().add(e).done()));
    EXPECT_EQ(xattr_of(layer_ + "/d", "trusted.overlay.redirect"), "");
    expect_nothing_outside();
}

// ---- writing layers back out ----

TEST_F(LayerExtract, tree_to_tar_round_trips_byte_for_byte) {
    Archive a;
    a.dir("a/").file("a/.wh..wh..opq", "").file("a/x", "x", 02755).file(".wh.gone", "");
    a.hardlink("a/x2", "a/x").symlink("a/s", "../a/x");
    auto dev = Archive::entry(TarEntry::Type::char_device, "dev/tty", 0620);
    dev.dev_major = 5;
    auto ping = Archive::entry(TarEntry::Type::file, "ping", 0755);
    ping.xattrs = {{"security.capability", capability_v2()}};
    a.add(dev).add(ping, std::string(70000, 'p'));
    ASSERT_TRUE(extract(layer_, a.done()));

    auto tar_of = [](const std::string& dir) {
        std::string out;
        TarWriter w([&](std::span<const std::byte> b) -> Result<> {
            out.append(reinterpret_cast<const char*>(b.data()), b.size());
            return {};
        });
        int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        EXPECT_TRUE(w.add_from_fs(fd, "", {.overlay_whiteouts = true}));
        EXPECT_TRUE(w.finish());
        close(fd);
        return out;
    };
    std::string first = tar_of(layer_);
    for (const char* name : {".wh.gone", "a/.wh..wh..opq", "a/x2", "security.capability"})
        EXPECT_NE(first.find(name), std::string::npos) << name;
    std::string copy = base_ + "/copy";
    ASSERT_TRUE(extract(copy, first));
    EXPECT_EQ(xattr_of(copy + "/a", "trusted.overlay.opaque"), "y");
    EXPECT_EQ(lstat_of(copy + "/a/x2").st_ino, lstat_of(copy + "/a/x").st_ino);
    EXPECT_EQ(tar_of(copy), first);
    fs::remove_all(copy);
}
