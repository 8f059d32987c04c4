// Seccomp profiles in, BPF out: Docker's JSON profile format (parsed with simdjson into a
// SeccompProfile), the choice of rules for a container (moby's includes/excludes on capabilities,
// architecture and kernel) and their compilation with libseccomp, exported through a memfd.
// Only the daemon runs this; the container's child just loads the finished program.
#include <linux/seccomp.h>
#include <seccomp.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>

#include "kernel/fd.hpp"
#include "kernel/security.hpp"

namespace berth::kernel {
namespace {

namespace dom = simdjson::dom;

Error profile_error(std::string what) {
    return Error::invalid("invalid seccomp profile: " + std::move(what));
}

std::string in_quotes(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

// ---- Docker's JSON format -------------------------------------------------------------------

// A member that is absent or null reads as "not given", as Go's decoder treats it.
std::optional<dom::element> member(dom::object obj, std::string_view key) {
    dom::element e;
    if (obj.at_key(key).get(e) || e.is_null()) return std::nullopt;
    return e;
}

Result<std::string> string_of(dom::element e, const std::string& where) {
    std::string_view s;
    if (e.get(s)) return fail(profile_error(where + ": expected a string"));
    return std::string(s);
}

Result<uint64_t> number_of(dom::element e, const std::string& where) {
    uint64_t n = 0;
    if (e.get(n)) return fail(profile_error(where + ": expected a non-negative integer"));
    return n;
}

Result<std::vector<std::string>> strings_of(std::optional<dom::element> e,
                                            const std::string& where) {
    std::vector<std::string> out;
    if (!e) return out;
    dom::array arr;
    if (e->get(arr)) return fail(profile_error(where + ": expected an array of strings"));
    for (dom::element item : arr) {
        std::string_view s;
        if (item.get(s)) return fail(profile_error(where + ": expected an array of strings"));
        out.emplace_back(s);
    }
    return out;
}

Result<SeccompAction> action_of(std::string_view name, const std::string& where) {
    static constexpr std::pair<std::string_view, SeccompAction> actions[] = {
        {"SCMP_ACT_KILL", SeccompAction::kill_thread},
        {"SCMP_ACT_KILL_THREAD", SeccompAction::kill_thread},
        {"SCMP_ACT_KILL_PROCESS", SeccompAction::kill_process},
        {"SCMP_ACT_TRAP", SeccompAction::trap},
        {"SCMP_ACT_ERRNO", SeccompAction::errno_ret},
        {"SCMP_ACT_TRACE", SeccompAction::trace},
        {"SCMP_ACT_LOG", SeccompAction::log},
        {"SCMP_ACT_ALLOW", SeccompAction::allow},
    };
    for (auto [text, action] : actions)
        if (name == text) return action;
    if (name == "SCMP_ACT_NOTIFY")
        return fail(profile_error(where + ": SCMP_ACT_NOTIFY is not supported (no listener)"));
    return fail(profile_error(where + ": unknown action " + in_quotes(name)));
}

Result<SeccompOp> op_of(std::string_view name, const std::string& where) {
    static constexpr std::pair<std::string_view, SeccompOp> ops[] = {
        {"SCMP_CMP_NE", SeccompOp::ne},
        {"SCMP_CMP_LT", SeccompOp::lt},
        {"SCMP_CMP_LE", SeccompOp::le},
        {"SCMP_CMP_EQ", SeccompOp::eq},
        {"SCMP_CMP_GE", SeccompOp::ge},
        {"SCMP_CMP_GT", SeccompOp::gt},
        {"SCMP_CMP_MASKED_EQ", SeccompOp::masked_eq},
    };
    for (auto [text, op] : ops)
        if (name == text) return op;
    return fail(profile_error(where + ": unknown operator " + in_quotes(name)));
}

// "errnoRet" / "defaultErrnoRet": the kernel keeps 16 bits of SECCOMP_RET_DATA.
Result<std::optional<unsigned>> errno_of(std::optional<dom::element> e, const std::string& where) {
    if (!e) return std::optional<unsigned>{};
    Result<uint64_t> n = number_of(*e, where);
    if (!n) return fail(std::move(n.error()));
    if (*n > 0xffff)
        return fail(profile_error(where + ": " + std::to_string(*n) + " is too large"));
    return std::optional<unsigned>(unsigned(*n));
}

Result<SeccompArg> arg_of(dom::element e, const std::string& where) {
    dom::object obj;
    if (e.get(obj)) return fail(profile_error(where + ": expected an object"));
    SeccompArg arg;
    std::optional<dom::element> index = member(obj, "index"), value = member(obj, "value"),
                                value_two = member(obj, "valueTwo"), op = member(obj, "op");
    if (index) {
        Result<uint64_t> n = number_of(*index, where + ".index");
        if (!n) return fail(std::move(n.error()));
        if (*n > 5)
            return fail(profile_error(where + ".index: " + std::to_string(*n) +
                                      " is out of range (a syscall has 6 arguments)"));
        arg.index = unsigned(*n);
    }
    if (value) {
        Result<uint64_t> n = number_of(*value, where + ".value");
        if (!n) return fail(std::move(n.error()));
        arg.value = *n;
    }
    if (value_two) {
        Result<uint64_t> n = number_of(*value_two, where + ".valueTwo");
        if (!n) return fail(std::move(n.error()));
        arg.value_two = *n;
    }
    if (!op) return fail(profile_error(where + ".op: missing"));
    Result<std::string> op_name = string_of(*op, where + ".op");
    if (!op_name) return fail(std::move(op_name.error()));
    Result<SeccompOp> parsed = op_of(*op_name, where + ".op");
    if (!parsed) return fail(std::move(parsed.error()));
    arg.op = *parsed;
    return arg;
}

// "minKernel": "<kernel>.<major>", e.g. "4.8".
Result<std::pair<unsigned, unsigned>> kernel_version_of(std::string_view text,
                                                        const std::string& where) {
    unsigned major = 0, minor = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, major);
    bool ok = ec == std::errc{} && p < end && *p == '.';
    if (ok) {
        auto [q, ec2] = std::from_chars(p + 1, end, minor);
        ok = ec2 == std::errc{} && q == end && (major > 0 || minor > 0);
    }
    if (!ok)
        return fail(profile_error(where + ": invalid kernel version " + in_quotes(text) +
                                  ", expected \"<kernel>.<major>\""));
    return std::pair{major, minor};
}

Result<SeccompCondition> condition_of(std::optional<dom::element> e, const std::string& where) {
    SeccompCondition c;
    if (!e) return c;
    dom::object obj;
    if (e->get(obj)) return fail(profile_error(where + ": expected an object"));
    Result<std::vector<std::string>> caps = strings_of(member(obj, "caps"), where + ".caps");
    if (!caps) return fail(std::move(caps.error()));
    Result<std::vector<std::string>> arches = strings_of(member(obj, "arches"), where + ".arches");
    if (!arches) return fail(std::move(arches.error()));
    c.caps = std::move(*caps);
    c.arches = std::move(*arches);
    if (std::optional<dom::element> k = member(obj, "minKernel")) {
        Result<std::string> text = string_of(*k, where + ".minKernel");
        if (!text) return fail(std::move(text.error()));
        if (!text->empty()) {
            auto version = kernel_version_of(*text, where + ".minKernel");
            if (!version) return fail(std::move(version.error()));
            c.min_kernel = *version;
        }
    }
    return c;
}

// "names" (or the older single "name", never both), the action with its errno, and the args.
Result<> rule_head_of(dom::object obj, SeccompRule& rule, const std::string& where) {
    Result<std::vector<std::string>> names = strings_of(member(obj, "names"), where + ".names");
    if (!names) return fail(std::move(names.error()));
    rule.names = std::move(*names);
    if (std::optional<dom::element> name = member(obj, "name")) {
        Result<std::string> one = string_of(*name, where + ".name");
        if (!one) return fail(std::move(one.error()));
        if (!one->empty() && !rule.names.empty())
            return fail(profile_error(where + ": both 'name' and 'names' are specified"));
        if (!one->empty()) rule.names = {std::move(*one)};
    }
    std::optional<dom::element> action = member(obj, "action");
    if (!action) return fail(profile_error(where + ".action: missing"));
    Result<std::string> action_name = string_of(*action, where + ".action");
    if (!action_name) return fail(std::move(action_name.error()));
    Result<SeccompAction> parsed = action_of(*action_name, where + ".action");
    if (!parsed) return fail(std::move(parsed.error()));
    rule.action = *parsed;
    auto errno_ret = errno_of(member(obj, "errnoRet"), where + ".errnoRet");
    if (!errno_ret) return fail(std::move(errno_ret.error()));
    rule.errno_ret = *errno_ret;
    if (rule.errno_ret && rule.action != SeccompAction::errno_ret &&
        rule.action != SeccompAction::trace)
        return fail(profile_error(where + ".errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE "
                                          "take a return value"));
    return {};
}

Result<SeccompRule> rule_of(dom::element e, const std::string& where) {
    dom::object obj;
    if (e.get(obj)) return fail(profile_error(where + ": expected an object"));
    SeccompRule rule;
    if (Result<> head = rule_head_of(obj, rule, where); !head) return fail(std::move(head.error()));
    if (std::optional<dom::element> args = member(obj, "args")) {
        dom::array arr;
        if (args->get(arr)) return fail(profile_error(where + ".args: expected an array"));
        for (dom::element a : arr) {
            Result<SeccompArg> arg =
                arg_of(a, where + ".args[" + std::to_string(rule.args.size()) + "]");
            if (!arg) return fail(std::move(arg.error()));
            rule.args.push_back(*arg);
        }
    }
    auto includes = condition_of(member(obj, "includes"), where + ".includes");
    if (!includes) return fail(std::move(includes.error()));
    auto excludes = condition_of(member(obj, "excludes"), where + ".excludes");
    if (!excludes) return fail(std::move(excludes.error()));
    rule.includes = std::move(*includes);
    rule.excludes = std::move(*excludes);
    return rule;
}

Result<std::vector<SeccompArchMapEntry>> arch_map_of(std::optional<dom::element> e) {
    std::vector<SeccompArchMapEntry> out;
    if (!e) return out;
    dom::array arr;
    if (e->get(arr)) return fail(profile_error("archMap: expected an array"));
    for (dom::element item : arr) {
        std::string where = "archMap[" + std::to_string(out.size()) + "]";
        dom::object obj;
        if (item.get(obj)) return fail(profile_error(where + ": expected an object"));
        SeccompArchMapEntry entry;
        if (std::optional<dom::element> arch = member(obj, "architecture")) {
            Result<std::string> name = string_of(*arch, where + ".architecture");
            if (!name) return fail(std::move(name.error()));
            entry.arch = std::move(*name);
        }
        auto subs = strings_of(member(obj, "subArchitectures"), where + ".subArchitectures");
        if (!subs) return fail(std::move(subs.error()));
        entry.sub_arches = std::move(*subs);
        out.push_back(std::move(entry));
    }
    return out;
}

Result<> profile_head_of(dom::object obj, SeccompProfile& p) {
    if (std::optional<dom::element> action = member(obj, "defaultAction")) {
        Result<std::string> name = string_of(*action, "defaultAction");
        if (!name) return fail(std::move(name.error()));
        if (!name->empty()) {
            Result<SeccompAction> parsed = action_of(*name, "defaultAction");
            if (!parsed) return fail(std::move(parsed.error()));
            p.default_action = *parsed;
        }
    }
    auto errno_ret = errno_of(member(obj, "defaultErrnoRet"), "defaultErrnoRet");
    if (!errno_ret) return fail(std::move(errno_ret.error()));
    p.default_errno_ret = *errno_ret;
    auto arches = strings_of(member(obj, "architectures"), "architectures");
    if (!arches) return fail(std::move(arches.error()));
    p.architectures = std::move(*arches);
    auto arch_map = arch_map_of(member(obj, "archMap"));
    if (!arch_map) return fail(std::move(arch_map.error()));
    p.arch_map = std::move(*arch_map);
    if (!p.architectures.empty() && !p.arch_map.empty())
        return fail(profile_error("both 'architectures' and 'archMap' are specified, use one"));
    auto flags = strings_of(member(obj, "flags"), "flags");
    if (!flags) return fail(std::move(flags.error()));
    p.flags = std::move(*flags);
    return {};
}

// ---- choosing the rules for a container (moby's setupSeccomp) -------------------------------

// The native architecture in libseccomp's profile names and in Go's names ("arches" filters).
#if defined(__x86_64__)
constexpr std::string_view native_scmp_arch = "SCMP_ARCH_X86_64", native_go_arch = "amd64";
#elif defined(__aarch64__)
constexpr std::string_view native_scmp_arch = "SCMP_ARCH_AARCH64", native_go_arch = "arm64";
#elif defined(__riscv) && __riscv_xlen == 64
constexpr std::string_view native_scmp_arch = "SCMP_ARCH_RISCV64", native_go_arch = "riscv64";
#elif defined(__s390x__)
constexpr std::string_view native_scmp_arch = "SCMP_ARCH_S390X", native_go_arch = "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr std::string_view native_scmp_arch = "SCMP_ARCH_PPC64LE", native_go_arch = "ppc64le";
#else
#error "berth: no seccomp architecture names for this target"
#endif

std::pair<unsigned, unsigned> running_kernel() {
    static const std::pair<unsigned, unsigned> version = [] {
        utsname u{};
        std::pair<unsigned, unsigned> v{0, 0};
        if (::uname(&u) != 0) return v;
        std::string_view r = u.release;
        auto [p, ec] = std::from_chars(r.data(), r.data() + r.size(), v.first);
        if (ec == std::errc{} && p < r.data() + r.size() && *p == '.')
            std::from_chars(p + 1, r.data() + r.size(), v.second);
        return v;
    }();
    return version;
}

bool holds(const std::string& cap_name, CapMask caps) {
    std::optional<int> cap = capability_from_name(cap_name);
    return cap && (caps & (CapMask{1} << *cap));
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// Excludes: any listed cap held, the native arch listed, or the kernel new enough → skip.
// Includes: every listed cap held, the native arch listed, and the kernel new enough.
bool applies(const SeccompRule& rule, CapMask caps) {
    const SeccompCondition& ex = rule.excludes;
    if (contains(ex.arches, native_go_arch)) return false;
    for (const std::string& c : ex.caps)
        if (holds(c, caps)) return false;
    if (ex.min_kernel && running_kernel() >= *ex.min_kernel) return false;
    const SeccompCondition& in = rule.includes;
    if (!in.arches.empty() && !contains(in.arches, native_go_arch)) return false;
    for (const std::string& c : in.caps)
        if (!holds(c, caps)) return false;
    if (in.min_kernel && running_kernel() < *in.min_kernel) return false;
    return true;
}

// Every capability the profile's rules test: the only bits of a mask that change its program.
CapMask capabilities_named(const SeccompProfile& p) {
    CapMask mask = 0;
    for (const SeccompRule& rule : p.syscalls) {
        for (const auto* caps : {&rule.includes.caps, &rule.excludes.caps})
            for (const std::string& name : *caps)
                if (std::optional<int> cap = capability_from_name(name)) mask |= CapMask{1} << *cap;
    }
    return mask;
}

// "SCMP_ARCH_X86_64" → libseccomp's token; 0 when this libseccomp does not know it.
uint32_t scmp_arch(std::string_view name) {
    if (name.starts_with("SCMP_ARCH_")) name.remove_prefix(10);
    std::string lower;
    for (char c : name) lower += char(std::tolower(static_cast<unsigned char>(c)));
    return seccomp_arch_resolve_name(lower.c_str());
}

std::vector<std::string> chosen_arches(const SeccompProfile& p) {
    if (p.arch_map.empty()) return p.architectures;
    std::vector<std::string> out;
    for (const SeccompArchMapEntry& entry : p.arch_map) {
        if (entry.arch != native_scmp_arch) continue;
        out.push_back(entry.arch);
        out.insert(out.end(), entry.sub_arches.begin(), entry.sub_arches.end());
        break;
    }
    return out;
}

Result<unsigned> load_flags(const std::vector<std::string>& names) {
    static constexpr std::pair<std::string_view, unsigned> known[] = {
        {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
        {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
        {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
        {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
    };
    unsigned flags = 0;
    for (const std::string& name : names) {
        auto it = std::find_if(std::begin(known), std::end(known),
                               [&](const auto& k) { return k.first == name; });
        if (it == std::end(known)) return fail(profile_error("unknown flag " + in_quotes(name)));
        flags |= it->second;
    }
    return flags;
}

// ---- libseccomp -----------------------------------------------------------------------------

struct ContextRelease {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextRelease>;

uint32_t scmp_action(SeccompAction action, std::optional<unsigned> errno_ret) {
    uint16_t data = uint16_t(errno_ret.value_or(EPERM));
    switch (action) {
        case SeccompAction::kill_thread:
            return SCMP_ACT_KILL_THREAD;
        case SeccompAction::kill_process:
            return SCMP_ACT_KILL_PROCESS;
        case SeccompAction::trap:
            return SCMP_ACT_TRAP;
        case SeccompAction::errno_ret:
            return SCMP_ACT_ERRNO(data);
        case SeccompAction::trace:
            return SCMP_ACT_TRACE(data);
        case SeccompAction::log:
            return SCMP_ACT_LOG;
        case SeccompAction::allow:
            return SCMP_ACT_ALLOW;
    }
    return SCMP_ACT_KILL_PROCESS;  // unreachable: every action is listed
}

scmp_arg_cmp scmp_condition(const SeccompArg& arg) {
    static constexpr scmp_compare ops[] = {SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE,       SCMP_CMP_EQ,
                                           SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ};
    return scmp_arg_cmp{arg.index, ops[size_t(arg.op)], arg.value, arg.value_two};
}

Result<Context> new_context(const SeccompProfile& p) {
    uint32_t def = scmp_action(*p.default_action, p.default_errno_ret);
    Context ctx(seccomp_init(def));
    if (!ctx) return fail(Error::internal("seccomp_init failed"));
    // A binary tree of syscall numbers instead of a linear list. Same decisions, but the kernel
    // emulates the filter for every (arch, syscall) pair when it is loaded (the action cache),
    // so a linear 1,000-instruction program costs ~0.8 ms per container start; the tree, far less.
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
        return fail(Error::sys(-rc, "seccomp: enable binary-tree optimization"));
    for (const std::string& name : chosen_arches(p)) {
        uint32_t arch = scmp_arch(name);
        if (arch == 0) return fail(profile_error("unknown architecture " + in_quotes(name)));
        int rc = seccomp_arch_add(ctx.get(), arch);
        if (rc < 0 && rc != -EEXIST)
            return fail(Error::sys(-rc, "seccomp: add architecture " + name));
    }
    return ctx;
}

// runc's rule: conditions on distinct arguments are ANDed in one rule; if an argument index
// repeats, each condition becomes a rule of its own (ORed), the older Docker behaviour.
int add_syscall(void* ctx, uint32_t action, int nr, const std::vector<SeccompArg>& args) {
    std::vector<scmp_arg_cmp> conds;
    bool repeated = false;
    unsigned seen = 0;
    for (const SeccompArg& a : args) {
        repeated |= (seen >> a.index) & 1;
        seen |= 1u << a.index;
        conds.push_back(scmp_condition(a));
    }
    if (!repeated)
        return seccomp_rule_add_array(ctx, action, nr, unsigned(conds.size()), conds.data());
    for (const scmp_arg_cmp& c : conds)
        if (int rc = seccomp_rule_add_array(ctx, action, nr, 1, &c); rc < 0) return rc;
    return 0;
}

Result<> add_rule(void* ctx, const SeccompRule& rule, uint32_t default_action) {
    uint32_t action = scmp_action(rule.action, rule.errno_ret);
    // libseccomp refuses a rule that repeats the default action; it would change nothing.
    if (action == default_action) return {};
    for (const std::string& name : rule.names) {
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp: skipped, as runc does
        if (int rc = add_syscall(ctx, action, nr, rule.args); rc < 0)
            return fail(profile_error("syscall " + in_quotes(name) + ": " + std::strerror(-rc)));
    }
    return {};
}

// libseccomp 2.5 exports only to an fd; a memfd keeps it in memory.
Result<std::vector<sock_filter>> export_bpf(void* ctx) {
    UniqueFd fd(::memfd_create("berth-seccomp", MFD_CLOEXEC));
    if (!fd) return fail(Error::last_sys("seccomp: memfd_create"));
    if (int rc = seccomp_export_bpf(ctx, fd.get()); rc < 0)
        return fail(Error::sys(-rc, "seccomp: export BPF"));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(Error::last_sys("seccomp: fstat memfd"));
    if (st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0)
        return fail(Error::internal("seccomp: exported program has a bad size " +
                                    std::to_string(st.st_size)));
    std::vector<sock_filter> filter(size_t(st.st_size) / sizeof(sock_filter));
    auto* bytes = reinterpret_cast<char*>(filter.data());
    for (off_t done = 0; done < st.st_size;) {
        ssize_t n = ::pread(fd.get(), bytes + done, size_t(st.st_size - done), done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::last_sys("seccomp: read memfd"));
        if (n == 0) return fail(Error::internal("seccomp: exported program is short"));
        done += n;
    }
    return filter;
}

}  // namespace

Result<SeccompProfile> seccomp_parse_profile(std::string_view profile_json) {
    dom::parser parser;
    simdjson::padded_string padded(profile_json);
    dom::element doc;
    if (auto err = parser.parse(padded).get(doc))
        return fail(profile_error(std::string("bad JSON: ") + simdjson::error_message(err)));
    dom::object obj;
    if (doc.get(obj)) return fail(profile_error("expected a JSON object"));
    SeccompProfile profile;
    if (Result<> head = profile_head_of(obj, profile); !head) return fail(std::move(head.error()));
    if (std::optional<dom::element> calls = member(obj, "syscalls")) {
        dom::array arr;
        if (calls->get(arr)) return fail(profile_error("syscalls: expected an array"));
        for (dom::element e : arr) {
            std::string where = "syscalls[" + std::to_string(profile.syscalls.size()) + "]";
            Result<SeccompRule> rule = rule_of(e, where);
            if (!rule) return fail(std::move(rule.error()));
            profile.syscalls.push_back(std::move(*rule));
        }
    }
    return profile;
}

Result<SeccompProgram> seccomp_compile(const SeccompProfile& profile, CapMask caps) {
    // Docker: no default action and no rules means no seccomp at all.
    if (!profile.default_action && profile.syscalls.empty()) return SeccompProgram{};
    if (!profile.default_action) return fail(profile_error("defaultAction: missing"));
    Result<unsigned> flags = load_flags(profile.flags);
    if (!flags) return fail(std::move(flags.error()));
    Result<Context> ctx = new_context(profile);
    if (!ctx) return fail(std::move(ctx.error()));
    uint32_t def = scmp_action(*profile.default_action, profile.default_errno_ret);
    for (const SeccompRule& rule : profile.syscalls) {
        if (!applies(rule, caps)) continue;
        if (Result<> added = add_rule(ctx->get(), rule, def); !added)
            return fail(std::move(added.error()));
    }
    Result<std::vector<sock_filter>> filter = export_bpf(ctx->get());
    if (!filter) return fail(std::move(filter.error()));
    if (filter->size() > BPF_MAXINSNS)
        return fail(profile_error("the program has " + std::to_string(filter->size()) +
                                  " instructions, more than the kernel's " +
                                  std::to_string(BPF_MAXINSNS)));
    return SeccompProgram{std::move(*filter), *flags};
}

Result<SeccompProgram> seccomp_from_json(std::string_view profile_json, CapMask caps) {
    Result<SeccompProfile> profile = seccomp_parse_profile(profile_json);
    if (!profile) return fail(std::move(profile.error()));
    return seccomp_compile(*profile, caps);
}

// Compiling the default profile costs about 10 ms (libseccomp), five times a whole container
// start, and the result depends only on the capabilities the profile names; so programs are
// kept per relevant mask, and each start after the first for a given set copies one.
Result<SeccompProgram> seccomp_docker_default(CapMask caps) {
    static const CapMask relevant = capabilities_named(seccomp_docker_default_profile());
    static std::mutex mutex;
    static std::vector<std::pair<CapMask, SeccompProgram>> programs;
    constexpr size_t programs_max = 64;
    CapMask key = caps & relevant;
    std::lock_guard lock(mutex);
    for (const auto& [mask, program] : programs)
        if (mask == key) return program;
    Result<SeccompProgram> program = seccomp_compile(seccomp_docker_default_profile(), key);
    if (!program) return program;
    if (programs.size() == programs_max) programs.erase(programs.begin());
    programs.emplace_back(key, *program);
    return program;
}

}  // namespace berth::kernel
