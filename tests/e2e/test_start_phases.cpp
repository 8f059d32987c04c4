// berth's own start timings in inspect ("BerthStartPhases", issue 5): present after a run,
// absent before the first start, gone with the container; read through the docker CLI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class StartPhasesTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
    }
};

constexpr const char* phases_format =
    "'{{.BerthStartPhases.MountUs}} {{.BerthStartPhases.PlanUs}} {{.BerthStartPhases.CgroupUs}} "
    "{{.BerthStartPhases.PlaceUs}} {{.BerthStartPhases.CloneUs}} {{.BerthStartPhases.ExecUs}} "
    "{{.BerthStartPhases.TotalUs}}'";

}  // namespace

TEST_F(StartPhasesTest, inspect_shows_the_phases_of_the_last_start) {
    auto c = d("create --name phases1 --network none busybox busybox true");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    auto before = d("inspect phases1 --format '{{json .BerthStartPhases}}'");
    ASSERT_EQ(before.exit_code, 0) << before.error;
    EXPECT_EQ(before.output, "null\n");  // never started: no timings

    auto run = d("start -a phases1");
    ASSERT_EQ(run.exit_code, 0) << run.error;
    auto i = d("inspect phases1 --format " + std::string(phases_format));
    ASSERT_EQ(i.exit_code, 0) << i.error;
    std::istringstream in(i.output);
    long mount = -1, plan = -1, cgroup = -1, place = -1, clone = -1, exec = -1, total = -1;
    in >> mount >> plan >> cgroup >> place >> clone >> exec >> total;
    ASSERT_FALSE(in.fail()) << i.output;
    for (long v : {mount, plan, cgroup, place, clone, exec}) EXPECT_GE(v, 0) << i.output;
    // A real start takes time (clone and exec at least), and the phases make up the total
    // (each is rounded down to a microsecond).
    EXPECT_GT(clone + exec, 0) << i.output;
    long sum = mount + plan + cgroup + place + clone + exec;
    EXPECT_GE(total, sum) << i.output;
    EXPECT_LE(total, sum + 7) << i.output;
    }

TEST_F(StartPhasesTest, a_second_start_replaces_them_and_rm_forgets_them) {
    ASSERT_EQ(d("run --name phases2 --network none busybox busybox true").exit_code, 0);
    auto first = d("inspect phases2 --format '{{json .BerthStartPhases}}'");
    ASSERT_EQ(first.exit_code, 0) << first.error;
    EXPECT_NE(first.output.find("\"TotalUs\":"), std::string::npos) << first.output;
    ASSERT_EQ(d("start -a phases2").exit_code, 0);
    auto second = d("inspect phases2 --format '{{json .BerthStartPhases}}'");
    EXPECT_NE(second.output.find("\"TotalUs\":"), std::string::npos) << second.output;
    ASSERT_EQ(d("rm phases2").exit_code, 0);
    // A new container of the same name starts with no timings of the old one.
    ASSERT_EQ(d("create --name phases2 busybox busybox true").exit_code, 0);
    EXPECT_EQ(d("inspect phases2 --format '{{json .BerthStartPhases}}'").output, "null\n");
}
