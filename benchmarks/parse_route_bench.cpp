// Parse + route of the requests the docker CLI sends most, through berth's own RequestParser
// (llhttp) and Router holding the Engine API's usual routes. One iteration = one request; the
// parser is reused across iterations as a keep-alive connection reuses it.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "http/parser.hpp"
#include "http/router.hpp"

namespace {

using berth::http::Exchange;
using berth::http::ParseLimits;
using berth::http::RequestParser;
using berth::http::Router;

// What moby registers (api/server/router/*), in the order berthd registers its modules:
// system, containers, exec, images, networks, volumes. Handlers do nothing.
Router make_docker_router() {
    static constexpr std::pair<std::string_view, std::string_view> routes[] = {
        {"GET", "/_ping"},
        {"HEAD", "/_ping"},
        {"GET", "/version"},
        {"GET", "/info"},
        {"GET", "/events"},
        {"GET", "/system/df"},
        {"GET", "/containers/json"},
        {"POST", "/containers/create"},
        {"POST", "/containers/prune"},
        {"GET", "/containers/{name}/json"},
        {"GET", "/containers/{name}/top"},
        {"GET", "/containers/{name}/logs"},
        {"GET", "/containers/{name}/changes"},
        {"GET", "/containers/{name}/stats"},
        {"POST", "/containers/{name}/start"},
        {"POST", "/containers/{name}/stop"},
        {"POST", "/containers/{name}/restart"},
        {"POST", "/containers/{name}/kill"},
        {"POST", "/containers/{name}/wait"},
        {"POST", "/containers/{name}/attach"},
        {"POST", "/containers/{name}/resize"},
        {"POST", "/containers/{name}/rename"},
        {"POST", "/containers/{name}/update"},
        {"POST", "/containers/{name}/pause"},
        {"POST", "/containers/{name}/unpause"},
        {"DELETE", "/containers/{name}"},
        {"HEAD", "/containers/{name}/archive"},
        {"GET", "/containers/{name}/archive"},
        {"PUT", "/containers/{name}/archive"},
        {"POST", "/containers/{name}/exec"},
        {"POST", "/exec/{id}/start"},
        {"POST", "/exec/{id}/resize"},
        {"GET", "/exec/{id}/json"},
        {"GET", "/images/json"},
        {"POST", "/images/create"},
        {"POST", "/images/prune"},
        {"GET", "/images/{name*}/json"},
        {"GET", "/images/{name*}/history"},
        {"POST", "/images/{name*}/tag"},
        {"POST", "/images/{name*}/push"},
        {"DELETE", "/images/{name*}"},
        {"GET", "/networks"},
        {"POST", "/networks/create"},
        {"GET", "/networks/{id}"},
        {"DELETE", "/networks/{id}"},
        {"GET", "/volumes"},
        {"POST", "/volumes/create"},
        {"GET", "/volumes/{name}"},
        {"DELETE", "/volumes/{name}"},
    };
    Router r;
    for (auto [method, pattern] : routes) r.add(method, pattern, [](Exchange&) {});
    return r;
}

// The headers Go's net/http sends for the docker CLI 28.2 (Host is "api.moby.localhost" for a
// Unix socket since Docker 26).
constexpr std::string_view client_headers =
    "Host: api.moby.localhost\r\n"
    "User-Agent: Docker-Client/28.2.2 (linux)\r\n";

std::string containers_list_request() {
    // `docker ps -a --filter label=com.docker.compose.project=web`
    std::string r =
        "GET /v1.50/containers/json?all=1&filters=%7B%22label%22%3A%7B%22com.docker.compose."
        "project%3Dweb%22%3Atrue%7D%7D HTTP/1.1\r\n";
    r += client_headers;
    r += "Accept-Encoding: gzip\r\n\r\n";
    return r;
}

// `docker create` of a compose-style service: about 1.5 KB of JSON.
constexpr std::string_view create_body =
    R"({"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,)"
    R"("AttachStderr":true,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,)"
    R"("StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)"
    R"("NGINX_VERSION=1.27.5","NJS_VERSION=0.8.10","PKG_RELEASE=1~bookworm","TZ=UTC"],)"
    R"("Cmd":["nginx","-g","daemon off;"],"Healthcheck":{"Test":["CMD-SHELL",)"
    R"("curl -fsS http://localhost/ || exit 1"],"Interval":10000000000,"Timeout":3000000000,)"
    R"("Retries":3},"Image":"nginx:1.27","Volumes":{"/var/cache/nginx":{}},"WorkingDir":"",)"
    R"("Entrypoint":["/docker-entrypoint.sh"],"OnBuild":null,"Labels":{)"
    R"("com.docker.compose.project":"web","com.docker.compose.service":"frontend",)"
    R"("com.docker.compose.container-number":"1","com.docker.compose.oneoff":"False",)"
    R"("com.docker.compose.version":"2.36.2"},"StopSignal":"SIGQUIT","HostConfig":{)"
    R"("Binds":["/srv/web/conf:/etc/nginx/conf.d:ro","/srv/web/html:/usr/share/nginx/html:ro"],)"
    R"("ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{"max-size":"10m",)"
    R"("max-file":"3"}},"NetworkMode":"web_default","PortBindings":{"80/tcp":[{"HostIp":"",)"
    R"("HostPort":"8080"}]},"RestartPolicy":{"Name":"unless-stopped","MaximumRetryCount":0},)"
    R"("AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],)"
    R"("CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],)"
    R"("ExtraHosts":["host.docker.internal:host-gateway"],"GroupAdd":null,"IpcMode":"",)"
    R"("Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,)"
    R"("PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"",)"
    R"("UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":268435456,)"
    R"("NanoCpus":500000000,"PidsLimit":256,"Ulimits":[{"Name":"nofile","Soft":65536,)"
    R"("Hard":65536}],"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{)"
    R"("EndpointsConfig":{"web_default":{"Aliases":["frontend","web-frontend-1"],)"
    R"("DriverOpts":null}}}})";

