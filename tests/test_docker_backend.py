"""What the docker backend adds to the shared contract: the container's limits and mounts, its
network, stem cells, labels, cgroup figures, and the pool's rules applied across backends.

(The Lambda contract itself -- handler, context, errors, logs -- runs on docker in
tests/test_contract_*.py, the same tests as for processes.)
"""
import time
from pathlib import Path

import pytest

from conftest import require_docker, src
from nblambda.sandbox.docker_engine import (FUNCTION_LABEL, LABEL, STEMCELL_LABEL,
                                            VERSION_LABEL, cpus_for)

MIB = 1024 * 1024


@pytest.fixture
def docker(make_platform):
    require_docker()

    def make(**kwargs):
        kwargs.setdefault("backend", "docker")
        return make_platform(**kwargs)
    return make


def containers(platform):
    backend = platform.backend("docker")
    return backend.client.api.containers(
        all=True, filters={"label": f"nblambda.backend={backend.token}"})


def sandbox_of(platform, name):
    """The live DockerSandbox serving ``name`` (idle in the pool)."""
    with platform.pool._cond:
        for lease, _ in platform.pool._idle.values():
            if lease.name == name:
                return lease.sandbox
    raise AssertionError(f"no idle sandbox for {name}")


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


INSIDE = src("""
    import os
    def attempt(path):
        try:
            with open(path, "w") as f:
                f.write("x")
            return "written"
        except OSError as exc:
            return exc.strerror
    def handler(event, context):
        mounts = {}
        for line in open("/proc/self/mountinfo"):
            fields = line.split()
            mounts[fields[4]] = fields[5].split(",")[0]
        tmp = os.statvfs("/tmp")
        return {"uid": os.getuid(), "root": attempt("/etc/x"), "task": attempt("/var/task/x"),
                "runtime": attempt("/var/runtime/x"), "tmp": attempt("/tmp/x"),
                "tmp_mb": tmp.f_blocks * tmp.f_frsize // 2**20,
                "mounts": {p: mounts.get(p) for p in ("/", "/var/runtime", "/var/task", "/opt")},
                "cwd": os.getcwd()}
""")


def test_read_only_container_with_a_writable_512mb_tmp_as_an_unprivileged_user(docker):
    p = docker()
    p.deploy("inside", INSIDE)
    r = p.invoke("inside").payload
    assert r["uid"] == 993  # Lambda's sbx_user1051
    assert r["root"] == r["task"] == r["runtime"] == "Read-only file system"
    assert r["tmp"] == "written" and r["tmp_mb"] == 512
    assert r["mounts"] == {"/": "ro", "/var/runtime": "ro", "/var/task": "ro", "/opt": "ro"}
    assert r["cwd"] == "/var/task"


def test_memory_cpu_and_pids_limits_follow_the_function(docker):
    p = docker()
    p.deploy("limits", "def handler(e, c):\n    return 1\n", memory=1769)
    assert p.invoke("limits").payload == 1
    cell = sandbox_of(p, "limits").cell
    memory, cpu = cell.cgroup.memory, cell.cgroup.cpu
    assert int((memory / "memory.limit_in_bytes").read_text()) == 1769 * MIB
    assert int((memory / "memory.memsw.limit_in_bytes").read_text()) == 1769 * MIB  # no swap
    # 1,769 MB is one vCPU in Lambda: a full CFS period (less on a one-CPU machine)
    quota = int((cpu / "cpu.cfs_quota_us").read_text())
    assert quota == int(cpus_for(1769) * 100_000) == 100_000
    host = p.backend("docker").client.api.inspect_container(cell.container_id)["HostConfig"]
    assert host["PidsLimit"] == 1024 and host["ReadonlyRootfs"] and host["Init"]
    assert cpus_for(128) == pytest.approx(128 / 1769)


def test_max_memory_used_is_the_containers_cgroup_peak(docker):
    p = docker()
    # the runtime's own resident size stays small: the memory is the child's, which only the
    # container's cgroup sees
    p.deploy("child", src("""
        import subprocess, sys
        def handler(event, context):
            subprocess.run([sys.executable, "-c", "b = b'x' * (120 << 20)"], check=True)
            return "done"
    """), memory=512)
    r = p.invoke("child")
    assert r.payload == "done"
    assert 120 <= r.max_memory_used_mb < 300
    assert f"Max Memory Used: {r.max_memory_used_mb} MB" in r.logs


NETWORK = src("""
    import socket
    def handler(event, context):
        return sorted(name for _, name in socket.if_nameindex())
""")


