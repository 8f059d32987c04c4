// The container lifecycle on the reactor: start (record → spawn plan inputs → the exec driver),
// output to attached clients (stdcopy frames, or raw with a tty), exit (record, unmount, waiters,
// auto-remove), all driven by the exec driver's events. No thread and no helper process: a
// running container is its driver Container, a cgroup and the clients that listen to it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "drivers/exec/exec_driver.hpp"
#include "jobs/volumes.hpp"
#include "loop/loop.hpp"

namespace berth::graph {
struct ContainerRecord;
class ContainerStore;
class ImageStore;
}
namespace berth::drivers {
class StorageDriver;
class JsonFileLog;
}

namespace berth::jobs {

class EventBus;
class ContainerNetworks;

// The attributes every event of a container carries, as dockerd's: image, name, its labels.
std::vector<std::pair<std::string, std::string>> container_event_attributes(
    const graph::ContainerRecord& c);

// Someone reading a container's output (an attached client).
struct OutputListener {
    virtual ~OutputListener() = default;
    virtual void on_output(int stream, std::span<const std::byte> data) = 0;
    virtual void on_end() = 0;  // the process is gone; nothing more will come
    // Too much is waiting to be sent: the engine stops reading the container until
    // ContainerEngine::resume_output is called.
    virtual bool saturated() const { return false; }
};

enum class WaitCondition : unsigned char { not_running, next_exit, removed };

// docker exec: what POST /containers/{id}/exec asked for.
struct ExecConfig {
    std::vector<std::string> cmd;
    std::vector<std::string> env;  // "K=V", over the container's
    std::string user;              // "" → the container's
    std::string working_dir;       // "" → the container's
    std::string detach_keys;
    bool tty = false;
    bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
    bool privileged = false;
};

// GET /exec/{id}/json.
struct ExecState {
    std::string id;
    std::string container_id;
    ExecConfig config;
    bool running = false;
    std::optional<int> exit_code;  // null until it ended
    int pid = 0;
};

class ContainerEngine {
public:
    using StartDone = std::function<void(Result<>)>;
    using WaitDone = std::function<void(int exit_code)>;

    ContainerEngine(loop::Loop& loop, drivers::ExecDriver& driver,
                    drivers::StorageDriver& storage, graph::ContainerStore& containers,
                    graph::ImageStore& images, EventBus& events);
    ~ContainerEngine();
    // Volumes: mounted at start, released at exit, anonymous ones removed with `rm -v`/--rm.
    void use_volumes(VolumeService* volumes) { volumes_ = volumes; }
    void use_networks(ContainerNetworks* networks) { networks_ = networks; }

