"""Asynchronous invocation and fan-out, next to synchronous throughput measured in the same run.

    .venv/bin/python benchmarks/async_invocation.py [--quick]

Figures: events/s accepted by ``invoke(..., invocation_type="Event")`` (each one durable before
the call returns); end-to-end async throughput of a no-op handler with 8 async workers; sync
throughput at concurrency 8 (8 threads calling ``invoke``); ``map`` of 10,000 events.
Targets (issue 4): >= 5,000 events/s accepted; async throughput >= 80% of sync.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nblambda import Platform  # noqa: E402

NOOP = "def handler(event, context):\n    return None\n"


def _platform(tmp: str, **kwargs) -> Platform:
    p = Platform(Path(tmp) / "home", reap_interval=3600, **kwargs)
    p.deploy("noop", NOOP)
    return p


def sync_throughput(concurrency: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp, _platform(tmp) as p:
        for _ in range(concurrency * 20):
            p.invoke("noop")
        counts = [0] * concurrency
        stop = time.monotonic() + seconds

        def loop(i: int) -> None:
            while time.monotonic() < stop:
                p.invoke("noop")
                counts[i] += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts) / (time.monotonic() - started)


def enqueue_rate(count: int) -> float:
    """Events accepted per second while nothing drains them (the dispatcher is stopped)."""
    with tempfile.TemporaryDirectory() as tmp, _platform(tmp) as p:
        p.dispatcher.stop()
        started = time.perf_counter()
        for i in range(count):
            p.invoke("noop", i, invocation_type="Event")
        rate = count / (time.perf_counter() - started)
        p.events.flush()
        assert p.events.count("noop") == count
        return rate


def async_throughput(count: int, workers: int = 8) -> float:
    """Queue ``count`` events, then time how fast the dispatcher settles them all."""
    with tempfile.TemporaryDirectory() as tmp:
        with _platform(tmp, async_workers=workers) as p:
            p.dispatcher.stop()
            for i in range(count):
                p.invoke("noop", i, invocation_type="Event")
            p.events.flush()
        with _platform(tmp, async_workers=workers,
                       retention=count + 1000) as p2:  # its dispatcher starts on the queue
            for _ in range(workers * 5):
                p2.invoke("noop")
            started = time.monotonic()
            assert p2.wait_for_async(timeout=600, name="noop")
            elapsed = time.monotonic() - started
            assert len(p2.invocations("noop", limit=count + 1000)) >= count
            return count / elapsed


def map_run(count: int, concurrency: int = 8) -> dict:
    with tempfile.TemporaryDirectory() as tmp, _platform(tmp) as p:
        started = time.monotonic()
        results = p.map("noop", list(range(count)), concurrency=concurrency, progress=False)
        elapsed = time.monotonic() - started
        assert len(results) == count and not results.failed
        return {"events": count, "seconds": elapsed, "per_second": count / elapsed}


def measure(quick: bool = False) -> dict:
    n = 2000 if quick else 10000
    seconds = 1.0 if quick else 3.0
    sync = sync_throughput(8, seconds)
    return {"enqueue_per_second": enqueue_rate(n), "async_per_second": async_throughput(n // 2),
            "sync_c8_per_second": sync, "map": map_run(n)}


def table(r: dict) -> str:
    ratio = r["async_per_second"] / r["sync_c8_per_second"]
    rows = [
        ("async enqueue (accepted)", f"{r['enqueue_per_second']:,.0f}/s", ">= 5,000/s",
         r["enqueue_per_second"] >= 5000),
        ("async end-to-end, 8 workers", f"{r['async_per_second']:,.0f}/s",
         f">= 80% of sync ({ratio:.0%})", ratio >= 0.8),
        ("sync invoke, concurrency 8 (baseline)", f"{r['sync_c8_per_second']:,.0f}/s", "", None),
        (f"map of {r['map']['events']:,} events, c=8", f"{r['map']['seconds']:.2f} s "
         f"({r['map']['per_second']:,.0f}/s)", "", None),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'figure':<{width}}  {'measured':>22}  target"]
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        lines.append(f"{name:<{width}}  {value:>22}  {target} {verdict}".rstrip())
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    results = measure(args.quick)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
