// docker cp's file side on a real filesystem, as root: paths stat'ed inside a container root
// (symlink targets resolved there), archives of trees (names, links, files read in chunks), and
// extraction into a directory with Docker's Untar rules; hostile trees and archives must leave
// the directory beside the root (the "host") untouched.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "graph/layer_writer.hpp"
#include "graph/tar_reader.hpp"
#include "graph/tar_writer.hpp"
#include "graph/tree_archive.hpp"
#include "kernel/container_path.hpp"
#include "kernel/rootfs_path.hpp"

using namespace berth;
using namespace berth::graph;
namespace fs = std::filesystem;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

void spit(const std::string& p, const std::string& text) {
    std::ofstream(p) << text;
}

// A tar built entry by entry, names exactly as given.
class Tar {
  public:
    Tar()
        : w_([this](std::span<const std::byte> b) -> Result<> {
              out_.append(reinterpret_cast<const char*>(b.data()), b.size());
              return {};
          }) {}
    Tar& add(TarEntry::Type t, const std::string& p, const std::string& data = {},
             const std::string& link = {}) {
        TarEntry e;
        e.type = t;
        e.path = p;
        e.mode = t == TarEntry::Type::directory ? 0755 : 0644;
        e.uid = 7;
        e.gid = 8;
        e.link_target = link;
        e.size = t == TarEntry::Type::file ? data.size() : 0;
        EXPECT_TRUE(w_.begin_entry(e));
        EXPECT_TRUE(w_.data(as_bytes(data)));
        EXPECT_TRUE(w_.end_entry());
        return *this;
    }
    std::string done() {
        EXPECT_TRUE(w_.finish());
        return out_;
    }

  private:
    std::string out_;
    TarWriter w_;
};

// The names (and link targets) in an archive.
struct Names final : TarConsumer {
    std::vector<std::string> names;
    std::string content;
    Result<> begin_entry(const TarEntry& e) override {
        names.push_back(e.link_target.empty() ? e.path : e.path + " -> " + e.link_target);
        return {};
    }
    Result<> data(std::span<const std::byte> b) override {
        content.append(reinterpret_cast<const char*>(b.data()), b.size());
        return {};
    }
    Result<> end_entry() override { return {}; }
    Result<> end_archive() override { return {}; }
};

class ContainerCopyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: extraction sets owners";
        char tmpl[] = "/tmp/berth-cp-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        base = tmpl;
        root = base + "/root";
        host = base + "/host";
        fs::create_directories(root + "/in");
        fs::create_directories(host);
        spit(host + "/secret", "HOSTSECRET\n");
        root_fd.reset(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(root_fd);
    }
    void TearDown() override {
        root_fd.reset();
        if (!base.empty()) fs::remove_all(base);
    }
    Result<> extract(const std::string& tar, TreeExtractOptions o = {.dir = "in"}) {
        auto x = TreeExtractor::create(root_fd.get(), std::move(o));
        if (!x) return fail(std::move(x.error()));
        // Fed in small pieces: the extractor must not depend on how the body arrives.
        for (size_t off = 0; off < tar.size(); off += 700)
            if (auto r =
                    (*x)->feed(as_bytes(tar).subspan(off, std::min<size_t>(700, tar.size() - off)));
                !r)
                return r;
        return (*x)->finish();
    }
    void expect_host_untouched() {
        EXPECT_EQ(slurp(host + "/secret"), "HOSTSECRET\n");
        std::vector<std::string> names;
        for (auto& e : fs::directory_iterator(host)) names.push_back(e.path().filename());
        EXPECT_EQ(names, std::vector<std::string>{"secret"});
    }
    Names archive(std::unique_ptr<TreeArchive> a) {
        std::string out;
        for (;;) {
            auto more = a->produce(out, 1000);
            EXPECT_TRUE(more) << (more ? "" : more.error().message);
            if (!more || !*more) break;
        }
        Names n;
        TarReader r(n);
        EXPECT_TRUE(r.feed(as_bytes(out)));
        EXPECT_TRUE(r.finish());
        return n;
    }

    std::string base, root, host;
    kernel::UniqueFd root_fd;
};

}  // namespace

TEST_F(ContainerCopyTest, stat_resolves_symlinks_inside_the_root) {
    spit(root + "/in/f", "12345");
    fs::create_symlink("/../../.." + host + "/secret", root + "/abs");
    fs::create_symlink("../../../../../../in/f", root + "/in/rel");
    fs::create_symlink("/proc/self/root/etc/passwd", root + "/magic");
    auto f = kernel::stat_in_container(root_fd.get(), "/in/f");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->name, "f");
    EXPECT_EQ(f->size, 5);
    EXPECT_TRUE(S_ISREG(f->mode));
    auto rel = kernel::stat_in_container(root_fd.get(), "/in/rel");
    ASSERT_TRUE(rel);
    EXPECT_TRUE(S_ISLNK(rel->mode));
    EXPECT_EQ(rel->link_target, "/in/f");  // the ".." chain stops at the root
    auto abs = kernel::stat_in_container(root_fd.get(), "abs");
    ASSERT_TRUE(abs);
    EXPECT_EQ(abs->link_target, host + "/secret");  // dangling inside: as far as it goes
    auto magic = kernel::stat_in_container(root_fd.get(), "/magic");
    ASSERT_TRUE(magic);
    EXPECT_EQ(magic->link_target, "/proc/self/root/etc/passwd");
    auto dot = kernel::stat_in_container(root_fd.get(), "/in/.");
    ASSERT_TRUE(dot);
    EXPECT_EQ(dot->name, ".");
    EXPECT_TRUE(S_ISDIR(dot->mode));
    auto missing = kernel::stat_in_container(root_fd.get(), "/abs/x");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
    EXPECT_FALSE(kernel::open_in_container(root_fd.get(), "/magic", O_RDONLY));
}

