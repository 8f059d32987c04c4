// docker pull against Debian's docker-registry started on 127.0.0.1 by the test: plain, basic
// auth, TLS and token auth; Docker's progress and status lines, "up to date", pull by digest,
// and the errors Docker gives. Images reach the registry with skopeo from an archive the test
// builds from busybox-static.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "daemon_fixture.hpp"
#include "image_fixture.hpp"
#include "registry/auth.hpp"
#include "registry_fixture.hpp"

using namespace berth;
using namespace berth::e2e;
using namespace berth::testing;
using berth::registry_test::RegistryAuth;
using berth::registry_test::RegistryFixture;
using berth::registry_test::RegistryVariant;

namespace {

class PullTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: layers keep owners and device nodes";
        for (const char* tool : {"/usr/bin/docker-registry", "/usr/bin/skopeo", "/bin/busybox"})
            if (access(tool, X_OK) != 0) GTEST_SKIP() << "needs " << tool;
        daemon.use_host_network();  // its registry is on the host's loopback
        ASSERT_TRUE(daemon.start());
        // A docker CLI config of our own: no credentials but the ones a test writes.
        config_dir = daemon.dir() + "/docker-config";
        run_command("mkdir -p " + config_dir + " && echo '{}' > " + config_dir + "/config.json");
    }

    std::unique_ptr<RegistryFixture> registry(RegistryVariant v) {
        auto r = RegistryFixture::start(v);
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return r ? std::move(*r) : nullptr;
    }

    // Puts a busybox image (two layers) at host/berth/busybox:tag with skopeo.
    BuiltImage push(const RegistryFixture& reg, const std::string& tag, bool with_creds) {
        auto img = build_busybox_archive(daemon.dir(), {"busybox:latest"}, true);
        std::string creds = with_creds ? std::string(" --dest-creds ") + RegistryFixture::username +
                                             ":" + RegistryFixture::password
                                       : "";
        auto r = run_command("skopeo copy --quiet --dest-tls-verify=false" + creds +
                             " docker-archive:" + img.archive_path + " docker://" + reg.host() +
                             "/berth/busybox:" + tag);
        EXPECT_EQ(r.exit_code, 0) << r.error << reg.log();
        return img;
    }

    void login(const RegistryFixture& reg) {
        std::string auth = registry::base64_encode(std::string(RegistryFixture::username) + ":" +
                                                   RegistryFixture::password);
        std::ofstream(config_dir + "/config.json")
            << "{\"auths\":{\"" << reg.host() << "\":{\"auth\":\"" << auth << "\"}}}";
    }

    CommandResult d(const std::string& args) {
        return run_command("docker --config " + config_dir + " " + args + " </dev/null",
                           {"DOCKER_HOST=" + daemon.docker_host()});
    }

    BerthDaemon daemon;
    std::string config_dir;
};

}  // namespace

