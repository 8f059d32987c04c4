// The images berth-bench needs, made here with no registry and no download: a busybox image
// (Debian's busybox-static, with `true`, `sleep` and `sh` links) as a docker-archive every
// engine loads, an OCI bundle of the same root for crun/runc, and for the pull scenario a
// larger image of real files from /usr/lib put into Debian's docker-registry on 127.0.0.1.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace berth::bench {

// A docker-archive (what `docker save` writes) in `dir`, tagged `tag`: one busybox layer, plus
// `extra_mb` MB of real files in 4 further layers when asked. Returns the archive's path, or
// empty with `error` set.
std::string build_archive(const std::string& dir, const std::string& tag, int extra_mb,
                          std::string& error);
// The busybox root unpacked in `dir`/rootfs with an OCI config.json running `args` (for
// `crun run` / `runc run`): no network namespace change beyond an empty one, no terminal.
bool build_bundle(const std::string& dir, const std::string& args_json, std::string& error);

// Debian's docker-registry on 127.0.0.1 (a free port), storage under `dir`.
struct Registry {
    pid_t pid = -1;
    std::string host;  // 127.0.0.1:PORT
    std::string dir;
};
bool start_registry(const std::string& dir, Registry& out, std::string& error);
void stop_registry(Registry& r);
// skopeo copy of a docker-archive into the registry (gzip layers, as `docker push` makes
// them); the compressed bytes of its layers in `bytes`.
bool push_archive(const Registry& r, const std::string& archive, const std::string& repo,
                  uint64_t& bytes, std::string& error);

// Runs a shell command line; true on exit 0. Output goes to `out` when given.
bool shell(const std::string& cmd, std::string* out = nullptr);

}  // namespace berth::bench
