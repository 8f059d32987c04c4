// DNS wire format: reading a query's header and question, writing berth's own responses.
#include "drivers/network/dns_message.hpp"

namespace berth::drivers::net::dns {

namespace {

constexpr uint16_t flag_response = 0x8000;
constexpr uint16_t flag_truncated = 0x0200;
constexpr uint16_t flag_recursion_desired = 0x0100;
constexpr uint16_t flag_recursion_available = 0x0080;
constexpr uint16_t opcode_query = 0;
constexpr uint8_t pointer_bits = 0xc0;
// A records' name: a pointer to the question's name, which always starts right after the header.
constexpr uint16_t pointer_to_question = 0xc000 | header_bytes;
constexpr size_t a_record_bytes = 2 + 2 + 2 + 4 + 2 + 4;

uint8_t byte_at(std::span<const std::byte> m, size_t i) {
    return std::to_integer<uint8_t>(m[i]);
}

uint16_t u16_at(std::span<const std::byte> m, size_t i) {
    return uint16_t(byte_at(m, i) << 8 | byte_at(m, i + 1));
}

void put_u16(std::vector<std::byte>& out, uint16_t v) {
    out.push_back(std::byte(v >> 8));
    out.push_back(std::byte(v & 0xff));
}

void put_u32(std::vector<std::byte>& out, uint32_t v) {
    put_u16(out, uint16_t(v >> 16));
    put_u16(out, uint16_t(v & 0xffff));
}

void set_u16(std::vector<std::byte>& out, size_t at, uint16_t v) {
    out[at] = std::byte(v >> 8);
    out[at + 1] = std::byte(v & 0xff);
}

// Zone-file presentation of one label byte, lowercased for comparison.
void append_presentation(std::string& text, uint8_t c) {
    if (c >= 'A' && c <= 'Z') {
        text += char(c - 'A' + 'a');
    } else if (c == '.' || c == '\\') {
        text += '\\';
        text += char(c);
    } else if (c <= 0x20 || c >= 0x7f) {
        text += '\\';
        text += char('0' + c / 100);
        text += char('0' + c / 10 % 10);
        text += char('0' + c % 10);
    } else {
        text += char(c);
    }
}

std::vector<std::byte> header_only(const Header& asked, Rcode rcode) {
    std::vector<std::byte> out;
    out.reserve(header_bytes);
    put_u16(out, asked.id);
    uint16_t flags = flag_response | flag_recursion_available | uint16_t(asked.opcode() << 11) |
                     (asked.flags & flag_recursion_desired) | uint16_t(rcode);
    put_u16(out, flags);
    for (int i = 0; i < 4; ++i) put_u16(out, 0);
    return out;
}

}  // namespace

std::optional<Header> read_header(std::span<const std::byte> m) {
    if (m.size() < header_bytes) return std::nullopt;
    return Header{u16_at(m, 0), u16_at(m, 2), u16_at(m, 4),
                  u16_at(m, 6), u16_at(m, 8), u16_at(m, 10)};
}

Result<Name> read_name(std::span<const std::byte> m, size_t offset) {
    Name name;
    size_t at = offset;
    // Every pointer must land strictly before the labels it interrupts: offsets only decrease,
    // so a message of n bytes allows fewer than n jumps and no loop.
    size_t lowest = offset;
    bool jumped = false;
    for (;;) {
        if (at >= m.size()) return fail(Error::invalid("dns: name runs past the message"));
        uint8_t len = byte_at(m, at);
        if ((len & pointer_bits) == pointer_bits) {
            if (at + 1 >= m.size()) return fail(Error::invalid("dns: truncated name pointer"));
            size_t target = size_t(len & ~pointer_bits) << 8 | byte_at(m, at + 1);
            if (target >= lowest) return fail(Error::invalid("dns: name pointer does not go back"));
            if (!jumped) name.end = at + 2;
            jumped = true;
            lowest = at = target;
            continue;
        }
        if (len > label_bytes_max) return fail(Error::invalid("dns: label longer than 63 bytes"));
        if (name.wire.size() + 1 + len > name_bytes_max)
            return fail(Error::invalid("dns: name longer than 255 bytes"));
        if (at + 1 + len > m.size())
            return fail(Error::invalid("dns: label runs past the message"));
        name.wire += char(len);
        if (len == 0) break;
        if (!name.text.empty()) name.text += '.';
        for (size_t i = 0; i < len; ++i) {
            uint8_t c = byte_at(m, at + 1 + i);
            name.wire += char(c);
            append_presentation(name.text, c);
        }
        at += 1 + len;
    }
    if (!jumped) name.end = at + 1;
    return name;
}

Result<Query> parse_query(std::span<const std::byte> m) {
    auto header = read_header(m);
    if (!header) return fail(Error::invalid("dns: message shorter than its header"));
    if (header->response()) return fail(Error::invalid("dns: a response, not a query"));
    if (header->opcode() != opcode_query)
        return fail(Error::make(ErrorKind::not_implemented, "dns: opcode is not QUERY"));
    if (header->question_count != 1)
        return fail(Error::invalid("dns: a query must ask exactly one question"));
    if (header->answer_count != 0 || header->authority_count != 0)
        return fail(Error::invalid("dns: a query carries answer or authority records"));
    auto name = read_name(m, header_bytes);
    if (!name) return fail(std::move(name.error()));
    size_t at = name->end;
    if (at + 4 > m.size()) return fail(Error::invalid("dns: question runs past the message"));
    Query q;
    q.header = *header;
    q.question.type = u16_at(m, at);
    q.question.klass = u16_at(m, at + 2);
    q.question.name = std::move(*name);
    return q;
}

std::optional<std::vector<std::byte>> reply_to_malformed(std::span<const std::byte> m) {
    auto header = read_header(m);
    if (!header || header->response()) return std::nullopt;
    if (header->opcode() != opcode_query) return header_only(*header, Rcode::notimp);
    return header_only(*header, Rcode::formerr);
}

std::vector<std::byte> build_response(const Query& query, Rcode rcode,
                                      std::span<const kernel::Ipv4Address> addresses,
                                      size_t bytes_max) {
    std::vector<std::byte> out = header_only(query.header, rcode);
    const std::string& wire = query.question.name.wire;
    out.reserve(header_bytes + wire.size() + 4 + addresses.size() * a_record_bytes);
    for (char c : wire) out.push_back(std::byte(uint8_t(c)));
    put_u16(out, query.question.type);
    put_u16(out, query.question.klass);
    set_u16(out, 4, 1);  // QDCOUNT
    uint16_t answers = 0;
    for (const kernel::Ipv4Address& a : addresses) {
        if (out.size() + a_record_bytes > bytes_max) {
            set_u16(out, 2, uint16_t(u16_at(out, 2) | flag_truncated));
            break;
        }
        put_u16(out, pointer_to_question);
        put_u16(out, type_a);
        put_u16(out, class_in);
        put_u32(out, answer_ttl_s);
        put_u16(out, 4);
        put_u32(out, a.value);
        ++answers;
    }
    set_u16(out, 6, answers);  // ANCOUNT
    return out;
}

std::optional<uint16_t> message_id(std::span<const std::byte> m) {
    if (m.size() < 2) return std::nullopt;
    return u16_at(m, 0);
}

bool set_message_id(std::span<std::byte> m, uint16_t id) {
    if (m.size() < 2) return false;
    m[0] = std::byte(id >> 8);
    m[1] = std::byte(id & 0xff);
    return true;
}

}  // namespace berth::drivers::net::dns
