"""Nothing is left behind: after close(), interpreter exit, or a SIGKILLed kernel."""
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from conftest import alive, wait_gone

SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, threading, time
    from nblambda import Platform
    mode, home = sys.argv[1], sys.argv[2]
    p = Platform(home)
    p.deploy("slow", "import time\\ndef handler(e, c):\\n    time.sleep(5)\\n", timeout=1)
    p.deploy("hog", "def handler(e, c):\\n    x = [b'x' * (8 << 20) for _ in range(100)]\\n")
    p.deploy("crash", "import os\\ndef handler(e, c):\\n    os._exit(1)\\n")
    p.deploy("spawner", "import subprocess\\ndef handler(e, c):\\n"
                        "    return subprocess.Popen(['sleep', '300']).pid\\n")
    p.deploy("ok", "import os\\ndef handler(e, c):\\n    return os.getpid()\\n")
    p.deploy("busy", "import os, time\\ndef handler(e, c):\\n    time.sleep(60)\\n", timeout=120)
    assert [p.invoke(n).status for n in ("slow", "hog", "crash")] == ["timeout", "oom", "crash"]
    pids = [p.invoke("ok").payload, p.invoke("spawner").payload]
    threading.Thread(target=p.invoke, args=("busy",), daemon=True).start()
    time.sleep(0.5)
    pids += [lease.sandbox.pid for lease in p.pool._busy.values()]
    pids += [lease.sandbox.pid for lease, _ in p.pool._idle.values()]
    pids.append(p.backend("process").forkserver._proc.pid)
    cgroups = p.backend("process").cgroups
    print(json.dumps({"pids": pids, "cgroup": str(cgroups.parent) if cgroups else None}), flush=True)
    if mode == "close":
        p.close()
    elif mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    # mode "exit": fall off the end; the platform's atexit hook must clean up
""")


@pytest.mark.parametrize("mode", ["close", "exit", "sigkill"])
def test_no_process_survives_the_host(tmp_path, mode):
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(tmp_path / "home")],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout, out.stderr
    info = json.loads(out.stdout.splitlines()[-1])
    assert len(set(info["pids"])) == 5  # sandboxes of ok, spawner and busy, a grandchild, zygote
    assert wait_gone(info["pids"], timeout=10) == [], f"left behind after {mode}"
    if info["cgroup"] and mode != "sigkill":
        assert not Path(info["cgroup"]).exists()


def test_stale_cgroups_of_a_killed_host_are_removed_at_next_start(tmp_path):
    from nblambda.sandbox.cgroups import MemoryCgroups

    out = subprocess.run([sys.executable, "-c", SCRIPT, "sigkill", str(tmp_path / "home")],
                         capture_output=True, text=True, timeout=120)
    info = json.loads(out.stdout.splitlines()[-1])
    if not info["cgroup"]:
        pytest.skip("no writable cgroup on this machine: nothing to clean")
    wait_gone(info["pids"], timeout=10)
    MemoryCgroups.clean_stale()
    assert not Path(info["cgroup"]).exists()


def test_close_is_idempotent_and_kills_busy_sandboxes(make_platform):
    p = make_platform()
    p.deploy("busy", "import time\ndef handler(e, c):\n    time.sleep(60)\n", timeout=120)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", p.invoke("busy")))
    t.start()
    import time

    deadline = time.monotonic() + 10
    while not p.pool._busy and time.monotonic() < deadline:
        time.sleep(0.02)
    [lease] = p.pool._busy.values()
    pid = lease.sandbox.pid
    p.close()
    p.close()
    t.join(timeout=10)
    assert not t.is_alive()
    assert box["r"].status == "crash"  # the invocation ends with an error, it does not hang
    assert not alive(pid)


def test_a_sandbox_that_exits_takes_its_children_with_it(make_platform):
    # Lambda discards the whole execution environment: a process the handler started must not
    # outlive the sandbox, even when the sandbox ends by itself (as when it sees its host go away)
    # rather than being killed by the host.
    p = make_platform()
    p.deploy("orphaner", "import os, subprocess, threading, time\n"
                         "def leave():\n"
                         "    time.sleep(0.3)\n"
                         "    os._exit(0)\n"
                         "def handler(e, c):\n"
                         "    child = subprocess.Popen(['sleep', '300'])\n"
                         "    threading.Thread(target=leave).start()\n"
                         "    return child.pid\n")
    r = p.invoke("orphaner")
    assert r.status == "success"
    assert wait_gone([r.payload], timeout=10) == []


INTERRUPT_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from nblambda import Platform
    p = Platform(sys.argv[1])
    p.deploy("ok", "import os\\ndef handler(e, c):\\n    return os.getpid()\\n")
    first = p.invoke("ok").payload
    try:
        os.killpg(os.getpgid(0), signal.SIGINT)  # what Ctrl-C and Jupyter's Interrupt do
        time.sleep(1)
    except KeyboardInterrupt:
        pass
    second = p.invoke("ok")
    print(first, second.payload, second.status, flush=True)
    p.close()
""")


def test_interrupting_the_kernel_does_not_break_the_platform(tmp_path):
    out = subprocess.run([sys.executable, "-c", INTERRUPT_SCRIPT, str(tmp_path / "home")],
                         capture_output=True, text=True, timeout=60, start_new_session=True)
    first, second, status = out.stdout.split()
    assert status == "success", out.stderr
    assert first == second  # the same warm sandbox: the interrupt reached neither it nor the zygote
    assert "KeyboardInterrupt" not in out.stderr and "Traceback" not in out.stderr, out.stderr
