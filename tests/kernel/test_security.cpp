// Capabilities and seccomp as Docker applies them: capability names and cap-add / cap-drop /
// --privileged rules, the seccomp profile parser and its errors, and the compiled programs
// loaded for real in forked children (seccomp needs no root once no_new_privs is set).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <span>
#include <string>

#include "kernel/security.hpp"

namespace berth::kernel {
namespace {

constexpr CapMask bit(int cap) {
    return CapMask{1} << cap;
}
constexpr int cap_chown = 0, cap_dac_read_search = 2, cap_net_admin = 12, cap_net_raw = 13,
              cap_sys_admin = 21;

// ---- capabilities ---------------------------------------------------------------------------

TEST(Capabilities, names_map_both_ways_for_every_known_capability) {
    for (int cap = 0; cap <= 40; ++cap) {
        std::string name = capability_name(cap);
        EXPECT_TRUE(name.starts_with("CAP_")) << name;
        EXPECT_EQ(capability_from_name(name), cap) << name;
    }
    EXPECT_EQ(capability_name(12), "CAP_NET_ADMIN");
    EXPECT_EQ(capability_name(40), "CAP_CHECKPOINT_RESTORE");
}

TEST(Capabilities, names_are_case_insensitive_with_or_without_prefix) {
    EXPECT_EQ(capability_from_name("NET_ADMIN"), cap_net_admin);
    EXPECT_EQ(capability_from_name("CAP_NET_ADMIN"), cap_net_admin);
    EXPECT_EQ(capability_from_name("net_admin"), cap_net_admin);
    EXPECT_EQ(capability_from_name("cap_sys_admin"), cap_sys_admin);
    EXPECT_EQ(capability_from_name("Cap_Bpf"), 39);
    EXPECT_EQ(capability_from_name("CAP_FOO"), std::nullopt);
    EXPECT_EQ(capability_from_name("ALL"), std::nullopt);
    EXPECT_EQ(capability_from_name(""), std::nullopt);
    EXPECT_EQ(capability_from_name("CAP_"), std::nullopt);
}

TEST(Capabilities, docker_default_is_the_fourteen_docker_grants) {
    EXPECT_EQ(capabilities_docker_default(), 0x00000000a80425fbULL);
    EXPECT_EQ(std::popcount(capabilities_docker_default()), 14);
}

int kernel_cap_last() {
    int last = -1;
    if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "r")) {
        if (std::fscanf(f, "%d", &last) != 1) last = -1;
        std::fclose(f);
    }
    return last;
}

TEST(Capabilities, all_stays_within_what_the_kernel_knows) {
    int last = kernel_cap_last();
    ASSERT_GE(last, 0) << "cannot read /proc/sys/kernel/cap_last_cap";
    ASSERT_LT(last, 63);
    EXPECT_EQ(capabilities_all() >> (last + 1), 0u);
    if (::geteuid() == 0) {
        EXPECT_NE(capabilities_all() & capabilities_docker_default(), 0u);
    }
}

CapMask resolve_ok(const std::vector<std::string>& add, const std::vector<std::string>& drop,
                   bool privileged = false) {
    Result<CapMask> caps = resolve_capabilities(add, drop, privileged);
    EXPECT_TRUE(caps.has_value()) << (caps ? "" : caps.error().message);
    return caps.value_or(0);
}

// Docker refuses cap-add and cap-drop names the daemon's own set lacks ("not available in the
// current environment"), so these cases need this process to hold what they name, as root does.
class CapabilityRules : public ::testing::Test {
  protected:
    void SetUp() override {
        CapMask needed = capabilities_docker_default() | bit(cap_net_admin);
        if ((capabilities_all() & needed) != needed)
            GTEST_SKIP() << "needs root holding the default capabilities and CAP_NET_ADMIN";
    }
};

TEST(Capabilities, no_adds_or_drops_give_the_default) {
    EXPECT_EQ(resolve_ok({}, {}), capabilities_docker_default());
}

