// Bad input against a real berthd (issue 2, "Bad input"): each case gets a clear HTTP error or a
// clean close, and berthd keeps serving everyone else — every test ends by checking that a
// fresh connection still gets GET /_ping → 200. Also: limits, timeouts, a second daemon, and
// daemon.json errors.
#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon_fixture.hpp"

namespace berth::e2e {
namespace {

using Clock = std::chrono::steady_clock;

long elapsed_ms(Clock::time_point since) {
    return long(std::chrono::duration_cast<Millis>(Clock::now() - since).count());
}

testing::AssertionResult still_serving(const BerthDaemon& d) {
    HttpResponse r = http_get(d.socket_path(), "/_ping");
    if (r.status == 200 && r.body == "OK") return testing::AssertionSuccess();
    return testing::AssertionFailure()
           << "a fresh GET /_ping got " << r.status << " " << r.body << "; berthd stderr:\n"
           << d.stderr_text();
}

// Docker's error body: {"message":"..."} and, as Go's json.Encoder writes it, a newline.
std::string without_newline(std::string body) {
    if (body.ends_with("\n")) body.pop_back();
    return body;
}

bool is_json_message(const std::string& body) {
    std::string b = without_newline(body);
    return b.starts_with("{\"message\":\"") && b.ends_with("\"}") && b.size() > 15;
}

class BadInputTest : public testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(daemon.start()); }
    void TearDown() override { EXPECT_TRUE(still_serving(daemon)); }

    // Sends `bytes` on a new connection and reads the reply until the server closes.
    HttpResponse send_and_read(const std::string& bytes) {
        RawClient c(daemon.socket_path());
        c.send(bytes);  // may fail part-way once the server has answered and shut down
        std::string raw = c.read_until_close(Millis(5000));
        EXPECT_TRUE(c.peer_closed()) << "connection left open after " << raw;
        return parse_response(raw).value_or(HttpResponse{});
    }

    BerthDaemon daemon;
};

// --- malformed and oversized requests -----------------------------------------------------------

TEST_F(BadInputTest, malformed_request_line_gets_400_json_and_close) {
    HttpResponse r = send_and_read("GARBAGE\r\n\r\n");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_TRUE(is_json_message(r.body)) << r.body;
}

TEST_F(BadInputTest, oversized_headers_get_431_and_server_keeps_serving) {
    std::string req =
        "GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n";
    HttpResponse r = send_and_read(req);
    EXPECT_EQ(r.status, 431);
    EXPECT_TRUE(is_json_message(r.body)) << r.body;
}

TEST_F(BadInputTest, content_length_over_16_mib_gets_413_without_sending_the_body) {
    RawClient c(daemon.socket_path());
    ASSERT_TRUE(
        c.send("POST /v1.51/containers/create HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: application/json\r\nContent-Length: 17000000\r\n\r\n"));
    std::string raw = c.read_response(Millis(5000));
    auto r = parse_response(raw);
    ASSERT_TRUE(r) << "no answer before the body was sent: " << raw;
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(is_json_message(r->body)) << r->body;
    EXPECT_TRUE(c.wait_for_close(Millis(5000)));
}

