#include "registry/client.hpp"

#include <arpa/inet.h>

#include <cassert>
#include <charconv>
#include <filesystem>

#include "graph/digest.hpp"
#include "registry/errors.hpp"

namespace berth::registry {

namespace fs = std::filesystem;

namespace {

constexpr size_t error_body_bytes_max = 64 * 1024;
constexpr size_t probe_body_bytes_max = 64 * 1024;

bool ipv4_in_cidr(std::string_view host, std::string_view cidr) {
    size_t slash = cidr.find('/');
    if (slash == std::string_view::npos) return false;
    in_addr net{}, addr{};
    std::string n(cidr.substr(0, slash)), h(host);
    int bits = std::atoi(std::string(cidr.substr(slash + 1)).c_str());
    if (bits < 0 || bits > 32 || inet_pton(AF_INET, n.c_str(), &net) != 1 ||
        inet_pton(AF_INET, h.c_str(), &addr) != 1)
        return false;
    uint32_t mask = bits == 0 ? 0 : ~uint32_t(0) << (32 - bits);
    return (ntohl(net.s_addr) & mask) == (ntohl(addr.s_addr) & mask);
}

// "GET" → "Get", as Go's url.Error prints the operation.
std::string go_method(std::string_view m) {
    std::string out(m);
    for (size_t i = 1; i < out.size(); ++i)
        if (out[i] >= 'A' && out[i] <= 'Z') out[i] = char(out[i] - 'A' + 'a');
    return out;
}

std::string blob_path(const Reference& repo, std::string_view digest) {
    return "/v2/" + repo.path() + "/blobs/" + std::string(digest);
}

// Docker's translatePullError: the registry's "not found" family in the words `docker pull`
// prints.
Error translate_pull_error(Error e, const Reference& ref) {
    std::string_view code = registry_error_code(e);
    if (code == "DENIED")
        return Error::make(
            ErrorKind::not_found,
            "pull access denied for " + ref.familiar_name() +
                ", repository does not exist or may require 'docker login': " + e.message);
    if (code == "MANIFEST_UNKNOWN")
        return Error::make(ErrorKind::not_found,
                           "manifest for " + ref.familiar() + " not found: " + e.message);
    if (code == "NAME_UNKNOWN")
        return Error::make(ErrorKind::not_found,
                           "repository " + ref.familiar_name() + " not found: " + e.message);
    return e;
}

}  // namespace

// What one registry (by reference domain) is known to be.
struct RegistryClient::Registry {
    enum class State : unsigned char { unknown, probing, ready };
    State state = State::unknown;
    Url base;  // scheme://host[:port]
    Challenge challenge;
    std::vector<std::move_only_function<void(Result<Registry*>)>> waiters;
};

// What to ask of the registry.
struct RegistryClient::Spec {
    std::string domain;
    std::string scope;
    Credentials creds;
    std::string method = "GET";
    std::string target;      // "/v2/…" on the registry, or…
    std::optional<Url> url;  // …an absolute URL (an upload's Location)
    Headers headers;
    std::string body;
    std::optional<BodySource> source;
};

struct RegistryClient::Op {
    enum class Mode : unsigned char { pass, error, reauthorize };
    OpId id = 0;
    Spec spec;
    HttpHandlers user;
    HttpClient::RequestId http = 0;
    Url url;  // as sent
    Mode mode = Mode::pass;
    bool reauthorized = false;
    bool streamed = false;  // the body source went out: no second attempt
    bool paused = false;
    int status = 0;
    Headers headers;
    std::string error_body;
};

RegistryClient::RegistryClient(loop::Loop& loop, RegistryOptions options)
    : loop_(loop),
      options_(std::move(options)),
      http_(loop,
            HttpOptions{options_.timeouts,
                        options_.user_agent,
                        4,
                        90'000'000'000,
                        64 * 1024,
                        {},
                        [this](const std::string& h, uint16_t p) { return tls_config(h, p); }}),
      auth_(http_) {
    defer_c_.context = this;
    defer_c_.callback = &on_deferred;
}

RegistryClient::~RegistryClient() {
    assert(quiescent() && "RegistryClient destroyed with work in flight");
}

// ---- endpoints and TLS ----

bool RegistryClient::is_insecure(std::string_view host) const {
    if (host == "docker.io" || host == "registry-1.docker.io") return false;
    auto hp = split_host_port(host);
    std::string name = hp ? hp->first : std::string(host);
    for (const std::string& entry : options_.insecure_registries)
        if (entry == host || entry == name || ipv4_in_cidr(name, entry)) return true;
    return options_.loopback_insecure && is_loopback_host(name);
}

TlsConfig RegistryClient::tls_config(const std::string& host, uint16_t port) const {
    std::string authority = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != 443) authority += ":" + std::to_string(port);
    TlsConfig c;
    c.verify = !is_insecure(authority);
    for (const std::string& dir : options_.certs_dirs) {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(fs::path(dir) / authority, ec)) {
            std::string path = entry.path().string();
            if (path.ends_with(".crt")) c.ca_files.push_back(path);
            if (path.ends_with(".cert") && c.client_cert_file.empty()) {
                std::string key = path.substr(0, path.size() - 5) + ".key";
                if (fs::exists(key, ec)) {
                    c.client_cert_file = path;
                    c.client_key_file = key;
                }
            }
        }
    }
    return c;
}