TEST_F(CapabilityRules, cap_add_and_cap_drop_change_the_default) {
    CapMask def = capabilities_docker_default();
    EXPECT_EQ(resolve_ok({"NET_ADMIN"}, {}), def | bit(cap_net_admin));
    EXPECT_EQ(resolve_ok({"cap_net_admin"}, {"chown"}), (def | bit(cap_net_admin)) & ~bit(0));
    EXPECT_EQ(resolve_ok({}, {"CAP_NET_RAW", "MKNOD"}), def & ~bit(cap_net_raw) & ~bit(27));
    // Docker drops first, then adds: a cap in both lists stays.
    EXPECT_EQ(resolve_ok({"NET_RAW"}, {"NET_RAW"}), def);
}

TEST_F(CapabilityRules, all_in_cap_add_grants_everything_but_the_drops) {
    EXPECT_EQ(resolve_ok({"ALL"}, {}), capabilities_all());
    EXPECT_EQ(resolve_ok({"all"}, {"NET_RAW"}), capabilities_all() & ~bit(cap_net_raw));
    // cap-add ALL wins over cap-drop ALL, as in Docker.
    EXPECT_EQ(resolve_ok({"ALL"}, {"ALL"}), capabilities_all());
}

TEST_F(CapabilityRules, all_in_cap_drop_keeps_only_the_adds) {
    EXPECT_EQ(resolve_ok({}, {"ALL"}), 0u);
    EXPECT_EQ(resolve_ok({"CHOWN", "NET_ADMIN"}, {"all"}), bit(cap_chown) | bit(cap_net_admin));
}

TEST(Capabilities, privileged_gets_all_without_looking_at_the_lists) {
    EXPECT_EQ(resolve_ok({}, {}, true), capabilities_all());
    EXPECT_EQ(resolve_ok({"CAP_FOO"}, {"ALL"}, true), capabilities_all());
}

TEST(Capabilities, unknown_capability_is_an_invalid_parameter_naming_it) {
    Result<CapMask> added = resolve_capabilities({"foo"}, {}, false);
    ASSERT_FALSE(added.has_value());
    EXPECT_EQ(added.error().kind, ErrorKind::invalid_parameter);
    EXPECT_EQ(added.error().message, "unknown capability: \"CAP_FOO\"");

    Result<CapMask> dropped = resolve_capabilities({}, {"CAP_NOPE"}, false);
    ASSERT_FALSE(dropped.has_value());
    EXPECT_EQ(dropped.error().message, "unknown capability: \"CAP_NOPE\"");
}

TEST(Capabilities, capability_the_environment_lacks_is_refused_like_docker) {
    int missing = -1;
    for (int cap = 0; cap <= kernel_cap_last(); ++cap)
        if (!(capabilities_all() & bit(cap))) missing = cap;
    if (missing < 0) GTEST_SKIP() << "this environment holds every capability the kernel knows";
    Result<CapMask> caps = resolve_capabilities({capability_name(missing)}, {}, false);
    ASSERT_FALSE(caps.has_value());
    EXPECT_EQ(caps.error().kind, ErrorKind::invalid_parameter);
    EXPECT_NE(caps.error().message.find("not available in the current environment"),
              std::string::npos);
}

// ---- seccomp: programs and profiles ---------------------------------------------------------

SeccompProgram compile_ok(Result<SeccompProgram> program) {
    EXPECT_TRUE(program.has_value()) << (program ? "" : program.error().message);
    return program.value_or(SeccompProgram{});
}

bool same_program(const SeccompProgram& a, const SeccompProgram& b) {
    return a.filter.size() == b.filter.size() &&
           std::memcmp(a.filter.data(), b.filter.data(), a.filter.size() * sizeof(sock_filter)) ==
               0;
}

