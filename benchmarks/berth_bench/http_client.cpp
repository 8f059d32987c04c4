#include "http_client.hpp"

#include <simdjson.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace berth::bench {

namespace {

constexpr std::string_view api_prefix = "/v1.41";  // 20.10's version, served by both engines

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string request_head(std::string_view method, std::string_view path, size_t body_size,
                         std::string_view content_type, bool upgrade) {
    std::string req;
    req.append(method).append(" ").append(api_prefix).append(path).append(" HTTP/1.1\r\n");
    req.append("Host: api.moby.localhost\r\nUser-Agent: berth-bench\r\n");
    if (upgrade) req.append("Connection: Upgrade\r\nUpgrade: tcp\r\n");
    if (body_size || method == "POST") {
        req.append("Content-Type: ").append(content_type).append("\r\n");
        req.append("Content-Length: ").append(std::to_string(body_size)).append("\r\n");
    }
    req.append("\r\n");
    return req;
}

}  // namespace

std::string Response::message() const {
    if (status == 0) return error;
    simdjson::dom::parser p;
    simdjson::padded_string s(body);
    std::string_view m;
    if (!p.parse(s)["message"].get(m)) return std::string(m);
    return "HTTP " + std::to_string(status) + ": " + body.substr(0, 200);
}

void ApiClient::Conn::reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    buf.clear();
    chunked = false;
    length = -1;
}

ApiClient::~ApiClient() {
    close();
}

void ApiClient::close() {
    main_.reset();
    pending_.reset();
    attach_.reset();
}

bool ApiClient::open_conn(Conn& c, std::string& error) const {
    c.reset();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path_.size() >= sizeof a.sun_path) {
        ::close(fd);
        error = "socket path too long: " + path_;
        return false;
    }
    std::memcpy(a.sun_path, path_.data(), path_.size());
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        error = "cannot connect to " + path_ + ": " + std::strerror(errno);
        ::close(fd);
        return false;
    }
    c.fd = fd;
    return true;
}

bool ApiClient::send_all(Conn& c, std::string_view data, std::string& error) {
    while (!data.empty()) {
        ssize_t n = ::send(c.fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            error = std::string("send: ") + std::strerror(errno);
            return false;
        }
        data.remove_prefix(size_t(n));
    }
    return true;
}

bool ApiClient::fill(Conn& c) {
    char tmp[65536];
    for (;;) {
        ssize_t n = ::read(c.fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        c.buf.append(tmp, size_t(n));
        return true;
    }
}

Response ApiClient::read_head(Conn& c) {
    Response r;
    size_t end;
    while ((end = c.buf.find("\r\n\r\n")) == std::string::npos)
        if (!fill(c)) {
            r.error = "the daemon closed the connection before answering";
            return r;
        }
    std::string head = c.buf.substr(0, end);
    c.buf.erase(0, end + 4);
    if (head.size() < 12 || std::sscanf(head.c_str(), "HTTP/1.%*d %d", &r.status) != 1) {
        r.status = 0;
        r.error = "not an HTTP answer: " + head.substr(0, 80);
        return r;
    }
    c.chunked = false;
    c.length = -1;
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
        size_t next = head.find("\r\n", pos + 2);
        std::string line =
            lower(head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2));
        if (line.starts_with("content-length:")) c.length = std::stoll(line.substr(15));
        if (line.starts_with("transfer-encoding:") && line.find("chunked") != std::string::npos)
            c.chunked = true;
        pos = next;
    }
    if (r.status == 204 || r.status == 304 || r.status == 101) c.length = 0;
    return r;
}

bool ApiClient::read_body(Conn& c, Response& r) {
    if (!c.chunked && c.length >= 0) {
        while (int64_t(c.buf.size()) < c.length)
            if (!fill(c)) return false;
        r.body = c.buf.substr(0, size_t(c.length));
        c.buf.erase(0, size_t(c.length));
        return true;
    }
    if (!c.chunked) {  // to the close
        while (fill(c)) {
        }
        r.body = std::move(c.buf);
        c.buf.clear();
        return false;  // the connection is done
    }
    for (;;) {
        size_t eol;
        while ((eol = c.buf.find("\r\n")) == std::string::npos)
            if (!fill(c)) return false;
        size_t size = std::stoul(c.buf.substr(0, eol), nullptr, 16);
        while (c.buf.size() < eol + 2 + size + 2)
            if (!fill(c)) return false;
        r.body.append(c.buf, eol + 2, size);
        c.buf.erase(0, eol + 2 + size + 2);
        if (size == 0) return true;
    }
}

Response ApiClient::request(std::string_view method, std::string_view path, std::string_view body,
                            std::string_view content_type) {
    std::string req = request_head(method, path, body.size(), content_type, false);
    // A kept-alive connection the daemon closed in between is opened again, once.
    for (int attempt = 0; attempt < 2; ++attempt) {
        Response r;
        bool fresh = main_.fd < 0;
        if (fresh && !open_conn(main_, r.error)) return r;
        if (!send_all(main_, req, r.error) || !send_all(main_, body, r.error)) {
            main_.reset();
            if (fresh) return r;
            continue;
        }
        r = read_head(main_);
        if (r.status == 0) {
            main_.reset();
            if (fresh) return r;
            continue;
        }
        if (!read_body(main_, r)) main_.reset();
        return r;
    }
    return Response{0, {}, "the daemon keeps closing the connection"};
}

Response ApiClient::begin(std::string_view method, std::string_view path) {
    Response r;
    if (!open_conn(pending_, r.error)) return r;
    if (!send_all(pending_, request_head(method, path, 0, "application/json", false), r.error))
        return r;
    return read_head(pending_);
}

Response ApiClient::finish_body() {
    Response r{200, {}, {}};
    if (pending_.fd < 0 || !read_body(pending_, r)) {
        if (r.body.empty()) r = Response{0, {}, "the daemon closed the connection"};
    }
    pending_.reset();
    return r;
}

Response ApiClient::attach(const std::string& id) {
    Response r;
    if (!open_conn(attach_, r.error)) return r;
    std::string path = "/containers/" + id + "/attach?stream=1&stdout=1&stderr=1";
    if (!send_all(attach_, request_head("POST", path, 0, "text/plain", true), r.error)) return r;
    r = read_head(attach_);
    if (r.status != 101 && r.status != 200) {
        Response body = r;
        if (read_body(attach_, body)) r.body = body.body;
        attach_.reset();
    }
    return r;
}

int64_t ApiClient::drain_attach() {
    int64_t n = int64_t(attach_.buf.size());
    attach_.buf.clear();
    while (attach_.fd >= 0 && fill(attach_)) {
        n += int64_t(attach_.buf.size());
        attach_.buf.clear();
    }
    attach_.reset();
    return n;
}

std::string url_encode(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += char(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

}  // namespace berth::bench
