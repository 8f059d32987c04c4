// The image/layer/tag graph against a real berth.db in a temporary data root: adding and
// resolving images by every name Docker accepts, tags, `docker rmi` with Docker's messages and
// conflicts (containers are plain rows), shared layers, prune, and the start-up sweep after a
// simulated crash. Layer "files" are directories under <tmp>/layers/<hex>.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "graph/digest.hpp"
#include "graph/images.hpp"
#include "graph/store.hpp"

namespace {

namespace fs = std::filesystem;
using berth::ErrorKind;
using berth::Result;
using namespace berth::graph;

std::string diff(std::string_view seed) {
    return sha256_digest(seed);
}

std::string config(const std::vector<std::string>& diff_ids, std::string_view comment,
                   std::string_view labels = "{}") {
    std::string ids;
    for (const std::string& d : diff_ids) ids += (ids.empty() ? "\"" : ",\"") + d + "\"";
    return R"({"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05.5Z",)"
           R"("comment":")" +
           std::string(comment) + R"(","config":{"Labels":)" + std::string(labels) +
           R"(},"rootfs":{"type":"layers","diff_ids":[)" + ids + "]}}";
}

Reference named(std::string_view s) {
    auto r = Reference::parse(s);
    EXPECT_TRUE(r) << s;
    return *r;
}

std::vector<std::string> lines(const std::vector<DeleteItem>& items) {
    std::vector<std::string> out;
    for (const DeleteItem& d : items)
        out.push_back(d.untagged.empty() ? "Deleted: " + d.deleted : "Untagged: " + d.untagged);
    return out;
}

class ImagesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-images-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
        tmp_ = tmpl;
        layers_ = tmp_ + "/data/layers";
        auto store = Store::open(tmp_ + "/data");
        ASSERT_TRUE(store) << store.error().message;
        store_ = std::move(*store);
        fs::create_directories(layers_);
        auto images = ImageStore::open(*store_, files());
        ASSERT_TRUE(images) << images.error().message;
        images_ = std::move(*images);
    }
    void TearDown() override {
        images_.reset();
        store_.reset();
        std::error_code ec;
        fs::remove_all(tmp_, ec);
    }

    LayerFiles files() {
        LayerFiles f;
        f.list = [this]() -> Result<std::vector<std::string>> {
            std::vector<std::string> out;
            for (const auto& e : fs::directory_iterator(layers_))
                out.push_back("sha256:" + e.path().filename().string());
            return out;
        };
        f.remove = [this](std::string_view chain) -> Result<void> {
            std::error_code ec;
            fs::remove_all(dir(chain), ec);
            return {};
        };
        return f;
    }
    std::string dir(std::string_view chain) {
        return layers_ + "/" + std::string(digest_hex(chain));
    }

    void exec(const std::string& sql) {
        char* err = nullptr;
        ASSERT_EQ(sqlite3_exec(store_->db(), sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
            << (err ? err : "");
        sqlite3_free(err);
    }

    // A layer as a pull writes it: pending record, files, complete.
    std::string layer(std::string_view seed, const std::string& parent, int64_t size = 100) {
        auto b = images_->begin_layer(NewLayer{diff(seed), parent, ""});
        EXPECT_TRUE(b) << b.error().message;
        EXPECT_EQ(b->was, LayerState::absent);
        fs::create_directories(dir(b->chain_id) + "/diff");
        EXPECT_TRUE(images_->commit_layer(b->chain_id, size));
        return b->chain_id;
    }

    // An image over layers made from `seeds` (bottom first), with these references.
    std::string image(const std::vector<std::string>& seeds, std::string_view comment,
                      std::vector<std::string> refs = {}, std::string parent = "") {
        std::string chain;
        std::vector<std::string> diffs;
        for (const std::string& s : seeds) {
            auto existing = images_->layer(chain_id(chain, diff(s)));
            chain = existing && *existing ? (*existing)->chain_id : layer(s, chain);
            diffs.push_back(diff(s));
        }
        NewImage img{config(diffs, comment), {}, std::move(parent)};
        for (const std::string& r : refs) img.references.push_back(named(r));
        auto id = images_->add_image(img);
        EXPECT_TRUE(id) << id.error().message;
        return id ? *id : "";
    }

    void container(std::string_view id, const std::string& image_id, std::string_view state) {
        exec(
            "INSERT INTO containers (id, name, image_id, config_json, host_config_json, state,"
            " created_at) VALUES ('" +
            std::string(id) + "', '/c" + std::string(id) + "', '" + image_id + "', '{}', '{}', '" +
            std::string(state) + "', 1)");
    }

    std::string tmp_, layers_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<ImageStore> images_;
};

const std::string cid = "c0ffee0000000000000000000000000000000000000000000000000000000001";

TEST(ChainId, follows_the_oci_image_spec) {
    std::string a = diff("a"), b = diff("b"), c = diff("c");
    auto chain = chain_ids(std::vector{a, b, c});
    ASSERT_EQ(chain.size(), 3u);
    EXPECT_EQ(chain[0], a);
    EXPECT_EQ(chain[1], sha256_digest(a + " " + b));
    EXPECT_EQ(chain[2], sha256_digest(chain[1] + " " + c));
}

TEST_F(ImagesTest, resolves_every_name_docker_accepts) {
    std::string id =
        image({"base", "app"}, "one", {"busybox:latest", "busybox@sha256:" + std::string(64, 'a')});
    std::string hex(digest_hex(id));
    for (const std::string& name : std::vector<std::string>{
             "busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox",
             "busybox@sha256:" + std::string(64, 'a'), id, hex, hex.substr(0, 12),
             "sha256:" + hex.substr(0, 12), hex.substr(0, 3)}) {
        auto r = images_->resolve(name);
        ASSERT_TRUE(r) << name << ": " << r.error().message;
        EXPECT_EQ(*r, id) << name;
    }
    auto missing = images_->resolve("alpine");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
    EXPECT_EQ(missing.error().message, "No such image: alpine:latest");
    EXPECT_EQ(images_->resolve("busybox:1.36").error().message, "No such image: busybox:1.36");
    EXPECT_EQ(images_->resolve("sha256:" + std::string(64, 'f')).error().message,
              "No such image: sha256:" + std::string(64, 'f'));
    auto bad = images_->resolve("Busybox");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(bad.error().message,
              "invalid reference format: repository name (library/Busybox) must be lowercase");
}

TEST_F(ImagesTest, ambiguous_id_prefix_is_no_such_image) {
    // 17 images share a first hex digit somewhere (pigeonhole).
    std::map<char, std::string> by_first;
    std::string prefix;
    for (int i = 0; prefix.empty() && i < 17; ++i) {
        std::string id = image({"l"}, "img" + std::to_string(i));
        if (!by_first.emplace(id[7], id).second) prefix = id.substr(7, 1);
    }
    ASSERT_FALSE(prefix.empty());
    auto r = images_->resolve(prefix);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::not_found);
    EXPECT_EQ(r.error().message, "No such image: " + prefix + ":latest");
}

TEST_F(ImagesTest, add_image_needs_complete_layers_matching_its_config) {
    auto pending = images_->begin_layer(NewLayer{diff("p"), "", ""});
    ASSERT_TRUE(pending);
    auto r = images_->add_image(NewImage{config({diff("p")}, "x"), {}, ""});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::not_found);
    auto again = images_->begin_layer(NewLayer{diff("p"), "", ""});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->was, LayerState::pending);
    ASSERT_TRUE(images_->commit_layer(pending->chain_id, 5));
    EXPECT_EQ(images_->begin_layer(NewLayer{diff("p"), "", ""})->was, LayerState::complete);
    auto ok = images_->add_image(NewImage{config({diff("p")}, "x"), {named("p")}, ""});
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(*ok, sha256_digest(config({diff("p")}, "x")));
    auto info = images_->inspect("p");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->size, 5);
    EXPECT_EQ(info->chain, std::vector<std::string>{pending->chain_id});
    EXPECT_FALSE(images_->add_image(NewImage{"not json", {}, ""}));
}

