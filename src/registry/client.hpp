// RegistryClient: the OCI distribution API over HttpClient. Finds each registry's endpoint
// (https; for insecure registries — the listed ones, 127.0.0.0/8 and ::1 as dockerd — https
// without verification, then plain http), learns its auth challenge from GET /v2/, authorizes
// every request (bearer tokens per scope, basic), and offers: manifest get/resolve (platform
// selection, digest checks), blob fetch streamed to the caller (optionally verified), blob HEAD,
// blob upload (POST + monolithic PUT streamed from a source, optional cross-repo mount) and
// manifest PUT. Errors read as Docker's. Final callbacks never run inside the starting call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.hpp"
#include "loop/loop.hpp"
#include "registry/auth.hpp"
#include "registry/http_client.hpp"
#include "registry/manifest.hpp"
#include "graph/reference.hpp"

namespace berth::registry {

using graph::Reference;
// What goes after /manifests/: the digest when there is one, else the tag.
inline const std::string& manifest_ref(const Reference& r) {
    return r.digest().empty() ? r.tag() : r.digest();
}
// The host to connect to for a reference's domain: docker.io is served by registry-1.docker.io.
inline std::string registry_host(std::string_view domain) {
    if (domain == "docker.io" || domain == "index.docker.io") return "registry-1.docker.io";
    return std::string(domain);
}

struct RegistryOptions {
    // "host:port", "host" or an IPv4 CIDR ("10.0.0.0/8"), as --insecure-registry takes them.
    std::vector<std::string> insecure_registries;
    // dockerd treats 127.0.0.0/8 and ::1 as insecure: https unverified, then plain http.
    bool loopback_insecure = true;
    // Searched for <dir>/<host[:port]>/*.crt (CAs) and *.cert + *.key (client certificate):
    // /etc/docker/certs.d as dockerd, and berth's own <config>/certs.d added by the daemon.
    std::vector<std::string> certs_dirs = {"/etc/docker/certs.d"};
    ConnectionTimeouts timeouts;
    std::string user_agent = "berth";
    size_t manifest_bytes_max = 4 * 1024 * 1024;
};

struct FetchedManifest {
    std::string digest;  // sha256 of `bytes`
    std::string media_type;
    std::string bytes;
    Manifest manifest;
};

struct Resolved {
    FetchedManifest manifest;              // the image manifest for the platform
    std::optional<FetchedManifest> index;  // the list or index it was chosen from
};

template <class T>
using Done = std::move_only_function<void(Result<T>)>;

class RegistryClient {
  public:
    using OpId = uint64_t;

    RegistryClient(loop::Loop& loop, RegistryOptions options);
    // Everything must be finished first: shutdown(), then tick the loop until quiescent().
    ~RegistryClient();
    RegistryClient(const RegistryClient&) = delete;
    RegistryClient& operator=(const RegistryClient&) = delete;

    // GET /v2/<name>/manifests/<tag or digest>, checked against the digest.
    void get_manifest(const Reference& ref, const Credentials& creds, Done<FetchedManifest> done);
    // get_manifest, then through a list/index to the manifest for `platform`. Errors as
    // `docker pull` words them ("manifest for … not found: …", "pull access denied for …").
    void resolve(const Reference& ref, const Platform& platform, const Credentials& creds,
                 Done<Resolved> done);

    // GET /v2/<name>/blobs/<digest> streamed to `handlers` (redirects followed; the caller
    // verifies). pause()/resume() give back-pressure.
    OpId fetch_blob(const Reference& repo, const std::string& digest, const Credentials& creds,
                    HttpHandlers handlers);
    // The same, with size and digest checked: "filesystem layer verification failed for
    // digest …" on a mismatch, and an early stop when the registry sends more than `size`.
    OpId fetch_blob_verified(const Reference& repo, const std::string& digest, uint64_t size,
                             const Credentials& creds, HttpHandlers handlers);
    // HEAD /v2/<name>/blobs/<digest>: the size, or nullopt when the registry lacks it.
    void stat_blob(const Reference& repo, const std::string& digest, const Credentials& creds,
                   Done<std::optional<uint64_t>> done);

    // Uploads a blob: POST …/blobs/uploads/ (with ?mount=&from= when `mount_from` names a
    // repository on the same registry), then one PUT ?digest= streaming `source`.
    OpId upload_blob(const Reference& repo, const std::string& digest, BodySource source,
                     const Credentials& creds, Done<void> done, std::string mount_from = {});
    // PUT /v2/<name>/manifests/<tag or digest>; returns the manifest's digest.
    void put_manifest(const Reference& ref, std::string media_type, std::string bytes,
                      const Credentials& creds, Done<std::string> done);

    void pause(OpId id);
    void resume(OpId id);
    void body_ready(OpId id);
    // Ends an operation; none of its callbacks runs afterwards.
    void cancel(OpId id);

    void shutdown();
    bool quiescent() const;
    HttpClient& http() { return http_; }
    const Authenticator& auth() const { return auth_; }

    // Whether dockerd would treat this registry host ("host:port") as insecure.
    bool is_insecure(std::string_view host) const;
    // The TLS settings for an https origin (certs.d, insecure registries).
    TlsConfig tls_config(const std::string& host, uint16_t port) const;

  private:
    struct Registry;
    struct Op;
    struct Spec;

    OpId start(Spec spec, HttpHandlers handlers, OpId reuse = 0);
    void with_registry(const std::string& domain,
                       std::move_only_function<void(Result<Registry*>)> k);
    void probe(const std::string& domain, size_t attempt);
    void probed(const std::string& domain, size_t attempt, Result<HttpResponse> r);
    void authorize(OpId id);
    void send(OpId id, const std::string& authorization);
    void on_op_headers(OpId id, const HttpResponseHead& head);
    void on_op_body(OpId id, std::span<const std::byte> data);
    void on_op_done(OpId id, Result<> r);
    void finish(OpId id, Result<> r);
    void abort_op(OpId id, Error e);
    OpId request_small(Spec spec, size_t body_max, Done<HttpResponse> done, OpId reuse = 0);
    void defer(OpId id, std::move_only_function<void()> fn);
    static void on_deferred(loop::Completion& c);
    Op* find(OpId id);

    loop::Loop& loop_;
    RegistryOptions options_;
    HttpClient http_;
    Authenticator auth_;
    OpId next_id_ = 1;
    OpId starting_ = 0;  // the operation start() is setting up
    std::unordered_map<std::string, std::unique_ptr<Registry>> registries_;
    std::unordered_map<OpId, std::unique_ptr<Op>> ops_;
    std::vector<std::pair<OpId, std::move_only_function<void()>>> deferred_;
    loop::Completion defer_c_;
};

}  // namespace berth::registry
