// Volumes through the docker CLI: volume create/ls/inspect/rm/prune with their filters, named
// and anonymous volumes in containers (-v, --mount, the image's VOLUME), image content copied
// into a new volume, read-only mounts, rm -v and --rm, in-use and bad-name errors, inspect's
// Mounts, tmpfs volumes, events, and volumes kept across a daemon restart.
#include <gtest/gtest.h>
#include <unistd.h>

#include "busybox_test.hpp"
#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class VolumesTest : public BusyboxDaemonTest {
  protected:
    void SetUp() override {
        BusyboxDaemonTest::SetUp();
        if (!ready()) return;
    }
    std::string volumes_dir() const { return daemon.data_root() + "/volumes"; }
    // An image whose config has VOLUME /data, with content there: a file, a directory owned by
    // 1000:1000 mode 0750, and a symlink to the host's idea of /etc/passwd.
    void import_volume_image() {
        std::string root = daemon.dir() + "/volroot";
        std::string cmd = "mkdir -p " + root + "/bin " + root + "/data/sub && cp /bin/busybox " +
                          root + "/bin/ && ln -s busybox " + root + "/bin/sh && ln -s busybox " +
                          root + "/bin/cat && ln -s busybox " + root +
                          "/bin/ls && echo 'from the "
                          "image' > " +
                          root + "/data/hello.txt && chown 1000:1000 " + root +
                          "/data/sub && chmod 0750 " + root + "/data/sub && ln -s /etc/passwd " +
                          root + "/data/link && mkdir " + root +
                          "/data/many && for i in $(seq 300); do echo $i > " + root +
                          "/data/many/f$i; done && head -c 6000000 /dev/urandom > " + root +
                          "/data/big && tar -C " + root + " -cf " + daemon.dir() + "/volroot.tar .";
        ASSERT_EQ(run_command(cmd).exit_code, 0);
        auto r = d("import -c 'VOLUME /data' -c 'CMD [\"sh\"]' " + daemon.dir() +
                   "/volroot.tar volimg:latest");
        ASSERT_EQ(r.exit_code, 0) << r.error;
    }
    // POST with a JSON body through curl: the status code.
    std::string post_status(const std::string& path, const std::string& body) {
        return run_command("curl -s -o /dev/null -w '%{http_code}' --unix-socket " +
                           daemon.socket_path() +
                           " -X POST -H 'Content-Type: application/json' "
                           "-d '" +
                           body + "' http://localhost" + path)
            .output;
    }
    std::string delete_status(const std::string& path) {
        return run_command("curl -s -o /dev/null -w '%{http_code}' --unix-socket " +
                           daemon.socket_path() + " -X DELETE http://localhost" + path)
            .output;
    }
};

}  // namespace

TEST_F(VolumesTest, create_inspect_ls_and_rm_a_named_volume) {
    auto c = d("volume create --label env=prod v1");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    EXPECT_EQ(c.output, "v1\n");
    EXPECT_EQ(d("volume create v1").output, "v1\n");  // idempotent
    auto i =
        d("volume inspect v1 --format '{{.Name}} {{.Driver}} {{.Mountpoint}} {{.Scope}} "
          "{{index .Labels \"env\"}}'");
    ASSERT_EQ(i.exit_code, 0) << i.error;
    EXPECT_EQ(i.output, "v1 local " + volumes_dir() + "/v1/_data local prod\n");
    auto created = d("volume inspect v1 --format '{{.CreatedAt}}'");
    EXPECT_EQ(created.output.size(), 21u) << created.output;  // 2026-11-22T14:00:00Z
    EXPECT_EQ(run_command("test -d " + volumes_dir() + "/v1/_data").exit_code, 0);
    EXPECT_EQ(d("volume ls --format '{{.Driver}} {{.Name}}'").output, "local v1\n");
    EXPECT_EQ(d("volume rm v1").output, "v1\n");
    EXPECT_EQ(d("volume ls -q").output, "");
    EXPECT_NE(run_command("test -e " + volumes_dir() + "/v1").exit_code, 0);
    auto gone = d("volume inspect v1");
    EXPECT_NE(gone.exit_code, 0);
    EXPECT_NE(gone.error.find("no such volume"), std::string::npos) << gone.error;
    EXPECT_NE(d("volume rm v1").exit_code, 0);
    EXPECT_EQ(d("volume rm -f v1").exit_code, 0);  // force: a missing volume is fine
}

