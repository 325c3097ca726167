import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from nblambda import Platform


def src(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


@pytest.fixture
def platform(tmp_path):
    p = Platform(tmp_path / "home")
    yield p
    p.close()


@pytest.fixture
def make_platform(tmp_path):
    made = []

    def make(**kwargs):
        kwargs.setdefault("home", tmp_path / "home")
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