    // 304 (not_modified) when running; exec failures come back as Docker's errors.
    void start(const std::string& ref, StartDone done);
    // Calls `done` with the exit code when the condition holds (at once when it already does).
    // Returns a token for cancel_wait, or 0 when `done` already ran.
    uint64_t wait(const std::string& id, WaitCondition condition, WaitDone done);
    void cancel_wait(uint64_t token);
    void listen(const std::string& id, OutputListener* l);
    void unlisten(const std::string& id, OutputListener* l);
    // A saturated listener caught up: read the container's output again.
    void resume_output(const std::string& id);
    // An attached client's input for the container's stdin (OpenStdin). Input that comes
    // before the start (docker run -i attaches first) is held and written at start.
    void write_stdin(const std::string& id, std::span<const std::byte> data);
    // The end of the input (StdinOnce and the client half-closed): the process reads EOF.
    void close_stdin(const std::string& id);
    bool tty(const std::string& id) const;
    // The cgroup of a running (or paused) container, for stats, top and update; null when it
    // is not running or runs without cgroups. Valid until the loop runs again.
    kernel::Cgroup* cgroup(const std::string& id);
    // docker update stored a new HostConfig: a running container's copy follows (what is read
    // from it at exit, such as the RestartPolicy, is the updated one, as dockerd's monitor).
    void host_config_updated(const std::string& id, const std::string& host_config_json);
    // The json-file log of a container.
    std::string log_path(const std::string& id) const;
    // The log writer of a running container (null when stopped or with the `none` driver).
    drivers::JsonFileLog* live_log(const std::string& id) const;
    // Removes a stopped container: record, storage, and the images rmi -f left behind. A
    // running one is refused (409) unless `force`: then it is killed and removed on exit, and
    // `done` runs then.
    // `remove_volumes` (rm -v): the container's anonymous volumes go too.
    void remove(const std::string& id, bool force, std::function<void(Result<>)> done,
                bool remove_volumes = false);
    Result<> signal(const std::string& id, int signo);
    // A container event from an API handler (attach, restart, …), with the container's image
    // and labels as every container event.
    void announce(const std::string& action, const std::string& id,
                  std::vector<std::pair<std::string, std::string>> extra = {}) {
        publish(action, id, std::move(extra));
    }
    // docker kill: a signal from the user, who thereby stopped it (restart policies spare it).
    Result<> kill(const std::string& id, int signo);
    // --init: the host binary bound at /sbin/docker-init ("" when there is none), and whether
    // containers that do not say (HostConfig.Init null) get it (dockerd's --init).
    void set_init(std::string path, bool by_default) {
        init_path_ = std::move(path);
        default_init_ = by_default;
    }
    // berthd's start: containers whose restart policy says so are started again, as dockerd
    // does (always; unless-stopped unless the user stopped it; on-failure after a failure).
    // Returns the IDs it started.
    std::vector<std::string> start_on_boot();
    bool running(const std::string& id) const { return running_.contains(id); }
    // docker container prune: removes every stopped container `keep` does not hold back.
    struct Pruned {
        std::vector<std::string> ids;
        uint64_t space_reclaimed = 0;
    };
    Result<Pruned> prune(const std::function<bool(const graph::ContainerRecord&)>& selected);
    // POST /containers/{id}/resize: the tty's window size (409 when not running or no tty).
    Result<> resize(const std::string& id, unsigned short rows, unsigned short cols);
    // docker pause / unpause: the cgroup freezer.
    Result<> pause(const std::string& ref, bool frozen);
    // docker stop: `signo` (the container's StopSignal, else SIGTERM), then SIGKILL after
    // `timeout_s` (-1: wait forever). 304 when not running; `done` once it has exited.
    void stop(const std::string& ref, int signo, int timeout_s, std::function<void(Result<>)> done);
    // Daemon shutdown: SIGKILL to every running container; `done` once all have exited.
    void shutdown(std::function<void()> done);
    // berth's timings of a container's last start since the daemon started (inspect's
    // "BerthStartPhases"); null when it has not started. Kept in memory until removal.
    struct StartTimings {
        int64_t mount_ns = 0;    // the rootfs mounted by the storage driver
        int64_t network_ns = 0;  // addresses, namespace (pool), interfaces, ports, DNS
        drivers::StartPhases exec;
    };
    const StartTimings* start_timings(const std::string& id) const;

