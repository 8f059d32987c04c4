// ps's columns computed as procps computes them: C and %CPU from CPU ticks over the time since
// the process started, STIME "HH:MM" within a day / "MonDD" within the year / the year, TTY
// from the packed device number, TIME as [DD-]HH:MM:SS (ps -ef) or M:SS (ps aux).
#include "jobs/container_top.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "base/time.hpp"

namespace berth::jobs {

namespace {

constexpr int64_t day_s = 24 * 3600;

std::string start_time(const kernel::ProcessInfo& p, const TopHost& h) {
    time_t started = time_t(h.boot_time_s + p.start_ticks / std::max<uint64_t>(h.ticks_per_s, 1));
    time_t now = time_t(h.now_s);
    tm st{}, nt{};
    localtime_r(&started, &st);
    localtime_r(&now, &nt);
    char buf[32];
    if (now - started < day_s)
        strftime(buf, sizeof buf, "%H:%M", &st);
    else if (st.tm_year == nt.tm_year)
        strftime(buf, sizeof buf, "%b%d", &st);
    else
        strftime(buf, sizeof buf, "%Y", &st);
    return buf;
}

std::string tty_name(int tty_nr) {
    unsigned major = (unsigned(tty_nr) >> 8) & 0xfff;
    unsigned minor = (unsigned(tty_nr) & 0xff) | ((unsigned(tty_nr) >> 12) & 0xfff00);
    if (tty_nr == 0) return "?";
    if (major >= 136 && major <= 143) return "pts/" + std::to_string(minor + (major - 136) * 256);
    if (major == 4 && minor < 64) return "tty" + std::to_string(minor);
    if (major == 5 && minor == 1) return "console";
    return "?";
}

uint64_t cpu_ticks(const kernel::ProcessInfo& p) {
    return p.utime_ticks + p.stime_ticks;
}

// Tenths of a percent of one CPU since the process started, as procps's pcpu.
uint64_t cpu_permille(const kernel::ProcessInfo& p, const TopHost& h) {
    uint64_t hz = std::max<uint64_t>(h.ticks_per_s, 1);
    int64_t uptime_ticks = (h.now_s - int64_t(h.boot_time_s)) * int64_t(hz);
    int64_t elapsed = uptime_ticks - int64_t(p.start_ticks);
    if (elapsed <= 0) return 0;
    return cpu_ticks(p) * 1000 / uint64_t(elapsed);
}

std::string clock_time(uint64_t seconds, bool full) {
    char buf[48];
    if (!full) {
        std::snprintf(buf, sizeof buf, "%llu:%02llu", (unsigned long long)(seconds / 60),
                      (unsigned long long)(seconds % 60));
        return buf;
    }
    unsigned long long d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
                       s = seconds % 60;
    if (d)
        std::snprintf(buf, sizeof buf, "%llu-%02llu:%02llu:%02llu", d, h, m, s);
    else
        std::snprintf(buf, sizeof buf, "%02llu:%02llu:%02llu", h, m, s);
    return buf;
}

std::string command(const kernel::ProcessInfo& p) {
    if (p.argv.empty()) return "[" + p.comm + "]";
    std::string out;
    for (const std::string& a : p.argv) out += (out.empty() ? "" : " ") + a;
    return out;
}

std::string user(const kernel::ProcessInfo& p, const TopHost& h) {
    std::string name = h.user_name ? h.user_name(p.uid) : "";
    return name.empty() ? std::to_string(p.uid) : name;
}

std::string tenths(uint64_t permille) {
    return std::to_string(permille / 10) + "." + std::to_string(permille % 10);
}

std::vector<std::string> bsd_row(const kernel::ProcessInfo& p, const TopHost& h) {
    uint64_t rss = p.rss_pages * h.page_bytes;
    uint64_t mem = h.mem_total_bytes ? rss * 1000 / h.mem_total_bytes : 0;
    uint64_t secs = cpu_ticks(p) / std::max<uint64_t>(h.ticks_per_s, 1);
    return {user(p, h),
            std::to_string(p.pid),
            tenths(cpu_permille(p, h)),
            tenths(mem),
            std::to_string(p.vsize_bytes / 1024),
            std::to_string(rss / 1024),
            tty_name(p.tty_nr),
            std::string(1, p.state),
            start_time(p, h),
            clock_time(secs, false),
            command(p)};
}

std::vector<std::string> full_row(const kernel::ProcessInfo& p, const TopHost& h) {
    uint64_t secs = cpu_ticks(p) / std::max<uint64_t>(h.ticks_per_s, 1);
    uint64_t c = std::min<uint64_t>(cpu_permille(p, h) / 10, 99);  // procps caps C at 99
    return {user(p, h),       std::to_string(p.pid), std::to_string(p.ppid), std::to_string(c),
            start_time(p, h), tty_name(p.tty_nr),    clock_time(secs, true), command(p)};
}

}  // namespace

Result<TopFormat> top_format(std::string_view args) {
    std::string letters;  // "-e -f", "-ef" and "ef" are the same request to ps
    for (char c : args)
        if (c != '-' && c != ' ' && c != '\t') letters += c;
    if (letters.find_first_not_of("efA") == std::string::npos) return TopFormat::full;
    if (letters.find_first_not_of("aux") == std::string::npos) return TopFormat::bsd;
    return fail(Error::invalid("ps_args \"" + std::string(args) +
                               "\" is not supported: berth reads /proc itself and shows the "
                               "columns of ps -ef (ps_args \"\", -e, -f, -ef) or of ps aux "
                               "(ps_args aux, -aux, ux)"));
}

TopTable top_table(const std::vector<kernel::ProcessInfo>& procs, TopFormat format,
                   const TopHost& host) {
    TopTable t;
    if (format == TopFormat::full)
        t.titles = {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"};
    else
        t.titles = {"USER", "PID",  "%CPU",  "%MEM", "VSZ",    "RSS",
                    "TTY",  "STAT", "START", "TIME", "COMMAND"};
    std::vector<const kernel::ProcessInfo*> sorted;
    for (const kernel::ProcessInfo& p : procs) sorted.push_back(&p);
    std::ranges::sort(sorted, {}, &kernel::ProcessInfo::pid);
    for (const kernel::ProcessInfo* p : sorted)
        t.processes.push_back(format == TopFormat::full ? full_row(*p, host) : bsd_row(*p, host));
    return t;
}

TopHost current_top_host() {
    TopHost h;
    h.now_s = wall_clock_ns() / 1000000000;
    h.boot_time_s = kernel::boot_time_s();
    h.ticks_per_s = kernel::clock_ticks_per_s();
    h.mem_total_bytes = kernel::cgroupfs::host_memory_bytes();
    h.page_bytes = kernel::page_bytes();
    h.user_name = &kernel::host_user_name;
    return h;
}

Result<TopTable> top_of(const kernel::Cgroup& cgroup, TopFormat format) {
    std::vector<kernel::ProcessInfo> procs;
    for (pid_t pid : cgroup.pids()) {
        auto p = kernel::read_process(pid);
        if (p)
            procs.push_back(std::move(*p));
        else if (p.error().kind != ErrorKind::not_found)
            return fail(std::move(p.error()));
    }
    return top_table(procs, format, current_top_host());
}

}  // namespace berth::jobs
