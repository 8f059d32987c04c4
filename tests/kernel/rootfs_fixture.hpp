// A busybox root filesystem for kernel tests, built from Debian's busybox-static in a temp dir:
// /bin/busybox with applet links, /etc/passwd and /etc/group with a few users, the usual dirs.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace berth::testing {

inline bool have_busybox() { return access("/bin/busybox", X_OK) == 0; }

class BusyboxRootfs {
public:
    BusyboxRootfs() {
        char tmpl[] = "/tmp/berth-rootfs-XXXXXX";
        dir_ = mkdtemp(tmpl) ? tmpl : "";
        root_ = dir_ + "/rootfs";
        for (const char* d : {"", "/bin", "/etc", "/proc", "/dev", "/sys", "/tmp", "/root",
                              "/home", "/home/alice", "/var", "/run"})
            mkdir((root_ + d).c_str(), 0755);
        chmod((root_ + "/tmp").c_str(), 01777);
        std::string cp = "cp /bin/busybox " + root_ + "/bin/busybox";
        if (std::system(cp.c_str()) != 0) ADD_FAILURE() << "copy busybox";
        for (const char* applet : {"sh", "true", "false", "cat", "ls", "id", "hostname", "sleep",
                                   "echo", "grep", "env", "pwd", "readlink", "stat", "head", "wc",
                                   "touch", "mount", "dd", "test", "kill", "ps", "mkdir"})
            symlink("busybox", (root_ + "/bin/" + applet).c_str());
        write("/etc/passwd",
              "root:x:0:0:root:/root:/bin/sh\n"
              "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
              "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
              "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        write("/etc/group",
              "root:x:0:\n"
              "daemon:x:1:\n"
              "staff:x:50:alice\n"
              "audio:x:29:alice,bob\n"
              "alice:x:1000:\n"
              "nogroup:x:65534:\n");
    }
    ~BusyboxRootfs() {
        if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
    }
    const std::string& path() const { return root_; }
    const std::string& dir() const { return dir_; }
    void write(const std::string& rel, const std::string& content) const {
        std::ofstream(root_ + rel) << content;
    }

private:
    std::string dir_, root_;
};

}  // namespace berth::testing
