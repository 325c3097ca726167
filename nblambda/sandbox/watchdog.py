"""Resident-memory watchdog: the memory limit where no cgroup can be created.

Polls the resident set of each busy sandbox's process and SIGKILLs it past its limit, as the kernel's
OOM killer would inside a cgroup. A sandbox that peaks above its limit between two polls is still
caught when it reports its peak with its result (see ``Sandbox.invoke``).
"""
from __future__ import annotations

import os
import threading
from typing import Callable

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class MemoryWatchdog:
    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self._watched: dict[int, tuple[int, Callable[[], None]]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def watch(self, pid: int, limit_bytes: int, on_exceed: Callable[[], None]) -> None:
        with self._lock:
            self._watched[pid] = (limit_bytes, on_exceed)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nblambda-memwatch",
                                                daemon=True)
                self._thread.start()

    def unwatch(self, pid: int) -> None:
        with self._lock:
            self._watched.pop(pid, None)

    def _run(self) -> None:
        while not self._stop:
            with self._lock:
                items = list(self._watched.items())
            for pid, (limit, on_exceed) in items:
                if resident_bytes(pid) > limit:
                    self.unwatch(pid)
                    on_exceed()
            self._wake.wait(self.interval)

    def close(self) -> None:
        self._stop = True
        self._wake.set()
