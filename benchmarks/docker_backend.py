"""The docker backend's figures, each measured next to what a naive emulator would do instead.

Baselines, measured in the same run with the same image:
- ``docker run --rm IMAGE python3 -c pass``: a new container per invocation, as naive local Lambda
  emulators run each invoke (the floor of their cold *and* warm path);
- ``docker exec CONTAINER true``: reusing a running container through the engine's exec API (the
  floor of an emulator that keeps containers but execs a process per invoke).

Every benchmark gets a fresh temporary home and closes its Platform (removing its containers).
Baseline and platform samples are interleaved, so load from elsewhere on the machine slows both.
"""
from __future__ import annotations

import contextlib
import os
import platform as pyplatform
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Iterator

from baselines import noop_throughput, percentile, summarize_ns, timed_warm_invoke
from nblambda import Platform

NOOP_SOURCE = "def handler(e, c):\n    return None\n"
MEMORY_MB = 128  # Lambda's default: 0.07 vCPU by its CPU-to-memory rule


@contextlib.contextmanager
def fresh_platform(**kwargs) -> Iterator[Platform]:
    """A docker Platform on a new temporary home, its stem cells ready, closed afterwards."""
    kwargs.setdefault("backend", "docker")
    with tempfile.TemporaryDirectory(prefix="nblambda-bench-") as home:
        p = Platform(home=home, **kwargs)
        try:
            p.backend("docker").prestart()  # the one-off engine connection and stem cells
            yield p
        finally:
            p.close()


def _docker_ns(args: list[str]) -> int:
    started = time.perf_counter_ns()
    subprocess.run(["docker", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter_ns() - started


def docker_run_ns(image: str) -> int:
    """One ``docker run --rm IMAGE python3 -c pass``."""
    return _docker_ns(["run", "--rm", "--network", "none", image, "python3", "-c", "pass"])


def docker_exec_ns(container: str) -> int:
    """One ``docker exec CONTAINER true``."""
    return _docker_ns(["exec", container, "true"])


def machine_info() -> dict:
    with fresh_platform(prewarm=0) as p:
        backend = p.backend("docker")
        version = backend.client.version()
        image, network = backend.default_image, backend.default_network
    return {"cpu_count": os.cpu_count(), "python": sys.version.split()[0],
            "platform": pyplatform.platform(), "engine": version.get("Version", "?"),
            "image": image, "network": network, "loadavg": os.getloadavg()}


def _throttled(sandbox) -> int:
    """CFS periods in which the container used up its CPU share (cgroup cpu.stat)."""
    cgroup = sandbox.cell.cgroup
    try:
        stat = dict(line.split() for line in (cgroup.cpu / "cpu.stat").read_text().splitlines())
        return int(stat.get("nr_throttled", 0))
    except (AttributeError, OSError, TypeError, ValueError):
        return -1


def warm_invoke(samples: int, exec_samples: int, block: int = 500, warmup: int = 300,
                memory_mb: int = MEMORY_MB) -> dict:
    """p50/p99 of ``p.invoke`` on a warm container, next to ``docker exec`` into that container."""
    with fresh_platform(prewarm=1) as p:
        p.deploy("noop", NOOP_SOURCE, memory=memory_mb, timeout=3)
        for _ in range(warmup):
            p.invoke("noop")
        [sandbox] = [lease.sandbox for lease, _ in p.pool._idle.values()]
        container = sandbox.cell.container_id
        durations: list[float] = []
        invoke_ns: list[int] = []
        exec_ns: list[int] = []
        per_block = max(1, exec_samples * block // samples)
        while len(invoke_ns) < samples:
            exec_ns += [docker_exec_ns(container) for _ in range(per_block)]
            n = min(block, samples - len(invoke_ns))
            invoke_ns += [timed_warm_invoke(p, "noop", durations) for _ in range(n)]
        throttled = _throttled(sandbox)
    durations.sort()
    return {"invoke": summarize_ns(invoke_ns), "docker_exec": summarize_ns(exec_ns),
            "sandbox_exchange_p50_ms": percentile(durations, 50), "memory_mb": memory_mb,
            "cpu_throttled_periods": throttled}


def cold_start(count: int, prewarm: int) -> dict:
    """Deploy + first invoke of ``count`` new functions (stem cells ready before each one when
    ``prewarm`` > 0), next to ``docker run --rm IMAGE python3 -c pass``."""
    run_id = uuid.uuid4().hex  # a new source per function: nothing is cached
    with fresh_platform(prewarm=prewarm) as p:
        backend = p.backend("docker")
        cold_ns: list[int] = []
        init_ms: list[float] = []
        run_ns: list[int] = []
        replenish_s: list[float] = []
        for i in range(count):
            run_ns.append(docker_run_ns(backend.default_image))
            if prewarm:  # untimed: the background replaces the cell the last sample took
                waited = time.perf_counter()
                backend.stemcells.wait_ready(backend.default_kind)
                replenish_s.append(time.perf_counter() - waited)
            name = f"cold{i}"
            started = time.perf_counter_ns()
            p.deploy(name, NOOP_SOURCE + f"# {run_id} {i}\n", memory=MEMORY_MB, timeout=3)
            result = p.invoke(name)
            cold_ns.append(time.perf_counter_ns() - started)
            if result.error is not None or not result.cold:
                raise RuntimeError(f"{name}: not a cold success: {result.error or 'warm'}")
            init_ms.append(result.init_duration_ms or 0.0)
            p.delete_function(name)  # one sandbox at a time, as for the first sample
    init_ms.sort()
    return {"cold_start": summarize_ns(cold_ns), "docker_run": summarize_ns(run_ns),
            "init_duration_p50_ms": percentile(init_ms, 50), "prewarm": prewarm}


def throughput(concurrency: int, seconds: float, warmup_s: float) -> dict:
    """No-op invocations/s with ``concurrency`` threads calling ``p.invoke`` in a loop."""
    with fresh_platform(prewarm=2, memory_budget_mb=max(1024, 2 * concurrency * MEMORY_MB)) as p:
        p.deploy("noop", NOOP_SOURCE, memory=MEMORY_MB, timeout=3)
        return noop_throughput(p, concurrency, seconds, warmup_s)