TEST_F(BadInputTest, chunked_body_growing_past_16_mib_gets_413) {
    RawClient c(daemon.socket_path());
    ASSERT_TRUE(
        c.send("POST /v1.51/containers/create HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";  // 64 KiB
    std::string raw;
    size_t sent = 0;
    // Send until the server answers, stops reading or we are well past the limit; each send
    // and read is bounded so a server that never answers fails the test instead of hanging it.
    while (sent < 24u * 1024 * 1024 && raw.empty() && !c.peer_closed()) {
        if (!c.send(chunk, Millis(2000))) break;
        sent += 0x10000;
        raw += c.read_some(Millis(0));
    }
    raw += c.read_response(Millis(5000));
    auto r = parse_response(raw);
    ASSERT_TRUE(r) << "no answer after " << sent << " body bytes";
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(is_json_message(r->body)) << r->body;
    EXPECT_GE(sent, 15u * 1024 * 1024) << "refused before the limit was reached";
}

// --- errors the router and handlers give --------------------------------------------------------

TEST_F(BadInputTest, invalid_json_in_events_filters_gets_400_invalid_filter) {
    HttpResponse r = http_get(daemon.socket_path(), "/events?filters=%7Bnot-json");
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(is_json_message(r.body)) << r.body;
    EXPECT_NE(r.body.find("invalid filter"), std::string::npos) << r.body;
}

TEST_F(BadInputTest, unknown_events_filter_key_gets_400) {
    // filters={"foo":{"x":true}}
    HttpResponse r =
        http_get(daemon.socket_path(), "/events?filters=%7B%22foo%22%3A%7B%22x%22%3Atrue%7D%7D");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("invalid filter 'foo'"), std::string::npos) << r.body;
}

TEST_F(BadInputTest, unknown_path_gets_404_page_not_found) {
    HttpResponse r = http_get(daemon.socket_path(), "/v1.51/no/such/thing");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(without_newline(r.body), "{\"message\":\"page not found\"}");
}

TEST_F(BadInputTest, wrong_method_on_a_known_path_gets_405) {
    HttpResponse r = http_request(daemon.socket_path(), "POST", "/info");
    EXPECT_EQ(r.status, 405);
    EXPECT_TRUE(is_json_message(r.body)) << r.body;
}

// --- clients that go away -----------------------------------------------------------------------

TEST_F(BadInputTest, client_disconnecting_mid_request_line_leaves_server_serving) {
    {
        RawClient c(daemon.socket_path());
        ASSERT_TRUE(c.send("GET /_pi"));
    }
    {
        RawClient c(daemon.socket_path());
        ASSERT_TRUE(c.send("GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Le"));
    }
    EXPECT_TRUE(still_serving(daemon));
}

TEST_F(BadInputTest, events_client_closing_mid_stream_is_unsubscribed) {
    {
        RawClient c(daemon.socket_path());
        ASSERT_TRUE(c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
        std::string head = c.read_until("\r\n\r\n", Millis(5000));
        ASSERT_NE(head.find(" 200 "), std::string::npos) << head;
        EXPECT_EQ(info_number(daemon, "NEventsListener"), 1);
    }
    EXPECT_TRUE(
        eventually([&] { return info_number(daemon, "NEventsListener") == 0; }, Millis(2000)))
        << "NEventsListener is " << info_number(daemon, "NEventsListener");
}

// --- many connections, slow and idle clients ----------------------------------------------------

// True when the server has neither sent anything on nor closed `c`.
bool quiet_and_open(const RawClient& c) {
    pollfd p{c.fd(), POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}

TEST_F(BadInputTest, thousand_idle_connections_neither_block_others_nor_leak_fds) {
    constexpr size_t idle = 1000;
    ASSERT_TRUE(ensure_fd_limit(idle + 200)) << "cannot raise RLIMIT_NOFILE";
    long fds_before = settled_fd_count(daemon);
    ASSERT_GT(fds_before, 0);

    std::vector<std::unique_ptr<RawClient>> clients;
    for (size_t i = 0; i < idle; ++i) {
        clients.push_back(std::make_unique<RawClient>(daemon.socket_path()));
        ASSERT_TRUE(clients.back()->connected()) << "connection " << i;
    }
    // berthd holds them all (accepted, not closed)...
    EXPECT_TRUE(eventually([&] { return fd_count(daemon) >= fds_before + long(idle); },
                           Millis(3000)))
        << "NFd " << fd_count(daemon) << " before " << fds_before;
    // ...and still serves a newcomer at once.
    auto t0 = Clock::now();
    EXPECT_TRUE(still_serving(daemon));
    EXPECT_LT(elapsed_ms(t0), 2000);
    size_t open = 0;
    for (const auto& c : clients) open += quiet_and_open(*c);
    EXPECT_EQ(open, idle) << "idle connections were answered or closed by the server";

    clients.clear();
    EXPECT_TRUE(
        eventually([&] { return fd_count(daemon) <= fds_before + 5; }, Millis(3000)))
        << "fd leak: NFd " << fd_count(daemon) << " after, " << fds_before << " before";
}

TEST(SlowClientTest, slowloris_gets_408_and_close_while_others_are_served) {
    BerthDaemon daemon({"--api-request-timeout", "1"});
    ASSERT_TRUE(daemon.start());
    RawClient slow(daemon.socket_path());
    ASSERT_TRUE(slow.send("GET /_ping HTTP/1.1\r\nHost: x\r\n"));
    auto t0 = Clock::now();
    std::string raw;
    const std::string header = "X-Slow-Header-Name-That-Keeps-Coming";
    for (size_t i = 0; raw.empty() && !slow.peer_closed() && elapsed_ms(t0) < 4000; ++i) {
        if (!slow.send(header.substr(i % header.size(), 1))) break;
        raw += slow.read_some(Millis(300));
        if (i == 1) {  // meanwhile, another client is served promptly
            auto t1 = Clock::now();
            EXPECT_TRUE(still_serving(daemon));
            EXPECT_LT(elapsed_ms(t1), 1000);
        }
    }
    raw += slow.read_response(Millis(2000));
    long ms = elapsed_ms(t0);
    auto r = parse_response(raw);
    ASSERT_TRUE(r) << "no answer to the slow client after " << ms << " ms";
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(is_json_message(r->body)) << r->body;
    EXPECT_GE(ms, 900);
    EXPECT_LT(ms, 3500);
    EXPECT_TRUE(slow.wait_for_close(Millis(3000)));
    EXPECT_TRUE(still_serving(daemon));
}

TEST(SlowClientTest, idle_keep_alive_connection_is_closed_after_the_idle_timeout) {
    BerthDaemon daemon({"--api-idle-timeout", "1"});
    ASSERT_TRUE(daemon.start());
    RawClient c(daemon.socket_path());
    ASSERT_TRUE(c.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = parse_response(c.read_response(Millis(5000)));
    ASSERT_TRUE(r && r->complete);
    EXPECT_EQ(r->status, 200);
    auto t0 = Clock::now();
    EXPECT_TRUE(c.wait_for_close(Millis(3000))) << "idle connection still open after 3 s";
    EXPECT_GE(elapsed_ms(t0), 700);
    EXPECT_TRUE(still_serving(daemon));
}

// Found while writing these tests: blank lines before a request line reset berthd's idle clock
// and never start the request clock, so a client sending "\r\n" every 300 ms holds its
// connection forever, past both timeouts. dockerd (Go net/http) reads them under its header
// read deadline. This pins the fix: such a client is closed (or answered) like any slowloris.
TEST(SlowClientTest, blank_lines_alone_do_not_keep_a_connection_open_past_the_timeouts) {
    BerthDaemon daemon({"--api-idle-timeout", "1", "--api-request-timeout", "1"});
    ASSERT_TRUE(daemon.start());
    RawClient c(daemon.socket_path());
    auto t0 = Clock::now();
    bool send_refused = false;
    while (!c.peer_closed() && !send_refused && elapsed_ms(t0) < 4000) {
        send_refused = !c.send("\r\n", Millis(1000));
        c.read_some(Millis(300));
    }
    long ms = elapsed_ms(t0);
    EXPECT_TRUE(c.peer_closed() || send_refused)
        << "BUG: a client sending only \"\\r\\n\" every 300 ms is still connected after " << ms
        << " ms with --api-idle-timeout 1 and --api-request-timeout 1";
    EXPECT_LT(ms, 3500);
    EXPECT_TRUE(still_serving(daemon));
}

TEST(ConnectionLimitTest, connection_over_the_limit_gets_503_then_room_frees_up) {
    BerthDaemon daemon({"--api-max-connections", "5"});
    ASSERT_TRUE(daemon.start());
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 5; ++i) {
        held.push_back(std::make_unique<RawClient>(daemon.socket_path()));
        ASSERT_TRUE(held.back()->send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"));
        auto r = parse_response(held.back()->read_response(Millis(5000)));
        ASSERT_TRUE(r) << "held connection " << i;
        ASSERT_EQ(r->status, 200) << "held connection " << i << ": " << r->body;
    }
    RawClient sixth(daemon.socket_path());
    ASSERT_TRUE(sixth.connected());
    sixth.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string raw = sixth.read_until_close(Millis(5000));
    auto r = parse_response(raw);
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(r->status, 503);
    EXPECT_NE(r->body.find("too many connections"), std::string::npos) << r->body;
    EXPECT_TRUE(sixth.peer_closed());

    held.clear();
    EXPECT_TRUE(eventually([&] { return http_get(daemon.socket_path(), "/_ping").status == 200; },
                           Millis(3000)));
}

// --- a second daemon ----------------------------------------------------------------------------

TEST(SecondDaemonTest, second_berthd_on_the_same_data_root_or_socket_refuses_to_start) {
    BerthDaemon first;
    ASSERT_TRUE(first.start());

    BerthDaemon same_root;
    same_root.set_data_root(first.data_root());
    EXPECT_EQ(same_root.run_expecting_exit(), 1);
    EXPECT_NE(same_root.stderr_text().find("another berthd is already running"), std::string::npos)
        << same_root.stderr_text();

    BerthDaemon same_socket;
    same_socket.set_socket_path(first.socket_path());
    EXPECT_EQ(same_socket.run_expecting_exit(), 1);
    EXPECT_NE(same_socket.stderr_text().find("another berthd is already running"),
              std::string::npos)
        << same_socket.stderr_text();

    EXPECT_TRUE(still_serving(first));
    EXPECT_TRUE(file_exists(first.pidfile()));
}

// --- daemon.json --------------------------------------------------------------------------------

// Runs berthd with `--config-file` naming a file holding `json`; returns the exit code.
int run_with_config(BerthDaemon& d, const std::string& json) {
    std::string path = write_temp_file(d.dir(), "test-daemon.json", json);
    d.set_extra_args({"--config-file", path});
    return d.run_expecting_exit();
}

TEST(DaemonConfigTest, key_both_as_flag_and_in_file_is_refused) {
    BerthDaemon d;  // the fixture passes --data-root
    EXPECT_EQ(run_with_config(d, R"({"data-root": "/tmp/berth-e2e-elsewhere"})"), 1);
    EXPECT_NE(d.stderr_text().find("specified both as a flag and in the configuration file"),
              std::string::npos)
        << d.stderr_text();
}

TEST(DaemonConfigTest, unknown_key_is_refused) {
    BerthDaemon d;
    EXPECT_EQ(run_with_config(d, R"({"no-such-option": true})"), 1);
    EXPECT_NE(d.stderr_text().find("don't match any configuration option"), std::string::npos)
        << d.stderr_text();
}

TEST(DaemonConfigTest, invalid_json_is_refused) {
    BerthDaemon d;
    EXPECT_EQ(run_with_config(d, "{\"debug\": tru"), 1);
    EXPECT_NE(d.stderr_text().find("invalid JSON"), std::string::npos) << d.stderr_text();
}

TEST(DaemonConfigTest, missing_explicit_config_file_is_refused) {
    BerthDaemon d({"--config-file", "/tmp/berth-e2e-no-such-dir/daemon.json"});
    EXPECT_EQ(d.run_expecting_exit(), 1);
    EXPECT_FALSE(d.stderr_text().empty());
}

TEST(DaemonConfigTest, debug_from_the_file_shows_in_docker_info) {
    BerthDaemon d;
    std::string path = write_temp_file(d.dir(), "test-daemon.json", R"({"debug": true})");
    d.set_extra_args({"--config-file", path});
    ASSERT_TRUE(d.start());
    CommandResult r = docker(d, "info");
    ASSERT_EQ(r.exit_code, 0) << r.output << r.error;
    std::string server = r.output.substr(std::min(r.output.find("\nServer:"), r.output.size()));
    EXPECT_NE(server.find("Debug Mode: true"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace berth::e2e
