// Images for the e2e tests, built here from Debian's busybox-static: a docker-archive tarball
// (what `docker save` writes: manifest.json, the config, layer tars) that `docker load` takes.
#pragma once

#include <string>
#include <vector>

namespace berth::testing {

struct BuiltImage {
    std::string archive_path;  // the docker-archive tarball
    std::string image_id;      // sha256 of the config
    std::string config_json;
};

// One layer with /bin/busybox and its applets, Cmd ["sh"]; optionally a second layer that
// deletes /bin/cat (a whiteout) and adds /hello.txt. Tagged `tags` in the archive.
BuiltImage build_busybox_archive(const std::string& dir, const std::vector<std::string>& tags,
                                 bool two_layers = false);

}  // namespace berth::testing
