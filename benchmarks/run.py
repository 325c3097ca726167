"""Benchmarks of nblambda's process backend, each figure next to a baseline measured in the same run.

    .venv/bin/python benchmarks/run.py            # full run (30-40 s)
    .venv/bin/python benchmarks/run.py --quick    # smoke run (about 10 s)
    .venv/bin/python benchmarks/run.py --json results.json

See benchmarks/README.md for what each figure means.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Runnable as a script from anywhere: its siblings and the repository's package must import.
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import baselines  # noqa: E402
import process_backend  # noqa: E402

CONCURRENCY = (1, 4, 8)


@dataclass(frozen=True)
class Settings:
    warm_samples: int
    cold_count: int
    throughput_s: float
    throughput_warmup_s: float


FULL = Settings(warm_samples=10000, cold_count=30, throughput_s=3.0, throughput_warmup_s=1.0)
QUICK = Settings(warm_samples=2000, cold_count=10, throughput_s=1.0, throughput_warmup_s=0.3)

# (label, the figure's path in the results, comparison, limit, unit)
TARGETS = [
    ("warm invoke p50", ("warm", "invoke", "p50_ms"), "<=", 0.3, "ms"),
    ("cold start p50", ("cold", "cold_start", "p50_ms"), "<=", 30.0, "ms"),
    ("throughput c=8", ("throughput", "8", "invoke", "per_second"), ">=", 2000.0, "/s"),
]


def measure(settings: Settings) -> dict:
    results: dict = {"machine": process_backend.machine_info(), "settings": settings.__dict__}
    results["warm"] = process_backend.warm_invoke(settings.warm_samples)
    results["cold"] = process_backend.cold_start(settings.cold_count)
    results["throughput"] = {
        str(c): process_backend.throughput(c, settings.throughput_s, settings.throughput_warmup_s)
        for c in CONCURRENCY}
    return results


def verdicts(results: dict) -> list[dict]:
    return baselines.verdicts(results, TARGETS)


_ms = baselines.ms


def table(results: dict) -> str:
    t = baselines.FigureTable(results, ("figure", "nblambda", "baseline (same run)",
                                        "cost/baseline", "target"))
    warm, sock = results["warm"]["invoke"], results["warm"]["socket_round_trip"]
    for q in ("p50", "p90", "p99"):
        t.row(f"warm invoke {q}", _ms(warm[f"{q}_ms"]), f"{_ms(sock[f'{q}_ms'])} socket round trip",
              f"{warm[f'{q}_ms'] / sock[f'{q}_ms']:.1f}x")
    cold, py = results["cold"]["cold_start"], results["cold"]["python_startup"]
    for q in ("p50", "max"):
        t.row(f"cold start {q}", _ms(cold[f"{q}_ms"]), f"{_ms(py[f'{q}_ms'])} python -c pass",
              f"{cold[f'{q}_ms'] / py[f'{q}_ms']:.1f}x")
    for c, r in results["throughput"].items():
        inv, raw = r["invoke"]["per_second"], r["socket_round_trip"]["per_second"]
        t.row(f"throughput c={c}", f"{inv:,.0f} /s", f"{raw:,.0f} /s socket echo",
              f"{raw / inv:.1f}x")
    return t.text()


def notes(results: dict) -> str:
    w, c = results["warm"], results["cold"]
    t8 = results["throughput"].get("8", {})
    return "\n".join([
        f"warm: {w['invoke']['n']} samples; host-measured sandbox exchange (duration_ms) p50 "
        f"{_ms(w['sandbox_exchange_p50_ms'])}, the rest is platform bookkeeping",
        f"cold: {c['cold_start']['n']} new functions; Init Duration p50 "
        f"{_ms(c['init_duration_p50_ms'])}",
        f"throughput c=8: {t8.get('sandboxes', '?')} warm sandboxes, "
        f"{t8.get('cold_during_measure', '?')} cold starts while measuring",
    ])


def machine_line(m: dict) -> str:
    load = ", ".join(f"{x:.2f}" for x in m["loadavg"])
    end = f"{m['loadavg_end'][0]:.2f}" if "loadavg_end" in m else "?"
    return (f"machine: {m['cpu_count']} cores ({m['usable_cpus']} usable), Python {m['python']}, "
            f"memory enforcement: {m['memory_enforcement']}\n"
            f"         load average {load} at start, {end} at end; {m['platform']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples: a smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    started = time.monotonic()
    results = measure(settings)
    results["targets"] = verdicts(results)
    results["elapsed_s"] = time.monotonic() - started
    results["machine"]["loadavg_end"] = os.getloadavg()
    print(f"nblambda process backend benchmarks ({'quick' if args.quick else 'full'} run, "
          f"{results['elapsed_s']:.0f} s)")
    print(machine_line(results["machine"]))
    print()
    print(table(results))
    print()
    print(notes(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
