"""The process backend: each sandbox is an OS process forked from the zygote, in its own session."""
from __future__ import annotations

import os
import signal
import sys
import threading

from .base import Sandbox
from .cgroups import MemoryCgroups
from .forkserver import RUNTIME_DIR, ForkServer
from .watchdog import MemoryWatchdog


def _load_getcpu():
    try:
        import ctypes

        getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
        getcpu.restype = ctypes.c_int
        return getcpu if getcpu() >= 0 and hasattr(os, "sched_setaffinity") else None
    except (OSError, AttributeError):
        return None


_getcpu = _load_getcpu()


def _current_cpu() -> int | None:
    return _getcpu() if _getcpu is not None else None


class ProcessSandbox(Sandbox):
    backend_name = "process"

    def __init__(self, backend: "ProcessBackend", sandbox_id: str, pid: int, sock, memory_mb: int,
                 cgroup: str | None) -> None:
        super().__init__(sandbox_id, sock, memory_mb)
        self.backend = backend
        self.pid = pid
        self.cgroup = cgroup
        self._status: int | None = None
        self._reaped = False
        if cgroup is None:
            backend.watchdog.watch(pid, memory_mb * 1024 * 1024, self._watchdog_kill)

    def steer_to_caller(self) -> bool:
        # Waking a process that sleeps on another CPU costs tens of microseconds (far more in a
        # VM) each way; a warm invoke is a round trip of two such wake-ups. Pinning the sleeping
        # sandbox to the caller's CPU makes both wake-ups local; the runtime restores its full
        # CPU set as soon as it wakes, so the handler, its threads and children use every core.
        cpu = _current_cpu()
        if cpu is None:
            return False
        try:
            os.sched_setaffinity(self.pid, (cpu,))
        except OSError:
            return False
        return True

    def _watchdog_kill(self) -> None:
        self.oom_flag = True
        self.kill()

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the whole group: the handler's children too
        except (ProcessLookupError, PermissionError):
            pass

    def exit_status(self, timeout: float) -> int | None:
        if not self._reaped:
            self._status = self.backend.forkserver.wait_exit(self.pid, timeout)
            self._reaped = True
        return self._status

    def oom_killed(self) -> bool:
        if self.oom_flag:
            return True
        if self.cgroup is not None and self.backend.cgroups is not None:
            return self.backend.cgroups.oom_killed(self.cgroup)
        return False

    def peak_memory_mb(self) -> int:
        """After a timeout or a crash: the cgroup's peak counts the handler's child processes too
        (a child killed at the limit), which the sandbox's own figure cannot."""
        if self.cgroup is not None and self.backend.cgroups is not None:
            peak = self.backend.cgroups.peak_bytes(self.cgroup)
            self.max_memory_mb = max(self.max_memory_mb, int(peak / (1 << 20) + 0.5))
        return self.max_memory_mb

    def destroy(self) -> None:
        self.dead = True
        self.kill()
        self.close()
        self.backend.watchdog.unwatch(self.pid)
        self.exit_status(timeout=2.0)
        if self.cgroup is not None and self.backend.cgroups is not None:
            self.backend.cgroups.remove(self.cgroup)


class ProcessBackend:
    """Sandboxes as local processes. ``memory_enforcement``: "auto" (cgroup if possible),
    "cgroup" (required), or "watchdog" (poll resident memory)."""

    name = "process"

    def __init__(self, python: str = sys.executable, memory_enforcement: str = "auto") -> None:
        self.python = python
        self.forkserver = ForkServer(python)
        self.watchdog = MemoryWatchdog()
        self.cgroups: MemoryCgroups | None = None
        if memory_enforcement in ("auto", "cgroup"):
            MemoryCgroups.clean_stale()
            self.cgroups = MemoryCgroups.detect()
            if self.cgroups is None and memory_enforcement == "cgroup":
                raise RuntimeError("no writable memory cgroup on this machine; "
                                   "use memory_enforcement='watchdog'")
        elif memory_enforcement != "watchdog":
            raise ValueError(f"unknown memory_enforcement {memory_enforcement!r}")
        self._ids = 0
        self._lock = threading.Lock()
        self._python_version: tuple[int, int] | None = None

    @property
    def memory_enforcement(self) -> str:
        return f"cgroup v{self.cgroups.version}" if self.cgroups else "watchdog"

    def prestart(self) -> None:
        self.forkserver.start()

    def task_root(self, spec) -> str:
        return spec.code_dir

    def layer_paths(self, spec) -> list[str]:
        """Dependency layers go on sys.path after the task root, as Lambda's /opt/python."""
        return [spec.layer_dir] if spec.layer_dir else []

    def runtime_dir(self) -> str:
        return RUNTIME_DIR

    def python_version(self) -> tuple[int, int]:
        if self._python_version is None:
            if self.python == sys.executable:
                self._python_version = sys.version_info[:2]
            else:
                import subprocess

                out = subprocess.check_output(
                    [self.python, "-c", "import sys;print(*sys.version_info[:2])"])
                major, minor = out.split()
                self._python_version = (int(major), int(minor))
        return self._python_version

    def start(self, memory_mb: int, spec=None) -> ProcessSandbox:
        with self._lock:
            self._ids += 1
            sandbox_id = f"p{os.getpid()}-{self._ids}"
        cgroup = self.cgroups.create(sandbox_id, memory_mb) if self.cgroups else None
        try:
            pid, sock = self.forkserver.spawn([cgroup] if cgroup else [])
        except Exception:
            if cgroup:
                self.cgroups.remove(cgroup)
            raise
        return ProcessSandbox(self, sandbox_id, pid, sock, memory_mb, cgroup)

    def close(self) -> None:
        self.forkserver.close()
        self.watchdog.close()
        if self.cgroups is not None:
            self.cgroups.close()