TEST_F(ContainerCopyTest, tree_archive_names_links_and_never_follows) {
    fs::create_directories(root + "/d/sub");
    spit(root + "/d/sub/f", std::string(5000, 'x'));
    spit(root + "/d/a.b", "y");
    fs::create_hard_link(root + "/d/a.b", root + "/d/hard");
    fs::create_symlink(host, root + "/d/out");
    kernel::UniqueFd d{kernel::open_in_root(root_fd.get(), "/d", O_RDONLY | O_DIRECTORY)};
    auto n = archive(TreeArchive::directory(std::move(d), "d/", "d/"));
    EXPECT_EQ(n.names, (std::vector<std::string>{"d/", "d/a.b", "d/hard -> d/a.b",
                                                 "d/out -> " + host, "d/sub/", "d/sub/f"}));
    EXPECT_EQ(n.content, "y" + std::string(5000, 'x'));
    kernel::UniqueFd r{kernel::open_in_root(root_fd.get(), "/", O_RDONLY | O_DIRECTORY)};
    auto all = archive(TreeArchive::directory(std::move(r), "", ""));
    EXPECT_EQ(all.names.front(), "d/");
    EXPECT_EQ(all.content.find("HOSTSECRET"), std::string::npos);
    kernel::UniqueFd p{kernel::open_in_root(root_fd.get(), "/d", O_RDONLY | O_DIRECTORY)};
    auto one = archive(TreeArchive::single(std::move(p), "out", "out"));
    EXPECT_EQ(one.names, std::vector<std::string>{"out -> " + host});
}

TEST_F(ContainerCopyTest, extract_writes_under_the_target_with_dockers_rules) {
    auto tar = Tar()
                   .add(TarEntry::Type::directory, "./")
                   .add(TarEntry::Type::file, "./a/b", "bee")
                   .add(TarEntry::Type::hardlink, "c", {}, "a/b")
                   .add(TarEntry::Type::symlink, "l", {}, "/etc/passwd")
                   .add(TarEntry::Type::file, ".wh.kept", "")
                   .done();
    ASSERT_TRUE(extract(tar));
    EXPECT_EQ(slurp(root + "/in/a/b"), "bee");
    EXPECT_EQ(slurp(root + "/in/c"), "bee");
    EXPECT_EQ(fs::read_symlink(root + "/in/l"), "/etc/passwd");
    EXPECT_TRUE(fs::exists(root + "/in/.wh.kept"));  // no whiteouts in docker cp
    struct stat st {};
    ASSERT_EQ(lstat((root + "/in/a/b").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 7u);
    // cp -a: the container user's owner on everything.
    ASSERT_TRUE(extract(Tar().add(TarEntry::Type::file, "o", "o").done(),
                        {.dir = "in", .owner = std::pair<uint32_t, uint32_t>{1234, 567}}));
    ASSERT_EQ(lstat((root + "/in/o").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 567u);
    // noOverwriteDirNonDir: a directory stays a directory.
    auto over = extract(Tar().add(TarEntry::Type::file, "a", "x").done(),
                        {.dir = "in", .no_overwrite_dir_nondir = true});
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().message.find("cannot overwrite directory \"/in/a\""), std::string::npos)
        << over.error().message;
    ASSERT_TRUE(extract(Tar().add(TarEntry::Type::file, "a", "x").done()));
    EXPECT_EQ(slurp(root + "/in/a"), "x");  // replaced without it
}

TEST_F(ContainerCopyTest, hostile_archives_and_trees_stay_inside_the_root) {
    // Links already in the container, aimed at the host.
    fs::create_symlink("/../../../../.." + host, root + "/in/abs");
    fs::create_symlink("../../../../../../.." + host, root + "/in/rel");
    fs::create_symlink("/proc/self/root" + host, root + "/in/magic");
    for (const std::string p : {"abs/planted", "rel/planted", "magic/planted", "abs/secret"})
        (void)extract(Tar().add(TarEntry::Type::file, p, "planted").done());
    // Names and links that climb, and a link the archive brings and then writes through.
    auto climb = extract(Tar().add(TarEntry::Type::file, "../../host/planted", "p").done());
    ASSERT_FALSE(climb);
    EXPECT_NE(climb.error().message.find("is outside of"), std::string::npos);
    EXPECT_FALSE(extract(Tar().add(TarEntry::Type::symlink, "up", {}, "../../..").done()));
    EXPECT_FALSE(extract(Tar().add(TarEntry::Type::hardlink, "h", {}, "../../host/secret").done()));
    (void)extract(Tar()
                      .add(TarEntry::Type::symlink, "brought", {}, host)
                      .add(TarEntry::Type::file, "brought/planted", "p")
                      .add(TarEntry::Type::hardlink, "hl", {}, host + "/secret")
                      .done());
    // Into the root itself, through the same links.
    (void)extract(Tar().add(TarEntry::Type::file, "in/abs/planted", "p").done(), {.dir = ""});
    expect_host_untouched();
}