// Structural checks a kernel would also make: it starts by loading seccomp_data.arch, every jump
// lands inside the program, and it ends in a return.
void expect_well_formed(const SeccompProgram& program) {
    const std::vector<sock_filter>& f = program.filter;
    ASSERT_FALSE(f.empty());
    EXPECT_LE(f.size(), size_t(BPF_MAXINSNS));
    EXPECT_EQ(f.front().code, BPF_LD | BPF_W | BPF_ABS);
    EXPECT_EQ(f.front().k, offsetof(seccomp_data, arch));
    EXPECT_EQ(BPF_CLASS(f.back().code), BPF_RET);
    for (size_t i = 0; i < f.size(); ++i) {
        if (BPF_CLASS(f[i].code) != BPF_JMP) continue;
        if (BPF_OP(f[i].code) == BPF_JA) {
            EXPECT_LT(i + 1 + f[i].k, f.size()) << "instruction " << i;
        } else {
            EXPECT_LT(i + 1 + f[i].jt, f.size()) << "instruction " << i;
            EXPECT_LT(i + 1 + f[i].jf, f.size()) << "instruction " << i;
        }
    }
}

TEST(Seccomp, default_program_is_well_formed_bpf) {
    SeccompProgram program = compile_ok(seccomp_docker_default(capabilities_docker_default()));
    expect_well_formed(program);
    EXPECT_GT(program.filter.size(), 300u);  // the allowlist is large
    EXPECT_EQ(program.flags, 0u);
}

TEST(Seccomp, default_program_compiles_for_privileged_and_for_no_capabilities) {
    expect_well_formed(compile_ok(seccomp_docker_default(capabilities_all())));
    expect_well_formed(compile_ok(seccomp_docker_default(0)));
}

TEST(Seccomp, default_program_depends_only_on_the_capabilities_it_names) {
    CapMask def = capabilities_docker_default();
    SeccompProgram base = compile_ok(seccomp_docker_default(def));
    EXPECT_TRUE(same_program(base, compile_ok(seccomp_docker_default(def | bit(cap_net_admin)))));
    EXPECT_FALSE(same_program(base, compile_ok(seccomp_docker_default(def | bit(cap_sys_admin)))));
    EXPECT_FALSE(
        same_program(base, compile_ok(seccomp_docker_default(def | bit(cap_dac_read_search)))));
}

TEST(Seccomp, default_profile_denies_with_eperm_and_lists_docker_architectures) {
    const SeccompProfile& p = seccomp_docker_default_profile();
    EXPECT_EQ(p.default_action, SeccompAction::errno_ret);
    EXPECT_EQ(p.default_errno_ret, unsigned(EPERM));
    ASSERT_FALSE(p.arch_map.empty());
    EXPECT_EQ(p.arch_map[0].arch, "SCMP_ARCH_X86_64");
    EXPECT_EQ(p.arch_map[0].sub_arches,
              (std::vector<std::string>{"SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
}

constexpr std::string_view custom_profile = R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [
        {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"name": "personality", "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
         "includes": {"caps": ["CAP_SYS_ADMIN"], "minKernel": "4.8"},
         "excludes": {"arches": ["s390x"]}, "comment": "ignored"},
        {"names": ["clone"], "action": "SCMP_ACT_KILL_PROCESS",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
    ]
})";

TEST(Seccomp, custom_json_profile_parses_into_docker_fields) {
    Result<SeccompProfile> p = seccomp_parse_profile(custom_profile);
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->default_action, SeccompAction::allow);
    EXPECT_EQ(p->architectures.size(), 2u);
    ASSERT_EQ(p->syscalls.size(), 3u);
    EXPECT_EQ(p->syscalls[0].names, std::vector<std::string>{"getcwd"});
    EXPECT_EQ(p->syscalls[0].action, SeccompAction::errno_ret);
    EXPECT_EQ(p->syscalls[0].errno_ret, 38u);
    const SeccompRule& persona = p->syscalls[1];
    EXPECT_EQ(persona.names, std::vector<std::string>{"personality"});
    ASSERT_EQ(persona.args.size(), 1u);
    EXPECT_EQ(persona.args[0].value, 8u);
    EXPECT_EQ(persona.args[0].op, SeccompOp::eq);
    EXPECT_EQ(persona.includes.caps, std::vector<std::string>{"CAP_SYS_ADMIN"});
    EXPECT_EQ(persona.includes.min_kernel, (std::pair{4u, 8u}));
    EXPECT_EQ(persona.excludes.arches, std::vector<std::string>{"s390x"});
    EXPECT_EQ(p->syscalls[2].args[0].op, SeccompOp::masked_eq);
    EXPECT_EQ(p->syscalls[2].args[0].value, 0x7e020000u);
    expect_well_formed(compile_ok(seccomp_from_json(custom_profile, 0)));
}

TEST(Seccomp, profile_flags_are_passed_on_for_the_load) {
    SeccompProgram program = compile_ok(seccomp_from_json(
        R"({"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]})",
        0));
    EXPECT_EQ(program.flags, unsigned(SECCOMP_FILTER_FLAG_LOG));
}