TEST_F(ImagesTest, tag_moves_tags_but_never_digests) {
    std::string a = image({"a"}, "a", {"app:1"});
    std::string b = image({"b"}, "b");
    ASSERT_TRUE(images_->tag(named("app:1"), b));
    EXPECT_EQ(*images_->resolve("app:1"), b);
    std::string d = "app@sha256:" + std::string(64, 'd');
    ASSERT_TRUE(images_->tag(named(d), a));
    auto moved = images_->tag(named(d), b);
    ASSERT_FALSE(moved);
    EXPECT_EQ(moved.error().kind, ErrorKind::conflict);
    EXPECT_EQ(moved.error().message, "Cannot overwrite digest sha256:" + std::string(64, 'd'));
    EXPECT_EQ(images_->tag(named("x"), "sha256:" + std::string(64, '0')).error().kind,
              ErrorKind::not_found);
    EXPECT_EQ(*images_->untag(named("app:1")), true);
    EXPECT_EQ(*images_->untag(named("app:1")), false);
    EXPECT_FALSE(images_->resolve("app:1"));
}

TEST_F(ImagesTest, list_shows_what_docker_images_needs) {
    std::string a = image({"a", "b"}, "a", {"busybox:latest", "localhost:5000/team/app:v1"});
    std::string b = image({"c"}, "b");
    ASSERT_TRUE(images_->add_image(
        NewImage{config({}, "labels", R"({"org.example":"yes"})"), {named("scratchy")}, ""}));
    container(cid, a, "exited");
    auto all = images_->list(true);
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 3u);
    auto find = [&](const std::string& id) {
        return *std::ranges::find(*all, id, &ImageSummary::id);
    };
    ImageSummary sa = find(a);
    EXPECT_EQ(sa.repo_tags,
              (std::vector<std::string>{"busybox:latest", "localhost:5000/team/app:v1"}));
    EXPECT_EQ(sa.size, 200);
    EXPECT_EQ(sa.created_ns, 1704164645500000000);
    EXPECT_EQ(sa.containers, 1);
    EXPECT_TRUE(find(b).repo_tags.empty());
    EXPECT_EQ(find(b).containers, 0);
    auto scratch = images_->resolve("scratchy");
    ASSERT_TRUE(scratch);
    EXPECT_EQ(find(*scratch).labels.at("org.example"), "yes");
    EXPECT_EQ(find(*scratch).size, 0);
    EXPECT_EQ(images_->list(false)->front().containers, -1);
}

TEST_F(ImagesTest, rmi_untags_then_deletes_image_and_layers) {
    std::string d = "busybox@sha256:" + std::string(64, 'e');
    std::string id = image({"a", "b"}, "one", {"busybox:latest", d});
    auto chain = *images_->layer_chain(id);
    auto r = images_->remove("busybox", false, true);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(lines(*r), (std::vector<std::string>{"Untagged: busybox:latest", "Untagged: " + d,
                                                   "Deleted: " + id, "Deleted: " + chain[1],
                                                   "Deleted: " + chain[0]}));
    EXPECT_FALSE(fs::exists(dir(chain[0])));
    EXPECT_FALSE(fs::exists(dir(chain[1])));
    EXPECT_TRUE(images_->list(false)->empty());
    EXPECT_FALSE(*images_->layer(chain[0]));
    EXPECT_EQ(images_->remove("busybox", false, true).error().message,
              "No such image: busybox:latest");
}

TEST_F(ImagesTest, rmi_of_one_of_two_tags_only_untags) {
    std::string id = image({"a"}, "one", {"busybox:latest", "mine:v1"});
    auto r = images_->remove("mine:v1", false, true);
    ASSERT_TRUE(r);
    EXPECT_EQ(lines(*r), std::vector<std::string>{"Untagged: mine:v1"});
    EXPECT_EQ(*images_->resolve("busybox"), id);
}

TEST_F(ImagesTest, rmi_refuses_a_reference_a_container_uses) {
    std::string id = image({"a"}, "one", {"busybox:latest"});
    container(cid, id, "exited");
    auto r = images_->remove("busybox", false, true);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::conflict);
    EXPECT_EQ(
        r.error().message,
        "conflict: unable to remove repository reference \"busybox\" (must force) - container " +
            cid.substr(0, 12) + " is using its referenced image " + id.substr(7, 12));
    EXPECT_EQ(*images_->resolve("busybox"), id);  // nothing changed
    auto by_id = images_->remove(id.substr(7, 12), false, true);
    ASSERT_FALSE(by_id);
    EXPECT_EQ(by_id.error().message,
              "conflict: unable to delete " + id.substr(7, 12) +
                  " (must be forced) - image is being used by stopped container " +
                  cid.substr(0, 12));
}

