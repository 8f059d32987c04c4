// The embedded DNS server's wire format and upstream list: queries as resolvers send them (dig with
// EDNS, musl, glibc), berth's own responses decoded byte by byte, and hostile input (truncation,
// pointer loops, oversized labels and names) that must be refused without reading out of bounds.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "drivers/network/dns_message.hpp"
#include "drivers/network/dns_server.hpp"

using namespace berth;
using namespace berth::drivers::net;

namespace {

using Bytes = std::vector<std::byte>;

void u16(Bytes& b, uint16_t v) {
    b.push_back(std::byte(v >> 8));
    b.push_back(std::byte(v & 0xff));
}

void raw(Bytes& b, std::initializer_list<int> bytes) {
    for (int x : bytes) b.push_back(std::byte(x));
}

// "WeB.example." → 3 W e B 7 e x a m p l e 0 (a trailing dot changes nothing on the wire).
void name(Bytes& b, std::string_view dotted) {
    while (!dotted.empty()) {
        size_t dot = dotted.find('.');
        std::string_view label = dotted.substr(0, dot);
        b.push_back(std::byte(label.size()));
        for (char c : label) b.push_back(std::byte(c));
        dotted = dot == std::string_view::npos ? "" : dotted.substr(dot + 1);
    }
    b.push_back(std::byte(0));
}

Bytes header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an = 0, uint16_t ns = 0,
             uint16_t ar = 0) {
    Bytes b;
    for (uint16_t v : {id, flags, qd, an, ns, ar}) u16(b, v);
    return b;
}

// A query as glibc sends it: RD set, one question, no EDNS.
Bytes query(uint16_t id, std::string_view qname, uint16_t type = dns::type_a) {
    Bytes b = header(id, 0x0100, 1);
    name(b, qname);
    u16(b, type);
    u16(b, dns::class_in);
    return b;
}

uint16_t at16(const Bytes& b, size_t i) {
    return uint16_t(std::to_integer<uint8_t>(b[i]) << 8 | std::to_integer<uint8_t>(b[i + 1]));
}

uint32_t at32(const Bytes& b, size_t i) {
    return uint32_t(at16(b, i)) << 16 | at16(b, i + 2);
}

kernel::Ipv4Address ip(const char* text) {
    return *kernel::Ipv4Address::parse(text);
}

}  // namespace

TEST(DnsMessage, parses_a_query_with_its_id_rd_name_type_and_class) {
    auto q = dns::parse_query(query(0xbeef, "web"));
    ASSERT_TRUE(q) << q.error().message;
    EXPECT_EQ(q->header.id, 0xbeef);
    EXPECT_TRUE(q->header.recursion_desired());
    EXPECT_EQ(q->question.name.text, "web");
    EXPECT_EQ(q->question.type, dns::type_a);
    EXPECT_EQ(q->question.klass, dns::class_in);
}

TEST(DnsMessage, names_compare_lowercase_without_the_trailing_dot) {
    auto a = dns::parse_query(query(1, "WEB."));
    auto b = dns::parse_query(query(2, "Db.Example.COM"));
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->question.name.text, "web");
    EXPECT_EQ(b->question.name.text, "db.example.com");
    // The question as asked keeps its case for the echo.
    EXPECT_EQ(a->question.name.wire, std::string("\3WEB\0", 5));
}

TEST(DnsMessage, the_root_name_is_empty) {
    auto q = dns::parse_query(query(1, ""));
    ASSERT_TRUE(q);
    EXPECT_EQ(q->question.name.text, "");
}

TEST(DnsMessage, odd_bytes_in_labels_are_escaped_so_they_never_match_a_plain_name) {
    Bytes b = header(1, 0x0100, 1);
    raw(b, {5, 'w', 'e', '.', 'b', 0x07, 0});
    u16(b, dns::type_a);
    u16(b, dns::class_in);
    auto q = dns::parse_query(b);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->question.name.text, "we\\.b\\007");
}

TEST(DnsMessage, an_edns_opt_record_in_additional_is_accepted_and_ignored) {
    // dig's query: the question, then OPT (root name, type 41, UDP size 1232, no options).
    Bytes b = header(7, 0x0120, 1, 0, 0, 1);
    name(b, "web");
    u16(b, dns::type_a);
    u16(b, dns::class_in);
    raw(b, {0});
    u16(b, dns::type_opt);
    u16(b, 1232);
    raw(b, {0, 0, 0, 0, 0, 0});
    auto q = dns::parse_query(b);
    ASSERT_TRUE(q) << q.error().message;
    EXPECT_EQ(q->question.name.text, "web");
}

