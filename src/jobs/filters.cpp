#include "jobs/filters.hpp"

#include <simdjson.h>

#include "base/time.hpp"

namespace berth::jobs {

Result<Filters> Filters::parse(std::string_view json, const std::set<std::string>& allowed) {
    Filters f;
    if (json.empty()) return f;
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc))
        return fail(Error::invalid(std::string("invalid filter: ") + simdjson::error_message(err)));
    simdjson::dom::object obj;
    if (doc.get(obj)) return fail(Error::invalid("invalid filter: expected a JSON object"));
    for (auto [key, value] : obj) {
        std::string k(key);
        if (!allowed.contains(k)) return fail(Error::invalid("invalid filter '" + k + "'"));
        auto& set = f.terms_[k];
        if (simdjson::dom::array arr; !value.get(arr)) {
            for (auto item : arr) {
                std::string_view s;
                if (item.get(s)) return fail(Error::invalid("invalid filter '" + k + "'"));
                set.emplace(s);
            }
        } else if (simdjson::dom::object m; !value.get(m)) {
            for (auto [mk, mv] : m) {
                bool on = false;
                if (!mv.get(on) && on) set.emplace(mk);
            }
        } else {
            return fail(Error::invalid("invalid filter '" + k + "'"));
        }
    }
    if (f.has("dangling"))
        for (const auto& v : f.values("dangling"))
            if (v != "true" && v != "false" && v != "1" && v != "0")
                return fail(Error::invalid("invalid filter 'dangling=" + v + "'"));
    return f;
}

const std::set<std::string>& Filters::values(const std::string& key) const {
    static const std::set<std::string> none;
    auto it = terms_.find(key);
    return it == terms_.end() ? none : it->second;
}

bool Filters::bool_value(const std::string& key) const {
    const auto& v = values(key);
    return v.contains("true") || v.contains("1");
}

bool label_term_matches(const std::string& term, const std::map<std::string, std::string>& labels) {
    size_t eq = term.find('=');
    auto it = labels.find(term.substr(0, eq));
    if (it == labels.end()) return false;
    return eq == std::string::npos || it->second == term.substr(eq + 1);
}

Result<std::optional<int64_t>> Filters::time_value(const std::string& key, int64_t now_ns) const {
    std::optional<int64_t> out;
    for (const std::string& v : values(key)) {
        auto t = parse_docker_time(v, now_ns);
        if (!t) return fail(Error::invalid("invalid filter '" + key + "=" + v + "'"));
        out = *t;
    }
    return out;
}

bool Filters::labels_match(const std::string& key,
                           const std::map<std::string, std::string>& labels) const {
    for (const auto& t : values(key))
        if (!label_term_matches(t, labels)) return false;
    return true;
}

bool Filters::labels_unmatch(const std::string& key,
                             const std::map<std::string, std::string>& labels) const {
    for (const auto& t : values(key))
        if (label_term_matches(t, labels)) return false;
    return true;
}

bool glob_match(std::string_view p, std::string_view t) {
    // Backtracking on the last '*', which does not cross '/' (path.Match semantics).
    size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
    while (ti < t.size()) {
        if (pi < p.size() && (p[pi] == '?' ? t[ti] != '/' : p[pi] == t[ti])) {
            ++pi, ++ti;
        } else if (pi < p.size() && p[pi] == '*') {
            star = pi++;
            mark = ti;
        } else if (star != std::string_view::npos && t[mark] != '/') {
            pi = star + 1;
            ti = ++mark;
        } else {
            return false;
        }
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

}  // namespace berth::jobs