TEST_F(ImagesTest, rmi_by_id_with_several_repositories_must_be_forced) {
    std::string id = image({"a"}, "one", {"busybox:latest", "other:1"});
    auto r = images_->remove(id, false, true);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "conflict: unable to delete " + id.substr(7, 12) +
                  " (must be forced) - image is referenced in multiple repositories");
    auto forced = images_->remove(id, true, true);
    ASSERT_TRUE(forced) << forced.error().message;
    EXPECT_EQ(lines(*forced)[0], "Untagged: busybox:latest");
    EXPECT_EQ(lines(*forced)[1], "Untagged: other:1");
    EXPECT_EQ(lines(*forced)[2], "Deleted: " + id);
}

TEST_F(ImagesTest, running_container_cannot_be_forced) {
    std::string id = image({"a"}, "one", {"busybox:latest"});
    container(cid, id, "running");
    auto r = images_->remove(id.substr(7), true, true);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "conflict: unable to delete " + id.substr(7, 12) +
                  " (cannot be forced) - image is being used by running container " +
                  cid.substr(0, 12));
    // By name with force: Docker untags and quietly keeps the image.
    auto by_name = images_->remove("busybox", true, true);
    ASSERT_TRUE(by_name) << by_name.error().message;
    EXPECT_EQ(lines(*by_name), std::vector<std::string>{"Untagged: busybox:latest"});
    EXPECT_EQ(*images_->resolve(id), id);
}

TEST_F(ImagesTest, forced_rmi_keeps_layers_until_the_container_goes) {
    std::string id = image({"a"}, "one", {"busybox:latest"});
    auto chain = *images_->layer_chain(id);
    container(cid, id, "exited");
    auto r = images_->remove("busybox", true, true);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(lines(*r), (std::vector<std::string>{"Untagged: busybox:latest", "Deleted: " + id}));
    EXPECT_TRUE(images_->list(false)->empty());
    EXPECT_FALSE(images_->resolve(id));
    EXPECT_TRUE(fs::exists(dir(chain[0])));
    EXPECT_EQ(*images_->layer_chain(id), chain);  // the container can still mount it
    EXPECT_EQ(*images_->collect_removed_images(), 0u);
    exec("DELETE FROM containers");
    EXPECT_EQ(*images_->collect_removed_images(), 1u);
    EXPECT_FALSE(fs::exists(dir(chain[0])));
    EXPECT_FALSE(*images_->layer(chain[0]));
}

TEST_F(ImagesTest, shared_layers_go_with_their_last_image) {
    std::string a = image({"base", "a"}, "a", {"a"});
    std::string b = image({"base", "b"}, "b", {"b"});
    auto ca = *images_->layer_chain(a);
    auto cb = *images_->layer_chain(b);
    ASSERT_EQ(ca[0], cb[0]);
    auto r = images_->remove("a", false, true);
    ASSERT_TRUE(r);
    EXPECT_EQ(lines(*r).back(), "Deleted: " + ca[1]);
    EXPECT_TRUE(fs::exists(dir(ca[0])));
    EXPECT_FALSE(fs::exists(dir(ca[1])));
    r = images_->remove("b", false, true);
    ASSERT_TRUE(r);
    EXPECT_EQ(lines(*r), (std::vector<std::string>{"Untagged: b:latest", "Deleted: " + b,
                                                   "Deleted: " + cb[1], "Deleted: " + cb[0]}));
    EXPECT_FALSE(fs::exists(dir(cb[0])));
}

TEST_F(ImagesTest, untagged_parents_are_pruned_unless_noprune) {
    std::string parent = image({"p"}, "parent");
    std::string child = image({"p", "c"}, "child", {"child"}, parent);
    auto conflict = images_->remove(parent, false, true);
    ASSERT_FALSE(conflict);
    EXPECT_EQ(conflict.error().message,
              "conflict: unable to delete " + parent.substr(7, 12) +
                  " (cannot be forced) - image has dependent child images");
    auto kept = images_->remove("child", false, false);
    ASSERT_TRUE(kept);
    EXPECT_EQ(*images_->resolve(parent), parent);
    std::string child2 = image({"p", "c"}, "child2", {"child"}, parent);
    auto r = images_->remove("child", false, true);
    ASSERT_TRUE(r);
    auto l = lines(*r);
    EXPECT_NE(std::ranges::find(l, "Deleted: " + child2), l.end());
    EXPECT_NE(std::ranges::find(l, "Deleted: " + parent), l.end());
    EXPECT_TRUE(images_->list(false)->empty());
}