TEST(Seccomp, empty_profile_means_no_filter) {
    EXPECT_TRUE(compile_ok(seccomp_from_json("{}", capabilities_docker_default())).empty());
}

TEST(Seccomp, syscalls_unknown_to_libseccomp_are_skipped) {
    auto with = compile_ok(seccomp_from_json(
        R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["no_such_syscall_berth","getcwd"],"action":"SCMP_ACT_ERRNO"}]})",
        0));
    auto without = compile_ok(seccomp_from_json(
        R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]})",
        0));
    EXPECT_TRUE(same_program(with, without));
}

TEST(Seccomp, includes_and_excludes_follow_the_container_capabilities) {
    constexpr std::string_view gated = R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","includes":{"caps":["CAP_SYS_ADMIN"]}},
        {"names":["uname"],"action":"SCMP_ACT_ERRNO","excludes":{"caps":["CAP_SYS_ADMIN"]}}]})";
    constexpr std::string_view only_getcwd = R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]})";
    constexpr std::string_view only_uname = R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["uname"],"action":"SCMP_ACT_ERRNO"}]})";
    EXPECT_TRUE(same_program(compile_ok(seccomp_from_json(gated, bit(cap_sys_admin))),
                             compile_ok(seccomp_from_json(only_getcwd, 0))));
    EXPECT_TRUE(same_program(compile_ok(seccomp_from_json(gated, 0)),
                             compile_ok(seccomp_from_json(only_uname, 0))));
}

// The error a bad profile gives: kind invalid_parameter and a message containing `needle`.
void expect_profile_error(std::string_view json, std::string_view needle) {
    Result<SeccompProgram> program = seccomp_from_json(json, capabilities_docker_default());
    ASSERT_FALSE(program.has_value()) << json;
    EXPECT_EQ(program.error().kind, ErrorKind::invalid_parameter);
    EXPECT_TRUE(program.error().message.starts_with("invalid seccomp profile: "))
        << program.error().message;
    EXPECT_NE(program.error().message.find(needle), std::string::npos) << program.error().message;
}

TEST(Seccomp, bad_json_is_an_invalid_parameter) {
    expect_profile_error(R"({"defaultAction": "SCMP_ACT_ERRNO",)", "bad JSON");
    expect_profile_error("[]", "expected a JSON object");
}

TEST(Seccomp, unknown_action_is_named_with_its_place) {
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_FOO"})",
                         "defaultAction: unknown action \"SCMP_ACT_FOO\"");
    expect_profile_error(
        R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["write"],"action":"SCMP_ACT_FOO"}]})",
        "syscalls[1].action: unknown action \"SCMP_ACT_FOO\"");
}

