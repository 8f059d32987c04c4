// Capabilities and seccomp as Docker applies them: the default capability set (exactly those
// 14), cap-add / cap-drop / --privileged with Docker's rules ("ALL", names with or without
// CAP_), and Docker's default seccomp profile semantics, compiled once into a BPF program the
// container's child process loads without allocating.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"

namespace berth::kernel {

// Capability numbers are bit positions in a 64-bit mask.
using CapMask = uint64_t;

// "NET_ADMIN", "CAP_NET_ADMIN", "net_admin" → 12; nullopt for unknown names.
std::optional<int> capability_from_name(std::string_view name);
// "CAP_NET_ADMIN".
std::string capability_name(int cap);
// Every capability this kernel knows (0..cap_last_cap, up to CAP_CHECKPOINT_RESTORE) that the
// daemon itself holds, as Docker's "all capabilities available in the current environment":
// what --privileged and cap-add ALL grant.
CapMask capabilities_all();
// Docker's default set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID,
// SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE (CapEff 00000000a80425fb).
CapMask capabilities_docker_default();
// Docker's rules: privileged → all; "ALL" in cap-add adds all, in cap-drop drops all before the
// adds; unknown names (or names the environment cannot grant) are an invalid_parameter error
// naming the capability.
Result<CapMask> resolve_capabilities(const std::vector<std::string>& cap_add,
                                     const std::vector<std::string>& cap_drop, bool privileged);

// A classic BPF seccomp program ready for seccomp(SECCOMP_SET_MODE_FILTER). Empty means the
// profile asks for no filter at all (Docker's "{}" profile), the same as seccomp=unconfined.
struct SeccompProgram {
    std::vector<sock_filter> filter;
    unsigned flags = 0;  // SECCOMP_FILTER_FLAG_* the profile's "flags" ask for, at load time
    bool empty() const { return filter.empty(); }
};

// Docker's seccomp profile format (moby profiles/seccomp): what seccomp_from_json parses and what
// the default profile is built as, so both take one path to BPF.
enum class SeccompAction : unsigned char {
    kill_thread,
    kill_process,
    trap,
    errno_ret,
    trace,
    log,
    allow
};
enum class SeccompOp : unsigned char { ne, lt, le, eq, ge, gt, masked_eq };

struct SeccompArg {
    unsigned index = 0;      // 0..5
    uint64_t value = 0;      // the mask for masked_eq
    uint64_t value_two = 0;  // the value for masked_eq
    SeccompOp op = SeccompOp::eq;
};

// A rule's "includes" / "excludes": capabilities ("CAP_SYS_ADMIN"), architectures in Go's
// names ("amd64", "x32"), a minimum kernel (major, minor).
struct SeccompCondition {
    std::vector<std::string> caps;
    std::vector<std::string> arches;
    std::optional<std::pair<unsigned, unsigned>> min_kernel;
};

struct SeccompRule {
    std::vector<std::string> names;
    SeccompAction action = SeccompAction::allow;
    std::optional<unsigned> errno_ret;  // ERRNO and TRACE; EPERM when absent
    std::vector<SeccompArg> args;       // all must match (one rule per arg if an index repeats)
    SeccompCondition includes;
    SeccompCondition excludes;
};

struct SeccompArchMapEntry {
    std::string arch;  // "SCMP_ARCH_X86_64"
    std::vector<std::string> sub_arches;
};

struct SeccompProfile {
    std::optional<SeccompAction> default_action;  // absent with no rules: no filter
    std::optional<unsigned> default_errno_ret;
    std::vector<std::string> architectures;     // either these …
    std::vector<SeccompArchMapEntry> arch_map;  // … or the entry for the native architecture
    std::vector<std::string> flags;             // "SECCOMP_FILTER_FLAG_LOG", …
    std::vector<SeccompRule> syscalls;
};

// Docker's default profile as data (moby profiles/seccomp default.json), before the rules are
// chosen for a container's capabilities.
const SeccompProfile& seccomp_docker_default_profile();
// Parses Docker's JSON format; invalid_parameter "invalid seccomp profile: …" on errors.
Result<SeccompProfile> seccomp_parse_profile(std::string_view profile_json);
// Chooses the rules for `caps`, this architecture and kernel, and compiles them with libseccomp.
// Syscalls this libseccomp does not know are skipped, as runc does.
Result<SeccompProgram> seccomp_compile(const SeccompProfile& profile, CapMask caps);

// Docker's default profile for a container holding `caps` (syscalls gated on capabilities, as
// CAP_SYS_ADMIN opening mount/unshare/clone namespace flags etc., are allowed accordingly),
// for the native architecture (and its compat ABIs as Docker does: x86_64 with x86 and x32).
Result<SeccompProgram> seccomp_docker_default(CapMask caps);
// A profile in Docker's JSON format (`--security-opt seccomp=<file contents>`). Errors are
// invalid_parameter with Docker-like messages for bad JSON, unknown actions, operators or
// architectures; unknown syscall names are skipped (runc's rule).
Result<SeccompProgram> seccomp_from_json(std::string_view profile_json, CapMask caps);

}  // namespace berth::kernel
