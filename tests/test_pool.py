"""The pool's rules: warm reuse, concurrency, keep-alive, memory budget, redeploy."""
import threading
import time

import pytest

from conftest import alive, src, wait_gone
from nblambda import TooManyRequestsException

PID = src("""
    import os, time
    def handler(event, context):
        time.sleep(event or 0)
        return os.getpid()
""")


def test_warm_reuse_of_one_sandbox(platform):
    platform.deploy("pid", PID)
    results = [platform.invoke("pid") for _ in range(5)]
    assert len({r.payload for r in results}) == 1
    assert [r.cold for r in results] == [True] + [False] * 4
    assert platform.stats()["idle"] == 1


def test_concurrent_invokes_get_their_own_sandboxes(platform):
    platform.deploy("pid", PID)
    results = [None] * 3
    started = time.monotonic()

    def call(i):
        results[i] = platform.invoke("pid", 0.5)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert len({r.payload for r in results}) == 3  # one sandbox per concurrent invocation
    assert all(r.cold for r in results)
    assert elapsed < 1.4  # they ran side by side, not one after another
    assert platform.stats()["idle"] == 3
    # afterwards, sequential invokes reuse one of the three warm sandboxes
    assert platform.invoke("pid").payload in {r.payload for r in results}


def test_idle_sandboxes_are_reaped_after_the_keep_alive(make_platform):
    now = [0.0]
    p = make_platform(keep_alive=600, clock=lambda: now[0], reap_interval=3600)
    p.deploy("pid", PID)
    pid = p.invoke("pid").payload
    now[0] = 599.0
    assert p.pool.reap() == 0 and alive(pid)
    assert not p.invoke("pid").cold  # last used is now 599
    now[0] = 599.0 + 600.0
    assert p.pool.reap() == 1
    assert wait_gone([pid]) == []
    assert p.invoke("pid").cold


def test_reaper_thread_runs_by_itself(make_platform):
    p = make_platform(keep_alive=0.2, reap_interval=0.05)
    p.deploy("pid", PID)
    pid = p.invoke("pid").payload
    assert wait_gone([pid], timeout=3) == []
    assert p.stats()["reaped"] == 1


def test_memory_budget_evicts_the_least_recently_used_idle_sandbox(make_platform):
    p = make_platform(memory_budget_mb=256)
    for name in ("a", "b", "c"):
        p.deploy(name, PID, memory=128)
    pid_a = p.invoke("a").payload
    pid_b = p.invoke("b").payload
    p.invoke("a")  # a is now the most recently used
    pid_c = p.invoke("c").payload  # needs room: b, the least recently used, goes
    assert wait_gone([pid_b]) == []
    assert alive(pid_a) and alive(pid_c)
    assert p.stats()["evicted"] == 1 and p.stats()["memory_mb"] == 256
    assert not p.invoke("a").cold


def test_budget_full_of_busy_sandboxes_waits_then_throttles(make_platform):
    p = make_platform(memory_budget_mb=128)
    p.pool.acquire_timeout_s = 0.3
    p.deploy("pid", PID)
    p.deploy("other", PID)
    t = threading.Thread(target=p.invoke, args=("pid", 1.5))
    t.start()
    time.sleep(0.5)
    with pytest.raises(TooManyRequestsException):
        p.invoke("other")
    t.join()
    assert isinstance(p.invoke("other").payload, int)  # room again once the first one is done


def test_function_larger_than_the_budget_is_refused(make_platform):
    p = make_platform(memory_budget_mb=256)
    p.deploy("huge", PID, memory=512)
    with pytest.raises(TooManyRequestsException, match="memory budget"):
        p.invoke("huge")