TEST(DnsMessage, compression_pointers_are_followed_backwards) {
    Bytes b = header(1, 0, 0);
    name(b, "example.com");                // offset 12
    raw(b, {3, 'w', 'w', 'w', 0xc0, 12});  // offset 25: www + pointer to example.com
    auto n = dns::read_name(b, 25);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(n->text, "www.example.com");
    EXPECT_EQ(n->end, b.size());  // just past the pointer, not past the name it points to
    EXPECT_EQ(n->wire, std::string("\3www\7example\3com\0", 17));
}

TEST(DnsMessage, pointer_loops_and_forward_pointers_are_refused) {
    Bytes self = header(1, 0x0100, 1);
    raw(self, {0xc0, 12, 0, 1, 0, 1});  // the name points at itself
    EXPECT_FALSE(dns::parse_query(self));

    Bytes cycle = header(1, 0x0100, 1);
    raw(cycle, {1, 'a', 0xc0, 12, 0, 1, 0, 1});  // a → back to a → …
    EXPECT_FALSE(dns::parse_query(cycle));

    Bytes two = header(1, 0, 0);
    raw(two, {0xc0, 14, 0xc0, 12});  // 12 → 14 → 12
    EXPECT_FALSE(dns::read_name(two, 12));
    EXPECT_FALSE(dns::read_name(two, 14));

    Bytes outside = header(1, 0x0100, 1);
    raw(outside, {0xff, 0xff, 0, 1, 0, 1});
    EXPECT_FALSE(dns::parse_query(outside));
}

TEST(DnsMessage, labels_over_63_bytes_and_names_over_255_are_refused) {
    Bytes label = header(1, 0x0100, 1);
    label.push_back(std::byte(64));
    label.insert(label.end(), 64, std::byte('a'));
    raw(label, {0, 0, 1, 0, 1});
    EXPECT_FALSE(dns::parse_query(label));

    std::string l63(63, 'a');
    auto at_limit =
        dns::parse_query(query(1, l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b')));
    ASSERT_TRUE(at_limit) << at_limit.error().message;  // 4*64 - 2 + 1 = 255 bytes on the wire
    EXPECT_EQ(at_limit->question.name.wire.size(), 255u);
    EXPECT_FALSE(
        dns::parse_query(query(1, l63 + "." + l63 + "." + l63 + "." + std::string(62, 'b'))));

    // Many short labels add up too.
    Bytes chain = header(1, 0, 0);
    for (int i = 0; i < 130; ++i) raw(chain, {1, 'x'});
    raw(chain, {0});
    EXPECT_FALSE(dns::read_name(chain, 12));
}

TEST(DnsMessage, every_truncation_of_a_query_is_refused_without_reading_past_it) {
    Bytes whole = query(0x1234, "service.project.example");
    for (size_t n = 0; n < whole.size(); ++n) {
        Bytes cut(whole.begin(), whole.begin() + long(n));
        cut.shrink_to_fit();
        EXPECT_FALSE(dns::parse_query(cut)) << "accepted " << n << " bytes";
    }
    EXPECT_TRUE(dns::parse_query(whole));
}

TEST(DnsMessage, malformed_queries_get_formerr_with_their_id_and_responses_get_nothing) {
    Bytes two_questions = header(0x4242, 0x0100, 2);
    auto formerr = dns::reply_to_malformed(two_questions);
    ASSERT_TRUE(formerr);
    ASSERT_EQ(formerr->size(), dns::header_bytes);
    EXPECT_EQ(at16(*formerr, 0), 0x4242);
    EXPECT_EQ(at16(*formerr, 2), 0x8181);  // QR, RD kept, RA, FORMERR
    EXPECT_FALSE(dns::parse_query(two_questions));
    EXPECT_FALSE(dns::parse_query(header(1, 0x0100, 0)));

    Bytes status = header(9, 0x1000, 1);  // opcode 2 (STATUS)
    auto notimp = dns::reply_to_malformed(status);
    ASSERT_TRUE(notimp);
    EXPECT_EQ(at16(*notimp, 2) & 0xf, uint16_t(dns::Rcode::notimp));
    EXPECT_EQ(dns::parse_query(status).error().kind, ErrorKind::not_implemented);

    Bytes answer = query(3, "web");
    answer[2] = std::byte(0x81);  // QR: somebody's answer, never answered back
    EXPECT_FALSE(dns::parse_query(answer));
    EXPECT_FALSE(dns::reply_to_malformed(answer));
    EXPECT_FALSE(dns::reply_to_malformed(Bytes(5, std::byte(0))));
}

TEST(DnsMessage, an_a_answer_echoes_the_question_and_carries_records_with_ttl_600) {
    auto q = dns::parse_query(query(0xabcd, "WeB"));
    ASSERT_TRUE(q);
    kernel::Ipv4Address addresses[] = {ip("10.1.2.3"), ip("172.18.0.4")};
    Bytes r = dns::build_response(*q, dns::Rcode::noerror, addresses);
    auto h = dns::read_header(r);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->id, 0xabcd);
    EXPECT_EQ(h->flags, 0x8180);  // QR, RD, RA, NOERROR
    EXPECT_EQ(h->question_count, 1);
    EXPECT_EQ(h->answer_count, 2);
    EXPECT_EQ(h->authority_count, 0);
    EXPECT_EQ(h->additional_count, 0);
    auto n = dns::read_name(r, dns::header_bytes);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->wire, std::string("\3WeB\0", 5));
    size_t at = n->end + 4;
    for (const char* want : {"10.1.2.3", "172.18.0.4"}) {
        auto owner = dns::read_name(r, at);
        ASSERT_TRUE(owner);
        EXPECT_EQ(owner->text, "web");
        at = owner->end;
        EXPECT_EQ(at16(r, at), dns::type_a);
        EXPECT_EQ(at16(r, at + 2), dns::class_in);
        EXPECT_EQ(at32(r, at + 4), 600u);
        EXPECT_EQ(at16(r, at + 8), 4);
        EXPECT_EQ(kernel::Ipv4Address{at32(r, at + 10)}.text(), want);
        at += 14;
    }
    EXPECT_EQ(at, r.size());
}