    // docker exec (jobs/exec.cpp). An exec's ID works with listen, unlisten, resume_output,
    // write_stdin, close_stdin and resize like a container's. 409 when the container is not
    // running or paused, 400 without a command.
    Result<std::string> exec_create(const std::string& ref, ExecConfig config);
    // Starts the process. `done` runs once it is running or could not start; an attached
    // client (listen first) then gets Docker's error text on its stream and its end.
    void exec_start(const std::string& exec_id, StartDone done);
    Result<ExecState> exec_inspect(const std::string& exec_id) const;
    // The container's execs, oldest first (inspect's ExecIDs).
    std::vector<std::string> exec_ids(const std::string& container_id) const;

private:
    struct Running;
    struct Exec;
    Exec* find_exec(const std::string& id) const;
    // The running container an exec joins and the spec it was started with (409 when it is
    // not running or paused).
    Result<std::pair<drivers::Container*, const drivers::ContainerSpec*>> exec_target(
        const std::string& container_id) const;
    void on_exec_started(Exec& e, const Result<>& res);
    void refuse_exec_start(Exec& e, const Error& err, StartDone done);
    void on_exec_exited(Exec& e, const drivers::ExitStatus& st);
    void forget_execs(const std::string& container_id);
    void drop_exec(const std::string& exec_id);
    // Healthchecks (jobs/health_probe.cpp).
    struct HealthProbe;
    void start_health(graph::ContainerRecord& record);
    void schedule_probe(HealthProbe& p);
    void run_probe(HealthProbe& p);
    void on_probe_done(HealthProbe& p);
    void stop_health(const std::string& id);
    graph::ContainerRecord* running_record(const std::string& id);
    Result<> join_network_of(const graph::ContainerRecord& rec, drivers::ContainerSpec& spec);
    void maybe_shutdown_done();
    struct Waiter {
        std::string id;
        WaitCondition condition;
        WaitDone done;
    };
    void on_started(Running& r, const Result<>& res);
    void on_exited(Running& r, const drivers::ExitStatus& st);
    void notify(const std::string& id, bool removed, int exit_code);
    // A container event; its image and labels come from `record` (looked up when null).
    void publish(const std::string& action, const std::string& id,
                 std::vector<std::pair<std::string, std::string>> extra = {},
                 const graph::ContainerRecord* record = nullptr);

    static void on_reap(loop::Completion& c);
    Result<std::unique_ptr<drivers::JsonFileLog>> open_log(const std::string& id,
                                                           const std::string& host_config_json);
    void end_pending_listeners(const std::string& id);
    struct Stop;
    struct Restart;
    void schedule_restart(const std::string& id, int64_t ran_ns);
    bool cancel_restart(const std::string& id);
    bool stop_restarting(const std::string& id);
    Result<> remove_stopped(const std::string& id);

    loop::Loop& loop_;
    drivers::ExecDriver& driver_;
    drivers::StorageDriver& storage_;
    graph::ContainerStore& containers_;
    graph::ImageStore& images_;
    EventBus& events_;
    std::map<std::string, std::unique_ptr<Running>> running_;
    // Exited containers whose driver objects are freed on the next tick (not inside their own
    // callbacks).
    std::vector<std::unique_ptr<Running>> dead_;
    loop::Completion reap_;
    std::map<uint64_t, Waiter> waiters_;
    // Attached before start (docker run attaches, then starts): moved in at start.
    std::map<std::string, std::vector<OutputListener*>> pending_listeners_;
    struct PendingStdin {
        std::string data;
        bool closed = false;
    };
    std::map<std::string, PendingStdin> pending_stdin_;
    std::map<std::string, std::unique_ptr<Exec>> execs_;
    std::map<std::string, std::unique_ptr<HealthProbe>> health_;
    std::vector<std::unique_ptr<HealthProbe>> retired_health_;  // stopped, timers not back yet
    std::map<std::string, std::unique_ptr<Restart>> restarts_;
    std::vector<std::unique_ptr<Restart>> retired_restarts_;  // cancelled, timer not back yet
    std::map<std::string, int64_t> restart_delay_ns_;  // the back-off, per container
    // Exited exec processes whose driver objects still have operations in the ring.
    std::vector<std::unique_ptr<drivers::Container>> dead_procs_;
    std::string init_path_;
    bool default_init_ = false;
    uint64_t next_token_ = 1;
    std::function<void()> shutdown_done_;
    // Volumes (jobs/volumes.hpp): prepared before the spawn, released at exit.
    void prepare_volumes(const graph::ContainerRecord& rec, StartDone done);
    std::vector<std::string> anonymous_volumes(const std::string& id);
    VolumeService* volumes_ = nullptr;
    ContainerNetworks* networks_ = nullptr;
    std::set<std::string> starting_;  // waiting for their volumes (copy-up) before the spawn
    bool shutting_down_ = false;      // a start whose volumes come ready now is refused
    std::map<std::string, StartMounts> volumes_ready_;  // prepared, for the start that follows
    std::map<std::string, StartTimings> timings_;
};

}  // namespace berth::jobs