TEST_F(VolumesTest, a_volume_without_a_name_gets_64_hex_digits) {
    auto c = d("volume create");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    ASSERT_EQ(c.output.size(), 65u) << c.output;
    EXPECT_EQ(c.output.find_first_not_of("0123456789abcdef"), 64u) << c.output;
}

TEST_F(VolumesTest, invalid_names_and_options_are_400) {
    auto bad = d("volume create 'bad name'");
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.error.find("includes invalid characters for a local volume name, only "
                             "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"),
              std::string::npos)
        << bad.error;
    EXPECT_EQ(post_status("/volumes/create", R"({"Name":"-x"})"), "400");
    EXPECT_EQ(post_status("/volumes/create", R"({"Name":"a"})"), "400");
    EXPECT_EQ(post_status("/volumes/create", R"({"Name":"ok","DriverOpts":{"nope":"1"}})"), "400");
    EXPECT_EQ(post_status("/volumes/create", R"({"Name":"ok","Driver":"nfsplugin"})"), "404");
    auto run = d("run --rm -v 'x y:/data' busybox true");
    EXPECT_NE(run.exit_code, 0);
    EXPECT_NE(run.error.find("includes invalid characters"), std::string::npos) << run.error;
    EXPECT_EQ(d("volume ls -q").output, "");
    EXPECT_EQ(d("ps -aq").output, "");
}

TEST_F(VolumesTest, ls_filters_by_dangling_label_name_and_driver) {
    ASSERT_EQ(d("volume create --label env=prod used1").exit_code, 0);
    ASSERT_EQ(d("volume create --label env=dev --label team spare2").exit_code, 0);
    ASSERT_EQ(d("create --name user -v used1:/data busybox").exit_code, 0);
    EXPECT_EQ(d("volume ls -q -f dangling=true").output, "spare2\n");
    EXPECT_EQ(d("volume ls -q -f dangling=false").output, "used1\n");
    EXPECT_EQ(d("volume ls -q -f label=env=prod").output, "used1\n");
    EXPECT_EQ(d("volume ls -q -f label=team").output, "spare2\n");
    EXPECT_EQ(d("volume ls -q -f name=are").output, "spare2\n");
    EXPECT_EQ(d("volume ls -q -f driver=local").output, "spare2\nused1\n");
    auto bad = d("volume ls -f color=red");
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.error.find("invalid filter 'color'"), std::string::npos) << bad.error;
}

TEST_F(VolumesTest, data_persists_across_containers_and_ro_mounts_refuse_writes) {
    auto w = d("run --rm -v data:/data busybox sh -c 'echo kept > /data/f'");
    ASSERT_EQ(w.exit_code, 0) << w.error;
    auto r = d("run --rm -v data:/data busybox cat /data/f");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, "kept\n");
    EXPECT_EQ(d("volume ls -q").output, "data\n");  // --rm keeps named volumes
    auto ro = d("run --rm -v data:/data:ro busybox sh -c 'echo x > /data/f'");
    EXPECT_NE(ro.exit_code, 0);
    EXPECT_NE(ro.error.find("Read-only file system"), std::string::npos) << ro.error;
    auto mount_ro =
        d("run --rm --mount type=volume,src=data,dst=/data,readonly busybox "
          "touch /data/g");
    EXPECT_NE(mount_ro.exit_code, 0);
    EXPECT_NE(mount_ro.error.find("Read-only file system"), std::string::npos) << mount_ro.error;
    EXPECT_EQ(d("run --rm --mount type=volume,src=data,dst=/data busybox cat /data/f").output,
              "kept\n");
    EXPECT_EQ(run_command("cat " + volumes_dir() + "/data/_data/f").output, "kept\n");
}