TEST(DnsMessage, empty_answers_keep_the_rcode_and_the_rd_bit_as_asked) {
    Bytes aaaa_query = query(5, "web", dns::type_aaaa);
    aaaa_query[2] = std::byte(0);  // RD clear
    auto q = dns::parse_query(aaaa_query);
    ASSERT_TRUE(q);
    for (auto rcode :
         {dns::Rcode::noerror, dns::Rcode::nxdomain, dns::Rcode::servfail, dns::Rcode::refused}) {
        Bytes r = dns::build_response(*q, rcode);
        auto h = dns::read_header(r);
        ASSERT_TRUE(h);
        EXPECT_EQ(h->id, 5);
        EXPECT_TRUE(h->response());
        EXPECT_FALSE(h->recursion_desired());
        EXPECT_EQ(h->flags & 0x0080, 0x0080);  // RA
        EXPECT_EQ(h->rcode(), rcode);
        EXPECT_EQ(h->answer_count, 0);
        EXPECT_EQ(h->question_count, 1);
        EXPECT_EQ(r.size(), aaaa_query.size());  // header + the question, nothing else
    }
}

TEST(DnsMessage, answers_beyond_512_bytes_are_cut_and_tc_is_set) {
    auto q = dns::parse_query(query(1, "many"));
    ASSERT_TRUE(q);
    std::vector<kernel::Ipv4Address> addresses(100, ip("10.0.0.1"));
    Bytes udp = dns::build_response(*q, dns::Rcode::noerror, addresses);
    auto h = dns::read_header(udp);
    ASSERT_TRUE(h);
    EXPECT_LE(udp.size(), dns::udp_message_bytes_max);
    EXPECT_TRUE(h->truncated());
    EXPECT_EQ(h->answer_count, (512 - 12 - 10) / 16);
    Bytes tcp = dns::build_response(*q, dns::Rcode::noerror, addresses, dns::tcp_message_bytes_max);
    EXPECT_FALSE(dns::read_header(tcp)->truncated());
    EXPECT_EQ(dns::read_header(tcp)->answer_count, 100);
}

TEST(DnsMessage, forwarded_ids_are_read_and_rewritten_in_place) {
    Bytes m = query(0x0102, "example.org");
    EXPECT_EQ(dns::message_id(m), 0x0102);
    ASSERT_TRUE(dns::set_message_id(m, 0xfffe));
    EXPECT_EQ(dns::message_id(m), 0xfffe);
    EXPECT_EQ(dns::parse_query(m)->question.name.text, "example.org");
    Bytes one(1, std::byte(0));
    EXPECT_FALSE(dns::message_id(one));
    EXPECT_FALSE(dns::set_message_id(one, 1));
}

TEST(DnsUpstreams, nameservers_from_resolv_conf_are_ipv4_port_53_at_most_three_loopback_kept) {
    auto list = DnsServer::upstreams_from_resolv_conf(
        "# generated by NetworkManager\n"
        "search example.com\n"
        "nameserver 127.0.0.53\n"
        "nameserver\t10.0.0.2 # office\r\n"
        "; nameserver 10.9.9.9\n"
        "nameserver 2001:db8::1\n"
        "nameserver not-an-address\n"
        "options ndots:2\n"
        "nameserver 8.8.8.8\n"
        "nameserver 1.1.1.1\n");
    std::vector<std::string> texts;
    for (auto& a : list) texts.push_back(a.text());
    EXPECT_EQ(texts, (std::vector<std::string>{"127.0.0.53:53", "10.0.0.2:53", "8.8.8.8:53"}));
    EXPECT_TRUE(DnsServer::upstreams_from_resolv_conf("").empty());
    EXPECT_TRUE(DnsServer::upstreams_from_resolv_conf("nameserver").empty());
}
