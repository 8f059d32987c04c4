// dockerd's update, step by step: the request's values checked alone (verifyPlatformContainer-
// Resources with update=true, 400), merged field by field where the request sets them
// (Container.UpdateContainer, 409 on conflicts), the record written, then the running cgroup.
#include "jobs/container_update.hpp"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <optional>

#include "base/json.hpp"
#include "graph/containers.hpp"
#include "jobs/container_engine.hpp"

namespace berth::jobs {

namespace {

using simdjson::dom::element;

constexpr int64_t memory_min_bytes = int64_t(6) << 20;  // dockerd's linuxMinMemory
constexpr int64_t nano_per_cpu = 1000000000;
constexpr int64_t cpu_period_default_us = 100000;

// The request, with Docker's "0 / empty / null: leave as it is".
struct UpdateRequest {
    int64_t memory = 0, memory_swap = 0, memory_reservation = 0, kernel_memory = 0;
    int64_t nano_cpus = 0, cpu_shares = 0, cpu_quota = 0, cpu_period = 0, blkio_weight = 0;
    std::string cpuset_cpus, cpuset_mems;
    std::optional<int64_t> pids_limit;
    std::optional<std::pair<std::string, int64_t>> restart_policy;  // Name, MaximumRetryCount
};

int64_t int_of(element obj, const char* key) {
    int64_t v = 0;
    return obj[key].get(v) ? 0 : v;
}

std::string str_of(element obj, const char* key) {
    std::string_view s;
    return obj[key].get(s) ? std::string() : std::string(s);
}

// A field is given when it is present and not null (0, "" and [] mean "unchanged" anyway).
bool given(element obj, const char* key) {
    element e;
    return !obj[key].get(e) && !e.is_null();
}

Result<> expect_type(element obj, const char* key, bool string) {
    element e;
    if (obj[key].get(e) || e.is_null()) return {};
    bool ok = string ? e.is_string() : (e.is_int64() || e.is_uint64());
    if (ok) return {};
    return fail(Error::invalid(std::string("invalid value for ") + key + ": " +
                               (string ? "a string" : "an integer") + " is expected"));
}

// Resources berth cannot change on a running container yet; refused rather than dropped.
constexpr const char* not_updatable[] = {"CpuRealtimePeriod",
                                         "CpuRealtimeRuntime",
                                         "BlkioWeightDevice",
                                         "BlkioDeviceReadBps",
                                         "BlkioDeviceWriteBps",
                                         "BlkioDeviceReadIOps",
                                         "BlkioDeviceWriteIOps",
                                         "Devices",
                                         "DeviceCgroupRules",
                                         "DeviceRequests",
                                         "Ulimits",
                                         "MemorySwappiness",
                                         "IOMaximumIOps",
                                         "IOMaximumBandwidth",
                                         "CpuCount",
                                         "CpuPercent"};

bool empty_value(element e) {
    int64_t i = 0;
    simdjson::dom::array a;
    std::string_view s;
    bool b = false;
    if (e.is_null()) return true;
    if (!e.get(i)) return i == 0;
    if (!e.get(a)) return a.size() == 0;
    if (!e.get(s)) return s.empty();
    if (!e.get(b)) return !b;
    return false;
}

Result<UpdateRequest> parse_request(std::string_view json) {
    UpdateRequest r;
    if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return r;  // empty body
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    element doc;
    if (parser.parse(padded).get(doc) || !doc.is_object())
        return fail(Error::invalid("invalid JSON: the body must be an UpdateConfig object"));
    for (const char* k : {"Memory", "MemorySwap", "MemoryReservation", "KernelMemory", "NanoCpus",
                          "CpuShares", "CpuQuota", "CpuPeriod", "BlkioWeight", "PidsLimit"})
        if (auto ok = expect_type(doc, k, false); !ok) return fail(std::move(ok.error()));
    for (const char* k : {"CpusetCpus", "CpusetMems"})
        if (auto ok = expect_type(doc, k, true); !ok) return fail(std::move(ok.error()));
    for (const char* k : not_updatable) {
        element e;
        if (!doc[k].get(e) && !empty_value(e))
            return fail(Error::invalid(std::string(k) + " cannot be updated by berth"));
    }
    r.memory = int_of(doc, "Memory");
    r.memory_swap = int_of(doc, "MemorySwap");
    r.memory_reservation = int_of(doc, "MemoryReservation");
    r.kernel_memory = int_of(doc, "KernelMemory");
    r.nano_cpus = int_of(doc, "NanoCpus");
    r.cpu_shares = int_of(doc, "CpuShares");
    r.cpu_quota = int_of(doc, "CpuQuota");
    r.cpu_period = int_of(doc, "CpuPeriod");
    r.blkio_weight = int_of(doc, "BlkioWeight");
    r.cpuset_cpus = str_of(doc, "CpusetCpus");
    r.cpuset_mems = str_of(doc, "CpusetMems");
    // API: 0 and any negative PidsLimit both mean "unlimited" on update (stored as 0).
    if (given(doc, "PidsLimit")) r.pids_limit = std::max<int64_t>(int_of(doc, "PidsLimit"), 0);
    element rp;
    if (!doc["RestartPolicy"].get(rp) && rp.is_object() && !str_of(rp, "Name").empty())
        r.restart_policy = std::pair{str_of(rp, "Name"), int_of(rp, "MaximumRetryCount")};
    return r;
}

Result<> check_restart_policy(const std::pair<std::string, int64_t>& p) {
    const auto& [name, retries] = p;
    if (name != "no" && name != "always" && name != "unless-stopped" && name != "on-failure")
        return fail(Error::invalid("invalid restart policy: unknown policy '" + name +
                                   "'; use one of 'no', 'always', 'on-failure', or "
                                   "'unless-stopped'"));
    if (retries < 0)
        return fail(
            Error::invalid("invalid restart policy: maximum retry count cannot be negative"));
    if (retries > 0 && name != "on-failure")
        return fail(
            Error::invalid("invalid restart policy: maximum retry count can only be used "
                           "with 'on-failure'"));
    return {};
}

// dockerd's checks of the request alone (daemon_unix.go, update=true); its messages, 400.
Result<> check_request(const UpdateRequest& r, int cpus) {
    auto bad = [](std::string m) { return fail(Error::invalid(std::move(m))); };
    if (r.memory != 0 && r.memory < memory_min_bytes)
        return bad("Minimum memory limit allowed is 6MB");
    if (r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory)
        return bad("Minimum memoryswap limit should be larger than memory limit, see usage");
    if (r.memory_reservation > 0 && r.memory_reservation < memory_min_bytes)
        return bad("Minimum memory reservation allowed is 6MB");
    if (r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation)
        return bad("Minimum memory limit can not be less than memory reservation limit, see usage");
    if (r.nano_cpus > 0 && r.cpu_period > 0)
        return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    if (r.nano_cpus > 0 && r.cpu_quota > 0)
        return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    if (r.nano_cpus != 0 && (r.nano_cpus < 0 || r.nano_cpus > int64_t(cpus) * nano_per_cpu)) {
        std::string n = std::to_string(cpus);
        return bad("range of CPUs is from 0.01 to " + n + ".00, as there are only " + n +
                   " CPUs available");
    }
    if (r.cpu_period != 0 && (r.cpu_period < 1000 || r.cpu_period > 1000000))
        return bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
            "(i.e. 1000000)");
    if (r.cpu_quota > 0 && r.cpu_quota < 1000)
        return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)");
    if (r.blkio_weight > 0 && (r.blkio_weight < 10 || r.blkio_weight > 1000))
        return bad("Range of blkio weight is from 10 to 1000");
    if (r.restart_policy) return check_restart_policy(*r.restart_policy);
    return {};
}

}  // namespace