TEST(Seccomp, other_mistakes_are_named) {
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],
        "action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_SORT_OF"}]}]})",
                         "syscalls[0].args[0].op: unknown operator \"SCMP_CMP_SORT_OF\"");
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],
        "action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]})",
                         "syscalls[0].args[0].index: 6 is out of range");
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86"],
        "archMap":[{"architecture":"SCMP_ARCH_X86_64"}]})",
                         "both 'architectures' and 'archMap'");
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_ERRNO",
        "syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]})",
                         "both 'name' and 'names'");
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"]})",
                         "unknown architecture \"SCMP_ARCH_VAX\"");
    expect_profile_error(R"({"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]})",
                         "defaultAction: missing");
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":"read",
        "action":"SCMP_ACT_ALLOW"}]})",
                         "syscalls[0].names: expected an array of strings");
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],
        "action":"SCMP_ACT_ALLOW","includes":{"minKernel":"four"}}]})",
                         "invalid kernel version \"four\"");
    expect_profile_error(
        R"({"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_NOPE"]})",
        "unknown flag \"SECCOMP_FILTER_FLAG_NOPE\"");
    expect_profile_error(R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],
        "action":"SCMP_ACT_ALLOW","errnoRet":5}]})",
                         "syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE");
}

// ---- seccomp: the programs in a real kernel -------------------------------------------------

// One behaviour checked in the confined child; it may make syscalls, never allocate or throw.
struct Check {
    const char* what;
    bool (*holds)();
};

constexpr int child_setup_failed = 200;

[[noreturn]] void run_checks_confined(const SeccompProgram& program,
                                      std::span<const Check> checks) {
    sock_fprog fprog{static_cast<unsigned short>(program.filter.size()),
                     const_cast<sock_filter*>(program.filter.data())};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(child_setup_failed);
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &fprog) != 0)
        ::_exit(child_setup_failed + 1);
    for (size_t i = 0; i < checks.size(); ++i)
        if (!checks[i].holds()) ::_exit(int(i) + 1);
    ::_exit(0);
}

// Forks, loads `program` in the child, runs `checks` there; the exit code names the first
// check that failed (1-based) and the parent turns it back into the check's description.
void expect_confined_child_passes(const SeccompProgram& program, std::span<const Check> checks) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0) << std::strerror(errno);
    if (pid == 0) run_checks_confined(program, checks);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    int code = WEXITSTATUS(status);
    ASSERT_NE(code, child_setup_failed) << "prctl(PR_SET_NO_NEW_PRIVS) failed in the child";
    ASSERT_NE(code, child_setup_failed + 1) << "the kernel refused the seccomp program";
    ASSERT_EQ(code, 0) << "failed in the confined child: "
                       << (code >= 1 && size_t(code) <= checks.size() ? checks[code - 1].what
                                                                      : "unknown exit code");
}

bool fails_with(long rc, int err) {
    return rc == -1 && errno == err;
}

bool status_says_seccomp_filter() {
    int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[8192];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    return std::strstr(buf, "\nSeccomp:\t2\n") != nullptr;
}

// A plain fork (glibc's clone without namespace flags) still works and its child can exit.
bool plain_fork_works() {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(7);
    int status = 0;
    return pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 7;
}

// clone with a namespace flag: refused. If the filter ever let it through, the new child leaves.
bool clone_with_namespace_flag_is_refused() {
    long rc = ::syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (rc == 0) ::_exit(0);
    if (rc > 0) ::waitpid(pid_t(rc), nullptr, 0);
    return fails_with(rc, EPERM);
}

bool clone3_answers_enosys() {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    long rc = ::syscall(SYS_clone3, &args, sizeof args);
    if (rc == 0) ::_exit(0);
    if (rc > 0) ::waitpid(pid_t(rc), nullptr, 0);
    return fails_with(rc, ENOSYS);
}

// Docker's profile allows every family but AF_ALG (38) and AF_VSOCK (40).
bool socket_allows_unix_but_not_alg_or_vsock() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ::close(fd);
    return fails_with(::socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), EPERM) &&
           fails_with(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), EPERM);
}

