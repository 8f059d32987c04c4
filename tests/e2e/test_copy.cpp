// docker cp (both ways, files, directories, new names, tars on stdin and stdout) and docker
// export through the real docker CLI, on running and stopped containers; hostile containers
// whose symlinks point at the host (absolute, ".." chains, /proc/1/root, one swapped in a loop
// while copies run) must neither leak a host file nor get one written; no mount is left.
#include <gtest/gtest.h>
#include <unistd.h>

#include "daemon_fixture.hpp"
#include "image_fixture.hpp"

using namespace berth::testing;
using namespace berth::e2e;

namespace {

class CopyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root: layers keep owners";
        if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs busybox-static";
        mounts_before = data_root_mounts();
        ASSERT_TRUE(daemon.start());
        auto img = build_busybox_archive(daemon.dir(), {"busybox:latest"});
        ASSERT_EQ(d("load -i " + img.archive_path).exit_code, 0);
        host = daemon.dir() + "/host";
        ASSERT_EQ(run_command("mkdir -p " + host).exit_code, 0);
    }
    void TearDown() override {
        if (daemon.running()) sh("docker rm -f $(docker ps -aq) >/dev/null 2>&1");
    }
    CommandResult d(const std::string& args) { return docker(daemon, args + " </dev/null"); }
    CommandResult sh(const std::string& cmd) {
        return run_command("export DOCKER_HOST=" + daemon.docker_host() + "; " + cmd);
    }
    // Lines of this process's mount table under the daemon's data root.
    std::string data_root_mounts() {
        return run_command("grep -F '" + daemon.dir() + "' /proc/self/mountinfo || true").output;
    }
    // A container that made /data.txt and /d/sub/f and keeps running (sleep) or has exited.
    void make_container(const std::string& name, bool running) {
        std::string script =
            "echo hi > /data.txt; busybox mkdir -p /d/sub /in; echo x > /d/sub/f; "
            "echo y > '/d/a.b'";
        if (running) script += "; exec busybox sleep 1000";
        auto r = d("run " + std::string(running ? "-d " : "") + "--name " + name +
                   " busybox sh -c \"" + script + "\"");
        ASSERT_EQ(r.exit_code, 0) << r.error;
    }

    BerthDaemon daemon;
    std::string host;
    std::string mounts_before;
};

}  // namespace

TEST_F(CopyTest, cp_out_of_a_running_and_a_stopped_container) {
    make_container("up", true);
    ASSERT_TRUE(eventually([&] { return d("cp up:/d/sub/f -").exit_code == 0; }, Millis(5000)));
    for (const std::string name : {"up", "down"}) {
        if (name == "down") make_container("down", false);
        SCOPED_TRACE(name);
        std::string out = host + "/" + name;
        ASSERT_EQ(run_command("mkdir -p " + out).exit_code, 0);
        // A file into a directory, and to a new name.
        auto f = d("cp " + name + ":/data.txt " + out + "/");
        ASSERT_EQ(f.exit_code, 0) << f.error;
        EXPECT_EQ(read_file(out + "/data.txt"), "hi\n");
        ASSERT_EQ(d("cp " + name + ":/data.txt " + out + "/renamed.txt").exit_code, 0);
        EXPECT_EQ(read_file(out + "/renamed.txt"), "hi\n");
        // A directory, then only its contents ("/."), whose names start with "./".
        ASSERT_EQ(d("cp " + name + ":/d " + out + "/").exit_code, 0);
        EXPECT_EQ(read_file(out + "/d/sub/f"), "x\n");
        EXPECT_EQ(read_file(out + "/d/a.b"), "y\n");
        ASSERT_EQ(d("cp " + name + ":/d/. " + out + "/flat").exit_code, 0);
        EXPECT_EQ(read_file(out + "/flat/sub/f"), "x\n");
        EXPECT_EQ(read_file(out + "/flat/a.b"), "y\n");
        // docker cp to "-": the tar itself on stdout.
        auto t = sh("docker cp " + name + ":/d - | tar -tf - | sort");
        EXPECT_EQ(t.output, "d/\nd/a.b\nd/sub/\nd/sub/f\n") << t.error;
    }
    ASSERT_EQ(d("rm -f up").exit_code, 0);
    EXPECT_EQ(data_root_mounts(), mounts_before);
}