std::string containers_create_request() {
    std::string r = "POST /v1.50/containers/create?name=web-frontend-1 HTTP/1.1\r\n";
    r += client_headers;
    r += "Content-Length: " + std::to_string(create_body.size()) + "\r\n";
    r += "Content-Type: application/json\r\n";
    r += "Accept-Encoding: gzip\r\n\r\n";
    r += create_body;
    return r;
}

// Every docker CLI command starts with an unversioned HEAD /_ping (version negotiation).
std::string ping_request() {
    std::string r = "HEAD /_ping HTTP/1.1\r\n";
    r += client_headers;
    r += "\r\n";
    return r;
}

enum Which { containers_list, containers_create, ping };

std::string request_for(int which) {
    switch (which) {
        case containers_list:
            return containers_list_request();
        case containers_create:
            return containers_create_request();
        default:
            return ping_request();
    }
}

const char* label_for(int which) {
    switch (which) {
        case containers_list:
            return "GET /v1.50/containers/json?all=1&filters=...";
        case containers_create:
            return "POST /v1.50/containers/create (1.5 KB JSON)";
        default:
            return "HEAD /_ping";
    }
}

// Feeds one whole request; false (and the benchmark is marked failed) if it did not parse.
bool parse_one(benchmark::State& state, RequestParser& parser, std::string_view raw) {
    auto out = parser.feed(raw);
    size_t used = out.consumed;
    // A request with a body pauses at its headers so the server can route it first.
    if (out.status == RequestParser::Status::headers) {
        out = parser.feed(raw.substr(used));
        used += out.consumed;
    }
    if (out.status != RequestParser::Status::complete || used != raw.size()) {
        state.SkipWithError(("request did not parse: " + out.message).c_str());
        return false;
    }
    return true;
}

void finish(benchmark::State& state, size_t request_bytes, int which) {
    state.SetItemsProcessed(int64_t(state.iterations()));
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(request_bytes));
    state.SetLabel(label_for(which));
}

// llhttp + the RequestParser's copies into Request, then next() for the following request.
void BM_Parse(benchmark::State& state) {
    const int which = int(state.range(0));
    const std::string raw = request_for(which);
    RequestParser parser(ParseLimits{});
    for (auto _ : state) {
        if (!parse_one(state, parser, raw)) break;
        benchmark::DoNotOptimize(parser.request().body.data());
        parser.next();
    }
    finish(state, raw.size(), which);
}

