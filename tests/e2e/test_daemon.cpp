// Happy paths against a real berthd: the docker CLI's version/info, docker-py's version
// negotiation, the /_ping headers clients read, API version prefixes, /events' lifetime,
// graceful shutdown on SIGTERM/SIGINT, the socket's mode and pid file, keep-alive and pipelining.
#include <sys/stat.h>
#include <time.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon_fixture.hpp"

namespace berth::e2e {
namespace {

using Clock = std::chrono::steady_clock;

class DaemonTest : public testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(daemon.start()); }

    BerthDaemon daemon;
};

// What `docker info` prints under "Server:" (the client section has its own Debug Mode line).
std::string server_section(const std::string& info) {
    size_t at = info.find("\nServer:");
    return at == std::string::npos ? std::string() : info.substr(at);
}

// Unix time with nanoseconds as Docker's `since`/`until` accept it, `offset_ms` from now.
std::string docker_time_from_now(long offset_ms) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    long long ns = now.tv_sec * 1'000'000'000LL + now.tv_nsec + offset_ms * 1'000'000LL;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%lld.%09lld", ns / 1'000'000'000LL, ns % 1'000'000'000LL);
    return buf;
}

long elapsed_ms(Clock::time_point since) {
    return long(std::chrono::duration_cast<Millis>(Clock::now() - since).count());
}

// dockerd prints these for kernels without the feature; they describe the host, not a fault of
// the server, and a CI host may legitimately lack one (swap accounting is often off).
bool only_host_capability_warnings(const std::string& text) {
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        std::string line =
            text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
        pos = eol == std::string::npos ? text.size() : eol + 1;
        bool host_note = line.starts_with("WARNING: No ") && line.ends_with(" support");
        if (!host_note &&
            (line.find("WARNING") != std::string::npos || line.find("rror") != std::string::npos))
            return false;
    }
    return true;
}

// --- the real clients ---------------------------------------------------------------------------

