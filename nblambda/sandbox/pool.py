"""The sandbox pool: warm reuse, one invocation per sandbox, keep-alive reaping, a memory budget
with least-recently-used eviction, and retirement of sandboxes whose code was redeployed.

The pool never asks which backend a sandbox runs on; it only holds leases.
"""
from __future__ import annotations

import collections
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from ..errors import TooManyRequestsException
from .base import InitOutcome, Sandbox

INIT_TIMEOUT_S = 10.0  # Lambda gives the init phase of an on-demand function 10 seconds


@dataclass
class Lease:
    sandbox: Sandbox
    key: tuple
    name: str
    memory_mb: int
    cold: bool
    init: InitOutcome | None = None
    backend: str = "process"
    provisioned: bool = False  # kept initialised ahead of demand: never reaped for idleness


class Pool:
    def __init__(self, backends: dict, *, keep_alive_s: float = 600.0,
                 memory_budget_mb: int = 8192, clock: Callable[[], float] = time.monotonic,
                 acquire_timeout_s: float = 30.0) -> None:
        self.backends = backends
        self.keep_alive_s = keep_alive_s
        self.memory_budget_mb = memory_budget_mb
        self.clock = clock
        self.acquire_timeout_s = acquire_timeout_s
        self.init_timeout = INIT_TIMEOUT_S  # Lambda's; tests shorten it rather than wait 10 s
        self._cond = threading.Condition()
        self._waiters: collections.deque = collections.deque()
        # key -> {sandbox: (lease, last_used)}; OrderedDicts keep least recently used first
        self._idle: OrderedDict[int, tuple[Lease, float]] = OrderedDict()
        self._busy: dict[int, Lease] = {}
        self._retired: set[int] = set()
        self._reserved_mb = 0
        self._closed = False
        self.counters = {"cold": 0, "warm": 0, "evicted": 0, "reaped": 0, "retired": 0}

    # -- accounting ----------------------------------------------------------------------------
    def stats(self) -> dict:
        with self._cond:
            return {"idle": len(self._idle), "busy": len(self._busy), "memory_mb": self._reserved_mb,
                    "memory_budget_mb": self.memory_budget_mb, **self.counters}

    def busy_count(self) -> int:
        return len(self._busy)

    def sandboxes(self, name: str | None = None) -> list[dict]:
        with self._cond:
            rows = [(lease, "idle") for lease, _ in self._idle.values()]
            rows += [(lease, "busy") for lease in self._busy.values()]
        return [{"id": l.sandbox.id, "function": l.name, "state": s, "memory_mb": l.memory_mb,
                 "backend": l.backend, "invocations": l.sandbox.invocations}
                for l, s in rows if name is None or l.name == name]

    # -- leases --------------------------------------------------------------------------------
    def acquire(self, key: tuple, name: str, memory_mb: int, backend: str,
                init_message: Callable[[], dict], request_id: str = "",
                on_log=None, spec=None, init_timeout: float | None = None) -> Lease:
        """A warm sandbox for ``key`` if one is idle, else a new one (initialised: a cold start)."""
        if memory_mb > self.memory_budget_mb:
            raise TooManyRequestsException(
                f"Function memory {memory_mb} MB is over the pool's memory budget "
                f"({self.memory_budget_mb} MB)", reason="ConcurrentInvocationLimitExceeded")
        to_kill: list[Lease] = []
        waited_until = time.monotonic() + self.acquire_timeout_s
        try:
            lease = self._take_warm_or_reserve(key, memory_mb, waited_until, to_kill)
        finally:
            for victim in to_kill:
                self._destroy(victim.sandbox)
        if lease is not None:
            return lease
        started = time.monotonic()
        try:
            message = init_message()  # first: it readies the code a backend may copy at start
            sandbox = self.backends[backend].start(memory_mb, spec)
        except Exception:
            with self._cond:
                self._reserved_mb -= memory_mb
                self._cond.notify_all()
            raise
        lease = Lease(sandbox, key, name, memory_mb, True, backend=backend)
        with self._cond:
            self._busy[id(sandbox)] = lease
            self.counters["cold"] += 1
        lease.init = sandbox.init(message, init_timeout or self.init_timeout,
                                  on_log=on_log, request_id=request_id)
        # Lambda's Init Duration covers starting the runtime as well as running the module's code.
        lease.init.duration_ms = (time.monotonic() - started) * 1000.0
        return lease

    def _take_warm_or_reserve(self, key, memory_mb, waited_until, to_kill) -> Lease | None:
        """A warm lease, or None with memory reserved for a new sandbox. Requests that must wait
        for memory wait in arrival order (a FIFO of tickets): while anyone waits, only the head
        of the line may take a sandbox, so one busy function cannot starve another."""
        ticket = object()
        with self._cond:
            try:
                while True:
                    if self._closed:
                        raise RuntimeError("the platform is closed")
                    if not self._waiters or self._waiters[0] is ticket:
                        lease = self._try_take(key, memory_mb, to_kill)
                        if lease is not False:
                            return lease
                    if ticket not in self._waiters:
                        self._waiters.append(ticket)
                    remaining = waited_until - time.monotonic()
                    if remaining <= 0:
                        raise TooManyRequestsException(
                            "Rate Exceeded: the sandbox pool's memory budget "
                            f"({self.memory_budget_mb} MB) is in use by running invocations",
                            reason="ConcurrentInvocationLimitExceeded")
                    self._cond.wait(remaining)
            finally:
                if ticket in self._waiters:
                    self._waiters.remove(ticket)
                    self._cond.notify_all()

    def _try_take(self, key, memory_mb, to_kill) -> Lease | None | bool:
        """Under the lock: a warm lease, None (memory reserved), or False (no room yet)."""
        for sid in reversed(self._idle):  # most recently used first: it is warmest
            lease, _ = self._idle[sid]
            if lease.key == key:
                del self._idle[sid]
                self._busy[sid] = lease
                lease.cold, lease.init = False, None
                self.counters["warm"] += 1
                return lease
        while self._reserved_mb + memory_mb > self.memory_budget_mb and self._idle:
            sid, (victim, _) = self._idle.popitem(last=False)
            self._reserved_mb -= victim.memory_mb
            self.counters["evicted"] += 1
            to_kill.append(victim)
        if self._reserved_mb + memory_mb <= self.memory_budget_mb:
            self._reserved_mb += memory_mb
            return None
        return False

    def release(self, lease: Lease, reusable: bool) -> None:
        sid = id(lease.sandbox)
        keep = reusable and not lease.sandbox.dead
        with self._cond:
            self._busy.pop(sid, None)
            if sid in self._retired:
                self._retired.discard(sid)
                keep = False
            if keep and not self._closed:
                self._idle[sid] = (lease, self.clock())
            else:
                self._reserved_mb -= lease.memory_mb
                keep = False
            self._cond.notify_all()
        if not keep:
            self._destroy(lease.sandbox)

    def retire(self, name: str, version: str | None = None, keep_key: tuple | None = None) -> int:
        """Stop using ``name``'s sandboxes (of ``version`` only, if given; other than
        ``keep_key``'s): idle ones now, busy ones when their invocation ends. Called on redeploy
        and delete."""
        def doomed(lease: Lease) -> bool:
            return (lease.name == name and lease.key != keep_key
                    and (version is None or lease.key[1] == version))

        victims = []
        with self._cond:
            for sid, (lease, _) in list(self._idle.items()):
                if doomed(lease):
                    del self._idle[sid]
                    self._reserved_mb -= lease.memory_mb
                    victims.append(lease)
            for sid, lease in self._busy.items():
                if doomed(lease):
                    self._retired.add(sid)
            self.counters["retired"] += len(victims)
            self._cond.notify_all()
        for lease in victims:
            self._destroy(lease.sandbox)
        return len(victims)

    def reap(self, now: float | None = None) -> int:
        """Destroy sandboxes idle for longer than the keep-alive. Returns how many."""
        now = self.clock() if now is None else now
        victims = []
        with self._cond:
            for sid, (lease, last_used) in list(self._idle.items()):
                if not lease.provisioned and now - last_used >= self.keep_alive_s:
                    del self._idle[sid]
                    self._reserved_mb -= lease.memory_mb
                    victims.append(lease)
            self.counters["reaped"] += len(victims)
            self._cond.notify_all()
        for lease in victims:
            self._destroy(lease.sandbox)
        return len(victims)

    def provisioned_count(self, key: tuple) -> int:
        with self._cond:
            leases = [lease for lease, _ in self._idle.values()] + list(self._busy.values())
            return sum(1 for lease in leases if lease.provisioned and lease.key == key)

    def add_provisioned(self, key: tuple, name: str, memory_mb: int, backend: str,
                        init_message: Callable[[], dict], spec=None) -> bool:
        """Start and initialise one sandbox for ``key`` now, and keep it warm (Lambda's
        provisioned concurrency). False if the memory budget has no room or init failed."""
        with self._cond:
            if self._closed or self._reserved_mb + memory_mb > self.memory_budget_mb:
                return False
            self._reserved_mb += memory_mb
        try:
            message = init_message()
            sandbox = self.backends[backend].start(memory_mb, spec)
        except Exception:
            with self._cond:
                self._reserved_mb -= memory_mb
            raise
        outcome = sandbox.init(message, INIT_TIMEOUT_S)
        lease = Lease(sandbox, key, name, memory_mb, False, backend=backend, provisioned=True)
        with self._cond:
            if outcome.ok and not self._closed:
                self._idle[id(sandbox)] = (lease, self.clock())
                self._cond.notify_all()
                return True
            self._reserved_mb -= memory_mb
        self._destroy(sandbox)
        return False

    def _destroy(self, sandbox: Sandbox) -> None:
        try:
            sandbox.destroy()
        except Exception:
            pass

    def close(self) -> None:
        with self._cond:
            self._closed = True
            leases = [lease for lease, _ in self._idle.values()] + list(self._busy.values())
            self._idle.clear()
            self._busy.clear()
            self._reserved_mb = 0
            self._cond.notify_all()
        for lease in leases:
            self._destroy(lease.sandbox)