TEST_F(CopyTest, cp_into_a_stopped_and_a_running_container) {
    ASSERT_EQ(
        d("create --name stopped busybox cat /in/new.txt /in/host.txt /in/t/a /in/t/b/c").exit_code,
        0);
    write_temp_file(host, "host.txt", "from the host\n");
    auto mk = sh("mkdir -p " + host + "/empty/in && tar -C " + host +
                 "/empty -cf - in | docker cp - stopped:/");
    ASSERT_EQ(mk.exit_code, 0) << mk.error;
    auto into = d("cp " + host + "/host.txt stopped:/in");
    ASSERT_EQ(into.exit_code, 0) << into.error;
    ASSERT_EQ(d("cp " + host + "/host.txt stopped:/in/new.txt").exit_code, 0);
    auto tar = sh("mkdir -p " + host + "/t/b && echo A > " + host + "/t/a && echo C > " + host +
                  "/t/b/c && tar -C " + host + " -cf - t | docker cp - stopped:/in");
    ASSERT_EQ(tar.exit_code, 0) << tar.error;
    EXPECT_EQ(data_root_mounts(), mounts_before);  // a stopped container: nothing left mounted
    auto run = d("start -a stopped");
    EXPECT_EQ(run.exit_code, 0) << run.error;
    EXPECT_EQ(run.output, "from the host\nfrom the host\nA\nC\n");

    // Bigger than any request body berthd buffers, both ways; and a gzipped tar, which
    // dockerd takes too.
    ASSERT_EQ(run_command("head -c 25000000 /dev/urandom > " + host + "/big").exit_code, 0);
    auto big = d("cp " + host + "/big stopped:/in/big");
    ASSERT_EQ(big.exit_code, 0) << big.error;
    EXPECT_EQ(sh("docker cp stopped:/in/big - | tar -xOf - | sha256sum").output,
              run_command("sha256sum < " + host + "/big").output);
    auto gz = sh("tar -C " + host +
                 " -czf - host.txt | curl -sf -X PUT --data-binary @- "
                 "--unix-socket " +
                 daemon.socket_path() +
                 " 'http://x/containers/stopped/archive?path=/in/t' && docker cp "
                 "stopped:/in/t/host.txt - | tar -xOf -");
    EXPECT_EQ(gz.output, "from the host\n") << gz.error;

    make_container("up", true);
    auto up = d("cp " + host + "/host.txt up:/in/up.txt");
    ASSERT_EQ(up.exit_code, 0) << up.error;
    EXPECT_EQ(d("cp up:/in/up.txt -").exit_code, 0);
    EXPECT_EQ(sh("docker cp up:/in/up.txt - | tar -xOf -").output, "from the host\n");
}

TEST_F(CopyTest, errors_are_dockers) {
    make_container("ctr", false);
    auto missing = d("cp ctr:/nope " + host + "/x");
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.error.find("Could not find the file /nope in container ctr"),
              std::string::npos)
        << missing.error;
    write_temp_file(host, "f.txt", "f\n");
    auto nodir = d("cp " + host + "/f.txt ctr:/nodir/x");
    EXPECT_NE(nodir.exit_code, 0);
    EXPECT_NE(nodir.error.find("Could not find the file /nodir in container ctr"),
              std::string::npos)
        << nodir.error;
    auto notdir = d("cp " + host + "/f.txt ctr:/data.txt/x");
    EXPECT_NE(notdir.exit_code, 0);
    EXPECT_NE(notdir.error.find("extraction point is not a directory"), std::string::npos)
        << notdir.error;
    ASSERT_EQ(d("create --read-only --name ro busybox").exit_code, 0);
    auto ro = d("cp " + host + "/f.txt ro:/");
    EXPECT_NE(ro.exit_code, 0);
    EXPECT_NE(ro.error.find("container rootfs is marked read-only"), std::string::npos) << ro.error;
    auto nocontainer = d("cp nosuch:/x " + host + "/y");
    EXPECT_NE(nocontainer.error.find("No such container: nosuch"), std::string::npos)
        << nocontainer.error;
    // A tar whose names climb out of the target directory.
    auto climb = sh("cd " + host +
                    " && tar -cPf - --transform 's,^,../../,' f.txt | "
                    "docker cp - ctr:/d/sub");
    EXPECT_NE(climb.exit_code, 0);
    EXPECT_NE(climb.error.find("is outside of"), std::string::npos) << climb.error;
    EXPECT_EQ(data_root_mounts(), mounts_before);
}

