// /proc/stat and /proc/<pid>/{stat,status,cmdline}: parsed from their text, read with plain
// O_CLOEXEC opens. Only the files named here are read; nothing is written.
#include "kernel/proc_stat.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <vector>

#include "kernel/fd.hpp"

namespace berth::kernel {

namespace {

constexpr size_t proc_file_bytes_max = size_t(1) << 20;  // /proc/stat on many CPUs
// Docker computes system_cpu_usage with a fixed 100 ticks per second (USER_HZ on Linux).
constexpr uint64_t docker_ticks_per_s = 100;
constexpr int system_cpu_fields = 7;

Result<std::string> read_text(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Error::last_sys("read " + path));
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::last_sys("read " + path));
        if (n == 0) return out;
        out.append(buf, size_t(n));
        if (out.size() > proc_file_bytes_max) return fail(Error::sys(EFBIG, "read " + path));
    }
}

std::string_view next_word(std::string_view& rest) {
    size_t begin = rest.find_first_not_of(" \t\n");
    if (begin == std::string_view::npos) {
        rest = {};
        return {};
    }
    rest.remove_prefix(begin);
    size_t end = std::min(rest.find_first_of(" \t\n"), rest.size());
    std::string_view w = rest.substr(0, end);
    rest.remove_prefix(end);
    return w;
}

template <class T>
bool to_num(std::string_view s, T& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
}

}  // namespace

std::optional<SystemCpu> parse_system_cpu(std::string_view text) {
    SystemCpu out;
    bool total = false;
    while (!text.empty()) {
        size_t nl = std::min(text.find('\n'), text.size());
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(std::min(nl + 1, text.size()));
        std::string_view name = next_word(line);
        if (!name.starts_with("cpu")) continue;
        if (name != "cpu") {
            ++out.online_cpus;
            continue;
        }
        uint64_t ticks = 0;
        for (int i = 0; i < system_cpu_fields; ++i) {
            uint64_t v = 0;
            if (!to_num(next_word(line), v)) return std::nullopt;
            ticks += v;
        }
        out.usage_ns = ticks * (1000000000ULL / docker_ticks_per_s);
        total = true;
    }
    if (!total) return std::nullopt;
    return out;
}

Result<SystemCpu> system_cpu(const std::string& proc_root) {
    auto text = read_text(proc_root + "/stat");
    if (!text) return fail(std::move(text.error()));
    auto cpu = parse_system_cpu(*text);
    if (!cpu) return fail(Error::internal("unexpected format of " + proc_root + "/stat"));
    return *cpu;
}

std::optional<ProcessInfo> parse_process_stat(std::string_view stat) {
    ProcessInfo p;
    size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return std::nullopt;
    std::string_view head = stat.substr(0, open);
    if (!to_num(next_word(head), p.pid)) return std::nullopt;
    p.comm = std::string(stat.substr(open + 1, close - open - 1));
    std::string_view rest = stat.substr(close + 1);
    std::vector<std::string_view> f;  // f[0] is field 3 (state)
    for (std::string_view w = next_word(rest); !w.empty(); w = next_word(rest)) f.push_back(w);
    if (f.size() < 22 || f[0].size() != 1) return std::nullopt;
    p.state = f[0][0];
    bool ok = to_num(f[1], p.ppid) && to_num(f[4], p.tty_nr) && to_num(f[11], p.utime_ticks) &&
              to_num(f[12], p.stime_ticks) && to_num(f[19], p.start_ticks) &&
              to_num(f[20], p.vsize_bytes) && to_num(f[21], p.rss_pages);
    if (!ok) return std::nullopt;
    return p;
}

void parse_process_status(std::string_view status, ProcessInfo& p) {
    size_t at = status.find("\nUid:");
    if (at == std::string_view::npos) return;
    std::string_view line = status.substr(at + 5);
    line = line.substr(0, std::min(line.find('\n'), line.size()));
    next_word(line);  // real
    uid_t euid = 0;
    if (to_num(next_word(line), euid)) p.uid = euid;
}

std::vector<std::string> parse_cmdline(std::string_view cmdline) {
    std::vector<std::string> out;
    while (!cmdline.empty()) {
        size_t nul = std::min(cmdline.find('\0'), cmdline.size());
        out.emplace_back(cmdline.substr(0, nul));
        cmdline.remove_prefix(std::min(nul + 1, cmdline.size()));
    }
    return out;
}

Result<ProcessInfo> read_process(pid_t pid, const std::string& proc_root) {
    std::string dir = proc_root + "/" + std::to_string(pid);
    auto stat = read_text(dir + "/stat");
    if (!stat && stat.error().sys_errno == ENOENT)
        return fail(Error::not_found("process " + std::to_string(pid) + " is gone"));
    if (!stat) return fail(std::move(stat.error()));
    auto p = parse_process_stat(*stat);
    if (!p) return fail(Error::internal("unexpected format of " + dir + "/stat"));
    if (auto status = read_text(dir + "/status")) parse_process_status(*status, *p);
    if (auto cmdline = read_text(dir + "/cmdline")) p->argv = parse_cmdline(*cmdline);
    return *p;
}

uint64_t boot_time_s(const std::string& proc_root) {
    auto text = read_text(proc_root + "/stat");
    if (!text) return 0;
    size_t at = text->find("\nbtime ");
    if (at == std::string::npos) return 0;
    std::string_view rest = std::string_view(*text).substr(at + 7);
    uint64_t v = 0;
    to_num(next_word(rest), v);
    return v;
}

uint64_t page_bytes() {
    long page = ::sysconf(_SC_PAGESIZE);
    return page > 0 ? uint64_t(page) : 4096;
}

std::string host_user_name(uid_t uid) {
    passwd pw{}, *found = nullptr;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || !found) return "";
    return pw.pw_name;
}

uint64_t clock_ticks_per_s() {
    long hz = ::sysconf(_SC_CLK_TCK);
    return hz > 0 ? uint64_t(hz) : 100;
}

}  // namespace berth::kernel