TEST_F(VolumesTest, image_volume_content_is_copied_into_new_volumes) {
    import_volume_image();
    long fds = settled_fd_count(daemon);
    auto c = d("run --name c1 volimg cat /data/hello.txt");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    EXPECT_EQ(c.output, "from the image\n");
    auto name = d("inspect c1 --format '{{range .Mounts}}{{.Name}}{{end}}'");
    ASSERT_EQ(name.output.size(), 65u) << name.output;
    std::string vol = name.output.substr(0, 64);
    std::string data = volumes_dir() + "/" + vol + "/_data";
    EXPECT_EQ(run_command("stat -c '%u:%g %a' " + data + "/sub").output, "1000:1000 750\n");
    // The symlink is copied as a link, never followed to the host's file.
    EXPECT_EQ(run_command("readlink " + data + "/link").output, "/etc/passwd\n");
    // More entries and bytes than one copy step takes: copied over several loop ticks.
    EXPECT_EQ(run_command("ls " + data + "/many | wc -l").output, "300\n");
    EXPECT_EQ(run_command("cmp " + data + "/big " + daemon.dir() + "/volroot/data/big").exit_code,
              0);
    auto anon = d("volume inspect " + vol + " --format '{{json .Labels}}'");
    EXPECT_EQ(anon.output, "{\"com.docker.volume.anonymous\":\"\"}\n");
    // A new named volume gets the content too; a used one is left as it is; nocopy gets none.
    EXPECT_EQ(d("run --rm -v fresh:/data volimg cat /data/hello.txt").output, "from the image\n");
    ASSERT_EQ(d("run --rm -v fresh:/data volimg sh -c 'echo changed > /data/hello.txt'").exit_code,
              0);
    EXPECT_EQ(d("run --rm -v fresh:/data volimg cat /data/hello.txt").output, "changed\n");
    auto none =
        d("run --rm --mount type=volume,src=bare,dst=/data,volume-nocopy volimg ls -A /data");
    ASSERT_EQ(none.exit_code, 0) << none.error;
    EXPECT_EQ(none.output, "");
    EXPECT_EQ(settled_fd_count(daemon), fds);  // every copy-up closed its fds
}

TEST_F(VolumesTest, two_containers_starting_on_one_new_volume_copy_once) {
    import_volume_image();
    // Both starts race for the empty volume: one copies, the other waits for it.
    auto r =
        docker(daemon, "run --rm -v shared:/data volimg cat /data/hello.txt > " + daemon.dir() +
                           "/a.out & docker run --rm -v shared:/data volimg "
                           "cat /data/big > /dev/null; echo $?; wait $!; echo $?; cat " +
                           daemon.dir() + "/a.out");
    EXPECT_EQ(r.output, "0\n0\nfrom the image\n") << r.error;
    EXPECT_EQ(run_command("ls " + volumes_dir() + "/shared/_data/many | wc -l").output, "300\n");
}

TEST_F(VolumesTest, run_rm_removes_anonymous_volumes_but_not_named_ones) {
    auto r = d("run --rm -v keep:/k -v /anon busybox true");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(d("volume ls -q").output, "keep\n");
    EXPECT_EQ(run_command("ls -A " + volumes_dir()).output, "keep\n");
}

TEST_F(VolumesTest, rm_v_removes_anonymous_volumes_and_prune_takes_the_rest) {
    ASSERT_EQ(d("create --name c1 -v /anon -v named:/n busybox").exit_code, 0);
    auto ls = d("volume ls -q");
    ASSERT_EQ(ls.output.size(), 65u + 6u) << ls.output;  // one anonymous, "named"
    ASSERT_EQ(d("rm -v c1").exit_code, 0);
    EXPECT_EQ(d("volume ls -q").output, "named\n");

    ASSERT_EQ(d("create --name c2 -v /anon busybox").exit_code, 0);
    ASSERT_EQ(d("rm c2").exit_code, 0);  // without -v the volume stays, dangling
    std::string anon =
        d("volume ls -q -f dangling=true -f label=com.docker.volume.anonymous").output;
    ASSERT_EQ(anon.size(), 65u) << anon;
    ASSERT_EQ(run_command("echo 12345 > " + volumes_dir() + "/" + anon.substr(0, 64) + "/_data/f")
                  .exit_code,
              0);
    auto p = d("volume prune -f");
    ASSERT_EQ(p.exit_code, 0) << p.error;
    EXPECT_NE(p.output.find("Deleted Volumes:\n" + anon), std::string::npos) << p.output;
    EXPECT_NE(p.output.find("Total reclaimed space: 6B"), std::string::npos) << p.output;
    EXPECT_EQ(d("volume ls -q").output, "named\n");  // named volumes only with --all

    ASSERT_EQ(d("volume create --label env=dev dev1").exit_code, 0);
    auto lab = d("volume prune -f --all --filter label=env=dev");
    ASSERT_EQ(lab.exit_code, 0) << lab.error;
    EXPECT_EQ(d("volume ls -q").output, "named\n");
    ASSERT_EQ(d("volume prune -f --all").exit_code, 0);
    EXPECT_EQ(d("volume ls -q").output, "");
}

