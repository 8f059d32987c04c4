// The HTTP server in process, on a real loop in a background thread, driven by plain sockets:
// async answers, chunked streaming, hijack (101 UPGRADED with half-close), ordering of
// pipelined requests behind a slow one, aborts, and graceful shutdown.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "base/time.hpp"
#include "http/exchange.hpp"
#include "http/server.hpp"
#include "kernel/unix_socket.hpp"
#include "loop/loop.hpp"

using namespace berth;
using namespace berth::http;

namespace {

// Counts a streamed body and answers with the count when it ends.
struct CountingSink : BodySink {
    Exchange* ex = nullptr;
    size_t bytes = 0;
    Result<> on_body(std::span<const std::byte> data) override {
        bytes += data.size();
        return {};
    }
    void on_body_end() override { ex->respond_json(200, "{\"bytes\":" + std::to_string(bytes) + "}"); }
};

// Upper-cases what the client sends; on the client's half-close says "bye" and ends.
struct EchoSink : RawSink {
    Exchange* ex = nullptr;
    void on_data(std::span<const std::byte> data) override {
        std::string s(reinterpret_cast<const char*>(data.data()), data.size());
        for (char& c : s) c = char(toupper(static_cast<unsigned char>(c)));
        ex->write(s);
    }
    void on_eof() override {
        ex->write("bye");
        ex->end();
    }
};

class ServerFixture : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-http-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        sock_ = dir_ + "/api.sock";
        auto l = loop::Loop::create();
        ASSERT_TRUE(l) << l.error().message;
        loop_ = std::move(*l);
        add_routes();
        ServerLimits limits;
        limits.request_timeout_ns = 500'000'000;
        limits.idle_timeout_ns = 2'000'000'000;
        limits.shutdown_grace_ns = 1'000'000'000;
        server_ = std::make_unique<Server>(*loop_, router_, limits, ServerIdentity{});
        auto ls = kernel::listen_unix(sock_, "");
        ASSERT_TRUE(ls) << ls.error().message;
        server_->add_listener(ls->fd.release());
        listener_lock_ = std::move(ls->lock);
        thread_ = std::thread([this] {
            while (!stop_) (void)loop_->tick(5'000'000);
        });
    }

    void TearDown() override {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        // Finish the shutdown on this thread now that the loop thread is gone.
        if (server_ && !done_) {
            server_->shutdown([](void* d) { *static_cast<std::atomic<bool>*>(d) = true; },
                              &done_);
            int64_t end = monotonic_ns() + 5'000'000'000;
            while (!done_ && monotonic_ns() < end) (void)loop_->tick(5'000'000);
        }
        server_.reset();
        loop_.reset();
        std::system(("rm -rf " + dir_).c_str());
    }

    void add_routes() {
        router_.add("GET", "/hello", [](Exchange& ex) { ex.respond_json(200, "{\"hi\":1}"); });
        router_.add("GET", "/stream", [](Exchange& ex) {
            ex.begin_stream(200, "application/json");
            ex.write("one\n");
            ex.write("two\n");
            ex.end();
        });
        router_.add("GET", "/slow", [this](Exchange& ex) {
            // Answers 100 ms later from a timer, as a job finishing would.
            slow_ex_ = &ex;
            slow_timer_.context = this;
            slow_timer_.callback = [](loop::Completion& c) {
                auto* self = static_cast<ServerFixture*>(c.context);
                if (self->slow_ex_) self->slow_ex_->respond_json(200, "{\"slow\":true}");
                self->slow_ex_ = nullptr;
            };
            ex.observe({this, [](void* ctx) {
                            auto* self = static_cast<ServerFixture*>(ctx);
                            self->slow_ex_ = nullptr;
                            self->aborted_ = true;
                        },
                        nullptr, nullptr});
            loop_->timeout(slow_timer_, 100'000'000);
        });
        router_.add("GET", "/never", [this](Exchange& ex) {
            ex.observe({this, [](void* ctx) { static_cast<ServerFixture*>(ctx)->aborted_ = true; },
                        nullptr, nullptr});
        });
        router_.add("POST", "/attach", [this](Exchange& ex) {
            echo_.ex = &ex;
            ex.hijack("application/vnd.docker.raw-stream", &echo_);
        });
        router_.add("POST", "/echo-body", [](Exchange& ex) {
            ex.respond(200, "text/plain", ex.request().body);
        });
        router_.add(
            "POST", "/upload",
            [this](Exchange& ex) {
                upload_.ex = &ex;
                upload_.bytes = 0;
                ex.read_body(&upload_);
            },
            true);
        router_.add(
            "POST", "/refuse-upload",
            [](Exchange& ex) { ex.respond_error(Error::invalid("not this body")); }, true);
        router_.add("POST", "/shutdown", [this](Exchange& ex) {
            server_->shutdown([](void* d) { *static_cast<std::atomic<bool>*>(d) = true; },
                              &done_);
            ex.respond_empty(204);  // a request in flight still gets its answer
        });
    }

    int connect() {
        auto fd = kernel::connect_unix(sock_);
        EXPECT_TRUE(fd) << fd.error().message;
        return fd ? fd->release() : -1;
    }
    static void send_all(int fd, std::string_view s) {
        while (!s.empty()) {
            ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
            ASSERT_GT(n, 0);
            s.remove_prefix(size_t(n));
        }
    }
    // Reads until `done(text)` or EOF or the deadline.
    template <class F>
    static std::string read_until(int fd, F done, int timeout_ms = 5000) {
        std::string got;
        int64_t end = monotonic_ns() + int64_t(timeout_ms) * 1'000'000;
        while (!done(got)) {
            int left = int((end - monotonic_ns()) / 1'000'000);
            if (left <= 0) break;
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, left) <= 0) break;
            char buf[4096];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, size_t(n));
        }
        return got;
    }
    static std::string read_to_eof(int fd, int timeout_ms = 5000) {
        return read_until(fd, [](const std::string&) { return false; }, timeout_ms);
    }
    static size_t count(const std::string& s, std::string_view what) {
        size_t n = 0;
        for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
        return n;
    }

    std::string dir_, sock_;
    std::unique_ptr<loop::Loop> loop_;
    Router router_;
    std::unique_ptr<Server> server_;
    kernel::UniqueFd listener_lock_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> done_{false};
    std::atomic<bool> aborted_{false};
    Exchange* slow_ex_ = nullptr;
    loop::Completion slow_timer_;
    EchoSink echo_;
    CountingSink upload_;
};

}  // namespace