def test_redeploy_uses_new_code_and_retires_old_sandboxes(platform):
    platform.deploy("v", "import os\ndef handler(e, c):\n    return ['v1', os.getpid()]\n")
    v1, old_pid = platform.invoke("v").payload
    platform.deploy("v", "import os\ndef handler(e, c):\n    return ['v2', os.getpid()]\n")
    assert wait_gone([old_pid]) == []
    r = platform.invoke("v")
    assert r.payload[0] == "v2" and r.cold and r.payload[1] != old_pid


def test_redeploy_during_an_invocation_retires_that_sandbox_afterwards(platform):
    platform.deploy("v", PID)
    pid = platform.invoke("v").payload
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", platform.invoke("v", 0.5)))
    t.start()
    time.sleep(0.2)
    platform.deploy("v", PID + "\n# changed\n")
    t.join()
    assert box["r"].payload == pid  # the running invocation finished on the old code
    assert wait_gone([pid]) == []
    assert platform.invoke("v").payload != pid


def test_configuration_change_also_replaces_sandboxes(platform):
    platform.deploy("cfg", "import os\ndef handler(e, c):\n    return [os.environ.get('KEY'), os.getpid()]\n",
                    environment={"KEY": "1"})
    assert platform.invoke("cfg").payload[0] == "1"
    platform.deploy("cfg", "import os\ndef handler(e, c):\n    return [os.environ.get('KEY'), os.getpid()]\n",
                    environment={"KEY": "2"})
    assert platform.invoke("cfg").payload[0] == "2"


def test_platform_keeps_serving_after_timeouts_ooms_and_crashes(platform):
    platform.deploy("slow", "import time\ndef handler(e, c):\n    time.sleep(5)\n", timeout=1)
    platform.deploy("hog", "def handler(e, c):\n    x = [b'x' * (8 << 20) for _ in range(100)]\n")
    platform.deploy("crash", "import os\ndef handler(e, c):\n    os._exit(1)\n")
    platform.deploy("ok", "def handler(e, c):\n    return e\n")
    statuses = [platform.invoke(n).status for n in ("slow", "hog", "crash")]
    assert statuses == ["timeout", "oom", "crash"]
    assert platform.invoke("ok", 7).payload == 7
    stats = platform.stats()
    assert stats["busy"] == 0 and stats["idle"] == 1 and stats["memory_mb"] == 128


def test_requests_waiting_for_memory_are_served_in_arrival_order(make_platform):
    # Room for one sandbox: "a" runs, then "b" and a second "a" wait. When the first "a" ends,
    # its warm sandbox must not jump the queue: "b" arrived first, so "b" goes first.
    p = make_platform(memory_budget_mb=128)
    p.deploy("a", PID)
    p.deploy("b", PID)
    order, lock = [], threading.Lock()

    def call(name, seconds):
        r = p.invoke(name, seconds)
        with lock:
            order.append((name, time.monotonic()))
        return r

    first = threading.Thread(target=call, args=("a", 0.6))
    first.start()
    time.sleep(0.2)
    waiting_b = threading.Thread(target=call, args=("b", 0.3))
    waiting_b.start()
    time.sleep(0.1)
    waiting_a = threading.Thread(target=call, args=("a", 0.0))
    waiting_a.start()
    for t in (first, waiting_b, waiting_a):
        t.join()
    assert [name for name, _ in order] == ["a", "b", "a"]


def test_the_handler_always_has_every_cpu(platform):
    # The host steers a lone invoke's wake-up to its own CPU; the runtime must widen the CPU set
    # again before the handler runs, or a handler's threads and children would share one core.
    import os

    platform.deploy("cpus", "import os, subprocess\ndef handler(e, c):\n"
                            "    child = subprocess.run(['python3', '-c', 'import os; print(len(os.sched_getaffinity(0)))'],"
                            " capture_output=True, text=True).stdout.strip()\n"
                            "    return [sorted(os.sched_getaffinity(0)), int(child)]\n")
    expected = sorted(os.sched_getaffinity(0))
    for _ in range(5):
        cpus, child = platform.invoke("cpus").payload
        assert cpus == expected and child == len(expected)
