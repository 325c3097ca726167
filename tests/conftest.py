import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nblambda import Platform


def src(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


# -- backends: the contract suite (modules marked all_backends) runs once per backend --------------
BACKENDS = ("process", "docker")
# One stem cell per docker Platform: most tests deploy one function, and every test's Platform
# starts (and removes) its own containers.
BACKEND_OPTIONS = {"process": {}, "docker": {"prewarm": 1}}
_docker_state: dict = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "all_backends: run each test once per sandbox backend")
    config.addinivalue_line("markers", "backends(*names): run only on these backends (a "
                                       "backend-specific mode of an all_backends test)")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("all_backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        only = item.get_closest_marker("backends")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec else None
        (drop if only and backend and backend not in only.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def docker_unavailable() -> str | None:
    """Why the docker backend cannot run here (None: it can). Asked once per session."""
    if "reason" not in _docker_state:
        from nblambda.sandbox.docker_engine import connect, default_image

        try:
            client = connect(timeout=10)
            default_image(client, sys.version_info[:2])
            client.close()
            _docker_state["reason"] = None
        except Exception as exc:
            _docker_state["reason"] = str(exc)
    return _docker_state["reason"]


def require_docker() -> None:
    """Skip without an engine -- but under CI=true the docker tests must run, so fail."""
    reason = docker_unavailable()
    if reason is None:
        _docker_state["used"] = True
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the docker backend cannot run: {reason}", pytrace=False)
    pytest.skip(f"docker backend unavailable: {reason}")


@pytest.fixture
def backend(request) -> str:
    name = getattr(request, "param", "process")
    if name == "docker":
        require_docker()
    return name


def pytest_sessionfinish(session, exitstatus):
    """Nothing may outlive the suite: no container of this test process is left behind."""
    if not _docker_state.get("used"):
        return
    from nblambda.sandbox.docker_engine import OWNER_LABEL, connect, owner_id

    client = connect(timeout=10)
    left = client.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner_id()}"})
    client.close()
    if left:
        names = ", ".join(c["Names"][0] for c in left)
        print(f"\nERROR: {len(left)} nblambda container(s) left behind: {names}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def platform(tmp_path, backend):
    p = Platform(tmp_path / "home", backend=backend, **BACKEND_OPTIONS[backend])
    yield p
    p.close()


@pytest.fixture
def make_platform(tmp_path, backend):
    made = []

    def make(**kwargs):
        kwargs.setdefault("home", tmp_path / "home")
        kwargs.setdefault("backend", backend)
        for key, value in BACKEND_OPTIONS[kwargs["backend"]].items():
            kwargs.setdefault(key, value)
        p = Platform(**kwargs)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids, timeout=5.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def runtime_pids() -> set:
    """Every process on the machine running nblambda's sandbox runtime."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"nblambda/runtime" in cmd and alive(int(entry.name)):
            pids.add(int(entry.name))
    return pids


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """An in-process IPython with the extension loaded, on its own nblambda home; unloading it
    at the end closes the kernel's platform (and a server it started)."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("NBLAMBDA_HOME", str(tmp_path / "home"))
    ip = InteractiveShell.instance()
    before = set(ip.user_ns)
    ip.run_line_magic("load_ext", "nblambda")
    yield ip
    ip.run_line_magic("unload_ext", "nblambda")
    for name in set(ip.user_ns) - before:  # the next test starts from a clean namespace
        ip.user_ns.pop(name, None)