void RegistryClient::with_registry(const std::string& domain,
                                   std::move_only_function<void(Result<Registry*>)> k) {
    auto& slot = registries_[domain];
    if (!slot) slot = std::make_unique<Registry>();
    Registry* reg = slot.get();
    if (reg->state == Registry::State::ready) return k(reg);
    reg->waiters.push_back(std::move(k));
    if (reg->state == Registry::State::probing) return;
    reg->state = Registry::State::probing;
    probe(domain, 0);
}

// GET /v2/ on https, then (insecure registries only) on http: the first that answers at all
// is the endpoint, and its 401 challenge says how to authenticate.
void RegistryClient::probe(const std::string& domain, size_t attempt) {
    std::string host = registry_host(domain);
    const char* scheme = attempt == 0 ? "https" : "http";
    auto url = parse_url(std::string(scheme) + "://" + host + "/v2/");
    if (!url) return probed(domain, 99, fail(std::move(url.error())));
    HttpRequest req;
    req.url = std::move(*url);
    http_.fetch(
        std::move(req), probe_body_bytes_max,
        [this, domain, attempt](Result<HttpResponse> r) { probed(domain, attempt, std::move(r)); });
}

void RegistryClient::probed(const std::string& domain, size_t attempt, Result<HttpResponse> r) {
    Registry* reg = registries_[domain].get();
    if (!reg) return;
    if (!r && attempt == 0 && is_insecure(registry_host(domain))) return probe(domain, 1);
    auto waiters = std::move(reg->waiters);
    reg->waiters.clear();
    if (!r) {
        reg->state = Registry::State::unknown;
        for (auto& w : waiters) w(fail(r.error()));
        return;
    }
    reg->state = Registry::State::ready;
    reg->base = r->url;
    reg->base.target = "/";
    if (r->status == 401)
        reg->challenge = parse_challenge(header_value(r->headers, "www-authenticate"));
    for (auto& w : waiters) w(reg);
}

// ---- one authorized request ----

RegistryClient::Op* RegistryClient::find(OpId id) {
    auto it = ops_.find(id);
    return it == ops_.end() ? nullptr : it->second.get();
}

RegistryClient::OpId RegistryClient::start(Spec spec, HttpHandlers handlers, OpId reuse) {
    OpId id = reuse ? reuse : next_id_++;
    auto op = std::make_unique<Op>();
    op->id = id;
    op->spec = std::move(spec);
    op->user = std::move(handlers);
    std::string domain = op->spec.domain;
    ops_[id] = std::move(op);
    OpId outer = std::exchange(starting_, id);
    with_registry(domain, [this, id](Result<Registry*> r) {
        if (!find(id)) return;
        if (!r) return finish(id, fail(std::move(r.error())));
        authorize(id);
    });
    starting_ = outer;
    return id;
}

