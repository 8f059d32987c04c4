"""docker-py (Debian's python3-docker) against berthd, through its own API: run with and
without detach, logs, wait, exec_run, list/get, remove, and Docker's exceptions.

Usage: docker_py_suite.py unix:///path/to.sock <scenario>. Exits non-zero with the reason."""
import sys
import time

import docker

client = docker.DockerClient(base_url=sys.argv[1], timeout=30)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run_detach_logs_wait_remove():
    c = client.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2; exit 3"],
                              detach=True, name="py_detached")
    check(c.wait(timeout=20)["StatusCode"] == 3, "wait gives the exit code")
    check(c.logs() == b"hello\nerr\n", "logs: %r" % c.logs())
    check(c.logs(stdout=True, stderr=False) == b"hello\n", "stdout only")
    check(c.logs(stdout=False, stderr=True) == b"err\n", "stderr only")
    c.reload()
    check(c.status == "exited", "status %s" % c.status)
    check(c.attrs["State"]["ExitCode"] == 3, "inspect's exit code")
    c.remove()
    check(all(x.id != c.id for x in client.containers.list(all=True)), "removed")


def run_attached_returns_output_and_raises_on_failure():
    out = client.containers.run("busybox", "echo hi", remove=True)
    check(out == b"hi\n", "output %r" % out)
    try:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 2"], remove=True)
    except docker.errors.ContainerError as e:
        check(e.exit_status == 2, "exit status %d" % e.exit_status)
    else:
        raise AssertionError("a failing command raised no ContainerError")
    check(client.containers.list(all=True) == [], "--rm left containers")


def exec_run():
    c = client.containers.run("busybox", "sleep 1000", detach=True, environment={"FROM": "run"})
    try:
        r = c.exec_run(["sh", "-c", "echo out; exit 4"])
        check(r.exit_code == 4, "exit code %r" % r.exit_code)
        check(r.output == b"out\n", "output %r" % r.output)
        r = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
        check(r.output == (b"out\n", b"err\n"), "demux %r" % (r.output,))
        r = c.exec_run(["sh", "-c", "echo $FROM $X $(pwd) $(busybox id -u)"],
                       environment={"X": "1"}, workdir="/tmp", user="1000")
        check(r.output == b"run 1 /tmp 1000\n", "env/workdir/user %r" % r.output)
        r = c.exec_run("busybox seq 3", stream=True)
        check(b"".join(r.output) == b"1\n2\n3\n", "streamed")
        r = c.exec_run("busybox tty", tty=True)
        check(r.output.startswith(b"/dev/pts/"), "tty %r" % r.output)
        r = c.exec_run("nosuchprogram")
        check(r.exit_code == 127, "missing program %r" % r.exit_code)
    finally:
        c.remove(force=True)


def list_get_and_errors():
    a = client.containers.run("busybox", "sleep 1000", detach=True, name="py_a",
                              labels={"team": "x"})
    b = client.containers.create("busybox", "true", name="py_b")
    try:
        check(client.containers.get("py_a").id == a.id, "get by name")
        running = [x.name for x in client.containers.list()]
        check(running == ["py_a"], "running %r" % running)
        labelled = [x.name for x in client.containers.list(all=True, filters={"label": "team=x"})]
        check(labelled == ["py_a"], "label filter %r" % labelled)
        created = [x.name for x in client.containers.list(all=True, filters={"status": "created"})]
        check(created == ["py_b"], "status filter %r" % created)
        try:
            client.containers.get("py_nosuch")
        except docker.errors.NotFound:
            pass
        else:
            raise AssertionError("no NotFound")
        try:
            b.exec_run("true")
        except docker.errors.APIError as e:
            check(e.status_code == 409, "exec on a stopped container: %d" % e.status_code)
        else:
            raise AssertionError("exec on a stopped container succeeded")
        a.stop(timeout=1)
        a.reload()
        check(a.status == "exited", "stopped %s" % a.status)
        a.start()
        a.reload()
        check(a.status == "running", "started again %s" % a.status)
        a.kill()
        check(a.wait(timeout=20)["StatusCode"] == 137, "killed")
    finally:
        a.remove(force=True)
        b.remove(force=True)


SCENARIOS = {f.__name__: f for f in [run_detach_logs_wait_remove,
                                     run_attached_returns_output_and_raises_on_failure,
                                     exec_run, list_get_and_errors]}

if __name__ == "__main__":
    SCENARIOS[sys.argv[2]]()
    print("ok")
