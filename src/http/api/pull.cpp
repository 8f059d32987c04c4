// POST /images/create?fromImage=…&tag=…&platform=…: the pull, answered as Docker's JSON progress
// stream. The stream starts at once; an error after that is an errorDetail message (the status
// stays 200), as dockerd does. A client that goes away cancels the pull.
#include "graph/reference.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "jobs/progress.hpp"
#include "jobs/pull.hpp"
#include "loop/loop.hpp"

namespace berth::http {

namespace {

// A registry's 401 is not the daemon's: answering 401 would make the CLI prompt for a login
// (it takes a 401 from the daemon as "log in to the daemon's registry"); dockerd answers 500
// with the registry's words ("unauthorized: authentication required").
Error daemon_error(Error e) {
    if (e.kind == ErrorKind::unauthorized || e.kind == ErrorKind::forbidden)
        e.kind = ErrorKind::system;
    return e;
}

class PullExchange {
public:
    PullExchange(ApiContext& ctx, Exchange& ex) : ctx_(ctx), ex_(&ex) {
        reaper_.context = this;
        reaper_.callback = [](loop::Completion& c) { delete static_cast<PullExchange*>(c.context); };
    }

    void start(jobs::PullRequest req) {
        name_ = req.reference.familiar();
        ex_->observe({this, &PullExchange::on_aborted, &PullExchange::on_shutdown, nullptr});
        pull_ = std::make_unique<jobs::Pull>(
            *ctx_.registry, *ctx_.images, *ctx_.storage, std::move(req),
            [this](const std::string& line) {
                if (!ex_) return;
                // The stream begins with the first message (see Pull::on_resolved).
                if (!ex_->streaming()) ex_->begin_stream(200, "application/json");
                ex_->write(line);
            },
            [this](Result<std::string> id) { on_done(std::move(id)); });
        pull_->start();
    }

private:
    void on_done(Result<std::string> id) {
        if (id) ctx_.publish_image_event("pull", *id, name_);
        if (ex_) {
            Exchange* ex = ex_;
            ex_ = nullptr;
            if (!ex->streaming()) {
                if (id) ex->respond_json(200, "");
                else ex->respond_error(daemon_error(std::move(id.error())));
            } else {
                if (!id) ex->write(jobs::progress_error(id.error().message));
                ex->end();
            }
        }
        // Not from inside the pull's own callback: the next tick frees it.
        ctx_.loop->post(reaper_);
    }
    static void on_aborted(void* self) {
        auto* p = static_cast<PullExchange*>(self);
        p->ex_ = nullptr;
        p->pull_->cancel();
    }
    static void on_shutdown(void* self) {
        auto* p = static_cast<PullExchange*>(self);
        p->pull_->cancel();
    }

    ApiContext& ctx_;
    Exchange* ex_;
    std::string name_;
    std::unique_ptr<jobs::Pull> pull_;
    loop::Completion reaper_;
};

Result<graph::Reference> pull_reference(const Request& req) {
    auto named = graph::Reference::parse_named(req.query_value("fromImage").value_or(""));
    if (!named) return named;
    std::string tag = req.query_value("tag").value_or("");
    if (tag.empty()) return named->digest().empty() ? named->with_default_tag() : *named;
    if (tag.starts_with("sha256:")) return named->name_only().with_digest(tag);
    return named->name_only().with_tag(tag);
}

}  // namespace

void pull_image(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    jobs::PullRequest pr;
    auto ref = pull_reference(req);
    if (!ref) return ex.respond_error(ref.error());
    pr.reference = *ref;
    pr.platform = registry::default_platform();
    if (auto p = req.query_value("platform"); p && !p->empty()) {
        auto parsed = registry::parse_platform(*p);
        if (!parsed) return ex.respond_error(parsed.error());
        pr.platform = *parsed;
    }
    if (auto auth = req.header("x-registry-auth"); !auth.empty()) {
        auto creds = registry::decode_registry_auth(auth);
        if (!creds) return ex.respond_error(creds.error());
        pr.credentials = *creds;
    }
    pr.max_concurrent_downloads = ctx.max_concurrent_downloads;
    auto* p = new PullExchange(ctx, ex);
    p->start(std::move(pr));
}

}  // namespace berth::http