TEST_F(VolumesTest, a_volume_in_use_is_a_409_naming_the_container) {
    auto c = d("create --name user -v busy:/data busybox");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    std::string id = c.output.substr(0, 64);
    auto rm = d("volume rm busy");
    EXPECT_NE(rm.exit_code, 0);
    EXPECT_NE(rm.error.find("remove busy: volume is in use - [" + id + "]"), std::string::npos)
        << rm.error;
    EXPECT_EQ(delete_status("/volumes/busy?force=1"), "409");
    ASSERT_EQ(d("volume prune -f --all").exit_code, 0);
    EXPECT_EQ(d("volume ls -q").output, "busy\n");  // prune leaves used volumes
    ASSERT_EQ(d("rm user").exit_code, 0);
    EXPECT_EQ(d("volume rm busy").output, "busy\n");
}

TEST_F(VolumesTest, inspect_shows_mounts_as_docker_does) {
    auto c =
        d("create --name mnt -v v1:/data:ro -v /tmp:/host --tmpfs /run "
          "--mount type=volume,src=v2,dst=/v2 -v /anon busybox");
    ASSERT_EQ(c.exit_code, 0) << c.error;
    auto fmt = [&](const std::string& dst) {
        return d("inspect mnt --format '{{range .Mounts}}{{if eq .Destination \"" + dst +
                 "\"}}{{.Type}}|{{.Name}}|{{.Source}}|{{.Driver}}|{{.Mode}}|{{.RW}}|"
                 "{{.Propagation}}{{end}}{{end}}'")
            .output;
    };
    EXPECT_EQ(fmt("/data"), "volume|v1|" + volumes_dir() + "/v1/_data|local|ro|false|\n");
    EXPECT_EQ(fmt("/host"), "bind||/tmp|||true|rprivate\n");
    EXPECT_EQ(fmt("/run"), "tmpfs|||||true|\n");
    EXPECT_EQ(fmt("/v2"), "volume|v2|" + volumes_dir() + "/v2/_data|local|z|true|\n");
    auto anon = fmt("/anon");
    EXPECT_TRUE(anon.starts_with("volume|")) << anon;
    EXPECT_NE(anon.find("|local||true|"), std::string::npos) << anon;
    EXPECT_EQ(d("inspect mnt --format '{{len .Mounts}}'").output, "5\n");
    auto dup = d("create -v a1:/x -v a2:/x busybox");
    EXPECT_NE(dup.exit_code, 0);
    EXPECT_NE(dup.error.find("Duplicate mount point: /x"), std::string::npos) << dup.error;
}

TEST_F(VolumesTest, tmpfs_and_bind_option_volumes_are_mounted_while_a_container_runs) {
    ASSERT_EQ(d("volume create --opt type=tmpfs --opt device=tmpfs --opt o=size=1m tv").exit_code,
              0);
    auto o = d("volume inspect tv --format '{{index .Options \"type\"}} {{index .Options \"o\"}}'");
    EXPECT_EQ(o.output, "tmpfs size=1m\n");
    auto r = d("run --rm -v tv:/data busybox busybox grep ' /data ' /proc/mounts");
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_TRUE(r.output.starts_with("tmpfs /data tmpfs rw")) << r.output;
    EXPECT_NE(r.output.find("size=1024k"), std::string::npos) << r.output;
    // Unmounted on the host once no container uses it.
    EXPECT_EQ(run_command("grep -c " + volumes_dir() + "/tv/_data /proc/self/mountinfo").output,
              "0\n");
    EXPECT_EQ(d("volume rm tv").exit_code, 0);
    // type=none with o=bind: a host directory as a volume, here read-only.
    std::string host = daemon.dir() + "/hostdir";
    ASSERT_EQ(run_command("mkdir -p " + host + " && echo on-host > " + host + "/f").exit_code, 0);
    ASSERT_EQ(
        d("volume create --opt type=none --opt device=" + host + " --opt o=bind,ro hv").exit_code,
        0);
    EXPECT_EQ(d("run --rm -v hv:/h busybox cat /h/f").output, "on-host\n");
    auto w = d("run --rm -v hv:/h busybox touch /h/g");
    EXPECT_NE(w.exit_code, 0);
    EXPECT_NE(w.error.find("Read-only file system"), std::string::npos) << w.error;
    auto missing = d("volume create --opt type=tmpfs tv2");
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.error.find("missing required option: \"device\""), std::string::npos)
        << missing.error;
}

