#include "http/api/config_types.hpp"

#include <string>
#include <string_view>

namespace berth::http {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

enum class Want : unsigned char {
    string,
    boolean,
    integer,
    strslice,    // a string or an array of strings (Cmd, Entrypoint)
    strings,     // an array of strings
    string_map,  // an object of strings
    object,
    array,
};

struct Field {
    const char* name;
    Want want;
};

constexpr Field config_fields[] = {
    {"Hostname", Want::string},      {"Domainname", Want::string},
    {"User", Want::string},          {"Image", Want::string},
    {"WorkingDir", Want::string},    {"StopSignal", Want::string},
    {"MacAddress", Want::string},    {"AttachStdin", Want::boolean},
    {"AttachStdout", Want::boolean}, {"AttachStderr", Want::boolean},
    {"Tty", Want::boolean},          {"OpenStdin", Want::boolean},
    {"StdinOnce", Want::boolean},    {"NetworkDisabled", Want::boolean},
    {"ArgsEscaped", Want::boolean},  {"Cmd", Want::strslice},
    {"Entrypoint", Want::strslice},  {"Env", Want::strings},
    {"OnBuild", Want::strings},      {"Shell", Want::strings},
    {"Labels", Want::string_map},    {"ExposedPorts", Want::object},
    {"Volumes", Want::object},       {"Healthcheck", Want::object},
    {"HostConfig", Want::object},    {"NetworkingConfig", Want::object},
    {"StopTimeout", Want::integer},
};

constexpr Field host_config_fields[] = {
    {"Binds", Want::strings},
    {"CapAdd", Want::strings},
    {"CapDrop", Want::strings},
    {"Dns", Want::strings},
    {"DnsOptions", Want::strings},
    {"DnsSearch", Want::strings},
    {"ExtraHosts", Want::strings},
    {"GroupAdd", Want::strings},
    {"SecurityOpt", Want::strings},
    {"Links", Want::strings},
    {"VolumesFrom", Want::strings},
    {"NetworkMode", Want::string},
    {"IpcMode", Want::string},
    {"PidMode", Want::string},
    {"UTSMode", Want::string},
    {"UsernsMode", Want::string},
    {"CgroupParent", Want::string},
    {"CpusetCpus", Want::string},
    {"CpusetMems", Want::string},
    {"Runtime", Want::string},
    {"CgroupnsMode", Want::string},
    {"VolumeDriver", Want::string},
    {"Isolation", Want::string},
    {"AutoRemove", Want::boolean},
    {"Privileged", Want::boolean},
    {"ReadonlyRootfs", Want::boolean},
    {"PublishAllPorts", Want::boolean},
    {"OomKillDisable", Want::boolean},
    {"Init", Want::boolean},
    {"Memory", Want::integer},
    {"MemorySwap", Want::integer},
    {"MemoryReservation", Want::integer},
    {"NanoCpus", Want::integer},
    {"CpuShares", Want::integer},
    {"CpuQuota", Want::integer},
    {"CpuPeriod", Want::integer},
    {"PidsLimit", Want::integer},
    {"ShmSize", Want::integer},
    {"OomScoreAdj", Want::integer},
    {"BlkioWeight", Want::integer},
    {"MemorySwappiness", Want::integer},
    {"RestartPolicy", Want::object},
    {"LogConfig", Want::object},
    {"PortBindings", Want::object},
    {"Tmpfs", Want::string_map},
    {"StorageOpt", Want::string_map},
    {"Sysctls", Want::string_map},
    {"Ulimits", Want::array},
    {"Mounts", Want::array},
    {"Devices", Want::array},
    {"ConsoleSize", Want::array},
};

const char* json_name(element_type t) {
    switch (t) {
        case element_type::ARRAY:
            return "array";
        case element_type::OBJECT:
            return "object";
        case element_type::STRING:
            return "string";
        case element_type::BOOL:
            return "bool";
        case element_type::NULL_VALUE:
            return "null";
        default:
            return "number";
    }
}

const char* go_type(Want w) {
    switch (w) {
        case Want::string:
            return "string";
        case Want::boolean:
            return "bool";
        case Want::integer:
            return "int64";
        case Want::strslice:
            return "strslice.StrSlice";
        case Want::strings:
            return "[]string";
        case Want::string_map:
            return "map[string]string";
        case Want::object:
            return "struct";
        case Want::array:
            return "[]";
    }
    return "";
}

bool all_strings(element e, bool object) {
    if (object) {
        for (auto [k, v] : simdjson::dom::object(e))
            if (!v.is_string()) return false;
        return true;
    }
    for (element v : simdjson::dom::array(e))
        if (!v.is_string()) return false;
    return true;
}

bool matches(element e, Want w) {
    element_type t = e.type();
    switch (w) {
        case Want::string:
            return t == element_type::STRING;
        case Want::boolean:
            return t == element_type::BOOL;
        case Want::integer:
            return t == element_type::INT64 || t == element_type::UINT64;
        case Want::strslice:
            return t == element_type::STRING || (t == element_type::ARRAY && all_strings(e, false));
        case Want::strings:
            return t == element_type::ARRAY && all_strings(e, false);
        case Want::string_map:
            return t == element_type::OBJECT && all_strings(e, true);
        case Want::object:
            return t == element_type::OBJECT;
        case Want::array:
            return t == element_type::ARRAY;
    }
    return false;
}

template <size_t N>
Result<> check_fields(element obj, const Field (&fields)[N], std::string_view go_struct) {
    for (const Field& f : fields) {
        element e;
        if (obj[f.name].get(e) || e.is_null() || matches(e, f.want)) continue;
        return fail(Error::invalid("json: cannot unmarshal " + std::string(json_name(e.type())) +
                                   " into Go struct field " + std::string(go_struct) + "." +
                                   f.name + " of type " + go_type(f.want)));
    }
    return {};
}

}  // namespace

Result<> check_create_types(element body) {
    if (!body.is_object())
        return fail(Error::invalid(std::string("json: cannot unmarshal ") + json_name(body.type()) +
                                   " into Go value of type container.CreateRequest"));
    if (auto r = check_fields(body, config_fields, "CreateRequest"); !r) return r;
    element hc;
    if (!body["HostConfig"].get(hc) && hc.is_object())
        return check_fields(hc, host_config_fields, "CreateRequest.HostConfig");
    return {};
}

}  // namespace berth::http
