#include "image_fixture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "base/json.hpp"
#include "graph/digest.hpp"
#include "graph/tar_writer.hpp"

namespace berth::testing {

namespace {

using graph::TarWriter;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::span<const std::byte> bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

// A tar built in memory.
struct MemTar {
    std::string out;
    TarWriter w{[this](std::span<const std::byte> d) -> Result<> {
        out.append(reinterpret_cast<const char*>(d.data()), d.size());
        return {};
    }};
};

std::string busybox_layer() {
    MemTar t;
    (void)t.w.add_dir("bin");
    (void)t.w.add_dir("etc");
    (void)t.w.add_dir("tmp", {.mode = 01777});
    (void)t.w.add_file("bin/busybox", bytes(slurp("/bin/busybox")), {.mode = 0755});
    for (const char* a : {"sh", "cat", "ls", "echo", "true", "false", "sleep", "id", "env",
                          "hostname", "wc", "head", "grep", "touch", "mkdir", "ps", "kill"})
        (void)t.w.add_symlink(std::string("bin/") + a, "busybox");
    (void)t.w.add_file("etc/passwd", bytes(std::string("root:x:0:0:root:/root:/bin/sh\n")),
                       {.mode = 0644});
    (void)t.w.add_file("etc/group", bytes(std::string("root:x:0:\n")), {.mode = 0644});
    (void)t.w.finish();
    return t.out;
}

std::string second_layer() {
    MemTar t;
    (void)t.w.add_dir("bin");
    (void)t.w.add_file("bin/.wh.cat", {}, {.mode = 0644});
    (void)t.w.add_file("hello.txt", bytes(std::string("hello from layer 2\n")), {.mode = 0644});
    (void)t.w.finish();
    return t.out;
}

std::string config_for(const std::vector<std::string>& diff_ids) {
    JsonWriter w;
    w.begin_object().field("architecture", "amd64").field("os", "linux");
    w.field("created", "2026-11-01T10:00:00Z");
    w.key("config").begin_object();
    w.key("Env").begin_array().value("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").end_array();
    w.key("Cmd").begin_array().value("sh").end_array();
    w.key("Labels").begin_object().field("org.berth.test", "yes").end_object();
    w.end_object();
    w.key("rootfs").begin_object().field("type", "layers").key("diff_ids").begin_array();
    for (const auto& d : diff_ids) w.value(d);
    w.end_array().end_object();
    w.key("history").begin_array();
    for (size_t i = 0; i < diff_ids.size(); ++i)
        w.begin_object().field("created", "2026-11-01T10:00:00Z")
            .field("created_by", "berth test layer " + std::to_string(i)).end_object();
    w.begin_object().field("created", "2026-11-01T10:00:00Z").field("created_by", "CMD [\"sh\"]")
        .field("empty_layer", true).end_object();
    w.end_array();
    w.end_object();
    return w.take();
}

}  // namespace

BuiltImage build_busybox_archive(const std::string& dir, const std::vector<std::string>& tags,
                                 bool two_layers) {
    std::vector<std::string> layers = {busybox_layer()};
    if (two_layers) layers.push_back(second_layer());
    std::vector<std::string> diff_ids;
    for (const auto& l : layers) diff_ids.push_back(graph::sha256_digest(l));
    BuiltImage img;
    img.config_json = config_for(diff_ids);
    img.image_id = graph::sha256_digest(img.config_json);
    std::string config_name = std::string(graph::digest_hex(img.image_id)) + ".json";

    JsonWriter m;
    m.begin_array().begin_object().field("Config", config_name);
    m.key("RepoTags").begin_array();
    for (const auto& t : tags) m.value(t);
    m.end_array().key("Layers").begin_array();
    for (const auto& d : diff_ids) m.value(std::string(graph::digest_hex(d)) + "/layer.tar");
    m.end_array().end_object().end_array();

    img.archive_path = dir + "/image.tar";
    std::ofstream out(img.archive_path, std::ios::binary);
    TarWriter w([&out](std::span<const std::byte> d) -> Result<> {
        out.write(reinterpret_cast<const char*>(d.data()), std::streamsize(d.size()));
        return {};
    });
    for (size_t i = 0; i < layers.size(); ++i) {
        std::string hex(graph::digest_hex(diff_ids[i]));
        (void)w.add_dir(hex);
        (void)w.add_file(hex + "/layer.tar", bytes(layers[i]), {.mode = 0644});
    }
    (void)w.add_file(config_name, bytes(img.config_json), {.mode = 0644});
    (void)w.add_file("manifest.json", bytes(m.str()), {.mode = 0644});
    (void)w.finish();
    return img;
}

}  // namespace berth::testing