void RegistryClient::authorize(OpId id) {
    Op* op = find(id);
    Registry* reg = registries_[op->spec.domain].get();
    auth_.authorize(
        reg->challenge, op->spec.creds, op->spec.scope, [this, id](Result<std::string> a) {
            Op* op = find(id);
            if (!op) return;
            if (!a) {
                Url u = op->spec.url ? *op->spec.url : registries_[op->spec.domain]->base;
                if (!op->spec.url) u.target = op->spec.target;
                return finish(id, fail(std::move(a.error()).wrap(go_method(op->spec.method) +
                                                                 " \"" + u.str() + "\"")));
            }
            send(id, *a);
        });
}

void RegistryClient::send(OpId id, const std::string& authorization) {
    Op* op = find(id);
    Registry* reg = registries_[op->spec.domain].get();
    HttpRequest req;
    req.method = op->spec.method;
    if (op->spec.url) {
        req.url = *op->spec.url;
    } else {
        req.url = reg->base;
        req.url.target = op->spec.target;
    }
    req.headers = op->spec.headers;
    // Credentials go to the registry's own origin only (an upload Location could point away).
    if (!authorization.empty() && req.url.origin() == reg->base.origin())
        req.headers.push_back({"Authorization", authorization});
    req.body = op->spec.body;
    if (op->spec.source) {
        req.source = std::move(*op->spec.source);
        op->spec.source.reset();
        op->streamed = true;
    }
    op->url = req.url;
    op->mode = Op::Mode::pass;
    op->error_body.clear();
    HttpHandlers h;
    h.on_headers = [this, id](const HttpResponseHead& head) { on_op_headers(id, head); };
    h.on_body = [this, id](std::span<const std::byte> d) { on_op_body(id, d); };
    h.on_done = [this, id](Result<> r) { on_op_done(id, std::move(r)); };
    op->http = http_.send(std::move(req), std::move(h));
    if (op->paused) http_.pause(op->http);
}

void RegistryClient::on_op_headers(OpId id, const HttpResponseHead& head) {
    Op* op = find(id);
    if (!op) return;
    op->status = head.status;
    op->headers = head.headers;
    Registry* reg = registries_[op->spec.domain].get();
    // A 401 to a token that expired or lacked the scope: fetch another and try once more —
    // unless the body is gone already or there is nothing a second try could change.
    bool could_change = reg->challenge.scheme == Challenge::Scheme::bearer ||
                        (reg->challenge.scheme == Challenge::Scheme::none);
    if (head.status == 401 && !op->reauthorized && !op->streamed && could_change) {
        op->mode = Op::Mode::reauthorize;
        return;
    }
    if (head.status >= 300) {
        op->mode = Op::Mode::error;
        return;
    }
    if (op->user.on_headers) op->user.on_headers(head);
}

void RegistryClient::on_op_body(OpId id, std::span<const std::byte> data) {
    Op* op = find(id);
    if (!op) return;
    if (op->mode == Op::Mode::pass) {
        if (op->user.on_body) op->user.on_body(data);
        return;
    }
    size_t room = error_body_bytes_max - std::min(error_body_bytes_max, op->error_body.size());
    op->error_body.append(reinterpret_cast<const char*>(data.data()), std::min(room, data.size()));
}

void RegistryClient::on_op_done(OpId id, Result<> r) {
    Op* op = find(id);
    if (!op) return;
    if (!r) return finish(id, std::move(r));
    if (op->mode == Op::Mode::reauthorize) {
        op->reauthorized = true;
        Registry* reg = registries_[op->spec.domain].get();
        Challenge c = parse_challenge(header_value(op->headers, "www-authenticate"));
        auth_.invalidate(reg->challenge, op->spec.creds, op->spec.scope);
        if (c.scheme != Challenge::Scheme::none) {
            c.scope.clear();
            c.error.clear();
            reg->challenge = c;
        }
        return authorize(id);
    }
    if (op->mode == Op::Mode::error) {
        Error e = registry_error(op->status, op->error_body, op->headers);
        // 404s keep the registry's own words (callers reword them), the rest say where.
        if (e.kind != ErrorKind::not_found && e.kind != ErrorKind::unauthorized &&
            e.kind != ErrorKind::forbidden)
            e = std::move(e).wrap(go_method(op->spec.method) + " \"" + op->url.str() + "\"");
        return finish(id, fail(std::move(e)));
    }
    finish(id, {});
}