TEST_F(PullTest, plain_registry_pull_shows_dockers_progress_and_files_the_image) {
    auto reg = registry({});
    ASSERT_TRUE(reg);
    auto img = push(*reg, "latest", false);
    std::string name = reg->host() + "/berth/busybox";
    auto r = d("pull " + name);
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_NE(r.output.find("latest: Pulling from berth/busybox"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(": Pull complete"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Digest: sha256:"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Status: Downloaded newer image for " + name + ":latest"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(d("images -q --no-trunc").output, img.image_id + "\n");
    auto again = d("pull " + name);
    ASSERT_EQ(again.exit_code, 0) << again.error;
    EXPECT_NE(again.output.find(": Already exists"), std::string::npos) << again.output;
    EXPECT_NE(again.output.find("Status: Image is up to date for " + name + ":latest"),
              std::string::npos)
        << again.output;
}

TEST_F(PullTest, pull_by_digest_and_repo_digests_are_recorded) {
    auto reg = registry({});
    ASSERT_TRUE(reg);
    push(*reg, "v1", false);
    std::string name = reg->host() + "/berth/busybox";
    ASSERT_EQ(d("pull " + name + ":v1").exit_code, 0);
    auto digest = d("image inspect " + name + ":v1 --format '{{index .RepoDigests 0}}'");
    ASSERT_EQ(digest.exit_code, 0) << digest.error;
    std::string by_digest = digest.output.substr(0, digest.output.size() - 1);
    EXPECT_TRUE(by_digest.starts_with(name + "@sha256:")) << by_digest;
    ASSERT_EQ(d("rmi " + name + ":v1").exit_code, 0);
    auto r = d("pull " + by_digest);
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_NE(r.output.find("Status: Downloaded newer image for " + by_digest), std::string::npos)
        << r.output;
}

TEST_F(PullTest, missing_image_and_unreachable_registry_are_dockers_errors) {
    auto reg = registry({});
    ASSERT_TRUE(reg);
    auto r = d("pull " + reg->host() + "/berth/nosuch:latest");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.error.find("Error response from daemon: manifest for " + reg->host() +
                           "/berth/nosuch:latest not found: manifest unknown"),
              std::string::npos)
        << r.error;
    auto down = d("pull 127.0.0.1:1/berth/x");
    EXPECT_NE(down.exit_code, 0);
    EXPECT_NE(down.error.find("connect"), std::string::npos) << down.error;
    EXPECT_EQ(d("images -aq").output, "");
}

TEST_F(PullTest, basic_auth_registry_needs_the_cli_credentials) {
    auto reg = registry({RegistryAuth::basic, false});
    ASSERT_TRUE(reg);
    push(*reg, "latest", true);
    std::string name = reg->host() + "/berth/busybox";
    auto denied = d("pull " + name);
    EXPECT_NE(denied.exit_code, 0);
    EXPECT_NE(denied.error.find("unauthorized"), std::string::npos) << denied.error;
    login(*reg);
    auto ok = d("pull " + name);
    ASSERT_EQ(ok.exit_code, 0) << ok.error;
    EXPECT_NE(ok.output.find("Status: Downloaded newer image"), std::string::npos) << ok.output;
}

TEST_F(PullTest, tls_registry_on_loopback_pulls_as_dockerd_does) {
    auto reg = registry({RegistryAuth::none, true});
    ASSERT_TRUE(reg);
    push(*reg, "latest", false);
    auto r = d("pull " + reg->host() + "/berth/busybox");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_NE(r.output.find("Status: Downloaded newer image"), std::string::npos) << r.output;
}

TEST_F(PullTest, token_auth_registry_gets_a_bearer_token_with_the_credentials) {
    auto reg = registry({RegistryAuth::token, false});
    ASSERT_TRUE(reg);
    push(*reg, "latest", true);
    login(*reg);
    auto r = d("pull " + reg->host() + "/berth/busybox");
    ASSERT_EQ(r.exit_code, 0) << r.error << reg->log();
    EXPECT_NE(r.output.find("Status: Downloaded newer image"), std::string::npos) << r.output;
}

TEST_F(PullTest, push_then_pull_back_gives_the_same_image) {
    auto reg = registry({});
    ASSERT_TRUE(reg);
    auto img = build_busybox_archive(daemon.dir(), {"busybox:latest"}, true);
    ASSERT_EQ(d("load -i " + img.archive_path).exit_code, 0);
    std::string name = reg->host() + "/berth/pushed:v1";
    ASSERT_EQ(d("tag busybox " + name).exit_code, 0);
    auto p = d("push " + name);
    ASSERT_EQ(p.exit_code, 0) << p.error << reg->log();
    EXPECT_NE(p.output.find("The push refers to repository [" + reg->host() + "/berth/pushed]"),
              std::string::npos)
        << p.output;
    EXPECT_NE(p.output.find(": Pushed"), std::string::npos) << p.output;
    EXPECT_NE(p.output.find("v1: digest: sha256:"), std::string::npos) << p.output;
    auto again = d("push " + name);
    EXPECT_NE(again.output.find(": Layer already exists"), std::string::npos) << again.output;
    ASSERT_EQ(d("rmi busybox " + name).exit_code, 0);
    auto pulled = d("pull " + name);
    ASSERT_EQ(pulled.exit_code, 0) << pulled.error;
    EXPECT_EQ(d("images -q --no-trunc").output, img.image_id + "\n");
}

TEST_F(PullTest, push_of_a_missing_image_or_without_credentials_fails_as_docker_does) {
    auto reg = registry({RegistryAuth::basic, false});
    ASSERT_TRUE(reg);
    auto missing = d("push " + reg->host() + "/berth/none:v1");
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.error.find("An image does not exist locally with the tag: " + reg->host() +
                                 "/berth/none"),
              std::string::npos)
        << missing.error;
    auto img = build_busybox_archive(daemon.dir(), {"busybox:latest"});
    ASSERT_EQ(d("load -i " + img.archive_path).exit_code, 0);
    ASSERT_EQ(d("tag busybox " + reg->host() + "/berth/x:v1").exit_code, 0);
    auto denied = d("push " + reg->host() + "/berth/x:v1");
    EXPECT_NE(denied.exit_code, 0);
    EXPECT_NE((denied.error + denied.output).find("unauthorized"), std::string::npos)
        << denied.error << denied.output;
}
