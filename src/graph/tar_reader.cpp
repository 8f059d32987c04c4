// The tar state machine: header block → (pax/GNU record → padding →)* entry → data → padding,
// until two zero blocks. Every phase resumes where the previous feed stopped, so entries may be
// split across any feed boundary. Error texts follow Go's archive/tar, which Docker shows.
#include "graph/tar_reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

namespace berth::graph {

namespace {

constexpr size_t block_bytes = 512;

enum class Phase { header, record, data, padding, ended };

// Byte offsets of the ustar header fields.
struct Field {
    size_t off, len;
};
constexpr Field f_name{0, 100}, f_mode{100, 8}, f_uid{108, 8}, f_gid{116, 8}, f_size{124, 12},
    f_mtime{136, 12}, f_chksum{148, 8}, f_type{156, 1}, f_linkname{157, 100}, f_magic{257, 6},
    f_version{263, 2}, f_devmajor{329, 8}, f_devminor{337, 8}, f_prefix{345, 155};

Error header_error(std::string_view what, uint64_t offset) {
    return Error::invalid("archive/tar: invalid tar header: " + std::string(what) + " (at byte " +
                          std::to_string(offset) + ")");
}

size_t padding_for(uint64_t size) {
    return size_t((block_bytes - size % block_bytes) % block_bytes);
}

// Metadata a pax 'x' or GNU 'L'/'K' record sets for the entry that follows it.
struct Pending {
    std::optional<std::string> path, link;
    std::optional<uint64_t> size;
    std::optional<uint32_t> uid, gid;
    std::optional<std::pair<int64_t, uint32_t>> mtime;
    std::vector<std::pair<std::string, std::string>> xattrs;
};

std::optional<uint64_t> parse_decimal(std::string_view s) {
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

// pax time: "[-]seconds[.fraction]".
std::optional<std::pair<int64_t, uint32_t>> parse_pax_time(std::string_view s) {
    bool neg = s.starts_with('-');
    if (neg) s.remove_prefix(1);
    auto dot = s.find('.');
    auto secs = parse_decimal(s.substr(0, dot));
    if (!secs || *secs > uint64_t(INT64_MAX)) return std::nullopt;
    uint32_t ns = 0;
    if (dot != std::string_view::npos) {
        std::string_view frac = s.substr(dot + 1);
        for (size_t i = 0; i < 9; ++i) {
            char c = i < frac.size() ? frac[i] : '0';
            if (c < '0' || c > '9') return std::nullopt;
            ns = ns * 10 + uint32_t(c - '0');
        }
    }
    int64_t sec = int64_t(*secs);
    if (neg && ns) return std::pair{-sec - 1, 1000000000u - ns};
    return std::pair{neg ? -sec : sec, ns};
}

}  // namespace

struct TarReader::State {
    explicit State(TarConsumer& c) : consumer(c) {}

    TarConsumer& consumer;
    Phase phase = Phase::header;
    std::array<unsigned char, block_bytes> block{};
    size_t block_len = 0;
    int zero_blocks = 0;
    uint64_t offset = 0;     // bytes consumed so far
    uint64_t header_at = 0;  // offset of the last header block, for error messages
    char record_type = 0;
    std::string record;
    uint64_t record_left = 0;
    uint64_t data_left = 0;
    size_t pad_left = 0;
    Pending pending;
    TarEntry entry;

    std::string_view text(Field f) const {
        auto p = reinterpret_cast<const char*>(block.data()) + f.off;
        return {p, strnlen(p, f.len)};
    }