void RegistryClient::finish(OpId id, Result<> r) {
    auto it = ops_.find(id);
    if (it == ops_.end()) return;
    auto done = std::move(it->second->user.on_done);
    ops_.erase(it);
    if (!done) return;
    // Inside start() the caller has not even got the id yet: come back on the next tick.
    if (id != starting_) return done(std::move(r));
    defer(id, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void RegistryClient::abort_op(OpId id, Error e) {
    Op* op = find(id);
    if (!op) return;
    if (op->http) return http_.abort(op->http, std::move(e));
    finish(id, fail(std::move(e)));
}

void RegistryClient::defer(OpId id, std::move_only_function<void()> fn) {
    deferred_.emplace_back(id, std::move(fn));
    if (!defer_c_.in_flight()) loop_.post(defer_c_);
}

void RegistryClient::on_deferred(loop::Completion& c) {
    auto* self = static_cast<RegistryClient*>(c.context);
    auto batch = std::move(self->deferred_);
    self->deferred_.clear();
    for (auto& [id, fn] : batch) fn();
}

RegistryClient::OpId RegistryClient::request_small(Spec spec, size_t body_max,
                                                   Done<HttpResponse> done, OpId reuse) {
    struct State {
        HttpResponse response;
        Done<HttpResponse> done;
        OpId id = 0;
    };
    auto st = std::make_shared<State>();
    st->done = std::move(done);
    HttpHandlers h;
    h.on_headers = [st](const HttpResponseHead& head) {
        st->response.status = head.status;
        st->response.headers = head.headers;
        st->response.url = head.url;
    };
    h.on_body = [this, st, body_max](std::span<const std::byte> d) {
        if (st->response.body.size() + d.size() > body_max)
            return abort_op(
                st->id, Error::make(ErrorKind::too_large,
                                    "response from " + st->response.url.str() + " is larger than " +
                                        std::to_string(body_max) + " bytes"));
        st->response.body.append(reinterpret_cast<const char*>(d.data()), d.size());
    };
    h.on_done = [st](Result<> r) {
        auto done = std::move(st->done);
        if (!r) return done(fail(std::move(r.error())));
        done(std::move(st->response));
    };
    st->id = reuse ? reuse : next_id_++;
    return start(std::move(spec), std::move(h), st->id);
}

// ---- the API ----

void RegistryClient::get_manifest(const Reference& ref, const Credentials& creds,
                                  Done<FetchedManifest> done) {
    Spec s;
    s.domain = ref.domain();
    s.scope = repository_scope(ref.path(), false);
    s.creds = creds;
    s.target = "/v2/" + ref.path() + "/manifests/" + manifest_ref(ref);
    s.headers.push_back({"Accept", std::string(manifest_accept())});
    std::string requested = ref.digest();
    request_small(
        std::move(s), options_.manifest_bytes_max,
        [requested, done = std::move(done)](Result<HttpResponse> r) mutable {
            if (!r) return done(fail(std::move(r.error())));
            auto digest = verify_manifest_digest(r->body, requested,
                                                 header_value(r->headers, "docker-content-digest"));
            if (!digest) return done(fail(std::move(digest.error())));
            auto m = parse_manifest(r->body, header_value(r->headers, "content-type"));
            if (!m) return done(fail(std::move(m.error())));
            FetchedManifest f{std::move(*digest), m->media_type, std::move(r->body), std::move(*m)};
            done(std::move(f));
        });
}

void RegistryClient::resolve(const Reference& ref, const Platform& platform,
                             const Credentials& creds, Done<Resolved> done) {
    get_manifest(
        ref, creds,
        [this, ref, platform, creds, done = std::move(done)](Result<FetchedManifest> top) mutable {
            if (!top) return done(fail(translate_pull_error(std::move(top.error()), ref)));
            if (top->manifest.kind == Manifest::Kind::image)
                return done(Resolved{std::move(*top), std::nullopt});
            auto entry = select_manifest(top->manifest.index, platform);
            if (!entry) return done(fail(std::move(entry.error())));
            auto with_digest = ref.with_digest(entry->digest);
            if (!with_digest) return done(fail(std::move(with_digest.error())));
            Reference child = *with_digest;
            get_manifest(
                child, creds,
                [ref, index = std::move(*top),
                 done = std::move(done)](Result<FetchedManifest> m) mutable {
                    if (!m) return done(fail(translate_pull_error(std::move(m.error()), ref)));
                    if (m->manifest.kind != Manifest::Kind::image)
                        return done(fail(Error::invalid("manifest list entry " + m->digest +
                                                        " is not an image manifest")));
                    done(Resolved{std::move(*m), std::move(index)});
                });
        });
}

RegistryClient::OpId RegistryClient::fetch_blob(const Reference& repo, const std::string& digest,
                                                const Credentials& creds, HttpHandlers handlers) {
    Spec s;
    s.domain = repo.domain();
    s.scope = repository_scope(repo.path(), false);
    s.creds = creds;
    s.target = blob_path(repo, digest);
    return start(std::move(s), std::move(handlers));
}

RegistryClient::OpId RegistryClient::fetch_blob_verified(const Reference& repo,
                                                         const std::string& digest, uint64_t size,
                                                         const Credentials& creds,
                                                         HttpHandlers inner) {
    struct State {
        graph::Sha256 hash;
        uint64_t received = 0;
        uint64_t size;
        std::string digest;
        HttpHandlers inner;
        OpId id = 0;
    };
    auto st = std::make_shared<State>();
    st->size = size;
    st->digest = digest;
    st->inner = std::move(inner);
    HttpHandlers h;
    h.on_headers = [this, st](const HttpResponseHead& head) {
        if (head.content_length && *head.content_length != st->size)
            return abort_op(
                st->id,
                Error::invalid("filesystem layer verification failed for digest " + st->digest +
                               ": the registry sends " + std::to_string(*head.content_length) +
                               " bytes, the manifest says " + std::to_string(st->size)));
        if (st->inner.on_headers) st->inner.on_headers(head);
    };
    h.on_body = [this, st](std::span<const std::byte> d) {
        st->received += d.size();
        if (st->received > st->size)
            return abort_op(
                st->id,
                Error::invalid("filesystem layer verification failed for digest " + st->digest +
                               ": more than " + std::to_string(st->size) + " bytes"));
        st->hash.update(d);
        if (st->inner.on_body) st->inner.on_body(d);
    };
    h.on_done = [st](Result<> r) {
        auto done = std::move(st->inner.on_done);
        if (r && st->received != st->size)
            r = fail(Error{ErrorKind::unavailable, EPIPE,
                           "unexpected EOF: got " + std::to_string(st->received) + " of " +
                               std::to_string(st->size) + " bytes of " + st->digest});
        if (r && st->hash.digest() != st->digest)
            r = fail(
                Error::invalid("filesystem layer verification failed for digest " + st->digest));
        done(std::move(r));
    };
    st->id = fetch_blob(repo, digest, creds, std::move(h));
    return st->id;
}

void RegistryClient::stat_blob(const Reference& repo, const std::string& digest,
                               const Credentials& creds, Done<std::optional<uint64_t>> done) {
    Spec s;
    s.domain = repo.domain();
    s.scope = repository_scope(repo.path(), false);
    s.creds = creds;
    s.method = "HEAD";
    s.target = blob_path(repo, digest);
    request_small(std::move(s), 0, [done = std::move(done)](Result<HttpResponse> r) mutable {
        if (!r && r.error().kind == ErrorKind::not_found) return done(std::optional<uint64_t>());
        if (!r) return done(fail(std::move(r.error())));
        std::string_view cl = header_value(r->headers, "content-length");
        uint64_t size = 0;
        std::from_chars(cl.data(), cl.data() + cl.size(), size);
        done(std::optional<uint64_t>(size));
    });
}

RegistryClient::OpId RegistryClient::upload_blob(const Reference& repo, const std::string& digest,
                                                 BodySource source, const Credentials& creds,
                                                 Done<void> done, std::string mount_from) {
    Spec s;
    s.domain = repo.domain();
    s.scope = repository_scope(repo.path(), true);
    if (!mount_from.empty()) s.scope += " " + repository_scope(mount_from, false);
    s.creds = creds;
    s.method = "POST";
    s.target = "/v2/" + repo.path() + "/blobs/uploads/";
    if (!mount_from.empty())
        s.target = add_query(add_query(s.target, "mount", digest), "from", mount_from);
    OpId id = next_id_++;
    auto src = std::make_shared<BodySource>(std::move(source));
    // The POST and then the PUT run under one id: cancel() and body_ready() reach either.
    request_small(
        std::move(s), error_body_bytes_max,
        [this, id, repo, digest, creds, src,
         done = std::move(done)](Result<HttpResponse> r) mutable {
            if (!r) return done(fail(std::move(r.error())));
            if (r->status == 201) return done({});  // mounted from the other repository
            auto location = resolve_location(r->url, header_value(r->headers, "location"));
            if (r->status != 202 || header_value(r->headers, "location").empty() || !location)
                return done(
                    fail(Error::make(ErrorKind::unavailable, "blob upload: registry answered " +
                                                                 std::to_string(r->status) +
                                                                 " without an upload location")));
            Spec put;
            put.domain = repo.domain();
            put.scope = repository_scope(repo.path(), true);
            put.creds = creds;
            put.method = "PUT";
            location->target = add_query(location->target, "digest", digest);
            put.url = std::move(*location);
            put.headers.push_back({"Content-Type", "application/octet-stream"});
            put.source = std::move(*src);
            HttpHandlers h;
            h.on_done = [done = std::move(done)](Result<> r) mutable { done(std::move(r)); };
            start(std::move(put), std::move(h), id);
        },
        id);
    return id;
}

void RegistryClient::put_manifest(const Reference& ref, std::string media_type, std::string bytes,
                                  const Credentials& creds, Done<std::string> done) {
    Spec s;
    s.domain = ref.domain();
    s.scope = repository_scope(ref.path(), true);
    s.creds = creds;
    s.method = "PUT";
    s.target = "/v2/" + ref.path() + "/manifests/" + manifest_ref(ref);
    s.headers.push_back({"Content-Type", std::move(media_type)});
    std::string digest = graph::sha256_digest(bytes);
    s.body = std::move(bytes);
    request_small(std::move(s), error_body_bytes_max,
                  [digest, done = std::move(done)](Result<HttpResponse> r) mutable {
                      if (!r) return done(fail(std::move(r.error())));
                      std::string_view got = header_value(r->headers, "docker-content-digest");
                      if (graph::is_sha256_digest(got) && got != digest)
                          return done(fail(Error::invalid(
                              "manifest verification failed for digest " + std::string(got))));
                      done(digest);
                  });
}

void RegistryClient::pause(OpId id) {
    if (Op* op = find(id)) {
        op->paused = true;
        if (op->http) http_.pause(op->http);
    }
}

void RegistryClient::resume(OpId id) {
    if (Op* op = find(id)) {
        op->paused = false;
        if (op->http) http_.resume(op->http);
    }
}

void RegistryClient::body_ready(OpId id) {
    if (Op* op = find(id); op && op->http) http_.body_ready(op->http);
}

void RegistryClient::cancel(OpId id) {
    std::erase_if(deferred_, [id](const auto& d) { return d.first == id; });
    auto it = ops_.find(id);
    if (it == ops_.end()) return;
    if (it->second->http) http_.cancel(it->second->http);
    ops_.erase(it);
}

void RegistryClient::shutdown() {
    std::vector<OpId> ids;
    for (auto& [id, op] : ops_) ids.push_back(id);
    for (OpId id : ids) cancel(id);
    auth_.reset();
    http_.shutdown();
    deferred_.clear();
    for (auto& [domain, reg] : registries_) reg->waiters.clear();
}

bool RegistryClient::quiescent() const {
    return http_.quiescent() && !defer_c_.in_flight();
}

}  // namespace berth::registry
