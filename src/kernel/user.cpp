#include "kernel/user.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <optional>

#include "kernel/fd.hpp"
#include "kernel/rootfs_path.hpp"

namespace berth::kernel {

namespace {

std::optional<uint32_t> number(std::string_view s) {
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// Splits one passwd/group line into its ':' fields.
std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    size_t start = 0;
    for (size_t i = 0; i <= line.size(); ++i)
        if (i == line.size() || line[i] == ':') {
            out.push_back(line.substr(start, i - start));
            start = i + 1;
        }
    return out;
}

template <class F>
void for_each_line(std::string_view text, F f) {
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty() || line[0] == '#') continue;
        if (!f(fields(line))) return;
    }
}

struct Passwd {
    std::string name;
    uid_t uid;
    gid_t gid;
    std::string home;
};

std::optional<Passwd> find_user(std::string_view passwd, std::string_view who) {
    std::optional<Passwd> found;
    auto uid = number(who);
    for_each_line(passwd, [&](const std::vector<std::string_view>& f) {
        if (f.size() < 7) return true;
        auto u = number(f[2]), g = number(f[3]);
        if (!u || !g) return true;
        if (f[0] == who || (uid && *u == *uid)) {
            found = Passwd{std::string(f[0]), *u, *g, std::string(f[5])};
            return false;
        }
        return true;
    });
    return found;
}

// A group by name or gid: returns the gid.
std::optional<gid_t> find_group(std::string_view group, std::string_view who) {
    std::optional<gid_t> found;
    auto gid = number(who);
    for_each_line(group, [&](const std::vector<std::string_view>& f) {
        if (f.size() < 3) return true;
        auto g = number(f[2]);
        if (g && (f[0] == who || (gid && *g == *gid))) {
            found = *g;
            return false;
        }
        return true;
    });
    return found;
}

std::vector<gid_t> member_groups(std::string_view group, std::string_view user) {
    std::vector<gid_t> out;
    for_each_line(group, [&](const std::vector<std::string_view>& f) {
        if (f.size() < 4) return true;
        auto g = number(f[2]);
        std::string_view members = f[3];
        while (g && !members.empty()) {
            size_t c = members.find(',');
            if (members.substr(0, c) == user) {
                out.push_back(*g);
                break;
            }
            members = c == std::string_view::npos ? std::string_view{} : members.substr(c + 1);
        }
        return true;
    });
    return out;
}

Result<std::string> read_in_root(int root_fd, const char* path) {
    // O_NONBLOCK: an image (or a container before its restart) may have made it a FIFO, and a
    // blocking open would hang the daemon's only thread. Anything but a regular file is refused.
    int fd = open_in_root(root_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd == -ENOENT) return std::string{};
    if (fd < 0) return fail(Error::sys(-fd, std::string("open ") + path + " in the container"));
    UniqueFd owned(fd);
    struct stat st {};
    if (fstat(fd, &st) != 0) return fail(Error::last_sys(std::string("stat ") + path));
    if (!S_ISREG(st.st_mode))
        return fail(Error::invalid(std::string(path) + " in the container is not a regular file"));
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) return fail(Error::last_sys(std::string("read ") + path));
        if (n == 0) break;
        out.append(buf, size_t(n));
        if (out.size() > 16 * 1024 * 1024) return fail(Error::invalid(std::string(path) + " too large"));
    }
    return out;
}

}  // namespace

Result<ExecUser> resolve_user(std::string_view spec, std::string_view passwd,
                              std::string_view group, const std::vector<std::string>& group_add) {
    ExecUser u;
    size_t colon = spec.find(':');
    std::string_view user = spec.substr(0, colon);
    std::string_view grp = colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
    if (user.empty()) user = "0";
    std::optional<Passwd> pw = find_user(passwd, user);
    if (pw) {
        u.uid = pw->uid;
        u.gid = pw->gid;
        u.home = pw->home.empty() ? "/" : pw->home;
    } else if (auto uid = number(user)) {
        u.uid = *uid;  // a numeric uid need not exist in the image (gid 0, home /)
    } else {
        return fail(Error::invalid("unable to find user " + std::string(user) +
                                   ": no matching entries in passwd file"));
    }
    if (!grp.empty()) {
        if (auto g = find_group(group, grp)) u.gid = *g;
        else if (auto n = number(grp)) u.gid = *n;
        else
            return fail(Error::invalid("unable to find group " + std::string(grp) +
                                       ": no matching entries in group file"));
    }
    if (pw && grp.empty()) u.groups = member_groups(group, pw->name);
    for (const std::string& extra : group_add) {
        if (auto g = find_group(group, extra)) u.groups.push_back(*g);
        else if (auto n = number(extra)) u.groups.push_back(*n);
        else
            return fail(Error::invalid("unable to find group " + extra +
                                       ": no matching entries in group file"));
    }
    return u;
}

Result<ExecUser> resolve_user_in_root(const std::string& rootfs, std::string_view spec,
                                      const std::vector<std::string>& group_add) {
    UniqueFd root(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return fail(Error::last_sys("open rootfs " + rootfs));
    auto passwd = read_in_root(root.get(), "/etc/passwd");
    if (!passwd) return fail(passwd.error());
    auto group = read_in_root(root.get(), "/etc/group");
    if (!group) return fail(group.error());
    return resolve_user(spec, *passwd, *group, group_add);
}

}  // namespace berth::kernel