TEST_F(CopyTest, export_lists_the_root_filesystem) {
    make_container("ctr", false);
    auto t = sh("docker export ctr | tar -tf -");
    ASSERT_EQ(t.exit_code, 0) << t.error;
    EXPECT_NE(t.output.find("\nbin/busybox\n"), std::string::npos) << t.output;
    EXPECT_NE(t.output.find("\ndata.txt\n"), std::string::npos) << t.output;
    EXPECT_NE(t.output.find("\nd/sub/f\n"), std::string::npos) << t.output;
    EXPECT_EQ(t.output.find("./"), std::string::npos) << t.output;
    auto o = d("export -o " + host + "/c.tar ctr");
    ASSERT_EQ(o.exit_code, 0) << o.error;
    EXPECT_EQ(run_command("tar -xOf " + host + "/c.tar d/sub/f").output, "x\n");
    EXPECT_EQ(data_root_mounts(), mounts_before);
}

namespace {

// Host files a hostile container aims at: a secret beside an empty directory, and /etc/shadow.
struct Bait {
    explicit Bait(const std::string& host) : dir(host + "/bait") {
        run_command("mkdir -p " + dir + " && echo HOSTSECRET > " + dir + "/secret");
        shadow_sum = run_command("sha256sum /etc/shadow").output;
    }
    // Nothing written: the secret as it was, nothing beside it, /etc/shadow unchanged.
    void expect_untouched() const {
        EXPECT_EQ(read_file(dir + "/secret"), "HOSTSECRET\n");
        EXPECT_EQ(run_command("ls -A " + dir).output, "secret\n");
        EXPECT_EQ(run_command("sha256sum /etc/shadow").output, shadow_sum);
    }
    std::string dir, shadow_sum;
};

std::string shadow_line() {
    std::string s = read_file("/etc/shadow");
    return s.substr(0, s.find('\n'));
}

}  // namespace

TEST_F(CopyTest, hostile_symlinks_never_reach_the_host) {
    Bait bait(host);
    write_temp_file(host, "f.txt", "planted\n");
    // A symlink in a tar and then a file "through" it, aimed at the bait directory.
    ASSERT_EQ(run_command("cd " + host + " && ln -s " + bait.dir +
                          " l && cp f.txt planted && "
                          "tar -cf through.tar l && tar -rf through.tar --transform 's,^,l/,' "
                          "planted && rm l planted")
                  .exit_code,
              0);
    const std::string links = "busybox ln -s /../../../../../../../.." + bait.dir +
                              "/secret /etc/x; "
                              "busybox ln -s ../../../../../../../.." +
                              bait.dir +
                              " /dirlink; "
                              "busybox ln -s " +
                              bait.dir +
                              " /abslink; busybox ln -s /proc/1/root /p1; "
                              "busybox ln -s /../../../etc/shadow /etc/sh; busybox mkdir /in";
    ASSERT_EQ(d("run --name down busybox sh -c '" + links + "'").exit_code, 0);
    ASSERT_EQ(
        d("run -d --name up busybox sh -c '" + links + "; exec busybox sleep 1000'").exit_code, 0);
    ASSERT_TRUE(eventually([&] { return d("cp up:/in -").exit_code == 0; }, Millis(5000)));
    for (const std::string c : {"down", "up"}) {
        SCOPED_TRACE(c);
        // Out: a link is archived as a link; followed (-L) or gone through, it resolves inside.
        auto link = sh("docker cp " + c + ":/etc/x - | tar -tvf -");
        EXPECT_NE(link.output.find("x -> /../../"), std::string::npos) << link.output;
        EXPECT_EQ(link.output.find("HOSTSECRET"), std::string::npos);
        for (const std::string p :
             {"/dirlink/secret", "/abslink/secret", "/abslink/.", "/p1/etc/shadow", "/etc/sh"}) {
            auto r = sh("docker cp " + c + ":" + p + " - | tar -xOf - 2>&1");
            EXPECT_EQ(r.output.find("HOSTSECRET"), std::string::npos) << p;
            EXPECT_EQ(r.output.find(shadow_line()), std::string::npos) << p;
        }
        auto follow = d("cp -L " + c + ":/etc/x " + host + "/followed");
        EXPECT_NE(follow.exit_code, 0);
        EXPECT_FALSE(file_exists(host + "/followed"));
        // In: through every link, and a tar carrying its own link.
        for (const std::string p : {"/dirlink/", "/abslink/", "/etc/x", "/etc/sh", "/p1/"})
            d("cp " + host + "/f.txt " + c + ":" + p);
        sh("docker cp - " + c + ":/in < " + host + "/through.tar");
        bait.expect_untouched();
    }
    EXPECT_EQ(d("rm -f up down").exit_code, 0);
    EXPECT_EQ(data_root_mounts(), mounts_before);
}

