// RequestParser: one request at a time, limits, chunked bodies, pipelining, upgrade.
#include <gtest/gtest.h>

#include "http/parser.hpp"

using berth::http::ParseLimits;
using berth::http::RequestParser;
using Status = RequestParser::Status;

namespace {
// Feeds until the request is complete, an error, or the data runs out, stepping over the
// pause at the headers that a request with a body makes.
RequestParser::Outcome feed_all(RequestParser& p, std::string_view data) {
    size_t used = 0;
    for (;;) {
        auto out = p.feed(data.substr(used));
        used += out.consumed;
        if (out.status != Status::headers) {
            out.consumed = used;
            return out;
        }
    }
}
}  // namespace

TEST(HttpParser, parses_request_line_headers_query_and_body) {
    RequestParser p(ParseLimits{});
    std::string req =
        "POST /v1.50/containers/create?name=web&x=a%20b HTTP/1.1\r\n"
        "Host: api.moby.localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: 13\r\n\r\n{\"Image\":\"a\"}";
    auto out = feed_all(p, req);
    ASSERT_EQ(out.status, Status::complete);
    EXPECT_EQ(out.consumed, req.size());
    auto& r = p.request();
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/v1.50/containers/create");
    EXPECT_EQ(r.query_value("name"), "web");
    EXPECT_EQ(r.query_value("x"), "a b");
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.body, "{\"Image\":\"a\"}");
    EXPECT_TRUE(r.keep_alive);
}

TEST(HttpParser, byte_at_a_time_input_gives_the_same_request) {
    RequestParser p(ParseLimits{});
    std::string req = "GET /_ping HTTP/1.1\r\nHost: x\r\nX-Long-Header: abcdef\r\n\r\n";
    RequestParser::Outcome out;
    for (size_t i = 0; i < req.size(); ++i) {
        out = p.feed(std::string_view(req).substr(i, 1));
        if (i + 1 < req.size()) {
            ASSERT_EQ(out.status, Status::need_more) << i;
        }
    }
    ASSERT_EQ(out.status, Status::complete);
    EXPECT_EQ(p.request().header("x-long-header"), "abcdef");
}

TEST(HttpParser, chunked_body_is_reassembled) {
    RequestParser p(ParseLimits{});
    std::string req =
        "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    auto out = feed_all(p, req);
    ASSERT_EQ(out.status, Status::complete);
    EXPECT_EQ(p.request().body, "hello world");
}

TEST(HttpParser, pipelined_requests_come_out_one_at_a_time) {
    RequestParser p(ParseLimits{});
    std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    auto first = p.feed(two);
    ASSERT_EQ(first.status, Status::complete);
    EXPECT_EQ(p.request().path, "/a");
    EXPECT_LT(first.consumed, two.size());
    p.next();
    auto second = p.feed(std::string_view(two).substr(first.consumed));
    ASSERT_EQ(second.status, Status::complete);
    EXPECT_EQ(p.request().path, "/b");
    EXPECT_EQ(first.consumed + second.consumed, two.size());
}

TEST(HttpParser, connection_close_and_http10_are_not_keep_alive) {
    RequestParser p(ParseLimits{});
    ASSERT_EQ(p.feed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").status, Status::complete);
    EXPECT_FALSE(p.request().keep_alive);
    RequestParser q(ParseLimits{});
    ASSERT_EQ(q.feed("GET / HTTP/1.0\r\n\r\n").status, Status::complete);
    EXPECT_FALSE(q.request().keep_alive);
}

TEST(HttpParser, oversized_headers_are_431) {
    RequestParser p(ParseLimits{.header_bytes_max = 1024, .body_bytes_max = 1024});
    std::string req = "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n";
    auto out = p.feed(req);
    ASSERT_EQ(out.status, Status::error);
    EXPECT_EQ(out.http_status, 431);
}

TEST(HttpParser, declared_body_over_limit_is_known_at_the_headers) {
    RequestParser p(ParseLimits{.header_bytes_max = 1024, .body_bytes_max = 100});
    auto out = p.feed("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
    ASSERT_EQ(out.status, Status::headers);
    EXPECT_TRUE(p.declared_body_over_limit());
    EXPECT_EQ(p.body_too_large().http_status, 413);
}

TEST(HttpParser, streamed_body_goes_to_the_sink_without_limit) {
    RequestParser p(ParseLimits{.header_bytes_max = 1024, .body_bytes_max = 4});
    std::string req = "POST /load HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    auto h = p.feed(req);
    ASSERT_EQ(h.status, Status::headers);
    std::string got;
    p.stream_body(
        [](void* ctx, std::span<const std::byte> d) -> berth::Result<> {
            static_cast<std::string*>(ctx)->append(reinterpret_cast<const char*>(d.data()),
                                                   d.size());
            return {};
        },
        &got);
    auto done = p.feed(std::string_view(req).substr(h.consumed));
    ASSERT_EQ(done.status, Status::complete);
    EXPECT_EQ(got, "hello world");
    EXPECT_TRUE(p.request().body.empty());
}

TEST(HttpParser, chunked_body_over_limit_is_413) {
    RequestParser p(ParseLimits{.header_bytes_max = 1024, .body_bytes_max = 10});
    std::string req = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n";
    auto out = feed_all(p, req);
    if (out.status == Status::need_more) out = p.feed("12345678\r\n");
    ASSERT_EQ(out.status, Status::error);
    EXPECT_EQ(out.http_status, 413);
}

TEST(HttpParser, malformed_request_line_is_400_with_a_reason) {
    RequestParser p(ParseLimits{});
    auto out = p.feed("GARBAGE\r\n\r\n");
    ASSERT_EQ(out.status, Status::error);
    EXPECT_EQ(out.http_status, 400);
    EXPECT_NE(out.message.find("malformed"), std::string::npos);
}

TEST(HttpParser, upgrade_request_is_flagged_and_stops_before_the_raw_stream) {
    RequestParser p(ParseLimits{});
    std::string req =
        "POST /containers/x/attach?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        "Upgrade: tcp\r\n\r\nRAWBYTES";
    auto out = p.feed(req);
    ASSERT_EQ(out.status, Status::complete);
    EXPECT_TRUE(p.request().upgrade);
    EXPECT_EQ(req.substr(out.consumed), "RAWBYTES");
}

TEST(HttpParser, query_bool_follows_docker_rules) {
    RequestParser p(ParseLimits{});
    ASSERT_EQ(p.feed("GET /x?a=1&b=0&c=false&d=no&e=&f=true&g=none HTTP/1.1\r\n\r\n").status,
              Status::complete);
    auto& r = p.request();
    EXPECT_TRUE(r.query_bool("a"));
    EXPECT_FALSE(r.query_bool("b"));
    EXPECT_FALSE(r.query_bool("c"));
    EXPECT_FALSE(r.query_bool("d"));
    EXPECT_FALSE(r.query_bool("e"));
    EXPECT_TRUE(r.query_bool("f"));
    EXPECT_FALSE(r.query_bool("g"));
    EXPECT_FALSE(r.query_bool("missing"));
}

TEST(HttpParser, http2_request_line_is_505_as_go_answers) {
    RequestParser p(ParseLimits{});
    auto out = p.feed("GET /_ping HTTP/2.0\r\nHost: x\r\n\r\n");
    ASSERT_EQ(out.status, Status::error);
    EXPECT_EQ(out.http_status, 505);
}