constexpr Check default_checks[] = {
    {"/proc/self/status shows \"Seccomp:\\t2\"", status_says_seccomp_filter},
    {"unshare(CLONE_NEWNS) fails with EPERM",
     [] { return fails_with(::unshare(CLONE_NEWNS), EPERM); }},
    // Without the filter this would fail with ENOENT (root) or EPERM (not root).
    {"mount() fails with EPERM",
     [] { return fails_with(::mount("none", "/berth-no-such-dir", "tmpfs", 0, nullptr), EPERM); }},
    {"getpid() works", [] { return ::getpid() > 0 && ::syscall(SYS_getpid) == ::getpid(); }},
    {"personality(0xffffffff) queries the persona", [] { return ::personality(0xffffffff) >= 0; }},
    {"personality(PER_BSD) fails with EPERM",
     [] { return fails_with(::personality(PER_BSD), EPERM); }},
    {"a plain fork works", plain_fork_works},
    {"clone(CLONE_NEWUTS) fails with EPERM", clone_with_namespace_flag_is_refused},
    {"clone3 fails with ENOSYS so glibc falls back to clone", clone3_answers_enosys},
    {"socket(AF_UNIX) works, AF_ALG and AF_VSOCK fail with EPERM",
     socket_allows_unix_but_not_alg_or_vsock},
    {"syslog(2) fails with EPERM without CAP_SYSLOG",
     [] { return fails_with(::klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, nullptr, 0), EPERM); }},
};

TEST(SeccompKernel, default_profile_confines_a_default_container) {
    SeccompProgram program = compile_ok(seccomp_docker_default(capabilities_docker_default()));
    ASSERT_FALSE(program.empty());
    expect_confined_child_passes(program, default_checks);
}

bool holds_effective_cap_sys_admin() {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return false;
    char line[256];
    unsigned long long eff = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "CapEff: %llx", &eff) == 1) break;
    std::fclose(f);
    return eff & bit(cap_sys_admin);
}

bool clone3_is_allowed() {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    long rc = ::syscall(SYS_clone3, &args, sizeof args);
    if (rc == 0) ::_exit(0);
    return rc > 0 && ::waitpid(pid_t(rc), nullptr, 0) == rc;
}

constexpr Check sys_admin_checks[] = {
    {"unshare(CLONE_NEWUTS) succeeds", [] { return ::unshare(CLONE_NEWUTS) == 0; }},
    {"clone3 is allowed", clone3_is_allowed},
    {"sethostname works in the new UTS namespace",
     [] { return ::sethostname("berth-test", 10) == 0; }},
};

// The filter, not the capability, is what refuses unshare in a default container: with
// CAP_SYS_ADMIN in the mask the same root child may unshare.
TEST(SeccompKernel, cap_sys_admin_opens_unshare) {
    if (::geteuid() != 0 || !holds_effective_cap_sys_admin())
        GTEST_SKIP() << "needs root with CAP_SYS_ADMIN to unshare for real";
    CapMask caps = capabilities_docker_default() | bit(cap_sys_admin);
    expect_confined_child_passes(compile_ok(seccomp_docker_default(caps)), sys_admin_checks);
}

bool getcwd_fails_with_enosys() {
    char buf[256];
    return ::getcwd(buf, sizeof buf) == nullptr && errno == ENOSYS;
}

constexpr Check custom_checks[] = {
    {"getcwd fails with ENOSYS", getcwd_fails_with_enosys},
    {"getpid() still works", [] { return ::getpid() > 0; }},
};

TEST(SeccompKernel, custom_profile_errno_ret_reaches_the_caller) {
    constexpr std::string_view profile = R"({"defaultAction":"SCMP_ACT_ALLOW",
        "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]})";
    expect_confined_child_passes(compile_ok(seccomp_from_json(profile, 0)), custom_checks);
}

}  // namespace
}  // namespace berth::kernel
