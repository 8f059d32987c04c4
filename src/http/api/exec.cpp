// docker exec through the API: POST /containers/{id}/exec, POST /exec/{id}/start (hijacked like
// attach, or detached), POST /exec/{id}/resize and GET /exec/{id}/json, driven by the engine's
// exec jobs (jobs/exec.cpp).
#include <simdjson.h>

#include <optional>

#include "base/json.hpp"
#include "graph/containers.hpp"
#include "http/api/api.hpp"
#include "http/api/attach_stream.hpp"
#include "http/exchange.hpp"
#include "jobs/container_engine.hpp"

namespace berth::http {

namespace {

using simdjson::dom::element;

// A field of the body: absent and null are fine, another JSON type than Docker's is a 400 in
// Go's words.
Result<std::optional<element>> field(element obj, const char* key, simdjson::dom::element_type want,
                                     const char* go_type) {
    element e;
    if (obj[key].get(e) || e.is_null()) return std::nullopt;
    if (e.type() == want) return e;
    return fail(Error::invalid(std::string("json: cannot unmarshal into Go struct field ") + key +
                               " of type " + go_type));
}

Result<std::vector<std::string>> string_list(element obj, const char* key) {
    auto e = field(obj, key, simdjson::dom::element_type::ARRAY, "[]string");
    if (!e) return fail(e.error());
    std::vector<std::string> out;
    simdjson::dom::array arr;
    if (!*e || (*e)->get(arr)) return out;
    for (element item : arr) {
        std::string_view s;
        if (item.get(s))
            return fail(Error::invalid(std::string("json: cannot unmarshal into Go struct field ") +
                                       key + " of type string"));
        out.emplace_back(s);
    }
    return out;
}

Result<std::string> string_field(element obj, const char* key) {
    auto e = field(obj, key, simdjson::dom::element_type::STRING, "string");
    if (!e) return fail(e.error());
    std::string_view s;
    return !*e || (*e)->get(s) ? std::string() : std::string(s);
}

Result<bool> bool_field(element obj, const char* key) {
    auto e = field(obj, key, simdjson::dom::element_type::BOOL, "bool");
    if (!e) return fail(e.error());
    bool b = false;
    return *e && !(*e)->get(b) && b;
}

Result<jobs::ExecConfig> exec_config(element body) {
    jobs::ExecConfig c;
    auto cmd = string_list(body, "Cmd");
    auto env = string_list(body, "Env");
    auto user = string_field(body, "User");
    auto dir = string_field(body, "WorkingDir");
    auto keys = string_field(body, "DetachKeys");
    for (const Result<std::vector<std::string>>* r : {&cmd, &env})
        if (!*r) return fail(r->error());
    for (const Result<std::string>* r : {&user, &dir, &keys})
        if (!*r) return fail(r->error());
    c.cmd = std::move(*cmd);
    c.env = std::move(*env);
    c.user = std::move(*user);
    c.working_dir = std::move(*dir);
    c.detach_keys = std::move(*keys);
    struct {
        const char* key;
        bool* out;
    } flags[] = {{"Tty", &c.tty},
                 {"AttachStdin", &c.attach_stdin},
                 {"AttachStdout", &c.attach_stdout},
                 {"AttachStderr", &c.attach_stderr},
                 {"Privileged", &c.privileged}};
    for (auto& f : flags) {
        auto b = bool_field(body, f.key);
        if (!b) return fail(b.error());
        *f.out = *b;
    }
    for (const auto& e : c.env)
        if (e.empty() || e[0] == '=')
            return fail(Error::invalid("invalid environment variable: " + e));
    if (!c.working_dir.empty() && c.working_dir[0] != '/')
        return fail(Error::invalid("the working directory '" + c.working_dir +
                                   "' is invalid, it needs to be an absolute path"));
    if (auto k = parse_detach_keys(c.detach_keys); !k) return fail(k.error());
    return c;
}

Result<element> parse_body(simdjson::dom::parser& parser, simdjson::padded_string& text) {
    element doc;
    if (auto err = parser.parse(text).get(doc))
        return fail(Error::invalid(std::string("invalid JSON: ") + simdjson::error_message(err)));
    if (!doc.is_object()) return fail(Error::invalid("invalid JSON: the body must be an object"));
    return doc;
}

void create_exec(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    simdjson::dom::parser parser;
    simdjson::padded_string text(req.body.empty() ? std::string("{}") : req.body);
    auto body = parse_body(parser, text);
    if (!body) return ex.respond_error(body.error());
    auto cfg = exec_config(*body);
    if (!cfg) return ex.respond_error(cfg.error());
    auto id = ctx.engine->exec_create(req.params[0], std::move(*cfg));
    if (!id) return ex.respond_error(id.error());
    JsonWriter w;
    w.begin_object().field("Id", *id).end_object();
    ex.respond_json(201, w.str());
}

// An answer that comes once the process runs (detached start); the observer forgets a client
// that went away first.
struct DetachedReply {
    Exchange* ex;
};

void start_exec(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    simdjson::dom::parser parser;
    simdjson::padded_string text(req.body.empty() ? std::string("{}") : req.body);
    auto body = parse_body(parser, text);
    if (!body) return ex.respond_error(body.error());
    auto detach = bool_field(*body, "Detach");
    if (!detach) return ex.respond_error(detach.error());
    std::string id = req.params[0];
    auto st = ctx.engine->exec_inspect(id);
    if (!st) return ex.respond_error(st.error());
    if (st->running || st->exit_code)
        return ex.respond_error(
            Error::conflict("Error: Exec command " + id +
                            (st->running ? " is already running" : " has already run")));
    if (*detach) {
        auto* p = new DetachedReply{&ex};
        ex.observe(
            {p, [](void* v) { static_cast<DetachedReply*>(v)->ex = nullptr; }, nullptr, nullptr});
        ctx.engine->exec_start(id, [p](Result<> r) {
            Exchange* e = p->ex;
            delete p;
            if (!e) return;
            if (r)
                e->respond_empty(200);
            else
                e->respond_error(r.error());
        });
        return;
    }
    const jobs::ExecConfig& c = st->config;
    auto keys = parse_detach_keys(c.detach_keys);
    if (!keys) return ex.respond_error(keys.error());
    // The stream listens first, so it sees all output, and a start that fails writes its
    // reason there and ends it (the engine does both). The process starts once the 101 is out.
    AttachOptions opt{c.tty, c.attach_stdout, c.attach_stderr, c.attach_stdin, true,
                      std::move(*keys), nullptr};
    opt.on_header_sent = [&ctx, id] { ctx.engine->exec_start(id, [](const Result<>&) {}); };
    new AttachStream(ctx, ex, id, std::move(opt));
}

void resize_exec(ApiContext& ctx, Exchange& ex) {
    const Request& req = ex.request();
    auto h = tty_dimension(req, "h"), w = tty_dimension(req, "w");
    if (!h || !w)
        return ex.respond_error(
            Error::invalid("invalid tty size: h and w must be numbers from 0 to 65535"));
    auto st = ctx.engine->exec_inspect(req.params[0]);
    if (!st) return ex.respond_error(st.error());
    if (auto r = ctx.engine->resize(st->id, *h, *w); !r) return ex.respond_error(r.error());
    ex.respond_empty(200);
}

void inspect_exec(ApiContext& ctx, Exchange& ex) {
    auto st = ctx.engine->exec_inspect(ex.request().params[0]);
    if (!st) return ex.respond_error(st.error());
    const jobs::ExecConfig& c = st->config;
    JsonWriter w;
    w.begin_object().field("ID", st->id).field("Running", st->running);
    w.key("ExitCode");
    if (st->exit_code)
        w.value(*st->exit_code);
    else
        w.null();
    w.key("ProcessConfig").begin_object().field("tty", c.tty);
    w.field("entrypoint", c.cmd.empty() ? std::string() : c.cmd[0]);
    w.key("arguments").begin_array();
    for (size_t i = 1; i < c.cmd.size(); ++i) w.value(c.cmd[i]);
    w.end_array();
    w.field("privileged", c.privileged).field("user", c.user).end_object();
    w.field("OpenStdin", c.attach_stdin).field("OpenStderr", c.attach_stderr);
    w.field("OpenStdout", c.attach_stdout).field("CanRemove", false);
    w.field("ContainerID", st->container_id).field("DetachKeys", c.detach_keys);
    w.field("Pid", st->pid).end_object();
    ex.respond_json(200, w.str());
}

}  // namespace

void register_exec_routes(Router& router, ApiContext& ctx) {
    router.add("POST", "/containers/{id}/exec", [&ctx](Exchange& ex) { create_exec(ctx, ex); });
    router.add("POST", "/exec/{id}/start", [&ctx](Exchange& ex) { start_exec(ctx, ex); });
    router.add("POST", "/exec/{id}/resize", [&ctx](Exchange& ex) { resize_exec(ctx, ex); });
    router.add("GET", "/exec/{id}/json", [&ctx](Exchange& ex) { inspect_exec(ctx, ex); });
}

}  // namespace berth::http