// CVE-2018-15664: the container flips /swap between a directory and a symlink to the host
// while copies go both ways through it.
TEST_F(CopyTest, a_symlink_swapped_in_during_copies_stays_inside_the_container) {
    Bait bait(host);
    write_temp_file(host, "f.txt", "planted\n");
    const std::string loop =
        "while :; do busybox rm -rf /swap; busybox mkdir /swap; "
        "echo inside > /swap/secret; busybox rm -rf /swap; "
        "busybox ln -s " +
        bait.dir + " /swap; done";
    ASSERT_EQ(d("run -d --name flip busybox sh -c '" + loop + "'").exit_code, 0);
    for (int i = 0; i < 40; ++i) {
        d("cp " + host + "/f.txt flip:/swap/");
        auto out = sh("docker cp flip:/swap/secret - 2>/dev/null | tar -xOf - 2>/dev/null");
        EXPECT_EQ(out.output.find("HOSTSECRET"), std::string::npos);
        auto dir = sh("docker cp flip:/swap/. - 2>/dev/null | tar -xOf - 2>/dev/null");
        EXPECT_EQ(dir.output.find("HOSTSECRET"), std::string::npos);
    }
    bait.expect_untouched();
    EXPECT_EQ(d("rm -f flip").exit_code, 0);
    EXPECT_EQ(data_root_mounts(), mounts_before);
}

// The same race against the steps after a create: a directory the archive brings is swapped
// for a link to a host file before its mode is set; a file being archived is swapped for a
// fifo, which must neither be opened nor block the daemon.
TEST_F(CopyTest, swaps_during_extraction_and_archiving_touch_nothing_outside) {
    Bait bait(host);
    ASSERT_EQ(run_command("chmod 0600 " + bait.dir + "/secret && mkdir -p " + host +
                          "/t/x && chmod 0777 " + host + "/t/x && tar -C " + host + "/t -cf " +
                          host + "/x.tar x")
                  .exit_code,
              0);
    const std::string loop =
        "busybox mkdir /in; while :; do busybox rm -rf /in/x; busybox ln -s " + bait.dir +
        "/secret /in/x; echo f > /sw; busybox rm -rf /in/x /sw; busybox mkfifo /sw; "
        "busybox rm -f /sw; done";
    ASSERT_EQ(d("run -d --name flip busybox sh -c '" + loop + "'").exit_code, 0);
    for (int i = 0; i < 40; ++i) {
        sh("docker cp - flip:/in < " + host + "/x.tar");
        sh("docker cp flip:/sw - >/dev/null 2>&1");
    }
    EXPECT_EQ(run_command("stat -c %a " + bait.dir + "/secret").output, "600\n");
    bait.expect_untouched();
    EXPECT_EQ(d("version --format '{{.Server.Version}}'").exit_code, 0);  // still answering
    EXPECT_EQ(d("rm -f flip").exit_code, 0);
}