    Result<int64_t> number(Field f) const;
    Result<> check_sum() const;
    Result<> on_block();
    Result<> start_record(char type);
    Result<> finish_record();
    Result<> apply_pax(std::string_view key, std::string_view value);
    Result<> start_entry(char type);
    Result<> build_entry(char type);
    Result<> end_data();
    Result<> step(std::span<const std::byte>& in);
};

// Octal (NUL/space terminated, as ustar writes) or base-256 (high bit set, as GNU writes).
Result<int64_t> TarReader::State::number(Field f) const {
    const unsigned char* p = block.data() + f.off;
    if (p[0] & 0x80) {
        bool negative = p[0] == 0xff;
        uint64_t v = p[0] & 0x7f;
        for (size_t i = 1; i < f.len; ++i) {
            if (v >> 55) return fail(header_error("numeric field overflows", header_at));
            v = (v << 8) | p[i];
        }
        if (negative) return int64_t(v | (uint64_t(0xff) << 56));
        if (v >> 63) return fail(header_error("numeric field overflows", header_at));
        return int64_t(v);
    }
    size_t i = 0;
    while (i < f.len && (p[i] == ' ' || p[i] == 0)) ++i;
    uint64_t v = 0;
    for (; i < f.len && p[i] != ' ' && p[i] != 0; ++i) {
        if (p[i] < '0' || p[i] > '7') return fail(header_error("invalid octal number", header_at));
        v = (v << 3) | uint64_t(p[i] - '0');
    }
    for (; i < f.len; ++i)
        if (p[i] != ' ' && p[i] != 0) return fail(header_error("invalid octal number", header_at));
    return int64_t(v);
}

// The checksum counts the field itself as spaces; old tars summed signed chars, accept both.
Result<> TarReader::State::check_sum() const {
    auto want = number(f_chksum);
    if (!want) return fail(header_error("invalid checksum field", header_at));
    int64_t unsigned_sum = 0, signed_sum = 0;
    for (size_t i = 0; i < block_bytes; ++i) {
        bool in_field = i >= f_chksum.off && i < f_chksum.off + f_chksum.len;
        unsigned char c = in_field ? ' ' : block[i];
        unsigned_sum += c;
        signed_sum += static_cast<signed char>(c);
    }
    if (*want != unsigned_sum && *want != signed_sum)
        return fail(header_error("checksum mismatch", header_at));
    return {};
}

Result<> TarReader::State::on_block() {
    header_at = offset - block_bytes;
    if (std::all_of(block.begin(), block.end(), [](unsigned char c) { return c == 0; })) {
        if (++zero_blocks < 2) return {};
        phase = Phase::ended;
        return consumer.end_archive();
    }
    if (zero_blocks) return fail(header_error("data after a zero block", header_at));
    if (auto r = check_sum(); !r) return r;
    char type = char(block[f_type.off]);
    switch (type) {
        case 'x':
        case 'g':
        case 'L':
        case 'K':
            return start_record(type);
        default:
            return start_entry(type);
    }
}

Result<> TarReader::State::start_record(char type) {
    auto size = number(f_size);
    if (!size) return fail(std::move(size.error()));
    if (*size < 0 || uint64_t(*size) > tar_record_bytes_max)
        return fail(Error::invalid("archive/tar: " + std::string(1, type) +
                                   " header record larger than " +
                                   std::to_string(tar_record_bytes_max) + " bytes"));
    record_type = type;
    record.clear();
    record_left = uint64_t(*size);
    pad_left = padding_for(record_left);
    phase = Phase::record;
    return record_left ? Result<>{} : finish_record();
}

Result<> TarReader::State::apply_pax(std::string_view key, std::string_view value) {
    if (key.starts_with("GNU.sparse."))
        return fail(Error::invalid("archive/tar: GNU sparse files are not supported"));
    if (key.starts_with("SCHILY.xattr.")) {
        pending.xattrs.emplace_back(key.substr(13), value);
        return {};
    }
    if (value.empty()) return {};  // an empty value means "use the header's field"
    auto bad = [&] {
        return fail(Error::invalid("archive/tar: invalid pax record " + std::string(key)));
    };
    if (key == "path") {
        pending.path = value;
    } else if (key == "linkpath") {
        pending.link = value;
    } else if (key == "size") {
        if (!(pending.size = parse_decimal(value)) || *pending.size > uint64_t(INT64_MAX))
            return bad();
    } else if (key == "uid" || key == "gid") {
        auto v = parse_decimal(value);
        if (!v || *v > UINT32_MAX) return bad();
        (key == "uid" ? pending.uid : pending.gid) = uint32_t(*v);
    } else if (key == "mtime") {
        if (!(pending.mtime = parse_pax_time(value))) return bad();
    }
    return {};  // atime, ctime, uname, gname, comment, charset…: not needed for a layer
}

// A pax record is "<len> <key>=<value>\n", len counting the whole record.
Result<> TarReader::State::finish_record() {
    phase = pad_left ? Phase::padding : Phase::header;
    if (record_type == 'L' || record_type == 'K') {
        std::string v = record.substr(0, strnlen(record.data(), record.size()));
        (record_type == 'L' ? pending.path : pending.link) = std::move(v);
        return {};
    }
    bool global = record_type == 'g';  // Docker ignores pax global headers
    std::string_view rest = record;
    while (!rest.empty()) {
        auto sp = rest.find(' ');
        auto len = sp == std::string_view::npos ? std::nullopt : parse_decimal(rest.substr(0, sp));
        if (!len || *len <= sp + 1 || *len > rest.size() || rest[*len - 1] != '\n')
            return fail(header_error("malformed pax record", header_at));
        std::string_view kv = rest.substr(sp + 1, *len - sp - 2);
        rest.remove_prefix(*len);
        auto eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0)
            return fail(header_error("malformed pax record", header_at));
        if (global) continue;
        if (auto r = apply_pax(kv.substr(0, eq), kv.substr(eq + 1)); !r) return r;
    }
    return {};
}

Result<> TarReader::State::build_entry(char type) {
    using T = TarEntry::Type;
    auto mode = number(f_mode), uid = number(f_uid), gid = number(f_gid), mtime = number(f_mtime),
         size = number(f_size);
    for (auto* n : {&mode, &uid, &gid, &mtime, &size})
        if (!*n) return fail(std::move(n->error()));
    TarEntry& e = entry;
    e = TarEntry{};
    if (pending.path) {
        e.path = std::move(*pending.path);
    } else {
        e.path = text(f_name);
        // ustar (not GNU "ustar  ") splits long names into prefix + '/' + name.
        if (text(f_magic) == "ustar" && !text(f_prefix).empty())
            e.path = std::string(text(f_prefix)) + "/" + e.path;
    }
    e.link_target = pending.link ? std::move(*pending.link) : std::string(text(f_linkname));
    e.mode = uint32_t(*mode) & 07777;
    if (*uid < 0 || *uid > UINT32_MAX || *gid < 0 || *gid > UINT32_MAX || *size < 0)
        return fail(header_error("numeric field out of range", header_at));
    e.uid = pending.uid.value_or(uint32_t(*uid));
    e.gid = pending.gid.value_or(uint32_t(*gid));
    e.mtime_s = pending.mtime ? pending.mtime->first : *mtime;
    e.mtime_ns = pending.mtime ? pending.mtime->second : 0;
    e.xattrs = std::move(pending.xattrs);
    uint64_t data_size = pending.size.value_or(uint64_t(*size));
    switch (type) {
        case '0':
        case '7':
            e.type = T::file;
            break;
        case '\0':
            e.type = e.path.ends_with('/') ? T::directory : T::file;
            break;
        case '1':
            e.type = T::hardlink;
            break;
        case '2':
            e.type = T::symlink;
            break;
        case '3':
            e.type = T::char_device;
            break;
        case '4':
            e.type = T::block_device;
            break;
        case '5':
            e.type = T::directory;
            break;
        case '6':
            e.type = T::fifo;
            break;
        case 'S':
            return fail(Error::invalid("archive/tar: GNU sparse files are not supported"));
        default:
            return fail(Error::invalid("unhandled tar header type " +
                                       std::to_string(int(static_cast<unsigned char>(type)))));
    }
    if (e.type == T::char_device || e.type == T::block_device) {
        auto major = number(f_devmajor), minor = number(f_devminor);
        if (!major || !minor) return fail(std::move(!major ? major.error() : minor.error()));
        e.dev_major = uint32_t(*major);
        e.dev_minor = uint32_t(*minor);
    }
    // As Go's reader: only regular files carry data; other types' size fields are ignored.
    e.size = e.type == T::file ? data_size : 0;
    pending = Pending{};
    return {};
}

Result<> TarReader::State::start_entry(char type) {
    if (auto r = build_entry(type); !r) return r;
    if (auto r = consumer.begin_entry(entry); !r) return r;
    data_left = entry.size;
    pad_left = padding_for(entry.size);
    phase = Phase::data;
    return data_left ? Result<>{} : end_data();
}

Result<> TarReader::State::end_data() {
    phase = pad_left ? Phase::padding : Phase::header;
    return consumer.end_entry();
}

// Consumes a prefix of `in` in the current phase.
Result<> TarReader::State::step(std::span<const std::byte>& in) {
    auto take = [&](uint64_t want) {
        size_t n = size_t(std::min<uint64_t>(want, in.size()));
        auto head = in.first(n);
        in = in.subspan(n);
        offset += n;
        return head;
    };
    switch (phase) {
        case Phase::header: {
            auto got = take(block_bytes - block_len);
            std::memcpy(block.data() + block_len, got.data(), got.size());
            block_len += got.size();
            if (block_len < block_bytes) return {};
            block_len = 0;
            if (auto r = consumer.raw(std::as_bytes(std::span(block))); !r) return r;
            return on_block();
        }
        case Phase::record: {
            auto got = take(record_left);
            if (auto r = consumer.raw(got); !r) return r;
            record.append(reinterpret_cast<const char*>(got.data()), got.size());
            record_left -= got.size();
            return record_left ? Result<>{} : finish_record();
        }
        case Phase::data: {
            auto got = take(data_left);
            data_left -= got.size();
            if (auto r = consumer.data(got); !r) return r;
            return data_left ? Result<>{} : end_data();
        }
        case Phase::padding: {
            auto got = take(pad_left);
            pad_left -= got.size();
            if (!pad_left) phase = Phase::header;
            return consumer.raw(got);
        }
        case Phase::ended: {
            auto rest = in;
            offset += in.size();
            in = {};
            return consumer.raw(rest);
        }
    }
    return {};
}

TarReader::TarReader(TarConsumer& consumer) : s_(std::make_unique<State>(consumer)) {}
TarReader::~TarReader() = default;

Result<> TarReader::feed(std::span<const std::byte> in) {
    while (!in.empty())
        if (auto r = s_->step(in); !r) return r;
    return {};
}

Result<> TarReader::finish() {
    State& s = *s_;
    if (s.phase == Phase::ended) return {};
    bool pending_meta = s.pending.path || s.pending.link || s.pending.size || s.pending.uid ||
                        s.pending.gid || s.pending.mtime || !s.pending.xattrs.empty();
    if (s.phase != Phase::header || s.block_len != 0 || pending_meta)
        return fail(Error::invalid("archive/tar: unexpected EOF (at byte " +
                                   std::to_string(s.offset) + ")"));
    s.phase = Phase::ended;
    return s.consumer.end_archive();
}

bool TarReader::ended() const {
    return s_->phase == Phase::ended;
}

}  // namespace berth::graph
