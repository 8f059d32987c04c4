// The formats of the cgroup statistics files (memory.stat, cpu.stat, blkio.*_recursive,
// io.stat, cpuacct.usage_percpu), parsed from their text: no file access here, so the parsing
// is tested on the kernel's own samples without a cgroup.
#include <algorithm>
#include <charconv>
#include <string>

#include "kernel/cgroup.hpp"

namespace berth::kernel::cgroupfs {

namespace {

// Splits off the next whitespace-separated word of `rest`.
std::string_view next_word(std::string_view& rest) {
    size_t begin = rest.find_first_not_of(" \t\n");
    if (begin == std::string_view::npos) {
        rest = {};
        return {};
    }
    rest.remove_prefix(begin);
    size_t end = std::min(rest.find_first_of(" \t\n"), rest.size());
    std::string_view word = rest.substr(0, end);
    rest.remove_prefix(end);
    return word;
}

std::optional<uint64_t> to_u64(std::string_view s) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return n;
}

// "8:16" → {8, 16}.
std::optional<std::pair<uint64_t, uint64_t>> device(std::string_view s) {
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto major = to_u64(s.substr(0, colon));
    auto minor = to_u64(s.substr(colon + 1));
    if (!major || !minor) return std::nullopt;
    return std::pair{*major, *minor};
}

template <class F>
void each_line(std::string_view text, F&& f) {
    while (!text.empty()) {
        size_t nl = std::min(text.find('\n'), text.size());
        f(text.substr(0, nl));
        text.remove_prefix(std::min(nl + 1, text.size()));
    }
}

}  // namespace

std::vector<std::pair<std::string, uint64_t>> flat_keyed(std::string_view text) {
    std::vector<std::pair<std::string, uint64_t>> out;
    each_line(text, [&](std::string_view line) {
        std::string_view key = next_word(line);
        auto value = to_u64(next_word(line));
        if (!key.empty() && value && next_word(line).empty()) out.emplace_back(key, *value);
    });
    return out;
}

std::vector<BlkioEntry> blkio_entries_v1(std::string_view text) {
    std::vector<BlkioEntry> out;
    each_line(text, [&](std::string_view line) {
        auto dev = device(next_word(line));
        std::string_view op = next_word(line);
        auto value = to_u64(next_word(line));
        if (dev && !op.empty() && value)
            out.push_back(BlkioEntry{dev->first, dev->second, std::string(op), *value});
    });
    return out;
}

void io_stat_entries_v2(std::string_view text, std::vector<BlkioEntry>& bytes,
                        std::vector<BlkioEntry>& ios) {
    each_line(text, [&](std::string_view line) {
        auto dev = device(next_word(line));
        if (!dev) return;
        uint64_t rbytes = 0, wbytes = 0, rios = 0, wios = 0;
        for (std::string_view kv = next_word(line); !kv.empty(); kv = next_word(line)) {
            size_t eq = kv.find('=');
            if (eq == std::string_view::npos) continue;
            uint64_t v = to_u64(kv.substr(eq + 1)).value_or(0);
            std::string_view k = kv.substr(0, eq);
            if (k == "rbytes")
                rbytes = v;
            else if (k == "wbytes")
                wbytes = v;
            else if (k == "rios")
                rios = v;
            else if (k == "wios")
                wios = v;
        }
        bytes.push_back(BlkioEntry{dev->first, dev->second, "read", rbytes});
        bytes.push_back(BlkioEntry{dev->first, dev->second, "write", wbytes});
        ios.push_back(BlkioEntry{dev->first, dev->second, "read", rios});
        ios.push_back(BlkioEntry{dev->first, dev->second, "write", wios});
    });
}

std::vector<uint64_t> number_list(std::string_view text) {
    std::vector<uint64_t> out;
    for (std::string_view w = next_word(text); !w.empty(); w = next_word(text)) {
        auto v = to_u64(w);
        if (!v) break;
        out.push_back(*v);
    }
    return out;
}

}  // namespace berth::kernel::cgroupfs