TEST_F(ImagesTest, prune_removes_dangling_then_with_all_unused) {
    std::string dangling = image({"a"}, "dangling");
    std::string digest_only = image({"b"}, "digest", {"repo@sha256:" + std::string(64, 'b')});
    std::string tagged = image({"c"}, "tagged", {"tagged"});
    std::string used = image({"d"}, "used", {"used"});
    std::string used_dangling = image({"e"}, "used-dangling");
    container(cid, used, "exited");
    container("c2", used_dangling, "exited");
    auto r = images_->prune(PruneOptions{});
    ASSERT_TRUE(r) << r.error().message;
    auto l = lines(r->deleted);
    EXPECT_NE(std::ranges::find(l, "Deleted: " + dangling), l.end());
    EXPECT_NE(std::ranges::find(l, "Deleted: " + digest_only), l.end());
    EXPECT_NE(std::ranges::find(l, "Untagged: repo@sha256:" + std::string(64, 'b')), l.end());
    EXPECT_EQ(r->space_reclaimed, 200);
    EXPECT_EQ(images_->list(false)->size(), 3u);
    std::string tagged_layer = images_->layer_chain(tagged)->front();
    auto all = images_->prune(PruneOptions{true, {}});
    ASSERT_TRUE(all);
    EXPECT_EQ(lines(all->deleted),
              (std::vector<std::string>{"Untagged: tagged:latest", "Deleted: " + tagged,
                                        "Deleted: " + tagged_layer}));
    EXPECT_EQ(images_->list(false)->size(), 2u);
    EXPECT_EQ(*images_->resolve("used"), used);
}

TEST_F(ImagesTest, reconcile_sweeps_what_a_crash_left) {
    std::string kept = image({"a"}, "kept", {"kept"});
    std::string kept_chain = images_->layer_chain(kept)->front();
    // A pull that died: one layer committed but no image, its child still pending, files of both.
    std::string done = layer("done", "");
    auto pending = images_->begin_layer(NewLayer{diff("half"), done, ""});
    ASSERT_TRUE(pending);
    fs::create_directories(dir(pending->chain_id) + "/diff/partial");
    // A directory with no record at all (crash after mkdir, before the record).
    std::string stray = layers_ + "/" + std::string(64, '9');
    fs::create_directories(stray + "/diff");
    images_.reset();  // "crash" and start again
    auto reopened = ImageStore::open(*store_, files());
    ASSERT_TRUE(reopened);
    images_ = std::move(*reopened);
    auto r = images_->reconcile();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->pending_layers, 1u);
    EXPECT_EQ(r->orphan_layers, 1u);
    EXPECT_EQ(r->removed_layer_files.size(), 3u);
    EXPECT_FALSE(fs::exists(stray));
    EXPECT_FALSE(fs::exists(dir(pending->chain_id)));
    EXPECT_FALSE(fs::exists(dir(done)));
    EXPECT_FALSE(*images_->layer(pending->chain_id));
    EXPECT_TRUE(fs::exists(dir(kept_chain)));
    EXPECT_EQ(*images_->resolve("kept"), kept);
}

TEST_F(ImagesTest, abort_layer_drops_record_and_files) {
    auto b = images_->begin_layer(NewLayer{diff("x"), "", "sha256:" + std::string(64, '1')});
    ASSERT_TRUE(b);
    fs::create_directories(dir(b->chain_id) + "/diff");
    auto rec = images_->layer(b->chain_id);
    ASSERT_TRUE(rec && *rec);
    EXPECT_FALSE((*rec)->complete);
    EXPECT_EQ((*rec)->blob_digest, "sha256:" + std::string(64, '1'));
    ASSERT_TRUE(images_->abort_layer(b->chain_id));
    EXPECT_FALSE(*images_->layer(b->chain_id));
    EXPECT_FALSE(fs::exists(dir(b->chain_id)));
    EXPECT_EQ(images_->commit_layer(b->chain_id, 1).error().kind, ErrorKind::conflict);
}

}  // namespace
