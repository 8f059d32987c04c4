// The container lifecycle on the reactor: start (record → spawn plan inputs → the exec driver),
// output to attached clients (stdcopy frames, or raw with a tty), exit (record, unmount, waiters,
// auto-remove), all driven by the exec driver's events. No thread and no helper process: a
// running container is its driver Container, a cgroup and the clients that listen to it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "drivers/exec/exec_driver.hpp"
#include "loop/loop.hpp"

namespace berth::graph {
struct ContainerRecord;
class ContainerStore;
class ImageStore;
}
namespace berth::drivers {
class StorageDriver;
}

namespace berth::jobs {

class EventBus;

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

class ContainerEngine {
public:
    using StartDone = std::function<void(Result<>)>;
    using WaitDone = std::function<void(int exit_code)>;

    ContainerEngine(loop::Loop& loop, drivers::ExecDriver& driver,
                    drivers::StorageDriver& storage, graph::ContainerStore& containers,
                    graph::ImageStore& images, EventBus& events);
    ~ContainerEngine();

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
    bool running(const std::string& id) const { return running_.contains(id); }
    bool tty(const std::string& id) const;
    // The json-file log of a container.
    std::string log_path(const std::string& id) const;
    // Removes a stopped container: record, storage, and the images rmi -f left behind. A
    // running one is refused (409) unless `force`: then it is killed and removed on exit, and
    // `done` runs then.
    void remove(const std::string& id, bool force, std::function<void(Result<>)> done);
    Result<> signal(const std::string& id, int signo);
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
        int64_t mount_ns = 0;  // the rootfs mounted by the storage driver
        drivers::StartPhases exec;
    };
    const StartTimings* start_timings(const std::string& id) const;

private:
    struct Running;
    struct Waiter {
        std::string id;
        WaitCondition condition;
        WaitDone done;
    };
    void on_started(Running& r, const Result<>& res);
    void on_exited(Running& r, const drivers::ExitStatus& st);
    void notify(const std::string& id, bool removed, int exit_code);
    void publish(const std::string& action, const std::string& id,
                 std::vector<std::pair<std::string, std::string>> extra = {});

    static void on_reap(loop::Completion& c);
    void end_pending_listeners(const std::string& id);
    struct Stop;
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
    uint64_t next_token_ = 1;
    std::function<void()> shutdown_done_;
    std::map<std::string, StartTimings> timings_;
};

}  // namespace berth::jobs
