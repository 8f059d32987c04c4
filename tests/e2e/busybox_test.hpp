// The fixture of the container tests: a berthd of their own with the busybox image (built here
// from busybox-static) loaded as busybox:latest. Skips without root or busybox-static.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

namespace berth::e2e {

class BusyboxDaemonTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: containers";
        if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs busybox-static";
        ASSERT_TRUE(daemon.start());
        auto img = berth::testing::build_busybox_archive(daemon.dir(), {"busybox:latest"});
        image_id = img.image_id;
        ASSERT_EQ(d("load -i " + img.archive_path).exit_code, 0);
    }
    // Whether a derived SetUp may go on after this one.
    bool ready() const { return !IsSkipped() && !HasFatalFailure(); }
    // `docker <args>` against this daemon, with no input.
    CommandResult d(const std::string& args) { return docker(daemon, args + " </dev/null"); }
    BerthDaemon daemon;
    std::string image_id;
};

}  // namespace berth::e2e