// Router::route on an already parsed request (the path is restored each time, as route()
// strips the version prefix in place).
void BM_Route(benchmark::State& state) {
    const int which = int(state.range(0));
    const std::string raw = request_for(which);
    const Router router = make_docker_router();
    RequestParser parser(ParseLimits{});
    if (!parse_one(state, parser, raw)) return;
    berth::http::Request& req = parser.request();
    const std::string path = req.path;
    for (auto _ : state) {
        req.path = path;
        auto match = router.route(req);
        if (!match) {
            state.SkipWithError(("no route: " + match.error().message).c_str());
            break;
        }
        benchmark::DoNotOptimize(match->handler);
    }
    finish(state, raw.size(), which);
}

// What the server does per request on a keep-alive connection before the handler runs.
void BM_ParseRoute(benchmark::State& state) {
    const int which = int(state.range(0));
    const std::string raw = request_for(which);
    const Router router = make_docker_router();
    RequestParser parser(ParseLimits{});
    for (auto _ : state) {
        if (!parse_one(state, parser, raw)) break;
        auto match = router.route(parser.request());
        if (!match) {
            state.SkipWithError(("no route: " + match.error().message).c_str());
            break;
        }
        benchmark::DoNotOptimize(match->handler);
        parser.next();
    }
    finish(state, raw.size(), which);
}

// As BM_ParseRoute, plus RequestParser::shrink() after each request, as http::Server calls it
// when a keep-alive connection goes back to waiting (so every request re-allocates its strings).
void BM_ParseRouteShrink(benchmark::State& state) {
    const int which = int(state.range(0));
    const std::string raw = request_for(which);
    const Router router = make_docker_router();
    RequestParser parser(ParseLimits{});
    for (auto _ : state) {
        if (!parse_one(state, parser, raw)) break;
        auto match = router.route(parser.request());
        if (!match) {
            state.SkipWithError(("no route: " + match.error().message).c_str());
            break;
        }
        benchmark::DoNotOptimize(match->handler);
        parser.next();
        parser.shrink();
    }
    finish(state, raw.size(), which);
}

// The three requests back to back in one buffer, as a pipelining client would send them:
// feed() stops after each complete request and next() resumes. One iteration = three requests.
void BM_ParseRoutePipelined(benchmark::State& state) {
    const std::string raw =
        containers_list_request() + containers_create_request() + ping_request();
    const Router router = make_docker_router();
    RequestParser parser(ParseLimits{});
    for (auto _ : state) {
        std::string_view rest = raw;
        int n = 0;
        while (!rest.empty()) {
            auto out = parser.feed(rest);
            if (out.status == RequestParser::Status::headers) {
                rest.remove_prefix(out.consumed);
                out = parser.feed(rest);
            }
            if (out.status != RequestParser::Status::complete) {
                state.SkipWithError(("request did not parse: " + out.message).c_str());
                return;
            }
            rest.remove_prefix(out.consumed);
            auto match = router.route(parser.request());
            if (!match) {
                state.SkipWithError(("no route: " + match.error().message).c_str());
                return;
            }
            benchmark::DoNotOptimize(match->handler);
            parser.next();
            ++n;
        }
        if (n != 3) {
            state.SkipWithError("expected three requests");
            return;
        }
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * 3);
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(raw.size()));
    state.SetLabel("3 requests per iteration");
}

void all_requests(benchmark::internal::Benchmark* b) {
    b->ArgName("req")->Arg(containers_list)->Arg(containers_create)->Arg(ping);
}

BENCHMARK(BM_ParseRoute)->Apply(all_requests);
BENCHMARK(BM_Parse)->Apply(all_requests);
BENCHMARK(BM_Route)->Apply(all_requests);
BENCHMARK(BM_ParseRouteShrink)->Apply(all_requests);
BENCHMARK(BM_ParseRoutePipelined);

}  // namespace

BENCHMARK_MAIN();
