// Images through the real docker CLI: load, list, inspect, history, tag, rmi, prune, with
// Docker's output and errors; a garbage archive leaves nothing behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class ImagesTest : public testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: layers keep owners and device nodes";
        if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs busybox-static";
        ASSERT_TRUE(daemon.start());
    }
    CommandResult d(const std::string& args) { return docker(daemon, args); }
    BuiltImage load(const std::vector<std::string>& tags, bool two_layers = false) {
        auto img = build_busybox_archive(daemon.dir(), tags, two_layers);
        auto r = d("load -i " + img.archive_path);
        EXPECT_EQ(r.exit_code, 0) << r.error;
        return img;
    }
    BerthDaemon daemon;
};

}  // namespace

TEST_F(ImagesTest, docker_load_files_the_image_with_its_tag) {
    auto img = build_busybox_archive(daemon.dir(), {"berth-test/busybox:1.0"});
    auto r = d("load -i " + img.archive_path);
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_NE(r.output.find("Loaded image: berth-test/busybox:1.0"), std::string::npos) << r.output;
    auto ls = d("images --format '{{.Repository}}:{{.Tag}} {{.ID}}'");
    ASSERT_EQ(ls.exit_code, 0) << ls.error;
    EXPECT_EQ(ls.output, "berth-test/busybox:1.0 " + img.image_id.substr(7, 12) + "\n");
}

TEST_F(ImagesTest, inspect_shows_id_config_rootfs_and_driver) {
    auto img = load({"busybox:latest"}, true);
    auto r = d("image inspect busybox --format "
               "'{{.Id}} {{json .Config.Cmd}} {{len .RootFS.Layers}} {{.GraphDriver.Name}} "
               "{{index .Config.Labels \"org.berth.test\"}} {{.Os}}/{{.Architecture}}'");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, img.image_id + " [\"sh\"] 2 overlay2 yes linux/amd64\n");
}

TEST_F(ImagesTest, history_lists_layers_newest_first) {
    load({"busybox:latest"}, true);
    auto r = d("history --no-trunc --format '{{.CreatedBy}}|{{.Size}}' busybox");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_TRUE(r.output.starts_with("CMD [\"sh\"]|0B\nberth test layer 1|")) << r.output;
    EXPECT_NE(r.output.find("berth test layer 0|"), std::string::npos);
}

TEST_F(ImagesTest, tag_and_rmi_untag_then_delete) {
    auto img = load({"busybox:latest"});
    ASSERT_EQ(d("tag busybox localhost:5000/team/app:v1").exit_code, 0);
    auto both = d("images --format '{{.Repository}}:{{.Tag}}'");
    EXPECT_NE(both.output.find("localhost:5000/team/app:v1"), std::string::npos) << both.output;
    auto untag = d("rmi localhost:5000/team/app:v1");
    ASSERT_EQ(untag.exit_code, 0) << untag.error;
    EXPECT_EQ(untag.output, "Untagged: localhost:5000/team/app:v1\n");
    auto del = d("rmi busybox");
    ASSERT_EQ(del.exit_code, 0) << del.error;
    EXPECT_NE(del.output.find("Untagged: busybox:latest"), std::string::npos) << del.output;
    EXPECT_NE(del.output.find("Deleted: " + img.image_id), std::string::npos) << del.output;
    EXPECT_EQ(d("images -q").output, "");
}

TEST_F(ImagesTest, unknown_image_errors_are_dockers) {
    auto r = d("rmi nosuch");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("No such image: nosuch:latest"), std::string::npos) << r.error;
    auto t = d("tag nosuch other");
    EXPECT_NE(t.exit_code, 0);
    EXPECT_NE(t.error.find("No such image: nosuch:latest"), std::string::npos) << t.error;
    auto bad = d("tag busybox Bad/Name");
    EXPECT_NE(bad.exit_code, 0);
}

TEST_F(ImagesTest, layers_shared_by_two_images_are_stored_once_and_kept_until_both_go) {
    load({"one:latest"});
    load({"two:latest"}, true);  // the same bottom layer plus one
    auto layers_dir = daemon.data_root() + "/layers";
    auto count = run_command("ls " + layers_dir + " | grep -c '^[0-9a-f]\\{64\\}$'");
    EXPECT_EQ(count.output, "2\n");
    ASSERT_EQ(d("rmi two").exit_code, 0);
    EXPECT_EQ(run_command("ls " + layers_dir + " | grep -c '^[0-9a-f]\\{64\\}$'").output, "1\n");
    ASSERT_EQ(d("rmi one").exit_code, 0);
    EXPECT_EQ(run_command("ls " + layers_dir + " | grep -c '^[0-9a-f]\\{64\\}$'").output, "0\n");
}

TEST_F(ImagesTest, prune_removes_dangling_images) {
    load({"busybox:latest"});
    ASSERT_EQ(d("tag busybox keep:1").exit_code, 0);
    ASSERT_EQ(d("rmi busybox keep:1").exit_code, 0);
    load({});  // untagged: dangling
    auto r = d("image prune -f");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_NE(r.output.find("deleted: sha256:"), std::string::npos) << r.output;
    EXPECT_EQ(d("images -aq").output, "");
}