TEST_F(DaemonTest, docker_version_shows_the_server_api_version_and_minimum) {
    CommandResult r = docker(daemon, "version");
    ASSERT_EQ(r.exit_code, 0) << r.output << r.error;
    std::string server = server_section(r.output);
    ASSERT_FALSE(server.empty()) << r.output;
    EXPECT_NE(server.find("API version:"), std::string::npos) << server;
    EXPECT_NE(server.find("1.51"), std::string::npos) << server;
    EXPECT_NE(server.find("minimum version 1.24"), std::string::npos) << server;
    EXPECT_EQ(r.output.find("Error"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("WARNING"), std::string::npos) << r.output;
    EXPECT_EQ(r.error.find("Error"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find("WARNING"), std::string::npos) << r.error;
}

TEST_F(DaemonTest, docker_info_shows_the_server_version_root_dir_and_host_cpus) {
    CommandResult r = docker(daemon, "info");
    ASSERT_EQ(r.exit_code, 0) << r.output << r.error;
    std::string server = server_section(r.output);
    ASSERT_FALSE(server.empty()) << r.output;
    EXPECT_NE(server.find("Server Version: 0.1.0"), std::string::npos) << server;
    EXPECT_NE(server.find("Cgroup Version:"), std::string::npos) << server;
    EXPECT_NE(server.find("Docker Root Dir: " + daemon.data_root() + "\n"), std::string::npos)
        << server;
    CommandResult nproc = run_command("nproc");
    ASSERT_EQ(nproc.exit_code, 0);
    std::string cpus = nproc.output.substr(0, nproc.output.find('\n'));
    EXPECT_NE(server.find("CPUs: " + cpus + "\n"), std::string::npos) << server;
    EXPECT_TRUE(only_host_capability_warnings(r.error)) << r.error;
    EXPECT_EQ(server.find("ERROR"), std::string::npos) << server;
}

TEST_F(DaemonTest, system_info_json_has_ncpu_root_and_an_id_stable_across_restarts) {
    CommandResult r = docker(daemon, "system info --format '{{json .}}'");
    ASSERT_EQ(r.exit_code, 0) << r.output << r.error;
    EXPECT_NE(r.output.find("\"NCPU\":"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"DockerRootDir\":\"" + daemon.data_root() + "\""), std::string::npos)
        << r.output;
    std::string id = json_field(r.output, "ID");
    ASSERT_FALSE(id.empty()) << r.output;

    ASSERT_EQ(daemon.stop(), 0) << daemon.stderr_text();
    ASSERT_TRUE(daemon.start());
    CommandResult again = docker(daemon, "system info --format '{{json .}}'");
    ASSERT_EQ(again.exit_code, 0) << again.output << again.error;
    EXPECT_EQ(json_field(again.output, "ID"), id);
}

TEST_F(DaemonTest, docker_py_reads_api_version_1_51) {
    if (run_command("/usr/bin/python3 -c 'import docker'").exit_code != 0)
        GTEST_SKIP() << "docker-py is not installed for /usr/bin/python3 (Debian package "
                        "python3-docker); CI installs it";
    std::string script = "import docker; c=docker.DockerClient(base_url='" + daemon.docker_host() +
                         "'); v=c.version(); print(v['ApiVersion'])";
    CommandResult r = run_command("/usr/bin/python3 -c \"" + script + "\"");
    ASSERT_EQ(r.exit_code, 0) << r.output << r.error;
    EXPECT_EQ(r.output, "1.51\n") << r.error;
}

// --- /_ping and API versions --------------------------------------------------------------------

void expect_ping_headers(const HttpResponse& r) {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Api-Version"), "1.51");
    EXPECT_EQ(r.header("Ostype"), "linux");
    EXPECT_EQ(r.header("Docker-Experimental"), "false");
    EXPECT_NE(r.header("Cache-Control").find("no-cache"), std::string::npos);
    EXPECT_EQ(r.header("Pragma"), "no-cache");
    EXPECT_FALSE(r.header("Builder-Version").empty());
}

TEST_F(DaemonTest, ping_get_and_head_carry_the_headers_clients_negotiate_with) {
    HttpResponse get = http_get(daemon.socket_path(), "/_ping");
    expect_ping_headers(get);
    EXPECT_EQ(get.body, "OK");

    RawClient c(daemon.socket_path());
    ASSERT_TRUE(c.send("HEAD /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"));
    std::string raw = c.read_until_close(Millis(5000));
    ASSERT_TRUE(c.peer_closed()) << raw;
    size_t used = 0;
    auto head = parse_response(raw, &used, true);
    ASSERT_TRUE(head) << raw;
    expect_ping_headers(*head);
    EXPECT_EQ(used, raw.size()) << "HEAD must have no body: " << raw;
}

TEST_F(DaemonTest, versioned_and_unversioned_paths_both_work) {
    for (const char* path : {"/version", "/v1.41/version", "/v1.51/version", "/v1.24/_ping"}) {
        HttpResponse r = http_get(daemon.socket_path(), path);
        EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    }
    HttpResponse v = http_get(daemon.socket_path(), "/version");
    EXPECT_EQ(json_field(v.body, "ApiVersion"), "1.51") << v.body;
    EXPECT_EQ(json_field(v.body, "MinAPIVersion"), "1.24") << v.body;
}

TEST_F(DaemonTest, api_versions_outside_1_24_to_1_51_get_dockers_400) {
    HttpResponse too_new = http_get(daemon.socket_path(), "/v1.99/version");
    EXPECT_EQ(too_new.status, 400);
    EXPECT_NE(too_new.body.find("client version 1.99 is too new"), std::string::npos)
        << too_new.body;
    EXPECT_NE(too_new.body.find("Maximum supported API version is 1.51"), std::string::npos)
        << too_new.body;
    HttpResponse too_old = http_get(daemon.socket_path(), "/v1.12/version");
    EXPECT_EQ(too_old.status, 400);
    EXPECT_NE(too_old.body.find("client version 1.12 is too old"), std::string::npos)
        << too_old.body;
    EXPECT_NE(too_old.body.find("Minimum supported API version is 1.24"), std::string::npos)
        << too_old.body;
    EXPECT_EQ(too_old.header("Content-Type"), "application/json");
}

// --- /events ------------------------------------------------------------------------------------

// Opens GET /events (keep-alive) and returns the connection once the response head arrived.
RawClient open_events(const BerthDaemon& d, const std::string& query, std::string& head) {
    RawClient c(d.socket_path());
    EXPECT_TRUE(c.send("GET /events" + query + " HTTP/1.1\r\nHost: berth\r\n\r\n"));
    head = c.read_until("\r\n\r\n", Millis(5000));
    return c;
}

TEST_F(DaemonTest, events_stream_stays_open_when_there_is_nothing_to_say) {
    std::string head;
    RawClient c = open_events(daemon, "", head);
    auto r = parse_response(head);
    ASSERT_TRUE(r) << head;
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->chunked) << head;
    EXPECT_EQ(c.read_some(Millis(300)), "");
    EXPECT_FALSE(c.peer_closed());
}

TEST_F(DaemonTest, events_until_now_ends_at_once_with_a_complete_chunked_body) {
    auto t0 = Clock::now();
    RawClient c(daemon.socket_path());
    ASSERT_TRUE(c.send("GET /events?until=" + std::to_string(time(nullptr)) +
                       " HTTP/1.1\r\nHost: berth\r\n\r\n"));
    std::string raw = c.read_response(Millis(5000));
    auto r = parse_response(raw);
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->chunked) << raw;
    EXPECT_TRUE(r->complete) << "no terminating chunk: " << raw;
    EXPECT_TRUE(raw.ends_with("0\r\n\r\n")) << raw;
    EXPECT_LT(elapsed_ms(t0), 1000);
}

