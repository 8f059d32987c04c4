// The image API that reads and edits the graph: GET /images/json, GET /images/{name}/json,
// GET /images/{name}/history, POST /images/{name}/tag, DELETE /images/{name},
// POST /images/prune. Shapes follow moby's swagger (API 1.51); errors come from ImageStore in
// Docker's words.
#include <simdjson.h>

#include <algorithm>

#include "base/json.hpp"
#include "base/log.hpp"
#include "base/time.hpp"
#include "graph/image_config.hpp"
#include "graph/images.hpp"
#include "graph/reference.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "jobs/filters.hpp"
#include "jobs/image_import.hpp"
#include "jobs/image_load.hpp"
#include "jobs/image_save.hpp"
#include "jobs/progress.hpp"

namespace berth::http {

namespace {

int64_t unix_seconds(int64_t ns) { return ns / 1'000'000'000; }

void string_array(JsonWriter& w, std::string_view key, const std::vector<std::string>& v) {
    w.key(key).begin_array();
    for (const auto& s : v) w.value(s);
    w.end_array();
}

// `reference` filter terms are patterns over familiar names ("busybox", "busy*:1.*").
bool reference_matches(const graph::ImageSummary& img, const std::set<std::string>& terms) {
    for (const std::string& ref : img.repo_tags)
        for (const std::string& t : terms)
            if (jobs::glob_match(t, ref) || jobs::glob_match(t, ref.substr(0, ref.rfind(':'))))
                return true;
    return false;
}

Result<std::vector<graph::ImageSummary>> filtered_images(ApiContext& ctx, const Request& req) {
    auto filters = jobs::Filters::parse(req.query_value("filters").value_or(""),
                                        {"dangling", "label", "before", "since", "reference",
                                         "until"});
    if (!filters) return fail(filters.error());
    auto images = ctx.images->list(false);
    if (!images) return fail(images.error());
    std::optional<int64_t> before, since;
    for (const char* key : {"before", "since"}) {
        for (const std::string& name : filters->values(key)) {
            auto rec = ctx.images->inspect(name);
            if (!rec) return fail(rec.error());
            (key[0] == 'b' ? before : since) = rec->created_ns;
        }
    }
    bool all = req.query_bool("all");
    std::vector<graph::ImageSummary> out;
    for (auto& img : *images) {
        bool dangling = img.repo_tags.empty();
        if (!all && img.has_children && dangling) continue;  // intermediate layers
        if (filters->has("dangling") && filters->bool_value("dangling") != dangling) continue;
        if (before && img.created_ns >= *before) continue;
        if (since && img.created_ns <= *since) continue;
        if (filters->has("reference") && !reference_matches(img, filters->values("reference")))
            continue;
        if (!filters->labels_match("label", img.labels)) continue;
        out.push_back(std::move(img));
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.created_ns > b.created_ns; });
    return out;
}

void list_images(ApiContext& ctx, Exchange& ex) {
    auto images = filtered_images(ctx, ex.request());
    if (!images) return ex.respond_error(images.error());
    JsonWriter w;
    w.begin_array();
    for (const auto& img : *images) {
        w.begin_object();
        w.field("Containers", img.containers).field("Created", unix_seconds(img.created_ns));
        w.field("Id", img.id);
        w.key("Labels").begin_object();
        for (const auto& [k, v] : img.labels) w.field(k, v);
        w.end_object();
        w.field("ParentId", img.parent_id);
        string_array(w, "RepoDigests", img.repo_digests);
        string_array(w, "RepoTags", img.repo_tags);
        w.field("SharedSize", -1).field("Size", img.size);
        w.end_object();
    }
    w.end_array();
    ex.respond_json(200, w.str());
}

// The config's "config" (Docker's ContainerConfig of the image) copied as it is.
std::string config_section(const simdjson::dom::element& doc) {
    simdjson::dom::element c;
    if (doc["config"].get(c)) return "{}";
    return simdjson::minify(c);
}

std::string string_of(const simdjson::dom::element& doc, const char* key) {
    std::string_view v;
    if (doc[key].get(v)) return {};
    return std::string(v);
}

void inspect_image(ApiContext& ctx, Exchange& ex) {
    auto rec = ctx.images->inspect(ex.request().params[0]);
    if (!rec) return ex.respond_error(rec.error());
    simdjson::dom::parser parser;
    simdjson::padded_string padded(rec->config_json);
    simdjson::dom::element doc;
    if (parser.parse(padded).get(doc)) return ex.respond_error(Error::internal("stored config is not JSON"));
    auto info = graph::parse_image_config(rec->config_json);
    JsonWriter w;
    w.begin_object();
    w.field("Id", rec->id);
    string_array(w, "RepoTags", rec->repo_tags);
    string_array(w, "RepoDigests", rec->repo_digests);
    w.field("Parent", rec->parent_id).field("Comment", string_of(doc, "comment"));
    w.field("Created", rfc3339_nano(rec->created_ns));
    w.field("DockerVersion", string_of(doc, "docker_version"));
    w.field("Author", string_of(doc, "author"));
    w.key("Config").raw(config_section(doc));
    w.field("Architecture", string_of(doc, "architecture"));
    if (auto v = string_of(doc, "variant"); !v.empty()) w.field("Variant", v);
    w.field("Os", string_of(doc, "os"));
    w.field("Size", rec->size);
    w.key("GraphDriver").begin_object().field("Name", ctx.system.storage_driver);
    w.key("Data").begin_object();
    if (!rec->chain.empty()) {
        // As overlay2 reports it: the top layer's diff, and the ones below it joined by ':'.
        w.field("UpperDir", ctx.storage->layer_path(rec->chain.back()));
        std::string lower;
        for (size_t i = rec->chain.size() - 1; i-- > 0;)
            lower += (lower.empty() ? "" : ":") + ctx.storage->layer_path(rec->chain[i]);
        if (!lower.empty()) w.field("LowerDir", lower);
    }
    w.end_object().end_object();
    w.key("RootFS").begin_object().field("Type", "layers").key("Layers").begin_array();
    if (info)
        for (const auto& d : info->diff_ids) w.value(d);
    w.end_array().end_object();
    w.key("Metadata").begin_object().field("LastTagTime", "0001-01-01T00:00:00Z").end_object();
    w.end_object();
    ex.respond_json(200, w.str());
}

struct HistoryEntry {
    int64_t created = 0;
    std::string created_by, comment;
    int64_t size = 0;
};

// The config's history, oldest first, each with the size of the layer it made (0 for
// empty_layer entries).
std::vector<HistoryEntry> history_of(const graph::ImageRecord& rec,
                                     const std::vector<int64_t>& layer_sizes) {
    std::vector<HistoryEntry> out;
    simdjson::dom::parser parser;
    simdjson::padded_string padded(rec.config_json);
    simdjson::dom::element doc;
    simdjson::dom::array history;
    if (parser.parse(padded).get(doc) || doc["history"].get(history)) return out;
    size_t layer = 0;
    for (simdjson::dom::element h : history) {
        bool empty = false;
        if (h["empty_layer"].get(empty)) empty = false;
        HistoryEntry e;
        e.created = unix_seconds(parse_docker_time(string_of(h, "created"), 0).value_or(0));
        e.created_by = string_of(h, "created_by");
        e.comment = string_of(h, "comment");
        if (!empty && layer < layer_sizes.size()) e.size = layer_sizes[layer++];
        out.push_back(std::move(e));
    }
    return out;
}

// Newest first, as `docker history` prints it; only the top entry carries the image ID and
// its tags, the others say "<missing>" (their intermediate images are not kept).
void image_history(ApiContext& ctx, Exchange& ex) {
    auto rec = ctx.images->inspect(ex.request().params[0]);
    if (!rec) return ex.respond_error(rec.error());
    std::vector<int64_t> sizes;
    for (const std::string& chain : rec->chain) {
        auto l = ctx.images->layer(chain);
        sizes.push_back(l && *l ? (*l)->size : 0);
    }
    auto entries = history_of(*rec, sizes);
    JsonWriter w;
    w.begin_array();
    for (size_t i = entries.size(); i-- > 0;) {
        const HistoryEntry& e = entries[i];
        bool top = i + 1 == entries.size();
        w.begin_object().field("Id", top ? rec->id : std::string("<missing>"));
        w.field("Created", e.created).field("CreatedBy", e.created_by);
        if (top) string_array(w, "Tags", rec->repo_tags);
        else w.field_null("Tags");
        w.field("Size", e.size).field("Comment", e.comment).end_object();
    }
    w.end_array();
    ex.respond_json(200, w.str());
}

// POST /images/{name}/tag?repo=&tag= → 201.
void tag_image(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto id = ctx.images->resolve(req.params[0]);
    if (!id) return ex.respond_error(id.error());
    std::string repo = req.query_value("repo").value_or("");
    std::string tag = req.query_value("tag").value_or("");
    auto named = graph::Reference::parse_named(repo);
    if (!named) return ex.respond_error(named.error());
    if (!named->digest().empty())
        return ex.respond_error(Error::invalid("refusing to create a tag with a digest reference"));
    auto ref = tag.empty() ? Result<graph::Reference>(named->with_default_tag())
                           : named->with_tag(tag);
    if (!ref) return ex.respond_error(ref.error());
    if (auto r = ctx.images->tag(*ref, *id); !r) return ex.respond_error(r.error());
    ctx.publish_image_event("tag", *id, ref->familiar());
    ex.respond(201, "", "");
}

void delete_items(JsonWriter& w, const std::vector<graph::DeleteItem>& items) {
    w.begin_array();
    for (const auto& d : items) {
        w.begin_object();
        if (!d.untagged.empty()) w.field("Untagged", d.untagged);
        else w.field("Deleted", d.deleted);
        w.end_object();
    }
    w.end_array();
}

// DELETE /images/{name}?force=&noprune=
void remove_image(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto items = ctx.images->remove(req.params[0], req.query_bool("force"),
                                    !req.query_bool("noprune"));
    if (!items) return ex.respond_error(items.error());
    for (const auto& d : *items) {
        if (!d.untagged.empty()) ctx.publish_image_event("untag", "", d.untagged);
        else ctx.publish_image_event("delete", d.deleted, "");
    }
    JsonWriter w;
    delete_items(w, *items);
    ex.respond_json(200, w.str());
}

// POST /images/prune?filters={"dangling":["false"],"until":[…],"label":[…]}
void prune_images(ApiContext& ctx, Exchange& ex) {
    auto filters = jobs::Filters::parse(ex.request().query_value("filters").value_or(""),
                                        {"dangling", "until", "label", "label!"});
    if (!filters) return ex.respond_error(filters.error());
    graph::PruneOptions opts;
    opts.all = filters->has("dangling") && !filters->bool_value("dangling");
    auto until_r = filters->time_value("until", wall_clock_ns());
    if (!until_r) return ex.respond_error(until_r.error());
    std::optional<int64_t> until = *until_r;
    jobs::Filters f = *filters;
    opts.filter = [f, until](const graph::ImageSummary& img) {
        if (until && img.created_ns >= *until) return false;
        return f.labels_match("label", img.labels) && f.labels_unmatch("label!", img.labels);
    };
    auto report = ctx.images->prune(opts);
    if (!report) return ex.respond_error(report.error());
    for (const auto& d : report->deleted)
        if (!d.deleted.empty()) ctx.publish_image_event("delete", d.deleted, "");
    JsonWriter w;
    w.begin_object().key("ImagesDeleted");
    if (report->deleted.empty()) w.null();
    else delete_items(w, report->deleted);
    w.field("SpaceReclaimed", report->space_reclaimed).end_object();
    ex.respond_json(200, w.str());
}

// POST /images/load: the archive streams in as the request body; the answer is Docker's JSON
// stream ("Loaded image: …") once it is all in and filed.
class LoadRequest final : public BodySink {
public:
    LoadRequest(ApiContext& ctx, Exchange& ex, std::unique_ptr<jobs::ImageLoad> job)
        : ctx_(ctx), ex_(&ex), job_(std::move(job)) {
        ex.observe({this, [](void* self) { delete static_cast<LoadRequest*>(self); }, nullptr,
                    nullptr});
    }
    Result<> on_body(std::span<const std::byte> data) override { return job_->feed(data); }
    void on_body_end() override {
        auto loaded = job_->finish();
        Exchange* ex = ex_;
        ApiContext& ctx = ctx_;
        delete this;  // the exchange is answered below; nothing else refers to us
        if (!loaded) return ex->respond_error(loaded.error());
        std::string body;
        for (const auto& img : *loaded) {
            ctx.publish_image_event("load", img.id, img.tags.empty() ? "" : img.tags.front());
            if (img.tags.empty()) body += jobs::progress_stream("Loaded image ID: " + img.id + "\n");
            for (const auto& t : img.tags) body += jobs::progress_stream("Loaded image: " + t + "\n");
        }
        ex->respond_json(200, body);
    }

private:
    ApiContext& ctx_;
    Exchange* ex_;
    std::unique_ptr<jobs::ImageLoad> job_;
};

// POST /images/create?fromSrc=-: `docker import`. The answer is {"status":"sha256:…"}.
class ImportRequest final : public BodySink {
public:
    ImportRequest(ApiContext& ctx, Exchange& ex, std::unique_ptr<jobs::ImageImport> job,
                  std::string name)
        : ctx_(ctx), ex_(&ex), job_(std::move(job)), name_(std::move(name)) {
        ex.observe({this, [](void* self) { delete static_cast<ImportRequest*>(self); }, nullptr,
                    nullptr});
    }
    Result<> on_body(std::span<const std::byte> data) override { return job_->feed(data); }
    void on_body_end() override {
        auto id = job_->finish();
        Exchange* ex = ex_;
        ApiContext& ctx = ctx_;
        std::string name = std::move(name_);
        delete this;
        if (!id) return ex->respond_error(id.error());
        ctx.publish_image_event("import", *id, name);
        ex->respond_json(200, jobs::progress_status("", *id));
    }

private:
    ApiContext& ctx_;
    Exchange* ex_;
    std::unique_ptr<jobs::ImageImport> job_;
    std::string name_;
};

void import_image(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    if (req.query_value("fromSrc") != "-")
        return ex.respond_error(Error::make(ErrorKind::not_implemented,
                                            "importing from a URL is not supported; "
                                            "send the tarball as the request body"));
    jobs::ImportOptions opts;
    std::string repo = req.query_value("repo").value_or("");
    if (!repo.empty()) {
        auto named = graph::Reference::parse_named(repo);
        if (!named) return ex.respond_error(named.error());
        std::string tag = req.query_value("tag").value_or("");
        auto ref = tag.empty() ? Result<graph::Reference>(named->with_default_tag())
                               : named->with_tag(tag);
        if (!ref) return ex.respond_error(ref.error());
        opts.reference = *ref;
    }
    opts.message = req.query_value("message").value_or("");
    opts.changes = req.query_values("changes");
    auto job = jobs::ImageImport::create(*ctx.images, *ctx.storage,
                                         ctx.system.data_root + "/tmp", std::move(opts));
    if (!job) return ex.respond_error(job.error());
    std::string name = repo.empty() ? "" : req.query_value("repo").value_or("");
    auto* r = new ImportRequest(ctx, ex, std::move(*job), std::move(name));
    ex.read_body(r);
}

// POST /images/create: fromSrc imports a tarball; fromImage pulls from a registry.
void create_image(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    if (req.query_value("fromSrc")) return import_image(ctx, ex);
    if (req.query_value("fromImage")) return pull_image(ctx, ex);
    ex.respond_error(Error::invalid("fromImage or fromSrc is required"));
}

void load_images(ApiContext& ctx, Exchange& ex) {
    auto job = jobs::ImageLoad::create(*ctx.images, *ctx.storage, ctx.system.data_root + "/tmp");
    if (!job) return ex.respond_error(job.error());
    auto* req = new LoadRequest(ctx, ex, std::move(*job));
    ex.read_body(req);
}

// GET /images/get?names=… and GET /images/{name}/get: the archive, produced as the client takes
// it (about 1 MiB ahead of the socket).
class SaveStream {
public:
    SaveStream(Exchange& ex, std::unique_ptr<jobs::ImageSave> job) : ex_(&ex), job_(std::move(job)) {
        ex.observe({this, &SaveStream::on_aborted, nullptr, &SaveStream::on_drained});
        ex.begin_stream(200, "application/x-tar");
        pump();
    }

private:
    static constexpr size_t ahead_bytes = 1 << 20;
    void pump() {
        while (ex_ && ex_->buffered() < ahead_bytes) {
            std::string chunk;
            auto more = job_->produce(chunk, 256 * 1024);
            if (!more) {
                // Too late for a status, and a tar has no room for a message: cut the stream
                // short so the client sees a failed transfer, as dockerd does.
                log::error("save: " + more.error().message);
                Exchange* ex = ex_;
                ex_ = nullptr;
                ex->abort();
                delete this;
                return;
            }
            if (!chunk.empty()) ex_->write(chunk);
            if (!*more) {
                Exchange* ex = ex_;
                ex_ = nullptr;
                ex->end();
                delete this;
                return;
            }
        }
    }
    static void on_drained(void* self) { static_cast<SaveStream*>(self)->pump(); }
    static void on_aborted(void* self) { delete static_cast<SaveStream*>(self); }

