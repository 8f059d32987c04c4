// docker cp and docker export: HEAD/GET/PUT /containers/{id}/archive?path= and
// GET /containers/{id}/export. The stat header, names and errors follow moby's copy router and
// daemon/archive*.go; the files are reached only through jobs/container_archive (an fd on the
// container's root), and a tar streams out as the client takes it.
#include <simdjson.h>
#include <sys/stat.h>

#include <algorithm>

#include "base/json.hpp"
#include "base/log.hpp"
#include "base/time.hpp"
#include "drivers/storage/storage_driver.hpp"
#include "graph/containers.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "jobs/container_archive.hpp"
#include "jobs/events.hpp"
#include "jobs/volumes.hpp"
#include "registry/auth.hpp"

namespace berth::http {

namespace {

// Go's os.FileMode from st_mode: the permission bits, then a bit per type and special bit.
uint32_t go_file_mode(mode_t m) {
    uint32_t out = m & 0777;
    switch (m & S_IFMT) {
        case S_IFDIR:
            out |= 1u << 31;
            break;
        case S_IFLNK:
            out |= 1u << 27;
            break;
        case S_IFBLK:
            out |= 1u << 26;
            break;
        case S_IFCHR:
            out |= (1u << 26) | (1u << 21);
            break;
        case S_IFIFO:
            out |= 1u << 25;
            break;
        case S_IFSOCK:
            out |= 1u << 24;
            break;
        default:
            break;
    }
    if (m & S_ISUID) out |= 1u << 23;
    if (m & S_ISGID) out |= 1u << 22;
    if (m & S_ISVTX) out |= 1u << 20;
    return out;
}

// X-Docker-Container-Path-Stat: base64 of moby's container.PathStat as JSON.
std::string path_stat_header(const kernel::ContainerPathStat& st) {
    JsonWriter w;
    w.begin_object().field("name", st.name).field("size", st.size);
    w.field("mode", uint64_t(go_file_mode(st.mode)));
    w.field("mtime", rfc3339_nano(int64_t(st.mtime.tv_sec) * 1'000'000'000 + st.mtime.tv_nsec));
    w.field("linkTarget", st.link_target).end_object();
    return registry::base64_encode(w.str());
}

// Named and anonymous volumes (and --mount binds) are where their data lives, as dockerd
// resolves them: their sources from inspect's Mounts.
void add_volume_mounts(ApiContext& ctx, const graph::ContainerRecord& rec,
                       std::vector<jobs::ContainerMount>& mounts) {
    if (!ctx.volumes) return;
    std::string json = ctx.volumes->mounts_json(rec.id, rec.config_json, rec.host_config_json);
    simdjson::dom::parser parser;
    simdjson::padded_string text(json);
    simdjson::dom::array arr;
    if (parser.parse(text).get(arr)) return;
    for (simdjson::dom::element m : arr) {
        std::string_view type, source, target;
        bool rw = true;
        if (m["Type"].get(type) || m["Source"].get(source) || m["Destination"].get(target)) continue;
        if (type != "volume" && type != "bind") continue;
        if (m["RW"].get(rw)) rw = true;
        bool known = std::any_of(mounts.begin(), mounts.end(),
                                 [&](const jobs::ContainerMount& c) { return c.target == target; });
        if (!known && !source.empty() && target.starts_with('/') && target != "/")
            mounts.push_back({std::string(target), std::string(source), false, !rw});
    }
}

struct Target {
    graph::ContainerRecord rec;
    jobs::ContainerFs fs;
};

// The container (404 "No such container"), an fd on its root and its mounts; `path` must be
// given.
Result<Target> open_target(ApiContext& ctx, const Request& req, bool need_path) {
    if (need_path && req.query_value("path").value_or("").empty())
        return fail(Error::invalid("bad parameter: path cannot be empty"));
    auto rec = ctx.containers->get(req.params[0]);
    if (!rec) return fail(std::move(rec.error()));
    auto root = ctx.storage->open_root(rec->id);
    if (!root) return fail(std::move(root.error()).wrap("open the root of " + rec->name));
    const std::string& hc = rec->host_config_json;
    auto mounts = jobs::container_mounts(hc);
    add_volume_mounts(ctx, *rec, mounts);
    jobs::ContainerFs fs{std::move(*root), std::move(mounts),
                         rec->state == "running" || rec->state == "paused",
                         hc.find("\"ReadonlyRootfs\":true") != std::string::npos};
    return Target{std::move(*rec), std::move(fs)};
}

void publish(ApiContext& ctx, const graph::ContainerRecord& rec, std::string action) {
    if (!ctx.events) return;
    jobs::Event e;
    e.type = "container";
    e.action = std::move(action);
    e.actor_id = rec.id;
    e.attributes = {{"name", rec.name}};
    ctx.events->publish(std::move(e));
}

// The archive, produced as the client takes it (about 1 MiB ahead of the socket). The job owns
// the container's root fd: a client that goes away ends it, and with it a temporary mount.
class ArchiveStream {
  public:
    ArchiveStream(Exchange& ex, std::unique_ptr<jobs::ArchiveRead> job)
        : ex_(&ex), job_(std::move(job)) {
        ex.observe({this, &ArchiveStream::on_aborted, nullptr, &ArchiveStream::on_drained});
        ex.begin_stream(200, "application/x-tar");
        pump();
    }

  private:
    static constexpr size_t ahead_bytes = 1 << 20;
    static constexpr size_t piece_bytes = 256 << 10;
    void pump() {
        while (ex_ && ex_->buffered() < ahead_bytes) {
            std::string chunk;
            auto more = job_->produce(chunk, piece_bytes);
            if (!more) {
                // Too late for a status, and a tar has no room for a message: cut the stream
                // short so the client sees a failed transfer, as dockerd does.
                log::error("archive: " + more.error().message);
                return finish(false);
            }
            if (!chunk.empty()) ex_->write(chunk);
            if (!*more) return finish(true);
        }
    }
    void finish(bool ok) {
        Exchange* ex = std::exchange(ex_, nullptr);
        ok ? ex->end() : ex->abort();
        delete this;
    }
    static void on_drained(void* self) { static_cast<ArchiveStream*>(self)->pump(); }
    static void on_aborted(void* self) { delete static_cast<ArchiveStream*>(self); }

    Exchange* ex_;
    std::unique_ptr<jobs::ArchiveRead> job_;
};

void head_archive(ApiContext& ctx, Exchange& ex) {
    auto t = open_target(ctx, ex.request(), true);
    if (!t) return ex.respond_error(t.error());
    auto st =
        jobs::stat_container_path(t->fs, *ex.request().query_value("path"), ex.request().params[0]);
    if (!st) return ex.respond_error(st.error());
    ex.add_header("X-Docker-Container-Path-Stat", path_stat_header(*st));
    ex.respond(200, {}, {});
}

void get_archive(ApiContext& ctx, Exchange& ex) {
    auto t = open_target(ctx, ex.request(), true);
    if (!t) return ex.respond_error(t.error());
    auto job = jobs::ArchiveRead::path(std::move(t->fs), *ex.request().query_value("path"),
                                       ex.request().params[0]);
    if (!job) return ex.respond_error(job.error());
    ex.add_header("X-Docker-Container-Path-Stat", path_stat_header((*job)->stat()));
    publish(ctx, t->rec, "archive-path");
    new ArchiveStream(ex, std::move(*job));
}

void export_container(ApiContext& ctx, Exchange& ex) {
    auto t = open_target(ctx, ex.request(), false);
    if (!t) return ex.respond_error(t.error());
    auto job = jobs::ArchiveRead::whole_root(std::move(t->fs.root));
    if (!job) return ex.respond_error(job.error());
    publish(ctx, t->rec, "export");
    new ArchiveStream(ex, std::move(*job));
}

// PUT: the tar streams in as the request body and is extracted as it comes. An error answers
// at once (what was extracted before it stays, as with dockerd); the rest of the body is
// dropped by the server.
class ExtractRequest final : public BodySink {
  public:
    ExtractRequest(ApiContext& ctx, Exchange& ex, graph::ContainerRecord rec,
                   std::unique_ptr<jobs::ExtractToDir> job)
        : ctx_(ctx), ex_(&ex), rec_(std::move(rec)), job_(std::move(job)) {
        ex.observe({this, [](void* self) { delete static_cast<ExtractRequest*>(self); }, nullptr,
                    nullptr});
    }
    Result<> on_body(std::span<const std::byte> data) override {
        if (auto r = job_->feed(data); !r) answer(r);
        return {};
    }
    void on_body_end() override { answer(job_->finish()); }

  private:
    void answer(const Result<>& r) {
        Exchange* ex = ex_;
        if (r) publish(ctx_, rec_, "extract-to-dir");
        Error e = r ? Error{} : r.error();
        delete this;  // before answering: the exchange forgets its observer then
        if (!r) return ex->respond_error(e);
        ex->respond(200, {}, {});
    }

    ApiContext& ctx_;
    Exchange* ex_;
    graph::ContainerRecord rec_;
    std::unique_ptr<jobs::ExtractToDir> job_;
};

std::string config_user(const std::string& config_json) {
    simdjson::dom::parser parser;
    simdjson::padded_string cfg(config_json);
    simdjson::dom::element doc;
    std::string_view user;
    if (parser.parse(cfg).get(doc) || doc["User"].get(user)) return {};
    return std::string(user);
}

void put_archive(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto t = open_target(ctx, req, true);
    if (!t) return ex.respond_error(t.error());
    jobs::ExtractOptions o;
    // moby: the existing type is kept only when noOverwriteDirNonDir is given and true.
    o.no_overwrite_dir_nondir =
        req.query_value("noOverwriteDirNonDir") && req.query_bool("noOverwriteDirNonDir");
    if (req.query_bool("copyUIDGID")) o.copy_uid_gid_user = config_user(t->rec.config_json);
    auto job =
        jobs::ExtractToDir::create(std::move(t->fs), *req.query_value("path"), req.params[0], o);
    if (!job) return ex.respond_error(job.error());
    ex.read_body(new ExtractRequest(ctx, ex, std::move(t->rec), std::move(*job)));
}

}  // namespace

void register_archive_routes(Router& router, ApiContext& ctx) {
    router.add("HEAD", "/containers/{id}/archive", [&ctx](Exchange& ex) { head_archive(ctx, ex); });
    router.add("GET", "/containers/{id}/archive", [&ctx](Exchange& ex) { get_archive(ctx, ex); });
    router.add(
        "PUT", "/containers/{id}/archive", [&ctx](Exchange& ex) { put_archive(ctx, ex); }, true);
    router.add("GET", "/containers/{id}/export",
               [&ctx](Exchange& ex) { export_container(ctx, ex); });
}

}  // namespace berth::http