namespace {

// Container.UpdateContainer's conflicts between the request and the stored HostConfig (409,
// wrapped as dockerd wraps them). `swap` is the stored MemorySwap as dockerd would hold it:
// it stores 2×Memory at create when only Memory was given.
Result<> check_conflicts(const UpdateRequest& r, element hc, int64_t swap, const std::string& id) {
    auto conflict = [&](std::string m) {
        return fail(Error::conflict("Cannot update container " + id + ": " + std::move(m)));
    };
    if (r.nano_cpus > 0 && int_of(hc, "CpuPeriod") > 0)
        return conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
    if (r.nano_cpus > 0 && int_of(hc, "CpuQuota") > 0)
        return conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
    if (r.cpu_period > 0 && int_of(hc, "NanoCpus") > 0)
        return conflict(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
    if (r.cpu_quota > 0 && int_of(hc, "NanoCpus") > 0)
        return conflict(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
    if (r.memory != 0 && r.memory > swap && r.memory_swap == 0)
        return conflict(
            "Memory limit should be smaller than already set memoryswap limit, update "
            "the memoryswap at the same time");
    bool auto_remove = false;
    if (hc["AutoRemove"].get(auto_remove)) auto_remove = false;
    if (r.restart_policy && auto_remove && r.restart_policy->first != "no")
        return conflict(
            "Restart policy cannot be updated because AutoRemove is enabled for the container");
    return {};
}

// The HostConfig fields the request changes, as JSON values.
std::map<std::string, std::string> changed_fields(const UpdateRequest& r, element hc,
                                                  int64_t swap) {
    std::map<std::string, std::string> out;
    auto number = [&](const char* key, int64_t v) {
        if (v != 0) out[key] = std::to_string(v);
    };
    auto text = [&](const char* key, const std::string& v) {
        if (!v.empty()) out[key] = JsonWriter().value(v).take();
    };
    number("BlkioWeight", r.blkio_weight);
    number("CpuShares", r.cpu_shares);
    number("NanoCpus", r.nano_cpus);
    number("CpuPeriod", r.cpu_period);
    number("CpuQuota", r.cpu_quota);
    text("CpusetCpus", r.cpuset_cpus);
    text("CpusetMems", r.cpuset_mems);
    number("Memory", r.memory);
    // The swap dockerd holds from create becomes explicit once Memory moves away from it.
    if (r.memory != 0 && int_of(hc, "MemorySwap") == 0 && swap != 0) number("MemorySwap", swap);
    number("MemorySwap", r.memory_swap);
    number("MemoryReservation", r.memory_reservation);
    if (r.pids_limit) out["PidsLimit"] = std::to_string(*r.pids_limit);
    if (r.restart_policy) {
        JsonWriter w;
        w.begin_object().field("Name", r.restart_policy->first);
        w.field("MaximumRetryCount", r.restart_policy->second).end_object();
        out["RestartPolicy"] = w.take();
    }
    return out;
}

// `hc` with `changes` put in place (other fields kept as they were, in their order).
std::string rewrite(element hc, const std::map<std::string, std::string>& changes) {
    JsonWriter w;
    w.begin_object();
    std::map<std::string, std::string> left = changes;
    simdjson::dom::object obj;
    if (!hc.get(obj)) {
        for (auto [k, v] : obj) {
            auto it = left.find(std::string(k));
            if (it == left.end()) {
                w.key(k).raw(simdjson::minify(v));
                continue;
            }
            w.key(k).raw(it->second);
            left.erase(it);
        }
    }
    for (const auto& [k, v] : left) w.key(k).raw(v);
    w.end_object();
    return w.take();
}

}  // namespace

kernel::CgroupLimits limits_of_host_config(std::string_view json) {
    kernel::CgroupLimits l;
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    element hc;
    if (parser.parse(padded).get(hc) || !hc.is_object()) return l;
    l.memory = int_of(hc, "Memory");
    l.memory_swap = int_of(hc, "MemorySwap");
    l.memory_reservation = int_of(hc, "MemoryReservation");
    l.cpu_shares = uint64_t(std::max<int64_t>(int_of(hc, "CpuShares"), 0));
    l.cpu_quota = int_of(hc, "CpuQuota");
    l.cpu_period = uint64_t(std::max<int64_t>(int_of(hc, "CpuPeriod"), 0));
    if (int64_t nano = int_of(hc, "NanoCpus"); nano > 0) {  // --cpus: a quota over 100 ms
        l.cpu_period = cpu_period_default_us;
        l.cpu_quota = nano * cpu_period_default_us / nano_per_cpu;
    }
    l.cpuset_cpus = str_of(hc, "CpusetCpus");
    l.cpuset_mems = str_of(hc, "CpusetMems");
    l.pids_limit = int_of(hc, "PidsLimit");
    l.blkio_weight = uint16_t(std::clamp<int64_t>(int_of(hc, "BlkioWeight"), 0, 1000));
    return l;
}

Result<MergedUpdate> merge_update(std::string_view host_config_json, std::string_view update_json,
                                  const std::string& id, int cpus) {
    auto req = parse_request(update_json);
    if (!req) return fail(std::move(req.error()));
    if (auto ok = check_request(*req, cpus); !ok) return fail(std::move(ok.error()));
    simdjson::dom::parser parser;
    simdjson::padded_string padded(host_config_json);
    element hc;
    if (parser.parse(padded).get(hc) || !hc.is_object())
        return fail(Error::internal("container " + id + " has a corrupt HostConfig"));
    int64_t swap = int_of(hc, "MemorySwap");
    if (swap == 0 && int_of(hc, "Memory") > 0) swap = 2 * int_of(hc, "Memory");
    if (auto ok = check_conflicts(*req, hc, swap, id); !ok) return fail(std::move(ok.error()));
    MergedUpdate out;
    out.host_config_json = rewrite(hc, changed_fields(*req, hc, swap));
    out.limits = limits_of_host_config(out.host_config_json);
    // A PidsLimit set back to unlimited must reach the cgroup as "max" (0 there is "unset").
    if (req->pids_limit && *req->pids_limit == 0) out.limits.pids_limit = -1;
    if (req->kernel_memory != 0)
        out.warnings.push_back(
            "Setting kernel memory limit is not supported by berth; the "
            "KernelMemory value was discarded.");
    return out;
}

Result<std::vector<std::string>> update_container(graph::ContainerStore& containers,
                                                  ContainerEngine& engine, std::string_view ref,
                                                  std::string_view update_json, int cpus) {
    auto rec = containers.get(ref);
    if (!rec) return fail(std::move(rec.error()));
    auto merged = merge_update(rec->host_config_json, update_json, rec->id, cpus);
    if (!merged) return fail(std::move(merged.error()));
    if (auto ok = containers.update_host_config(rec->id, merged->host_config_json); !ok)
        return fail(std::move(ok.error()));
    engine.host_config_updated(rec->id, merged->host_config_json);
    // A stopped container gets the new HostConfig at its next start; a running (or paused)
    // one gets every merged limit written to its cgroup now.
    kernel::Cgroup* cg = engine.cgroup(rec->id);
    if (!cg) return std::move(merged->warnings);
    if (auto ok = cg->update(merged->limits); !ok) {
        (void)containers.update_host_config(rec->id, rec->host_config_json);
        engine.host_config_updated(rec->id, rec->host_config_json);
        (void)cg->update(limits_of_host_config(rec->host_config_json));
        Error e = std::move(ok.error());
        e.message = "Cannot update container " + rec->id + ": " + e.message;
        return fail(std::move(e));
    }
    return std::move(merged->warnings);
}

}  // namespace berth::jobs