TEST_F(DaemonTest, events_until_a_second_ahead_ends_after_about_a_second) {
    auto t0 = Clock::now();
    RawClient c(daemon.socket_path());
    ASSERT_TRUE(c.send("GET /events?until=" + docker_time_from_now(1000) +
                       " HTTP/1.1\r\nHost: berth\r\n\r\n"));
    std::string raw = c.read_response(Millis(6000));
    long ms = elapsed_ms(t0);
    auto r = parse_response(raw);
    ASSERT_TRUE(r) << raw;
    EXPECT_TRUE(r->complete) << raw;
    EXPECT_GE(ms, 800);
    EXPECT_LT(ms, 3000);
}

TEST_F(DaemonTest, events_since_after_until_is_400) {
    long long now = time(nullptr);
    HttpResponse r = http_get(daemon.socket_path(), "/events?since=" + std::to_string(now) +
                                                        "&until=" + std::to_string(now - 60));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_TRUE(r.body.starts_with("{\"message\":")) << r.body;
}

// --- shutdown, socket, pid file -----------------------------------------------------------------

TEST_F(DaemonTest, sigterm_ends_open_events_cleanly_exits_0_and_removes_socket_and_pidfile) {
    std::string head;
    RawClient events = open_events(daemon, "", head);
    ASSERT_NE(head.find("200"), std::string::npos) << head;
    ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
    std::string rest = events.read_until_close(Millis(8000));
    EXPECT_TRUE(rest.ends_with("0\r\n\r\n"))
        << "events stream not ended by the last chunk: " << rest;
    auto code = daemon.wait_exit(Millis(10000));
    ASSERT_TRUE(code) << "berthd did not exit after SIGTERM";
    EXPECT_EQ(*code, 0) << daemon.stderr_text();
    EXPECT_FALSE(file_exists(daemon.socket_path()));
    EXPECT_FALSE(file_exists(daemon.pidfile()));
}

TEST_F(DaemonTest, sigint_also_shuts_down_with_exit_0) {
    EXPECT_EQ(daemon.stop(SIGINT), 0) << daemon.stderr_text();
    EXPECT_FALSE(file_exists(daemon.socket_path()));
}

TEST_F(DaemonTest, startup_prints_the_socket_and_docker_host_line) {
    std::string out = daemon.stdout_text();
    EXPECT_NE(out.find("API on " + daemon.socket_path()), std::string::npos) << out;
    EXPECT_NE(out.find("export DOCKER_HOST=unix://" + daemon.socket_path()), std::string::npos)
        << out;
}

TEST_F(DaemonTest, socket_is_mode_0660_and_pid_file_holds_the_pid) {
    struct stat st {};
    ASSERT_EQ(stat(daemon.socket_path().c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0660u) << std::oct << (st.st_mode & 07777);
    std::string pid = read_file(daemon.pidfile());
    EXPECT_EQ(pid.substr(0, pid.find('\n')), std::to_string(daemon.pid()));
}

// --- keep-alive and pipelining ------------------------------------------------------------------

TEST_F(DaemonTest, pipelined_requests_in_one_write_get_responses_in_order) {
    RawClient c(daemon.socket_path());
    const std::string ping = "GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n";
    const std::string version = "GET /version HTTP/1.1\r\nHost: berth\r\n\r\n";
    ASSERT_TRUE(c.send(ping + ping + version + ping));
    std::string raw;
    std::vector<HttpResponse> got;
    auto end = Clock::now() + Millis(5000);
    while (got.size() < 4 && Clock::now() < end && !c.peer_closed()) {
        raw += c.read_some(Millis(200));
        size_t used = 0;
        while (got.size() < 4) {
            auto r = parse_response(raw, &used);
            if (!r || !r->complete) break;
            got.push_back(*r);
            raw.erase(0, used);
        }
    }
    ASSERT_EQ(got.size(), 4u) << raw;
    EXPECT_EQ(got[0].status, 200);
    EXPECT_EQ(got[0].body, "OK");
    EXPECT_EQ(got[1].body, "OK");
    EXPECT_EQ(got[2].status, 200);
    EXPECT_EQ(json_field(got[2].body, "ApiVersion"), "1.51") << got[2].body;
    EXPECT_EQ(got[3].body, "OK");
    EXPECT_FALSE(c.peer_closed());
}

TEST_F(DaemonTest, keep_alive_serves_three_sequential_requests_on_one_connection) {
    RawClient c(daemon.socket_path());
    for (const char* path : {"/_ping", "/version", "/_ping"}) {
        ASSERT_TRUE(c.send(std::string("GET ") + path + " HTTP/1.1\r\nHost: berth\r\n\r\n"));
        std::string raw = c.read_response(Millis(5000));
        auto r = parse_response(raw);
        ASSERT_TRUE(r && r->complete) << path << ": " << raw;
        EXPECT_EQ(r->status, 200) << path;
        EXPECT_EQ(r->header("Connection"), "") << path << " must keep the connection open";
        ASSERT_FALSE(c.peer_closed()) << path;
    }
}

}  // namespace
}  // namespace berth::e2e
