// Capability names and sets as Docker handles them (moby daemon/pkg/oci/caps): the name table up
// to CAP_CHECKPOINT_RESTORE, what "all" means on this host, the default 14, and cap-add /
// cap-drop / --privileged. Pure computation apart from reading two /proc files once.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <charconv>
#include <string>

#include "kernel/fd.hpp"
#include "kernel/security.hpp"

namespace berth::kernel {
namespace {

// Index = capability number (linux/capability.h), without the "CAP_" prefix.
// clang-format off
constexpr std::array<std::string_view, 41> capability_names = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"};
// clang-format on
constexpr int cap_last_known = int(capability_names.size()) - 1;

constexpr CapMask bit(int cap) {
    return CapMask{1} << cap;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(a[i])) !=
            std::toupper(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

// Whole small /proc file, or "" when it cannot be read.
std::string read_proc_file(const char* path) {
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, size_t(n));
    }
    return out;
}

// /proc/sys/kernel/cap_last_cap, clamped to the names we know (40 if unreadable).
int kernel_cap_last() {
    std::string text = read_proc_file("/proc/sys/kernel/cap_last_cap");
    int last = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), last);
    if (ec != std::errc{} || last < 0 || last > cap_last_known) return cap_last_known;
    return last;
}

// The daemon's own effective set ("CapEff:" in /proc/self/status); all ones if unreadable, which
// keeps Docker's fallback of trusting the kernel list.
CapMask own_effective_capabilities() {
    std::string status = read_proc_file("/proc/self/status");
    constexpr std::string_view key = "\nCapEff:\t";
    size_t at = status.find(key);
    if (at == std::string::npos) return ~CapMask{0};
    const char* first = status.data() + at + key.size();
    CapMask mask = 0;
    auto [p, ec] = std::from_chars(first, status.data() + status.size(), mask, 16);
    if (ec != std::errc{}) return ~CapMask{0};
    return mask;
}

CapMask compute_capabilities_all() {
    int last = kernel_cap_last();
    CapMask known = last >= 63 ? ~CapMask{0} : bit(last + 1) - 1;
    return known & own_effective_capabilities();
}

// Docker's NormalizeLegacyCapabilities for one name: "ALL" stays a marker (returned as -1).
Result<int> normalize(std::string_view name) {
    if (equal_ignoring_case(name, "ALL")) return -1;
    std::string upper;
    for (char c : name) upper += char(std::toupper(static_cast<unsigned char>(c)));
    if (!upper.starts_with("CAP_")) upper.insert(0, "CAP_");
    std::optional<int> cap = capability_from_name(upper);
    if (!cap) return fail(Error::invalid("unknown capability: \"" + upper + "\""));
    if (!(capabilities_all() & bit(*cap)))
        return fail(Error::invalid(
            "capability not supported by your kernel or not available in the current "
            "environment: \"" +
            upper + "\""));
    return *cap;
}

struct NamedSet {
    CapMask mask = 0;
    bool all = false;
};

Result<NamedSet> normalize_all(const std::vector<std::string>& names) {
    NamedSet set;
    for (const std::string& name : names) {
        Result<int> cap = normalize(name);
        if (!cap) return fail(std::move(cap.error()));
        if (*cap < 0)
            set.all = true;
        else
            set.mask |= bit(*cap);
    }
    return set;
}

}  // namespace

std::optional<int> capability_from_name(std::string_view name) {
    if (name.size() > 4 && equal_ignoring_case(name.substr(0, 4), "CAP_")) name.remove_prefix(4);
    for (int cap = 0; cap <= cap_last_known; ++cap) {
        if (equal_ignoring_case(name, capability_names[size_t(cap)])) return cap;
    }
    return std::nullopt;
}

std::string capability_name(int cap) {
    if (cap < 0 || cap > cap_last_known) return "CAP_" + std::to_string(cap);
    return "CAP_" + std::string(capability_names[size_t(cap)]);
}

CapMask capabilities_all() {
    // The kernel and the daemon's own set do not change while it runs.
    static const CapMask all = compute_capabilities_all();
    return all;
}

CapMask capabilities_docker_default() {
    constexpr int caps[] = {0 /*CHOWN*/,
                            1 /*DAC_OVERRIDE*/,
                            4 /*FSETID*/,
                            3 /*FOWNER*/,
                            27 /*MKNOD*/,
                            13 /*NET_RAW*/,
                            6 /*SETGID*/,
                            7 /*SETUID*/,
                            31 /*SETFCAP*/,
                            8 /*SETPCAP*/,
                            10 /*NET_BIND_SERVICE*/,
                            18 /*SYS_CHROOT*/,
                            5 /*KILL*/,
                            29 /*AUDIT_WRITE*/};
    CapMask mask = 0;
    for (int cap : caps) mask |= bit(cap);
    return mask;
}

// moby's TweakCapabilities: privileged wins without looking at the lists; cap-add ALL grants
// all but the drops; cap-drop ALL keeps only the adds; otherwise default minus drops plus adds.
// Drops are validated before adds, as Docker does, so the first bad name is the one reported.
Result<CapMask> resolve_capabilities(const std::vector<std::string>& cap_add,
                                     const std::vector<std::string>& cap_drop, bool privileged) {
    if (privileged) return capabilities_all();
    if (cap_add.empty() && cap_drop.empty()) return capabilities_docker_default();
    Result<NamedSet> drops = normalize_all(cap_drop);
    if (!drops) return fail(std::move(drops.error()));
    Result<NamedSet> adds = normalize_all(cap_add);
    if (!adds) return fail(std::move(adds.error()));
    if (adds->all) return capabilities_all() & ~drops->mask;
    if (drops->all) return adds->mask;
    return (capabilities_docker_default() & ~drops->mask) | adds->mask;
}

}  // namespace berth::kernel