TEST_F(ImagesTest, loading_garbage_fails_and_leaves_nothing) {
    std::string garbage = daemon.dir() + "/garbage.tar";
    std::ofstream(garbage) << std::string(5000, 'x');
    auto r = d("load -i " + garbage);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("Error response from daemon"), std::string::npos) << r.error;
    EXPECT_EQ(d("images -aq").output, "");
    EXPECT_EQ(run_command("ls -A " + daemon.data_root() + "/layers | grep -v '^l$' | wc -l").output,
              "0\n");
    EXPECT_EQ(run_command("ls -A " + daemon.data_root() + "/tmp 2>/dev/null | wc -l").output, "0\n");
    // The daemon keeps serving.
    EXPECT_EQ(d("images -q").exit_code, 0);
}

TEST_F(ImagesTest, docker_import_makes_a_one_layer_image_with_changes_applied) {
    std::string root = daemon.dir() + "/importroot";
    ASSERT_EQ(run_command("mkdir -p " + root + "/bin && cp /bin/busybox " + root +
                          "/bin/ && ln -s busybox " + root + "/bin/sh && tar -C " + root +
                          " -czf " + daemon.dir() + "/rootfs.tgz .")
                  .exit_code,
              0);
    auto r = d("import -m 'from a test' -c 'CMD [\"sh\", \"-c\", \"echo hi\"]' -c 'ENV A=b' "
               "-c 'WORKDIR /srv' " + daemon.dir() + "/rootfs.tgz imported:1");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    ASSERT_TRUE(r.output.starts_with("sha256:")) << r.output;
    auto cfg = d("image inspect imported:1 --format '{{json .Config.Cmd}} {{json .Config.Env}} "
                 "{{.Config.WorkingDir}} {{len .RootFS.Layers}}'");
    ASSERT_EQ(cfg.exit_code, 0) << cfg.error;
    EXPECT_EQ(cfg.output, "[\"sh\",\"-c\",\"echo hi\"] [\"A=b\"] /srv 1\n");
    auto hist = d("history --format '{{.Comment}}' imported:1");
    EXPECT_EQ(hist.output, "from a test\n");
}

TEST_F(ImagesTest, import_with_an_unknown_change_is_refused) {
    std::ofstream(daemon.dir() + "/empty.tar");
    auto r = d("import -c 'FROM scratch' " + daemon.dir() + "/empty.tar x:1");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("FROM is not a valid change command"), std::string::npos) << r.error;
}

TEST_F(ImagesTest, save_then_load_gives_back_the_same_images_and_ids) {
    auto one = load({"one:latest"});
    auto two = load({"two:latest"}, true);
    std::string out = daemon.dir() + "/saved.tar";
    auto s = d("save -o " + out + " one two:latest");
    ASSERT_EQ(s.exit_code, 0) << s.error;
    auto listing = run_command("tar -tf " + out + " | sort");
    EXPECT_NE(listing.output.find("manifest.json"), std::string::npos) << listing.output;
    EXPECT_NE(listing.output.find("index.json"), std::string::npos) << listing.output;
    EXPECT_NE(listing.output.find("oci-layout"), std::string::npos) << listing.output;
    ASSERT_EQ(d("rmi one two").exit_code, 0);
    EXPECT_EQ(d("images -aq").output, "");
    auto l = d("load -i " + out);
    ASSERT_EQ(l.exit_code, 0) << l.error;
    EXPECT_NE(l.output.find("Loaded image: one:latest"), std::string::npos) << l.output;
    EXPECT_NE(l.output.find("Loaded image: two:latest"), std::string::npos) << l.output;
    auto ids = d("images --no-trunc --format '{{.Repository}} {{.ID}}'");
    EXPECT_NE(ids.output.find("one " + one.image_id), std::string::npos) << ids.output;
    EXPECT_NE(ids.output.find("two " + two.image_id), std::string::npos) << ids.output;
}

TEST_F(ImagesTest, saved_layers_are_the_original_tars_by_digest) {
    auto img = load({"busybox:latest"}, true);
    std::string out = daemon.dir() + "/saved.tar";
    ASSERT_EQ(d("save busybox -o " + out).exit_code, 0);
    std::string x = daemon.dir() + "/x";
    ASSERT_EQ(run_command("mkdir -p " + x + " && tar -C " + x + " -xf " + out).exit_code, 0);
    // Every blob's name is the sha256 of its content: the diff IDs came back byte for byte.
    auto check = run_command("cd " + x + "/blobs/sha256 && for f in *; do echo \"$f  $f\"; done "
                             "| sha256sum -c --quiet 2>&1 | wc -l");
    EXPECT_EQ(check.output, "0\n") << run_command("cd " + x + "/blobs/sha256 && sha256sum *").output;
    // Two layers, the config and the OCI manifest.
    EXPECT_EQ(run_command("ls " + x + "/blobs/sha256 | wc -l").output, "4\n");
}