// The client goes away mid-archive: the stream ends, and with it the fd on the stopped
// container's root that held its temporary (detached) mount; the container still starts.
TEST_F(CopyTest, a_client_gone_mid_copy_leaves_no_fd_or_mount) {
    ASSERT_EQ(
        d("run --name big busybox sh -c 'busybox head -c 16777216 /dev/zero > /big'").exit_code, 0);
    // Settled counts: the warm netns pool refills in the background after a run.
    long before = settled_fd_count(daemon);
    for (int i = 0; i < 3; ++i) {
        auto r = sh("docker cp big:/big - | head -c 1000 | wc -c");
        EXPECT_EQ(r.output, "1000\n");
        auto e = sh("docker export big | head -c 1000 | wc -c");
        EXPECT_EQ(e.output, "1000\n");
    }
    EXPECT_TRUE(eventually([&] { return settled_fd_count(daemon) == before; }, Millis(10000)))
        << settled_fd_count(daemon) << " fds, " << before << " before";
    EXPECT_EQ(data_root_mounts(), mounts_before);
    auto again = d("start -a big");
    EXPECT_EQ(again.exit_code, 0) << again.error << daemon.stderr_text();
}

// What the CLI's stat reads: moby's PathStat as base64 JSON, Go's FileMode bits included.
TEST_F(CopyTest, head_archive_gives_dockers_path_stat) {
    ASSERT_EQ(d("run --name st busybox sh -c 'echo 1234 > /f; busybox ln -s ../../../f /l; "
                "busybox mkdir /dir; busybox chmod 4755 /f'")
                  .exit_code,
              0);
    auto stat = [&](const std::string& path) {
        return sh("curl -sfI --unix-socket " + daemon.socket_path() +
                  " 'http://x/containers/st/archive?path=" + path +
                  "' | tr -d '\\r' | sed -n 's/^X-Docker-Container-Path-Stat: //Ip' | base64 -d")
            .output;
    };
    std::string f = stat("/f");
    EXPECT_NE(f.find("{\"name\":\"f\",\"size\":5,\"mode\":8389101,\"mtime\":\"20"),
              std::string::npos)
        << f;  // 0755 | ModeSetuid (1 << 23)
    EXPECT_NE(f.find("\"linkTarget\":\"\"}"), std::string::npos) << f;
    std::string l = stat("/l");
    EXPECT_NE(l.find("\"mode\":134218239,"), std::string::npos) << l;  // 0777 | ModeSymlink
    EXPECT_NE(l.find("\"linkTarget\":\"/f\""), std::string::npos) << l;
    std::string dir = stat("/dir/.");
    EXPECT_NE(dir.find("{\"name\":\".\","), std::string::npos) << dir;
    EXPECT_NE(dir.find("\"mode\":2147484141,"), std::string::npos) << dir;  // 0755 | ModeDir
    auto missing = sh("curl -s -o /dev/null -w '%{http_code}' -I --unix-socket " +
                      daemon.socket_path() + " 'http://x/containers/st/archive?path=/nope'");
    EXPECT_EQ(missing.output, "404");
    auto empty = sh("curl -s --unix-socket " + daemon.socket_path() +
                    " 'http://x/containers/st/archive?path='");
    EXPECT_EQ(empty.output, "{\"message\":\"bad parameter: path cannot be empty\"}\n");
}

// docker cp -a: the container's user owns what is copied in; without it the archive's owner.
TEST_F(CopyTest, cp_archive_mode_gives_the_container_user) {
    ASSERT_EQ(d("create --name owned --user 1234:567 busybox").exit_code, 0);
    write_temp_file(host, "h.txt", "h\n");
    ASSERT_EQ(run_command("chown 77:88 " + host + "/h.txt").exit_code, 0);
    ASSERT_EQ(d("cp -a " + host + "/h.txt owned:/a.txt").exit_code, 0);
    ASSERT_EQ(d("cp " + host + "/h.txt owned:/plain.txt").exit_code, 0);
    EXPECT_NE(sh("docker cp owned:/a.txt - | tar -tvf -").output.find("1234/567"),
              std::string::npos);
    EXPECT_NE(sh("docker cp owned:/plain.txt - | tar -tvf -").output.find("77/88"),
              std::string::npos);
}

