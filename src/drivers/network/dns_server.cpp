// The embedded DNS server's state machines: per-listener UDP receive and replies, TCP connections
// (one length-prefixed query each), and forwards to the upstream resolvers with their timeouts.
// Objects holding Completions are freed only from a callback once none of theirs is in flight.
#include "drivers/network/dns_server.hpp"

#include <array>
#include <cstring>

#include "base/log.hpp"
#include "base/time.hpp"
#include "drivers/network/dns_message.hpp"
#include "kernel/netns.hpp"
#include "kernel/random.hpp"
#include "kernel/udp_socket.hpp"

namespace berth::drivers::net {

namespace {

constexpr kernel::Ipv4Address dns_address{0x7f00000b};  // 127.0.0.11, as Docker
constexpr int tcp_backlog = 16;
constexpr int64_t retry_ns = 100'000'000;  // re-arming after an unexpected receive error

std::string errno_text(int32_t result) {
    return std::strerror(-result);
}

}  // namespace

struct DnsServer::Reply {
    Listener* listener = nullptr;
    loop::Completion sent;
    sockaddr_storage peer{};
    iovec iov{};
    msghdr msg{};
    std::vector<std::byte> bytes;
};

struct DnsServer::TcpConnection {
    Listener* listener = nullptr;
    kernel::UniqueFd fd;
    loop::Completion io, timer;
    bool closing = false;
    bool forwarding = false;  // the answer will come from an upstream
    std::array<std::byte, 2 + query_bytes_max> in{};
    size_t in_length = 0;
    std::vector<std::byte> out;
    size_t out_sent = 0;
};

struct DnsServer::Listener {
    DnsServer* server = nullptr;
    uint64_t key = 0;
    bool closing = false;
    kernel::UniqueFd udp, tcp;
    loop::Completion receive, accept, udp_retry, tcp_retry;
    sockaddr_storage peer{};
    iovec iov{};
    msghdr msg{};
    std::array<std::byte, query_bytes_max> buffer{};
    std::vector<std::unique_ptr<Reply>> replies;  // reused once sent; at most replies_max
    std::vector<std::unique_ptr<TcpConnection>> connections;
    std::vector<kernel::SocketAddress> upstreams;  // the container's --dns, else the server's
};

struct DnsServer::Forward {
    DnsServer* server = nullptr;
    bool used = false;
    bool done = false;  // answered or given up; the slot frees once `sent` and `timer` are back
    uint16_t client_id = 0;
    uint16_t upstream_id = 0;
    size_t upstream = 0;                  // index into upstreams
    std::vector<kernel::SocketAddress> upstreams;  // the listener's, kept if it goes away
    std::vector<std::byte> query;         // as the client sent it, id rewritten
    Listener* listener = nullptr;         // where the answer goes; null once that is gone
    TcpConnection* connection = nullptr;  // for a TCP client; else the UDP peer below
    sockaddr_storage peer{};
    socklen_t peer_length = 0;
    loop::Completion sent, timer;
    sockaddr_storage upstream_address{};
    iovec iov{};
    msghdr msg{};
};

DnsServer::DnsServer(loop::Loop& loop, Resolver resolver,
                     std::vector<kernel::SocketAddress> upstreams)
    : loop_(loop),
      resolver_(std::move(resolver)),
      upstreams_(std::move(upstreams)),
      forwards_(new Forward[forwards_max]) {
    if (upstreams_.size() > upstreams_max) upstreams_.resize(upstreams_max);
    for (size_t i = 0; i < forwards_max; ++i) {
        Forward& f = forwards_[i];
        f.server = this;
        f.sent.context = f.timer.context = &f;
        f.sent.callback = &DnsServer::on_forward_sent;
        f.timer.callback = &DnsServer::on_forward_timer;
    }
    std::array<unsigned char, sizeof(uint32_t)> seed{};
    uint32_t s = uint32_t(monotonic_ns());
    if (kernel::fill_random(seed)) std::memcpy(&s, seed.data(), sizeof s);
    ids_.seed(s);
    upstream_receive_.context = this;
    upstream_receive_.callback = &DnsServer::on_upstream_receive;
}

DnsServer::~DnsServer() = default;

// ---- listeners ---------------------------------------------------------------------------

Result<> DnsServer::add_listener(uint64_t key, int netns_fd,
                                 std::vector<kernel::SocketAddress> upstreams) {
    if (listeners_.contains(key))
        return fail(Error::conflict("embedded DNS: endpoint " + std::to_string(key) +
                                    " already has a listener"));
    auto address = kernel::ipv4_socket_address(dns_address, port);
    auto fail_with = [](Error e) { return fail(std::move(e).wrap("embedded DNS")); };
    auto udp = kernel::socket_in_netns(netns_fd, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK);
    if (!udp) return fail_with(std::move(udp.error()));
    if (auto r = kernel::bind_socket(udp->get(), address); !r)
        return fail_with(std::move(r.error()));
    auto tcp = kernel::socket_in_netns(netns_fd, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
    if (!tcp) return fail_with(std::move(tcp.error()));
    if (auto r = kernel::set_reuse_address(tcp->get()); !r) return fail_with(std::move(r.error()));
    if (auto r = kernel::bind_socket(tcp->get(), address); !r)
        return fail_with(std::move(r.error()));
    if (auto r = kernel::listen_socket(tcp->get(), tcp_backlog); !r)
        return fail_with(std::move(r.error()));
    if (upstreams.empty()) upstreams = upstreams_;
    if (upstreams.size() > upstreams_max) upstreams.resize(upstreams_max);
    if (!upstreams.empty() && !upstream_fd_) {
        auto fd = kernel::udp_socket();
        if (!fd) return fail_with(std::move(fd.error()).wrap("forwarding socket"));
        upstream_fd_ = std::move(*fd);
        upstream_buffer_.reset(new std::byte[upstream_response_bytes_max]);
        arm_upstream_receive();
    }

    auto l = std::make_unique<Listener>();
    l->server = this;
    l->key = key;
    l->udp = std::move(*udp);
    l->tcp = std::move(*tcp);
    l->upstreams = std::move(upstreams);
    l->receive.context = l->accept.context = l.get();
    l->udp_retry.context = l->tcp_retry.context = l.get();
    l->receive.callback = &DnsServer::on_udp_receive;
    l->accept.callback = &DnsServer::on_accept;
    l->udp_retry.callback = l->tcp_retry.callback = &DnsServer::on_retry;
    arm_udp_receive(*l);
    loop_.accept_multishot(l->accept, l->tcp.get());
    listeners_.emplace(key, std::move(l));
    return {};
}

void DnsServer::remove_listener(uint64_t key) {
    auto it = listeners_.find(key);
    if (it == listeners_.end()) return;
    // Held here until the end, so that nothing below can free it on the way.
    std::unique_ptr<Listener> owned = std::move(it->second);
    listeners_.erase(it);
    Listener& l = *owned;
    l.closing = true;
    detach_forwards(&l, nullptr);
    // Cancellation never calls back synchronously, so nothing below is freed under this loop.
    for (loop::Completion* c : {&l.receive, &l.accept, &l.udp_retry, &l.tcp_retry})
        if (c->in_flight()) loop_.cancel(*c);
    for (auto& r : l.replies)
        if (r->sent.in_flight()) loop_.cancel(r->sent);
    std::vector<TcpConnection*> connections;
    for (auto& t : l.connections) connections.push_back(t.get());
    for (TcpConnection* t : connections) tcp_close(*t);
    closing_.push_back(std::move(owned));
    release_listener_if_idle(l);
}

void DnsServer::shutdown() {
    std::vector<uint64_t> keys;
    for (auto& [key, l] : listeners_) keys.push_back(key);
    for (uint64_t key : keys) remove_listener(key);
    if (upstream_receive_.in_flight()) loop_.cancel(upstream_receive_);
}

bool DnsServer::listener_idle(const Listener& l) const {
    if (l.receive.in_flight() || l.accept.in_flight() || l.udp_retry.in_flight() ||
        l.tcp_retry.in_flight() || !l.connections.empty())
        return false;
    for (auto& r : l.replies)
        if (r->sent.in_flight()) return false;
    return true;
}

void DnsServer::release_listener_if_idle(Listener& l) {
    if (!l.closing || !listener_idle(l)) return;
    for (auto it = closing_.begin(); it != closing_.end(); ++it) {
        if (it->get() != &l) continue;
        closing_.erase(it);  // closes its sockets
        return;
    }
}

size_t DnsServer::in_flight() const {
    size_t n = upstream_receive_.in_flight() ? 1 : 0;
    auto count = [&](const Listener& l) {
        for (const loop::Completion* c : {&l.receive, &l.accept, &l.udp_retry, &l.tcp_retry})
            n += c->in_flight();
        for (auto& r : l.replies) n += r->sent.in_flight();
        for (auto& t : l.connections) n += size_t(t->io.in_flight()) + t->timer.in_flight();
    };
    for (auto& [key, l] : listeners_) count(*l);
    for (auto& l : closing_) count(*l);
    for (size_t i = 0; i < forwards_max; ++i)
        n += size_t(forwards_[i].sent.in_flight()) + forwards_[i].timer.in_flight();
    return n;
}

void DnsServer::on_retry(loop::Completion& c) {
    auto& l = *static_cast<Listener*>(c.context);
    DnsServer& s = *l.server;
    if (l.closing) return s.release_listener_if_idle(l);
    if (&c == &l.udp_retry)
        s.arm_udp_receive(l);
    else
        s.loop_.accept_multishot(l.accept, l.tcp.get());
}

// ---- queries -----------------------------------------------------------------------------

std::optional<std::vector<std::byte>> DnsServer::handle_query(Listener& l,
                                                              std::span<const std::byte> m,
                                                              TcpConnection* via_tcp,
                                                              const sockaddr_storage* udp_peer,
                                                              socklen_t udp_peer_length) {
    auto query = dns::parse_query(m);
    if (!query) {
        ++stats_.dropped;
        return dns::reply_to_malformed(m);
    }
    ++stats_.queries;
    size_t bytes_max = via_tcp ? dns::tcp_message_bytes_max : dns::udp_message_bytes_max;
    const dns::Question& q = query->question;
    // As Docker: A and AAAA for names berth knows are answered here (AAAA with no records, as
    // IPv6 is off); every other type, and names it does not know, go to the host's resolvers.
    if (q.klass == dns::class_in && (q.type == dns::type_a || q.type == dns::type_aaaa)) {
        std::vector<kernel::Ipv4Address> addresses = resolver_(l.key, q.name.text);
        if (!addresses.empty()) {
            ++stats_.answered_locally;
            if (q.type == dns::type_aaaa) addresses.clear();
            return dns::build_response(*query, dns::Rcode::noerror, addresses, bytes_max);
        }
    }
    if (start_forward(l, m, via_tcp, udp_peer, udp_peer_length)) return std::nullopt;
    ++stats_.servfail;
    return dns::build_response(*query, dns::Rcode::servfail, {}, bytes_max);
}

// ---- UDP ---------------------------------------------------------------------------------

void DnsServer::arm_udp_receive(Listener& l) {
    l.iov = {l.buffer.data(), l.buffer.size()};
    l.msg = {};
    l.msg.msg_name = &l.peer;
    l.msg.msg_namelen = sizeof l.peer;
    l.msg.msg_iov = &l.iov;
    l.msg.msg_iovlen = 1;
    loop_.recvmsg(l.receive, l.udp.get(), &l.msg);
}

void DnsServer::on_udp_receive(loop::Completion& c) {
    auto& l = *static_cast<Listener*>(c.context);
    DnsServer& s = *l.server;
    if (l.closing) return s.release_listener_if_idle(l);
    if (c.result < 0) {
        log::warn("embedded DNS: receive: " + errno_text(c.result));
        s.loop_.timeout(l.udp_retry, retry_ns);
        return;
    }
    if (l.msg.msg_flags & MSG_TRUNC) {
        ++s.stats_.dropped;  // larger than any question: not a resolver's query
    } else {
        std::span<const std::byte> m(l.buffer.data(), size_t(c.result));
        if (auto reply = s.handle_query(l, m, nullptr, &l.peer, l.msg.msg_namelen))
            s.send_udp(l, l.peer, l.msg.msg_namelen, *reply);
    }
    s.arm_udp_receive(l);
}

void DnsServer::send_udp(Listener& l, const sockaddr_storage& peer, socklen_t peer_length,
                         std::span<const std::byte> bytes) {
    Reply* r = nullptr;
    for (auto& x : l.replies) {
        if (!x->sent.in_flight()) {
            r = x.get();
            break;
        }
    }
    if (!r) {
        if (l.replies.size() >= replies_max) {
            ++stats_.dropped;  // the client retries, as it would after any lost datagram
            return;
        }
        l.replies.push_back(std::make_unique<Reply>());
        r = l.replies.back().get();
        r->listener = &l;
        r->sent.context = r;
        r->sent.callback = &DnsServer::on_reply_sent;
    }
    r->bytes.assign(bytes.begin(), bytes.end());
    std::memcpy(&r->peer, &peer, peer_length);
    r->iov = {r->bytes.data(), r->bytes.size()};
    r->msg = {};
    r->msg.msg_name = &r->peer;
    r->msg.msg_namelen = peer_length;
    r->msg.msg_iov = &r->iov;
    r->msg.msg_iovlen = 1;
    loop_.sendmsg(r->sent, l.udp.get(), &r->msg);
}

void DnsServer::on_reply_sent(loop::Completion& c) {
    auto& r = *static_cast<Reply*>(c.context);
    Listener& l = *r.listener;
    if (c.result < 0 && c.result != -ECANCELED)
        log::debug("embedded DNS: reply: " + errno_text(c.result));
    if (l.closing) l.server->release_listener_if_idle(l);
}

// ---- TCP ---------------------------------------------------------------------------------

void DnsServer::on_accept(loop::Completion& c) {
    auto& l = *static_cast<Listener*>(c.context);
    DnsServer& s = *l.server;
    if (c.result >= 0) {
        kernel::UniqueFd fd(c.result);
        if (l.closing || l.connections.size() >= tcp_connections_max) {
            ++s.stats_.dropped;  // closed at once: the client sees the connection end
        } else {
            auto t = std::make_unique<TcpConnection>();
            t->listener = &l;
            t->fd = std::move(fd);
            t->io.context = t->timer.context = t.get();
            t->io.callback = &DnsServer::on_tcp_receive;
            t->timer.callback = &DnsServer::on_tcp_timer;
            s.loop_.recv(t->io, t->fd.get(), t->in);
            s.loop_.timeout(t->timer, tcp_timeout_ns);
            l.connections.push_back(std::move(t));
        }
    } else if (c.result != -ECANCELED) {
        log::warn("embedded DNS: accept: " + errno_text(c.result));
    }
    if (c.in_flight()) return;
    if (l.closing)
        s.release_listener_if_idle(l);
    else
        s.loop_.timeout(l.tcp_retry, retry_ns);  // multishot accept ended (EMFILE and friends)
}

void DnsServer::on_tcp_receive(loop::Completion& c) {
    auto& t = *static_cast<TcpConnection*>(c.context);
    DnsServer& s = *t.listener->server;
    if (t.closing) return s.tcp_release_if_idle(t);
    if (c.result <= 0) return s.tcp_close(t);
    t.in_length += size_t(c.result);
    if (t.in_length >= 2) {
        size_t length =
            size_t(std::to_integer<uint8_t>(t.in[0])) << 8 | std::to_integer<uint8_t>(t.in[1]);
        if (length < dns::header_bytes || length > query_bytes_max) {
            ++s.stats_.dropped;
            return s.tcp_close(t);
        }
        if (t.in_length >= 2 + length) {
            // One query per connection (bytes after it are ignored): answer, then close.
            auto reply =
                s.handle_query(*t.listener, std::span(t.in).subspan(2, length), &t, nullptr, 0);
            if (reply)
                s.tcp_respond(t, *reply);
            else if (!t.forwarding)
                s.tcp_close(t);
            return;
        }
    }
    s.loop_.recv(t.io, t.fd.get(), std::span(t.in).subspan(t.in_length));
}

void DnsServer::tcp_respond(TcpConnection& t, std::span<const std::byte> bytes) {
    if (t.closing) return;
    size_t n = std::min(bytes.size(), dns::tcp_message_bytes_max);
    t.out.clear();
    t.out.push_back(std::byte(n >> 8));
    t.out.push_back(std::byte(n & 0xff));
    t.out.insert(t.out.end(), bytes.begin(), bytes.begin() + long(n));
    t.out_sent = 0;
    t.io.callback = &DnsServer::on_tcp_sent;
    loop_.send(t.io, t.fd.get(), t.out);
}

void DnsServer::on_tcp_sent(loop::Completion& c) {
    auto& t = *static_cast<TcpConnection*>(c.context);
    DnsServer& s = *t.listener->server;
    if (t.closing) return s.tcp_release_if_idle(t);
    if (c.result <= 0) return s.tcp_close(t);
    t.out_sent += size_t(c.result);
    if (t.out_sent < t.out.size())
        return s.loop_.send(t.io, t.fd.get(), std::span(t.out).subspan(t.out_sent));
    s.tcp_close(t);
}

void DnsServer::on_tcp_timer(loop::Completion& c) {
    auto& t = *static_cast<TcpConnection*>(c.context);
    DnsServer& s = *t.listener->server;
    if (!t.closing) {
        if (c.result == -ETIME) ++s.stats_.dropped;
        return s.tcp_close(t);  // may free t
    }
    s.tcp_release_if_idle(t);
}

void DnsServer::tcp_close(TcpConnection& t) {
    if (t.closing) return;
    t.closing = true;
    if (t.forwarding) detach_forwards(nullptr, &t);
    if (t.io.in_flight()) loop_.cancel(t.io);
    if (t.timer.in_flight()) loop_.cancel(t.timer);
    tcp_release_if_idle(t);
}

void DnsServer::tcp_release_if_idle(TcpConnection& t) {
    if (!t.closing || t.io.in_flight() || t.timer.in_flight()) return;
    Listener& l = *t.listener;
    for (auto it = l.connections.begin(); it != l.connections.end(); ++it) {
        if (it->get() != &t) continue;
        l.connections.erase(it);  // closes the socket
        break;
    }
    if (l.closing) release_listener_if_idle(l);
}

// ---- forwarding --------------------------------------------------------------------------

void DnsServer::arm_upstream_receive() {
    upstream_iov_ = {upstream_buffer_.get(), upstream_response_bytes_max};
    upstream_msg_ = {};
    upstream_msg_.msg_name = &upstream_peer_;
    upstream_msg_.msg_namelen = sizeof upstream_peer_;
    upstream_msg_.msg_iov = &upstream_iov_;
    upstream_msg_.msg_iovlen = 1;
    loop_.recvmsg(upstream_receive_, upstream_fd_.get(), &upstream_msg_);
}

void DnsServer::on_upstream_receive(loop::Completion& c) {
    auto& s = *static_cast<DnsServer*>(c.context);
    if (c.result == -ECANCELED) return;  // shutdown()
    if (c.result < 0) {
        log::warn("embedded DNS: receive from upstream: " + errno_text(c.result));
    } else if (!(s.upstream_msg_.msg_flags & MSG_TRUNC)) {
        std::span<const std::byte> m(s.upstream_buffer_.get(), size_t(c.result));
        auto header = dns::read_header(m);
        auto it = header && header->response() ? s.forwards_by_id_.find(header->id)
                                               : s.forwards_by_id_.end();
        kernel::SocketAddress from;
        std::memcpy(&from.storage, &s.upstream_peer_, s.upstream_msg_.msg_namelen);
        from.length = s.upstream_msg_.msg_namelen;
        // Only the upstream the query went to may answer it.
        if (it != s.forwards_by_id_.end() &&
            kernel::same_endpoint(from, it->second->upstreams[it->second->upstream])) {
            Forward& f = *it->second;
            s.forwards_by_id_.erase(it);
            s.finish_forward(f, m);
        }
    }
    s.arm_upstream_receive();
}

bool DnsServer::start_forward(Listener& l, std::span<const std::byte> query, TcpConnection* via_tcp,
                              const sockaddr_storage* udp_peer, socklen_t udp_peer_length) {
    if (l.upstreams.empty() || !upstream_fd_ || !upstream_receive_.in_flight()) return false;
    Forward* f = nullptr;
    size_t mine = 0;
    for (size_t i = 0; i < forwards_max; ++i) {
        if (!forwards_[i].used && !f) f = &forwards_[i];
        if (forwards_[i].used && forwards_[i].listener == &l) ++mine;
    }
    // Over forwards_max, or over this container's share of it: SERVFAIL rather than unbounded
    // memory, and a container flooding its resolver cannot starve the others.
    if (!f || mine >= forwards_per_listener_max) return false;
    f->used = true;
    f->done = false;
    f->upstream = 0;
    f->client_id = dns::message_id(query).value_or(0);
    f->query.assign(query.begin(), query.end());
    f->listener = &l;
    f->upstreams = l.upstreams;
    f->connection = via_tcp;
    if (via_tcp) {
        via_tcp->forwarding = true;
    } else {
        std::memcpy(&f->peer, udp_peer, udp_peer_length);
        f->peer_length = udp_peer_length;
    }
    send_forward(*f);
    return true;
}

uint16_t DnsServer::fresh_forward_id() {
    // At most forwards_max of 65536 ids are taken, so this ends at once.
    for (;;) {
        auto id = uint16_t(ids_());
        if (!forwards_by_id_.contains(id)) return id;
    }
}

void DnsServer::send_forward(Forward& f) {
    f.upstream_id = fresh_forward_id();
    forwards_by_id_[f.upstream_id] = &f;
    dns::set_message_id(f.query, f.upstream_id);
    const kernel::SocketAddress& to = f.upstreams[f.upstream];
    std::memcpy(&f.upstream_address, &to.storage, to.length);
    f.iov = {f.query.data(), f.query.size()};
    f.msg = {};
    f.msg.msg_name = &f.upstream_address;
    f.msg.msg_namelen = to.length;
    f.msg.msg_iov = &f.iov;
    f.msg.msg_iovlen = 1;
    loop_.sendmsg(f.sent, upstream_fd_.get(), &f.msg);
    loop_.timeout(f.timer, forward_timeout_ns);
    ++stats_.forwarded;
}

void DnsServer::on_forward_sent(loop::Completion& c) {
    auto& f = *static_cast<Forward*>(c.context);
    DnsServer& s = *f.server;
    if (c.result < 0 && !f.done) {
        log::debug("embedded DNS: forward to " + f.upstreams[f.upstream].text() + ": " +
                   errno_text(c.result));
        // Unreachable now: the timer's callback moves on to the next upstream without waiting.
        if (f.timer.in_flight()) s.loop_.cancel(f.timer);
    }
    s.release_forward_if_idle(f);
}

void DnsServer::on_forward_timer(loop::Completion& c) {
    auto& f = *static_cast<Forward*>(c.context);
    DnsServer& s = *f.server;
    if (!f.done) {
        s.forwards_by_id_.erase(f.upstream_id);
        if (!f.listener) {
            f.done = true;  // nobody is waiting for the answer any more
        } else if (f.upstream + 1 < f.upstreams.size() && !f.sent.in_flight()) {
            ++f.upstream;
            s.send_forward(f);
            return;
        } else {
            s.forward_servfail(f);
        }
    }
    s.release_forward_if_idle(f);
}

void DnsServer::finish_forward(Forward& f, std::span<const std::byte> response) {
    f.done = true;
    if (f.timer.in_flight()) loop_.cancel(f.timer);
    if (!f.listener || f.listener->closing) return;
    std::vector<std::byte> bytes(response.begin(), response.end());
    dns::set_message_id(bytes, f.client_id);
    if (f.connection)
        tcp_respond(*f.connection, bytes);
    else
        send_udp(*f.listener, f.peer, f.peer_length, bytes);
    f.listener = nullptr;
    f.connection = nullptr;
}

void DnsServer::forward_servfail(Forward& f) {
    f.done = true;
    ++stats_.servfail;
    dns::set_message_id(f.query, f.client_id);
    auto query = dns::parse_query(f.query);
    if (!query || !f.listener || f.listener->closing) return;
    if (f.connection) {
        tcp_respond(*f.connection, dns::build_response(*query, dns::Rcode::servfail, {},
                                                       dns::tcp_message_bytes_max));
    } else {
        send_udp(*f.listener, f.peer, f.peer_length,
                 dns::build_response(*query, dns::Rcode::servfail));
    }
    f.listener = nullptr;
    f.connection = nullptr;
}

void DnsServer::release_forward_if_idle(Forward& f) {
    if (f.done && !f.sent.in_flight() && !f.timer.in_flight()) f.used = false;
}

void DnsServer::detach_forwards(const Listener* l, const TcpConnection* t) {
    for (size_t i = 0; i < forwards_max; ++i) {
        Forward& f = forwards_[i];
        if (!f.used || f.done) continue;
        if ((l && f.listener == l) || (t && f.connection == t)) {
            f.listener = nullptr;
            f.connection = nullptr;
            if (f.timer.in_flight()) loop_.cancel(f.timer);
        }
    }
}

// ---- configuration -----------------------------------------------------------------------

std::vector<kernel::SocketAddress> DnsServer::upstreams_from_resolv_conf(std::string_view text) {
    std::vector<kernel::SocketAddress> out;
    while (!text.empty() && out.size() < upstreams_max) {
        size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? "" : text.substr(eol + 1);
        auto next_field = [&line]() {
            size_t start = line.find_first_not_of(" \t\r");
            if (start == std::string_view::npos) return std::string_view();
            line.remove_prefix(start);
            size_t end = line.find_first_of(" \t\r");
            std::string_view field = line.substr(0, end);
            line.remove_prefix(field.size());
            return field;
        };
        if (next_field() != "nameserver") continue;  // comments (# ;) and other options too
        // IPv6 servers are skipped, as Docker does for the embedded DNS's IPv4 forwarding.
        if (auto ip = kernel::Ipv4Address::parse(next_field()))
            out.push_back(kernel::ipv4_socket_address(*ip, port));
    }
    return out;
}

}  // namespace berth::drivers::net
