"""What the platform's figures are compared with: the cheapest way to do the same thing by hand.

- ``EchoPeer``: a forked process that echoes messages back over ``socket.socketpair`` -- the floor
  for a warm invoke, which is one request/reply over a Unix socket to another process.
- ``python_startup_ns``: ``python -c pass`` -- what a cold start would cost done the naive way (a
  new interpreter per sandbox); the fork server exists to beat it.

Also the one summary function every figure goes through, so a baseline and the figure next to it
are always computed the same way.
"""
from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Callable

# A no-op invoke moves ~140 bytes to the sandbox (8-byte prefix, JSON header with request id, ARN
# and deadline, "null") and ~60 back; 100 each way keeps the baseline's byte count comparable.
MESSAGE_SIZE = 100


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in [0, 100])."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[rank]


def summarize_ns(samples_ns: list[int]) -> dict:
    """p50/p90/p99/mean/min/max in milliseconds of nanosecond wall-time samples."""
    values = sorted(s / 1e6 for s in samples_ns)
    return {"n": len(values), "p50_ms": percentile(values, 50), "p90_ms": percentile(values, 90),
            "p99_ms": percentile(values, 99), "mean_ms": sum(values) / len(values) if values else 0.0,
            "min_ms": values[0] if values else 0.0, "max_ms": values[-1] if values else 0.0}


def _recv_exact(fd: int, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


class EchoPeer:
    """A forked child that reads ``size``-byte messages and writes each one back.

    The child runs nothing but os.read/os.write, so forking it while a Platform's threads hold
    locks is safe; like a sandbox, it is a Python process blocked in a socket read between messages.
    """

    def __init__(self, size: int = MESSAGE_SIZE) -> None:
        self.size = size
        self.message = b"x" * size
        self.sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.pid = os.fork()
        if self.pid == 0:  # child: echo until EOF, then leave without running any Python cleanup
            fd = child_sock.fileno()
            # Drop every inherited descriptor (other peers' sockets, a Platform's): a peer holding
            # one would keep its owner from ever seeing EOF, and that owner would wait forever.
            os.closerange(3, fd)
            os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
            while True:
                data = _recv_exact(fd, size)
                if not data:
                    os._exit(0)
                os.write(fd, data)
        child_sock.close()

    def round_trip_ns(self) -> int:
        """One request/reply, timed as ``Platform.invoke`` is: from the caller's point of view."""
        started = time.perf_counter_ns()
        self.sock.sendall(self.message)
        received = 0
        while received < self.size:
            received += len(self.sock.recv(self.size - received))
        return time.perf_counter_ns() - started

    def close(self) -> None:
        self.sock.close()  # EOF: the child exits
        os.waitpid(self.pid, 0)


def run_threads(concurrency: int, seconds: float, call: Callable[[int], None]) -> dict:
    """Calls per second with ``concurrency`` threads each running ``call(thread_index)`` in a loop.

    All threads start together and are counted over the same ``seconds``; both the platform's
    throughput and its baseline go through here so they are measured by the same loop.
    """
    counts = [0] * concurrency
    stop = threading.Event()
    start = threading.Barrier(concurrency + 1)

    def loop(i: int) -> None:
        start.wait()
        n = 0
        while not stop.is_set():
            call(i)
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - began
    for t in threads:
        t.join()
    total = sum(counts)  # includes at most one call per thread finished after ``stop``: negligible
    return {"concurrency": concurrency, "seconds": elapsed, "count": total,
            "per_second": total / elapsed}


def socket_throughput(peers: list[EchoPeer], seconds: float) -> dict:
    """Round trips per second with one thread per echo peer: the ceiling for the platform's
    throughput at the same concurrency (same threads, same GIL, same socket calls, no platform)."""
    return run_threads(len(peers), seconds, lambda i: peers[i].round_trip_ns())


def python_startup_ns() -> int:
    """Wall time of one ``python -c pass`` with this interpreter (the venv's, as sandboxes use)."""
    started = time.perf_counter_ns()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter_ns() - started


# -- targets: a figure's path in the results, compared with its limit ---------------------------
def lookup(results: dict, path: tuple[str, ...]) -> float:
    for key in path:
        results = results[key]
    return results  # type: ignore[return-value]


def verdicts(results: dict, targets: list[tuple]) -> list[dict]:
    """One row per (label, path, "<=" or ">=", limit, unit) target: the value and PASS/FAIL."""
    rows = []
    for label, path, op, limit, unit in targets:
        value = lookup(results, path)
        ok = value <= limit if op == "<=" else value >= limit
        rows.append({"figure": label, "value": value, "target": f"{op} {limit:g} {unit}",
                     "pass": ok})
    return rows


def ms(value: float) -> str:
    return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"


def timed_warm_invoke(p, name: str, durations: list[float]) -> int:
    """Wall time of one warm invoke in ns; the host-measured sandbox round trip goes to
    ``durations`` so the report can split platform bookkeeping from the socket exchange."""
    started = time.perf_counter_ns()
    result = p.invoke(name)
    elapsed = time.perf_counter_ns() - started
    if result.error is not None or result.cold:
        raise RuntimeError(f"warm invoke was not a warm success: {result.error or 'cold'}")
    durations.append(result.duration_ms)
    return elapsed


def noop_throughput(p, concurrency: int, seconds: float, warmup_s: float) -> dict:
    """Invocations/s of the deployed function ``noop`` with ``concurrency`` threads invoking it in
    a loop, after a warm-up that starts one warm sandbox per thread; how many cold starts happened
    while measuring, and how many sandboxes the pool held."""
    errors: list[dict] = []

    def call(_: int) -> None:
        result = p.invoke("noop")
        if result.error is not None:
            errors.append(result.error)

    run_threads(concurrency, warmup_s, call)
    cold_before = p.pool.counters["cold"]
    rate = run_threads(concurrency, seconds, call)
    cold_during = p.pool.counters["cold"] - cold_before
    stats = p.stats()
    if errors:
        raise RuntimeError(f"{len(errors)} invocations failed, e.g. {errors[0]}")
    return {"invoke": rate, "cold_during_measure": cold_during,
            "sandboxes": stats["idle"] + stats["busy"]}


class FigureTable:
    """Rows of figure, measured value, baseline, ratio and the figure's target verdict (from
    ``results["targets"]``), laid out in aligned columns."""

    def __init__(self, results: dict, header: tuple[str, ...]) -> None:
        self.target_of = {v["figure"]: v for v in results["targets"]}
        self.header = header
        self.rows: list[tuple[str, ...]] = []

    def row(self, label: str, value: str, baseline: str, ratio: str = "") -> None:
        verdict = self.target_of.get(label)
        self.rows.append((label, value, baseline, ratio,
                          f"{verdict['target']}  {'PASS' if verdict['pass'] else 'FAIL'}"
                          if verdict else ""))

    def text(self) -> str:
        lines = [self.header, *self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.header))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                         for line in [self.header, tuple("-" * w for w in widths), *self.rows])