// Paths in a bind mount resolve in its source (read-only ones refuse writes, as dockerd says);
// a running container's tmpfs is refused rather than read from the root underneath it.
TEST_F(CopyTest, cp_resolves_paths_in_bind_mounts) {
    ASSERT_EQ(run_command("mkdir -p " + host + "/vol/sub " + host + "/ro && echo v > " + host +
                          "/vol/sub/v && echo b > " + host + "/bound.txt")
                  .exit_code,
              0);
    write_temp_file(host, "f.txt", "into the bind\n");
    ASSERT_EQ(d("create --name bnd -v " + host + "/vol:/data -v " + host + "/ro:/ro:ro -v " + host +
                "/bound.txt:/etc/bound.txt busybox")
                  .exit_code,
              0);
    auto in = d("cp " + host + "/f.txt bnd:/data/sub/");
    ASSERT_EQ(in.exit_code, 0) << in.error;
    EXPECT_EQ(read_file(host + "/vol/sub/f.txt"), "into the bind\n");
    EXPECT_EQ(sh("docker cp bnd:/data - | tar -tf - | sort").output,
              "data/\ndata/sub/\ndata/sub/f.txt\ndata/sub/v\n");
    EXPECT_EQ(sh("docker cp bnd:/data/sub/v - | tar -xOf -").output, "v\n");
    EXPECT_EQ(sh("docker cp bnd:/etc/bound.txt - | tar -tf -").output, "bound.txt\n");
    EXPECT_EQ(sh("docker cp bnd:/etc/bound.txt - | tar -xOf -").output, "b\n");
    auto ro = d("cp " + host + "/f.txt bnd:/ro/");
    EXPECT_NE(ro.exit_code, 0);
    EXPECT_NE(ro.error.find("mounted volume is marked read-only"), std::string::npos) << ro.error;
    EXPECT_FALSE(file_exists(host + "/ro/f.txt"));

    ASSERT_EQ(d("run -d --name tmp1 --tmpfs /scratch busybox busybox sleep 1000").exit_code, 0);
    auto tmpfs = d("cp tmp1:/scratch " + host + "/scratch");
    EXPECT_NE(tmpfs.exit_code, 0);
    EXPECT_NE(tmpfs.error.find("tmpfs mounted at /scratch"), std::string::npos) << tmpfs.error;
}

TEST_F(CopyTest, cp_reaches_into_named_and_anonymous_volumes) {
    ASSERT_EQ(d("run -d --name vol -v shared:/data -v /anon busybox sleep 1000").exit_code, 0);
    std::string file = daemon.dir() + "/note.txt";
    ASSERT_EQ(run_command("echo into-the-volume > " + file).exit_code, 0);
    ASSERT_EQ(d("cp " + file + " vol:/data/note.txt").exit_code, 0);
    ASSERT_EQ(d("cp " + file + " vol:/anon/note.txt").exit_code, 0);
    // The running container sees it where the volume is mounted, and so does the next one.
    EXPECT_EQ(d("exec vol cat /data/note.txt /anon/note.txt").output,
              "into-the-volume\ninto-the-volume\n");
    EXPECT_EQ(d("run --rm -v shared:/v busybox cat /v/note.txt").output, "into-the-volume\n");
    // Out of a stopped container's volume too.
    ASSERT_EQ(d("stop -t 0 vol").exit_code, 0);
    auto out = docker(daemon, "cp vol:/data/note.txt - </dev/null | tar xO");
    EXPECT_EQ(out.output, "into-the-volume\n") << out.error;
    ASSERT_EQ(d("rm -v vol").exit_code, 0);
}
