// Registry transfers as Docker's JSON progress streams: POST /images/create?fromImage=… (pull)
// and POST /images/{name}/push. The stream starts with the job's first message; an error before
// it is a plain HTTP error, after it an errorDetail message (the status stays 200), as dockerd
// does. A client that goes away cancels the job.
#include "graph/reference.hpp"
#include "http/api/api.hpp"
#include "http/exchange.hpp"
#include "jobs/progress.hpp"
#include "jobs/pull.hpp"
#include "jobs/push.hpp"
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

// Runs one job (Pull or Push) for an exchange and frees itself when it is over.
template <class Job>
class TransferExchange {
public:
    TransferExchange(ApiContext& ctx, Exchange& ex, std::string event, std::string name)
        : ctx_(ctx), ex_(&ex), event_(std::move(event)), name_(std::move(name)) {
        reaper_.context = this;
        reaper_.callback = [](loop::Completion& c) {
            delete static_cast<TransferExchange*>(c.context);
        };
        ex_->observe({this, &TransferExchange::on_aborted, &TransferExchange::on_shutdown, nullptr});
    }

    typename Job::Progress progress() {
        return [this](const std::string& line) {
            if (!ex_) return;
            if (!ex_->streaming()) ex_->begin_stream(200, "application/json");
            ex_->write(line);
        };
    }
    typename Job::Done done() {
        return [this](Result<std::string> r) { on_done(std::move(r)); };
    }
    void run(std::unique_ptr<Job> job) {
        job_ = std::move(job);
        job_->start();
    }

private:
    void on_done(Result<std::string> id) {
        if (id) ctx_.publish_image_event(event_, event_ == "push" ? name_ : *id, name_);
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
        auto* p = static_cast<TransferExchange*>(self);
        p->ex_ = nullptr;
        if (p->job_) p->job_->cancel();
    }
    static void on_shutdown(void* self) {
        auto* p = static_cast<TransferExchange*>(self);
        if (p->job_) p->job_->cancel();
    }

    ApiContext& ctx_;
    Exchange* ex_;
    std::string event_, name_;
    std::unique_ptr<Job> job_;
    loop::Completion reaper_;
};

Result<registry::Credentials> credentials(const Request& req) {
    auto auth = req.header("x-registry-auth");
    if (auth.empty()) return registry::Credentials{};
    return registry::decode_registry_auth(auth);
}

Result<graph::Reference> pull_reference(const Request& req) {
    auto named = graph::Reference::parse_named(req.query_value("fromImage").value_or(""));
    if (!named) return named;
    std::string tag = req.query_value("tag").value_or("");
    if (tag.empty()) return named->digest().empty() ? named->with_default_tag() : *named;
    if (tag.starts_with("sha256:")) return named->name_only().with_digest(tag);
    return named->name_only().with_tag(tag);
}

}  // namespace

// /images/create is a streaming route (for imports); a pull has no use for a body: drop it.
struct DiscardBody final : BodySink {
    Result<> on_body(std::span<const std::byte>) override { return {}; }
    void on_body_end() override {}
};

void pull_image(ApiContext& ctx, Exchange& ex) {
    static DiscardBody discard;
    if (!ex.body_done()) ex.read_body(&discard);
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
    auto creds = credentials(req);
    if (!creds) return ex.respond_error(creds.error());
    pr.credentials = *creds;
    pr.max_concurrent_downloads = ctx.max_concurrent_downloads;
    auto* t = new TransferExchange<jobs::Pull>(ctx, ex, "pull", pr.reference.familiar());
    t->run(std::make_unique<jobs::Pull>(*ctx.registry, *ctx.images, *ctx.storage, std::move(pr),
                                        t->progress(), t->done()));
}

// POST /images/{name}/push?tag=…
void push_image(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto named = graph::Reference::parse_named(req.params[0]);
    if (!named) return ex.respond_error(named.error());
    std::string tag = req.query_value("tag").value_or("");
    auto ref = tag.empty() ? Result<graph::Reference>(named->with_default_tag())
                           : named->name_only().with_tag(tag);
    if (!ref) return ex.respond_error(ref.error());
    auto creds = credentials(req);
    if (!creds) return ex.respond_error(creds.error());
    auto* t = new TransferExchange<jobs::Push>(ctx, ex, "push", ref->familiar());
    auto job = jobs::Push::create(*ctx.registry, *ctx.images, *ctx.storage, *ref, *creds,
                                  t->progress(), t->done());
    if (!job) {
        ex.respond_error(job.error());  // the exchange is over: the observer is cleared
        delete t;
        return;
    }
    t->run(std::move(*job));
}

}  // namespace berth::http
