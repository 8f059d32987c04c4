// Reads an image config with simdjson's DOM parser. Unknown fields are ignored, as Docker does;
// only the fields that decide where layers go are strict.
#include "graph/image_config.hpp"

#include <simdjson.h>

#include "base/time.hpp"
#include "graph/digest.hpp"

namespace berth::graph {
namespace {

Error config_error(std::string_view what) {
    return Error::invalid("invalid image config: " + std::string(what));
}

Result<void> read_diff_ids(simdjson::dom::object root, ImageConfigInfo& out) {
    simdjson::dom::object rootfs;
    if (root["rootfs"].get(rootfs)) return {};  // a config without layers (scratch)
    std::string_view type;
    if (!rootfs["type"].get(type) && type != "layers")
        return fail(config_error("rootfs type \"" + std::string(type) + "\" is not \"layers\""));
    simdjson::dom::array ids;
    if (rootfs["diff_ids"].get(ids)) return {};
    for (auto item : ids) {
        std::string_view id;
        if (item.get(id) || !is_sha256_digest(id))
            return fail(config_error("diff_ids must be sha256 digests"));
        out.diff_ids.emplace_back(id);
    }
    return {};
}

void read_labels(simdjson::dom::object root, ImageConfigInfo& out) {
    simdjson::dom::object labels;
    if (root["config"]["Labels"].get(labels)) return;  // absent or null
    for (auto field : labels) {
        std::string_view value;
        if (!field.value.get(value)) out.labels.emplace(std::string(field.key), std::string(value));
    }
}

}  // namespace

Result<ImageConfigInfo> parse_image_config(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc))
        return fail(config_error(simdjson::error_message(err)));
    simdjson::dom::object root;
    if (doc.get(root)) return fail(config_error("not a JSON object"));
    ImageConfigInfo out;
    std::string_view text;
    if (!root["created"].get(text)) {
        auto t = parse_docker_time(text, 0);
        if (!t) return fail(config_error("created \"" + std::string(text) + "\" is not a time"));
        out.created_ns = *t;
    }
    if (!root["os"].get(text)) out.os = text;
    if (!root["architecture"].get(text)) out.architecture = text;
    if (auto r = read_diff_ids(root, out); !r) return fail(std::move(r.error()));
    read_labels(root, out);
    return out;
}

}  // namespace berth::graph