    Exchange* ex_;
    std::unique_ptr<jobs::ImageSave> job_;
};

void save_images(ApiContext& ctx, Exchange& ex, std::vector<std::string> names) {
    if (names.empty()) return ex.respond_error(Error::invalid("no images to save"));
    auto job = jobs::ImageSave::create(*ctx.images, *ctx.storage, names);
    if (!job) return ex.respond_error(job.error());
    new SaveStream(ex, std::move(*job));
}

}  // namespace

void register_image_routes(Router& router, ApiContext& ctx) {
    router.add("GET", "/images/get", [&ctx](Exchange& ex) {
        save_images(ctx, ex, ex.request().query_values("names"));
    });
    router.add("GET", "/images/{name*}/get", [&ctx](Exchange& ex) {
        save_images(ctx, ex, {ex.request().params[0]});
    });
    router.add("POST", "/images/load", [&ctx](Exchange& ex) { load_images(ctx, ex); }, true);
    router.add("POST", "/images/create", [&ctx](Exchange& ex) { create_image(ctx, ex); }, true);
    router.add("GET", "/images/json", [&ctx](Exchange& ex) { list_images(ctx, ex); });
    router.add("POST", "/images/prune", [&ctx](Exchange& ex) { prune_images(ctx, ex); });
    router.add("GET", "/images/{name*}/json", [&ctx](Exchange& ex) { inspect_image(ctx, ex); });
    router.add("GET", "/images/{name*}/history",
               [&ctx](Exchange& ex) { image_history(ctx, ex); });
    router.add("POST", "/images/{name*}/tag", [&ctx](Exchange& ex) { tag_image(ctx, ex); });
    router.add("POST", "/images/{name*}/push", [&ctx](Exchange& ex) { push_image(ctx, ex); });
    router.add("DELETE", "/images/{name*}", [&ctx](Exchange& ex) { remove_image(ctx, ex); });
}

}  // namespace berth::http