def test_network_is_on_by_default_and_none_isolates(docker):
    p = docker()
    p.deploy("online", NETWORK)
    p.deploy("offline", NETWORK, network="none")
    assert "eth0" in p.invoke("online").payload or p.backend("docker").default_network == "host"
    assert p.invoke("offline").payload == ["lo"]


def test_a_stem_cell_serves_the_first_invoke_and_is_replaced(docker):
    p = docker(prewarm=1)
    backend = p.backend("docker")
    backend.prestart()
    [stem] = containers(p)
    assert stem["Labels"][STEMCELL_LABEL] == "1" and stem["Labels"][LABEL] == "1"
    p.deploy("first", "def handler(e, c):\n    return 'warm'\n")
    r = p.invoke("first")
    assert r.cold and r.payload == "warm"
    assert sandbox_of(p, "first").cell.container_id == stem["Id"]
    # a stem cell's labels were fixed before it had a function: its name says which it serves
    assert wait_for(lambda: any(c["Names"][0].startswith("/nblambda-first-")
                                for c in containers(p)))
    assert backend.stemcells.wait_ready(backend.default_kind, 1, timeout=60)


def test_cold_start_from_a_stem_cell_skips_docker_run(docker, tmp_path):
    fast = docker(prewarm=1)
    fast.backend("docker").prestart()
    slow = docker(prewarm=0, home=tmp_path / "other")
    for p in (fast, slow):
        p.deploy("fn", "def handler(e, c):\n    return 1\n")
    stem_cold = fast.invoke("fn")
    run_cold = slow.invoke("fn")
    assert stem_cold.cold and run_cold.cold
    # docker run costs hundreds of ms; a stem cell only the function's init
    assert stem_cold.init_duration_ms * 3 < run_cold.init_duration_ms
    [own] = containers(slow)  # started for the function: its labels name it
    assert own["Labels"][FUNCTION_LABEL] == "fn" and own["Labels"][VERSION_LABEL] == "$LATEST"


def test_warm_invokes_reuse_the_container(docker):
    p = docker()
    p.deploy("pid", "import os, socket\ndef handler(e, c):\n    return socket.gethostname()\n")
    hosts = {p.invoke("pid").payload for _ in range(5)}
    assert len(hosts) == 1 and p.stats()["cold"] == 1


def test_memory_budget_and_lru_eviction_span_both_backends(docker):
    p = docker(backend="process", memory_budget_mb=256)
    p.deploy("proc", "def handler(e, c):\n    return 'p'\n")
    p.deploy("box", "def handler(e, c):\n    return 'd'\n", backend="docker")
    p.deploy("box2", "def handler(e, c):\n    return 'd2'\n", backend="docker")
    assert p.invoke("proc").payload == "p"
    assert p.invoke("box").payload == "d"
    box = sandbox_of(p, "box").cell.container_id
    assert p.invoke("box2").payload == "d2"  # the budget is full: the LRU sandbox (proc) goes
    assert p.invoke("proc").payload == "p"  # and now box, a container, is the LRU one
    assert p.stats()["evicted"] == 2
    api = p.backend("docker").client.api
    assert wait_for(lambda: not api.containers(all=True, filters={"id": box}))


def test_idle_containers_are_reaped_after_the_keep_alive(docker):
    now = [0.0]
    p = docker(keep_alive=60, clock=lambda: now[0], reap_interval=3600)
    p.deploy("idle", "def handler(e, c):\n    return 1\n")
    p.invoke("idle")
    cid = sandbox_of(p, "idle").cell.container_id
    now[0] += 61
    assert p.pool.reap() == 1
    api = p.backend("docker").client.api
    assert wait_for(lambda: not api.containers(all=True, filters={"id": cid}))


def test_same_code_on_both_backends_in_one_platform(docker):
    p = docker(backend="process")
    code = src("""
        import os, sys
        def handler(event, context):
            return {"sum": sum(event), "python": "%d.%d" % sys.version_info[:2],
                    "root": os.environ["LAMBDA_TASK_ROOT"]}
    """)
    p.deploy("local", code)
    p.deploy("boxed", code, backend="docker")
    local, boxed = p.invoke("local", [1, 2, 3]).payload, p.invoke("boxed", [1, 2, 3]).payload
    assert local["sum"] == boxed["sum"] == 6 and local["python"] == boxed["python"]
    assert boxed["root"] == "/var/task" and Path(local["root"]).is_dir()
    assert p.get_function("boxed").runtime == p.get_function("local").runtime
