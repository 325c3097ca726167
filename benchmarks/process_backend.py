"""The process backend's figures, each measured next to its baseline in the same function.

Every benchmark gets a fresh temporary home and closes its Platform, so no function, sandbox or
history from one benchmark (or an earlier run) is reused by another. For warm invokes and cold
starts, baseline and platform samples are interleaved (in blocks, or one each): other work on the
machine then slows both alike instead of skewing the ratio between them. Throughput runs its
baseline for the same time just before.
"""
from __future__ import annotations

import contextlib
import os
import platform as pyplatform
import sys
import tempfile
import time
import uuid
from typing import Iterator

from baselines import (EchoPeer, noop_throughput, percentile, python_startup_ns, socket_throughput,
                       summarize_ns, timed_warm_invoke)
from nblambda import Platform

NOOP_SOURCE = "def handler(e, c):\n    return None\n"
MEMORY_MB = 128


@contextlib.contextmanager
def fresh_platform(**kwargs) -> Iterator[Platform]:
    """A Platform on a new temporary home, closed (and the home deleted) afterwards."""
    with tempfile.TemporaryDirectory(prefix="nblambda-bench-") as home:
        p = Platform(home=home, **kwargs)
        try:
            # The Platform starts its fork server in the background; wait for it here so no
            # figure includes that one-off start (it is not part of any steady-state invoke).
            p.backend("process").prestart()
            yield p
        finally:
            p.close()


def machine_info() -> dict:
    with fresh_platform() as p:
        enforcement = p.backend("process").memory_enforcement
    return {"cpu_count": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "python": sys.version.split()[0], "python_executable": sys.executable,
            "platform": pyplatform.platform(), "memory_enforcement": enforcement,
            "loadavg": os.getloadavg()}


def warm_invoke(samples: int, block: int = 500, warmup: int = 300) -> dict:
    """p50/p90/p99 of ``p.invoke("noop")`` on a warm sandbox, next to a raw socket round trip."""
    peer = EchoPeer()  # forked before the Platform starts its threads
    try:
        with fresh_platform() as p:
            p.deploy("noop", NOOP_SOURCE, memory=MEMORY_MB, timeout=3)
            durations: list[float] = []
            for _ in range(warmup):  # cold start, then let caches and branch predictors settle
                p.invoke("noop")
                peer.round_trip_ns()
            invoke_ns: list[int] = []
            socket_ns: list[int] = []
            while len(invoke_ns) < samples:
                n = min(block, samples - len(invoke_ns))
                socket_ns += [peer.round_trip_ns() for _ in range(n)]
                invoke_ns += [timed_warm_invoke(p, "noop", durations) for _ in range(n)]
            stats = p.stats()
    finally:
        peer.close()
    durations.sort()
    return {"invoke": summarize_ns(invoke_ns), "socket_round_trip": summarize_ns(socket_ns),
            "sandbox_exchange_p50_ms": percentile(durations, 50),
            "sandboxes": stats["idle"] + stats["busy"]}


def _timed_cold_start(p: Platform, name: str, source: str) -> tuple[int, float | None]:
    started = time.perf_counter_ns()
    p.deploy(name, source, memory=MEMORY_MB, timeout=3)
    result = p.invoke(name)
    elapsed = time.perf_counter_ns() - started
    if result.error is not None or not result.cold:
        raise RuntimeError(f"first invoke of {name} was not a cold success: "
                           f"{result.error or 'warm'}")
    return elapsed, result.init_duration_ms


def cold_start(count: int) -> dict:
    """p50 of deploy + first invoke of ``count`` new functions, next to ``python -c pass``."""
    run_id = uuid.uuid4().hex  # distinct source per run and per function: no code is ever cached
    with fresh_platform() as p:
        _timed_cold_start(p, "warmup", NOOP_SOURCE + f"# warm-up {run_id}\n")  # first-use imports
        p.delete_function("warmup")
        cold_ns: list[int] = []
        init_ms: list[float] = []
        python_ns: list[int] = []
        for i in range(count):
            python_ns.append(python_startup_ns())
            name = f"cold{i}"
            elapsed, init = _timed_cold_start(p, name, NOOP_SOURCE + f"# {run_id} {i}\n")
            cold_ns.append(elapsed)
            init_ms.append(init or 0.0)
            # Untimed: keep one sandbox alive at a time, so the last sample runs among as many
            # processes as the first.
            p.delete_function(name)
    init_ms.sort()
    return {"cold_start": summarize_ns(cold_ns), "python_startup": summarize_ns(python_ns),
            "init_duration_p50_ms": percentile(init_ms, 50)}


def throughput(concurrency: int, seconds: float, warmup_s: float) -> dict:
    """No-op invocations/s with ``concurrency`` threads calling ``p.invoke`` in a loop, next to
    the same threads doing raw socket round trips to their own echo peers."""
    peers = [EchoPeer() for _ in range(concurrency)]  # forked before the Platform's threads
    try:
        socket_rate = socket_throughput(peers, seconds)
    finally:
        for peer in peers:
            peer.close()
    # Room for every thread's sandbox and then some, so no invoke waits for or evicts another's.
    budget = max(1024, 2 * concurrency * MEMORY_MB)
    with fresh_platform(memory_budget_mb=budget) as p:
        p.deploy("noop", NOOP_SOURCE, memory=MEMORY_MB, timeout=3)
        result = noop_throughput(p, concurrency, seconds, warmup_s)
    return {**result, "socket_round_trip": socket_rate}
