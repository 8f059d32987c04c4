#include "jobs/image_import.hpp"

#include <simdjson.h>

#include <map>
#include <set>

#include "base/json.hpp"
#include "base/time.hpp"
#include "graph/decompress.hpp"
#include "graph/digest.hpp"
#include "graph/images.hpp"
#include "jobs/layer_install.hpp"

namespace berth::jobs {

namespace {

constexpr const char* member = "rootfs";

// One Dockerfile instruction: its keyword (upper-cased) and the rest.
std::pair<std::string, std::string> split_instruction(std::string_view line) {
    size_t sp = line.find_first_of(" \t");
    std::string key(line.substr(0, sp));
    for (char& c : key) c = char(toupper(static_cast<unsigned char>(c)));
    std::string rest = sp == std::string_view::npos ? "" : std::string(line.substr(sp + 1));
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.erase(0, 1);
    return {key, rest};
}

// CMD/ENTRYPOINT: the JSON form as written, the shell form wrapped in /bin/sh -c.
std::vector<std::string> command_form(const std::string& rest) {
    simdjson::dom::parser p;
    simdjson::padded_string padded(rest);
    simdjson::dom::array arr;
    std::vector<std::string> out;
    if (!rest.empty() && rest.front() == '[' && !p.parse(padded).get(arr)) {
        for (simdjson::dom::element e : arr) {
            std::string_view s;
            if (!e.get(s)) out.emplace_back(s);
        }
        return out;
    }
    return {"/bin/sh", "-c", rest};
}

// "k=v k2=v2" or the old "k v" form of ENV and LABEL.
std::vector<std::pair<std::string, std::string>> pairs(const std::string& rest) {
    std::vector<std::pair<std::string, std::string>> out;
    if (rest.find('=') == std::string::npos) {
        size_t sp = rest.find(' ');
        out.emplace_back(rest.substr(0, sp), sp == std::string::npos ? "" : rest.substr(sp + 1));
        return out;
    }
    size_t i = 0;
    while (i < rest.size()) {
        size_t end = rest.find(' ', i);
        std::string word = rest.substr(i, end - i);
        size_t eq = word.find('=');
        if (!word.empty() && eq != std::string::npos) {
            std::string v = word.substr(eq + 1);
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            out.emplace_back(word.substr(0, eq), v);
        }
        if (end == std::string::npos) break;
        i = end + 1;
    }
    return out;
}

const std::set<std::string>& allowed_changes() {
    static const std::set<std::string> keys = {"CMD",  "ENTRYPOINT", "ENV",    "EXPOSE",
                                               "LABEL", "ONBUILD",   "STOPSIGNAL", "USER",
                                               "VOLUME", "WORKDIR"};
    return keys;
}

}  // namespace

Result<> ImageImport::validate_changes(const std::vector<std::string>& changes) {
    for (const std::string& c : changes) {
        auto [key, rest] = split_instruction(c);
        if (!allowed_changes().contains(key))
            return fail(Error::invalid(key + " is not a valid change command"));
    }
    return {};
}

Result<std::unique_ptr<ImageImport>> ImageImport::create(graph::ImageStore& images,
                                                         drivers::StorageDriver& storage,
                                                         const std::string& tmp_root,
                                                         ImportOptions options) {
    if (auto r = validate_changes(options.changes); !r) return fail(r.error());
    std::unique_ptr<ImageImport> job(new ImageImport(images, storage, std::move(options)));
    auto spool = graph::Spool::create(tmp_root);
    if (!spool) return fail(spool.error());
    job->spool_ = std::move(*spool);
    // The body's length is not known up front: always spool to a file.
    if (auto r = job->spool_->begin(member, graph::Spool::in_memory_bytes_max + 1); !r)
        return fail(r.error());
    return job;
}

Result<std::string> ImageImport::config_json(const std::string& diff_id) const {
    std::vector<std::string> env, cmd, entrypoint, volumes, ports;
    std::map<std::string, std::string> labels;
    std::string workdir, user, stop_signal;
    bool has_cmd = false, has_entrypoint = false;
    for (const std::string& c : options_.changes) {
        auto [key, rest] = split_instruction(c);
        if (key == "CMD") cmd = command_form(rest), has_cmd = true;
        else if (key == "ENTRYPOINT") entrypoint = command_form(rest), has_entrypoint = true;
        else if (key == "ENV")
            for (auto& [k, v] : pairs(rest)) env.push_back(k + "=" + v);
        else if (key == "LABEL")
            for (auto& [k, v] : pairs(rest)) labels[k] = v;
        else if (key == "WORKDIR") workdir = rest;
        else if (key == "USER") user = rest;
        else if (key == "STOPSIGNAL") stop_signal = rest;
        else if (key == "EXPOSE") ports.push_back(rest.find('/') == std::string::npos ? rest + "/tcp" : rest);
        else if (key == "VOLUME") volumes.push_back(rest);
    }
    std::string now = rfc3339_nano(wall_clock_ns());
    JsonWriter w;
    w.begin_object().field("architecture", options_.architecture).field("os", options_.os);
    w.field("created", now);
    w.key("config").begin_object();
    auto strings = [&](const char* k, const std::vector<std::string>& v, bool present) {
        if (!present) return;
        w.key(k).begin_array();
        for (const auto& s : v) w.value(s);
        w.end_array();
    };
    strings("Env", env, !env.empty());
    strings("Cmd", cmd, has_cmd);
    strings("Entrypoint", entrypoint, has_entrypoint);
    if (!workdir.empty()) w.field("WorkingDir", workdir);
    if (!user.empty()) w.field("User", user);
    if (!stop_signal.empty()) w.field("StopSignal", stop_signal);
    if (!labels.empty()) {
        w.key("Labels").begin_object();
        for (const auto& [k, v] : labels) w.field(k, v);
        w.end_object();
    }
    for (auto [key, list] : {std::pair{"ExposedPorts", &ports}, std::pair{"Volumes", &volumes}}) {
        if (list->empty()) continue;
        w.key(key).begin_object();
        for (const auto& p : *list) w.key(p).begin_object().end_object();
        w.end_object();
    }
    w.end_object();
    w.key("rootfs").begin_object().field("type", "layers");
    w.key("diff_ids").begin_array().value(diff_id).end_array().end_object();
    w.key("history").begin_array().begin_object().field("created", now);
    w.field("comment", options_.message.empty() ? std::string("Imported from -") : options_.message);
    w.end_object().end_array();
    w.end_object();
    return w.take();
}

Result<std::string> ImageImport::finish() {
    if (auto r = spool_->end(); !r) return fail(r.error());
    // Pass 1: the diff ID (sha256 of the uncompressed tar) names the layer before it is written.
    auto dec = graph::Decompressor::create(graph::Compression::detect);
    if (!dec) return fail(dec.error());
    graph::Sha256 diff;
    auto hash = [&](std::span<const std::byte> d) -> Result<> {
        diff.update(d);
        return {};
    };
    auto read = spool_->read(member, [&](std::span<const std::byte> d) { return (*dec)->feed(d, hash); });
    if (!read) return fail(read.error());
    if (auto r = (*dec)->finish(hash); !r) return fail(r.error());
    std::string diff_id = diff.digest();
    // Pass 2: install it.
    auto li = LayerInstall::begin(images_, storage_, "", diff_id, {});
    if (!li) return fail(li.error());
    if (!(*li)->exists()) {
        auto fed = spool_->read(member, [&](std::span<const std::byte> d) { return (*li)->feed(d); });
        if (!fed) return fail(fed.error());
        if (auto done = (*li)->finish(); !done) return fail(done.error());
    }
    auto config = config_json(diff_id);
    if (!config) return fail(config.error());
    graph::NewImage ni;
    ni.config_json = *config;
    if (options_.reference) ni.references.push_back(*options_.reference);
    return images_.add_image(ni);
}

}  // namespace berth::jobs