TEST_F(ServerFixture, answers_with_docker_headers_and_content_length) {
    int fd = connect();
    send_all(fd, "GET /v1.50/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::string r = read_to_eof(fd);
    close(fd);
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
    EXPECT_NE(r.find("Api-Version: 1.51\r\n"), std::string::npos);
    EXPECT_NE(r.find("Ostype: linux\r\n"), std::string::npos);
    EXPECT_NE(r.find("Content-Length: 8\r\n"), std::string::npos);
    EXPECT_TRUE(r.ends_with("\r\n\r\n{\"hi\":1}"));
}

TEST_F(ServerFixture, streamed_response_is_chunked_and_terminated) {
    int fd = connect();
    send_all(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = read_until(fd, [](const std::string& s) { return s.ends_with("0\r\n\r\n"); });
    close(fd);
    EXPECT_NE(r.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("\r\n4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n"), std::string::npos) << r;
}

TEST_F(ServerFixture, pipelined_request_waits_for_the_slow_one_before_it) {
    int fd = connect();
    send_all(fd,
             "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    std::string r = read_until(fd, [](const std::string& s) { return s.ends_with("abc"); });
    close(fd);
    size_t slow = r.find("{\"slow\":true}");
    size_t hello = r.find("{\"hi\":1}");
    ASSERT_NE(slow, std::string::npos) << r;
    ASSERT_NE(hello, std::string::npos) << r;
    EXPECT_LT(slow, hello);
    EXPECT_EQ(count(r, "HTTP/1.1 200 OK"), 3u);
}

TEST_F(ServerFixture, chunked_request_body_reaches_the_handler) {
    int fd = connect();
    send_all(fd,
             "POST /echo-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n");
    usleep(20'000);
    send_all(fd, "4\r\ndefg\r\n0\r\n\r\n");
    std::string r = read_until(fd, [](const std::string& s) { return s.ends_with("abcdefg"); });
    close(fd);
    EXPECT_NE(r.find("Content-Length: 7\r\n"), std::string::npos) << r;
}

TEST_F(ServerFixture, hijack_answers_101_and_streams_both_ways_with_half_close) {
    int fd = connect();
    // Bytes sent right behind the request belong to the raw stream.
    send_all(fd,
             "POST /attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
             "early;");
    std::string r = read_until(fd, [](const std::string& s) { return s.ends_with("EARLY;"); });
    EXPECT_TRUE(r.starts_with("HTTP/1.1 101 UPGRADED\r\n")) << r;
    EXPECT_NE(r.find("Content-Type: application/vnd.docker.raw-stream\r\n"), std::string::npos);
    EXPECT_NE(r.find("Upgrade: tcp\r\n"), std::string::npos);
    send_all(fd, "hello");
    std::string more = read_until(fd, [](const std::string& s) { return s == "HELLO"; });
    EXPECT_EQ(more, "HELLO");
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);  // the CLI's CloseWrite when stdin ends
    std::string tail = read_to_eof(fd);
    EXPECT_EQ(tail, "bye");
    close(fd);
}

TEST_F(ServerFixture, client_gone_during_an_async_request_aborts_it) {
    int fd = connect();
    send_all(fd, "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(50'000);
    close(fd);
    int64_t end = monotonic_ns() + 3'000'000'000;
    while (!aborted_ && monotonic_ns() < end) usleep(5'000);
    EXPECT_TRUE(aborted_);
}

TEST_F(ServerFixture, incomplete_request_gets_408_after_the_request_timeout) {
    int fd = connect();
    send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    std::string r = read_to_eof(fd, 5000);
    close(fd);
    EXPECT_TRUE(r.starts_with("HTTP/1.1 408 Request Timeout\r\n")) << r;
    EXPECT_NE(r.find("{\"message\":\"request timeout"), std::string::npos);
}

TEST_F(ServerFixture, idle_keep_alive_connection_is_closed_after_the_idle_timeout) {
    int fd = connect();
    send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = read_to_eof(fd, 8000);  // returns at EOF: the server closed it
    close(fd);
    EXPECT_EQ(count(r, "HTTP/1.1 200 OK"), 1u);
    EXPECT_EQ(r.find("408"), std::string::npos);
}

TEST_F(ServerFixture, graceful_shutdown_closes_idle_connections_and_finishes) {
    int idle = connect();
    send_all(idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(idle, [](const std::string& s) { return s.ends_with("{\"hi\":1}"); });
    int fd = connect();
    send_all(fd, "POST /shutdown HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    std::string r = read_to_eof(fd);
    EXPECT_TRUE(r.starts_with("HTTP/1.1 204 No Content\r\n")) << r;
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(read_to_eof(idle), "");  // closed by the server, nothing more sent
    int64_t end = monotonic_ns() + 5'000'000'000;
    while (!done_ && monotonic_ns() < end) usleep(5'000);
    EXPECT_TRUE(done_);
    EXPECT_FALSE(kernel::connect_unix(sock_));  // no longer accepting
    close(fd);
    close(idle);
}

TEST_F(ServerFixture, streamed_request_body_has_no_size_limit_and_the_connection_is_reused) {
    int fd = connect();
    // 40 MiB in chunks: more than the 16 MiB limit of buffered bodies.
    send_all(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    std::string chunk(1 << 20, 'x');
    char size[16];
    snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    for (int i = 0; i < 40; ++i) {
        send_all(fd, size);
        send_all(fd, chunk);
        send_all(fd, "\r\n");
    }
    send_all(fd, "0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = read_until(fd, [](const std::string& s) { return s.ends_with("{\"hi\":1}"); });
    close(fd);
    EXPECT_NE(r.find("{\"bytes\":41943040}"), std::string::npos) << r.substr(0, 300);
    EXPECT_EQ(count(r, "HTTP/1.1 200 OK"), 2u);
}

TEST_F(ServerFixture, streaming_route_may_refuse_early_and_the_body_is_drained) {
    int fd = connect();
    send_all(fd, "POST /refuse-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
    std::string r = read_until(fd, [](const std::string& s) { return s.ends_with("}\n"); });
    EXPECT_TRUE(r.starts_with("HTTP/1.1 400 Bad Request\r\n")) << r;
    send_all(fd, "0123456789GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string next = read_until(fd, [](const std::string& s) { return s.ends_with("{\"hi\":1}"); });
    close(fd);
    EXPECT_TRUE(next.starts_with("HTTP/1.1 200 OK\r\n")) << next;
}

TEST_F(ServerFixture, buffered_route_refuses_a_declared_body_over_the_limit_at_once) {
    int fd = connect();
    send_all(fd, "POST /echo-body HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n");
    std::string r = read_to_eof(fd);
    close(fd);
    EXPECT_TRUE(r.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n")) << r;
}
