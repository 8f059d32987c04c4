// DNS messages on the wire (RFC 1035) for the embedded DNS server: one query parsed, and the few
// responses berth gives itself (A records, empty NOERROR, NXDOMAIN, SERVFAIL, REFUSED, FORMERR,
// NOTIMP). Pure: no I/O. Any container may send anything, so every length and compression
// pointer is bounds-checked and a pointer may only go backwards (no loops).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "kernel/ipv4.hpp"

namespace berth::drivers::net::dns {

enum class Rcode : uint8_t {
    noerror = 0,
    formerr = 1,
    servfail = 2,
    nxdomain = 3,
    notimp = 4,
    refused = 5,
};

inline constexpr uint16_t type_a = 1;
inline constexpr uint16_t type_aaaa = 28;
inline constexpr uint16_t type_opt = 41;
inline constexpr uint16_t class_in = 1;

inline constexpr size_t header_bytes = 12;
inline constexpr size_t label_bytes_max = 63;
inline constexpr size_t name_bytes_max = 255;         // on the wire: length octets and the final 0
inline constexpr size_t udp_message_bytes_max = 512;  // without EDNS (RFC 1035 4.2.1)
inline constexpr size_t tcp_message_bytes_max = 65535;
inline constexpr uint32_t answer_ttl_s = 600;  // what Docker's embedded DNS answers with

struct Header {
    uint16_t id = 0;
    uint16_t flags = 0;
    uint16_t question_count = 0;
    uint16_t answer_count = 0;
    uint16_t authority_count = 0;
    uint16_t additional_count = 0;

    bool response() const { return (flags & 0x8000) != 0; }
    uint8_t opcode() const { return uint8_t((flags >> 11) & 0xf); }
    bool truncated() const { return (flags & 0x0200) != 0; }
    bool recursion_desired() const { return (flags & 0x0100) != 0; }
    Rcode rcode() const { return Rcode(flags & 0xf); }
};

struct Name {
    // Presentation form, lowercase, no trailing dot ("web", "db.example"; the root is ""). Bytes
    // that would make it ambiguous ('.', '\\', non-printables) are escaped as in zone files, so an
    // odd label never equals a plain name.
    std::string text;
    // The labels as sent (case kept, pointers followed), ending with the root's 0: what a
    // response echoes, since some resolvers check the case they randomised (DNS 0x20).
    std::string wire;
    size_t end = 0;  // offset just past the name where it started (past the first pointer)
};

struct Question {
    Name name;
    uint16_t type = 0;
    uint16_t klass = 0;
};

struct Query {
    Header header;
    Question question;
};

std::optional<Header> read_header(std::span<const std::byte> message);

// The name at `offset` of `message`, following compression pointers. Errors: a truncated name,
// a label over 63 bytes (the 0x40/0x80 label types), a name over 255 bytes, or a pointer that
// does not point strictly before the labels it interrupts (which also rules out loops).
Result<Name> read_name(std::span<const std::byte> message, size_t offset);

// A standard query with exactly one question. Answer and authority records must be absent;
// additional records (EDNS OPT) may be present and are ignored.
Result<Query> parse_query(std::span<const std::byte> message);

// What to send back for a message parse_query() rejected: nothing for a message without a whole
// header or for a response (never answer an answer), NOTIMP for opcodes other than QUERY, FORMERR
// otherwise. Header only, with the message's id and RD.
std::optional<std::vector<std::byte>> reply_to_malformed(std::span<const std::byte> message);

// The response to `query`: its id, opcode, RD and question as asked; QR and RA set; `rcode`; and
// one A record per address (TTL 600) when `addresses` is not empty. Records that would take the
// message past `bytes_max` are left out and TC is set, so the client retries over TCP.
std::vector<std::byte> build_response(const Query& query, Rcode rcode,
                                      std::span<const kernel::Ipv4Address> addresses = {},
                                      size_t bytes_max = udp_message_bytes_max);

// For forwarded messages: the id is the first two bytes.
std::optional<uint16_t> message_id(std::span<const std::byte> message);
bool set_message_id(std::span<std::byte> message, uint16_t id);  // false when too short

}  // namespace berth::drivers::net::dns
