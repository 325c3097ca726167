"""Memory limits through the kernel's cgroups, where this machine lets us create them.

cgroup v1 (a writable ``memory`` hierarchy) and v2 (a delegated subtree with the memory controller)
are both tried; ``detect()`` returns None when neither works (a laptop without root, Binder), and
the pool falls back to the resident-memory watchdog.
"""
from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

_instances = itertools.count(1)
V1_ROOT = Path("/sys/fs/cgroup/memory")
V2_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(controller: str | None) -> str | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller is None and controllers == "":
            return path
        if controller is not None and controller in controllers.split(","):
            return path
    return None


class MemoryCgroups:
    """One cgroup per sandbox under ``<own cgroup>/nblambda-<pid>``, so limits nest inside ours."""

    def __init__(self, parent: Path, version: int) -> None:
        self.parent = parent
        self.version = version

    @classmethod
    def detect(cls) -> "MemoryCgroups | None":
        candidates = []
        own = _own_cgroup("memory")
        if own is not None and (V1_ROOT / "memory.limit_in_bytes").exists():
            candidates.append((V1_ROOT / own.lstrip("/"), 1))
            candidates.append((V1_ROOT, 1))
        own2 = _own_cgroup(None)
        if own2 is not None and (V2_ROOT / "cgroup.controllers").exists():
            candidates.append((V2_ROOT / own2.lstrip("/"), 2))
        for base, version in candidates:
            # one folder per backend instance: two Platforms in one kernel must not share it
            parent = base / f"nblambda-{os.getpid()}-{next(_instances)}"
            try:
                parent.mkdir(exist_ok=True)
                if version == 2:
                    (parent / "cgroup.subtree_control").write_text("+memory")
                probe = cls(parent, version)
                path = probe.create("probe", 64)
                probe.remove(path)
                return probe
            except OSError:
                try:
                    parent.rmdir()
                except OSError:
                    pass
        return None

    def create(self, name: str, memory_mb: int) -> str:
        path = self.parent / name
        path.mkdir(exist_ok=True)
        limit = str(memory_mb * 1024 * 1024)
        if self.version == 1:
            (path / "memory.limit_in_bytes").write_text(limit)
            swap = path / "memory.memsw.limit_in_bytes"
            if swap.exists():  # no swapping past the limit: Lambda has no swap
                swap.write_text(limit)
        else:
            (path / "memory.max").write_text(limit)
            swap = path / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
        return str(path)

    def oom_killed(self, path: str) -> bool:
        p = Path(path)
        try:
            if self.version == 1:
                for line in (p / "memory.oom_control").read_text().splitlines():
                    if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                        return True
                return int((p / "memory.failcnt").read_text()) > 0 and \
                    int((p / "memory.max_usage_in_bytes").read_text()) >= \
                    int((p / "memory.limit_in_bytes").read_text()) - (1 << 20)
            for line in (p / "memory.events").read_text().splitlines():
                key, value = line.split()
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def peak_bytes(self, path: str) -> int:
        """The most memory the cgroup has held (0 where the kernel does not say)."""
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        try:
            return int((Path(path) / name).read_text())
        except (OSError, ValueError):
            return 0

    def remove(self, path: str) -> None:
        try:
            os.rmdir(path)
        except OSError:
            pass

    def close(self) -> None:
        for child in list(self.parent.glob("*")):
            if child.is_dir():
                self.remove(str(child))
        try:
            self.parent.rmdir()
        except OSError:
            pass

    @staticmethod
    def clean_stale(wait: float = 2.0) -> None:
        """Remove the cgroups of hosts that died without closing, killing any process left in
        them first: with their host gone, they are orphans."""
        for root in (V1_ROOT, V2_ROOT):
            own = _own_cgroup("memory" if root == V1_ROOT else None)
            for base in {root, root / (own or "").lstrip("/")}:
                for stale in base.glob("nblambda-*"):
                    pid = stale.name.split("-")[1]
                    if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                        for child in [c for c in stale.glob("*") if c.is_dir()]:
                            _empty_and_remove(child, wait)
                        try:
                            stale.rmdir()
                        except OSError:
                            pass


def _empty_and_remove(path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            path.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