TEST_F(VolumesTest, volume_events_are_published) {
    std::string since = run_command("date +%s").output;
    since.pop_back();
    ASSERT_EQ(d("run --rm -v ev:/data busybox true").exit_code, 0);
    ASSERT_EQ(d("volume rm ev").exit_code, 0);
    // A past `until` makes the CLI print what happened and return at once.
    std::string until = run_command("date +%s").output;
    until = std::to_string(std::stoll(until) + 1);
    auto e = d("events --since " + since + " --until " + until +
               " --filter type=volume --format '{{.Action}} {{.Actor.ID}}'");
    ASSERT_EQ(e.exit_code, 0) << e.error;
    EXPECT_EQ(e.output, "create ev\nmount ev\nunmount ev\ndestroy ev\n");
}

TEST_F(VolumesTest, volumes_are_kept_across_a_daemon_restart_and_leftovers_reconciled) {
    ASSERT_EQ(d("volume create --label a=b kept").exit_code, 0);
    ASSERT_EQ(run_command("echo data > " + volumes_dir() + "/kept/_data/f").exit_code, 0);
    ASSERT_EQ(d("volume create lost").exit_code, 0);
    ASSERT_EQ(d("create --name holder -v held:/h busybox").exit_code, 0);
    ASSERT_EQ(daemon.stop(), 0);
    // A crash's leftovers: a removal half done, a directory without a record, and records
    // whose directories are gone (an unused one is dropped, a used one gets its directory back).
    ASSERT_EQ(
        run_command("mkdir -p " + volumes_dir() + "/.trash-old/_data " + volumes_dir() +
                    "/found/_data && rm -rf " + volumes_dir() + "/lost " + volumes_dir() + "/held")
            .exit_code,
        0);
    ASSERT_TRUE(daemon.start());
    EXPECT_EQ(d("volume ls -q").output, "found\nheld\nkept\n");
    EXPECT_EQ(run_command("test -d " + volumes_dir() + "/held/_data").exit_code, 0);
    EXPECT_EQ(d("volume inspect kept --format '{{index .Labels \"a\"}}'").output, "b\n");
    EXPECT_EQ(d("run --rm -v kept:/k busybox cat /k/f").output, "data\n");
    EXPECT_NE(run_command("test -e " + volumes_dir() + "/.trash-old").exit_code, 0);
}

TEST_F(VolumesTest, docker_py_creates_lists_and_removes_volumes) {
    if (run_command("/usr/bin/python3 -c 'import docker'").exit_code != 0)
        GTEST_SKIP() << "docker-py is not installed (Debian package python3-docker)";
    std::string py = daemon.dir() + "/volumes.py";
    ASSERT_EQ(run_command("cat > " + py +
                          " <<'EOF'\n"
                          "import docker\n"
                          "c = docker.DockerClient(base_url='" +
                          daemon.docker_host() +
                          "')\n"
                          "v = c.volumes.create('pyvol', labels={'k': 'v'})\n"
                          "print(v.name, v.attrs['Labels']['k'], v.attrs['Mountpoint'])\n"
                          "print([x.name for x in c.volumes.list(filters={'label': 'k=v'})])\n"
                          "v.remove()\n"
                          "print(c.volumes.list())\n"
                          "EOF")
                  .exit_code,
              0);
    auto r = run_command("/usr/bin/python3 " + py);
    ASSERT_EQ(r.exit_code, 0) << r.error;
    EXPECT_EQ(r.output, "pyvol v " + volumes_dir() + "/pyvol/_data\n['pyvol']\n[]\n");
}
