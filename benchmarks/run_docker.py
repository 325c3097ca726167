"""Benchmarks of nblambda's docker backend, each figure next to a baseline measured in the same run.

    .venv/bin/python benchmarks/run_docker.py            # full run (a couple of minutes)
    .venv/bin/python benchmarks/run_docker.py --quick    # smoke run
    .venv/bin/python benchmarks/run_docker.py --json results.json

Needs a running Docker engine and the base image (``bash tests/setup_docker.sh``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import baselines  # noqa: E402
import docker_backend  # noqa: E402


@dataclass(frozen=True)
class Settings:
    warm_samples: int
    exec_samples: int
    cold_count: int
    cold_count_no_prewarm: int
    throughput_s: float
    throughput_warmup_s: float


FULL = Settings(warm_samples=5000, exec_samples=30, cold_count=20, cold_count_no_prewarm=10,
                throughput_s=3.0, throughput_warmup_s=1.0)
QUICK = Settings(warm_samples=1000, exec_samples=10, cold_count=5, cold_count_no_prewarm=3,
                 throughput_s=1.0, throughput_warmup_s=0.5)

# (label, the figure's path in the results, comparison, limit, unit)
TARGETS = [
    ("warm invoke p50", ("warm", "invoke", "p50_ms"), "<=", 1.0, "ms"),
    ("cold start p50, stem cells", ("cold", "cold_start", "p50_ms"), "<=", 100.0, "ms"),
    ("docker run / stem-cell cold start", ("cold_speedup",), ">=", 5.0, "x"),
    ("throughput c=8", ("throughput", "invoke", "per_second"), ">=", 500.0, "/s"),
]


def measure(s: Settings) -> dict:
    results: dict = {"machine": docker_backend.machine_info(), "settings": s.__dict__}
    results["warm"] = docker_backend.warm_invoke(s.warm_samples, s.exec_samples)
    # the same at one full vCPU (1,769 MB): what the 128 MB figures owe to Lambda's CPU share
    results["warm_1vcpu"] = docker_backend.warm_invoke(s.warm_samples // 2, s.exec_samples // 3,
                                                       memory_mb=1769)
    results["cold"] = docker_backend.cold_start(s.cold_count, prewarm=1)
    results["cold_no_prewarm"] = docker_backend.cold_start(s.cold_count_no_prewarm, prewarm=0)
    results["throughput"] = docker_backend.throughput(8, s.throughput_s, s.throughput_warmup_s)
    cold = results["cold"]
    results["cold_speedup"] = cold["docker_run"]["p50_ms"] / cold["cold_start"]["p50_ms"]
    return results


def verdicts(results: dict) -> list[dict]:
    return baselines.verdicts(results, TARGETS)


_ms = baselines.ms


def table(results: dict) -> str:
    table = baselines.FigureTable(results, ("figure", "nblambda docker", "baseline (same run)",
                                            "ratio", "target"))
    row = table.row
    warm, dexec = results["warm"]["invoke"], results["warm"]["docker_exec"]
    for q in ("p50", "p99"):
        row(f"warm invoke {q}", _ms(warm[f"{q}_ms"]), f"{_ms(dexec[f'{q}_ms'])} docker exec",
            f"{dexec[f'{q}_ms'] / warm[f'{q}_ms']:.0f}x faster")
    full, fexec = results["warm_1vcpu"]["invoke"], results["warm_1vcpu"]["docker_exec"]
    for q in ("p50", "p99"):
        row(f"warm invoke {q}, 1769 MB", _ms(full[f"{q}_ms"]),
            f"{_ms(fexec[f'{q}_ms'])} docker exec",
            f"{fexec[f'{q}_ms'] / full[f'{q}_ms']:.0f}x faster")
    for key, label in (("cold", "cold start p50, stem cells"),
                       ("cold_no_prewarm", "cold start p50, no stem cell")):
        cold, run = results[key]["cold_start"], results[key]["docker_run"]
        row(label, _ms(cold["p50_ms"]), f"{_ms(run['p50_ms'])} docker run --rm",
            f"{run['p50_ms'] / cold['p50_ms']:.1f}x faster")
    row("docker run / stem-cell cold start", f"{results['cold_speedup']:.1f}x", "", "")
    t = results["throughput"]["invoke"]
    dexec_rate = 1000.0 / dexec["p50_ms"]
    row("throughput c=8", f"{t['per_second']:,.0f} /s",
        f"{dexec_rate:,.0f} /s docker exec (1 at a time)", "")
    return table.text()


def notes(results: dict) -> str:
    w, c, n, t = (results["warm"], results["cold"], results["cold_no_prewarm"],
                  results["throughput"])
    return "\n".join([
        f"functions: no-op handler, {docker_backend.MEMORY_MB} MB (so {docker_backend.MEMORY_MB}"
        f"/1769 of a CPU each, as Lambda allots)",
        f"warm: {w['invoke']['n']} samples; host-measured container exchange (duration_ms) p50 "
        f"{_ms(w['sandbox_exchange_p50_ms'])}, the rest is platform bookkeeping; the 128 MB "
        f"container used up its CPU share in {w['cpu_throttled_periods']} CFS periods (the p99), "
        f"the 1769 MB one in {results['warm_1vcpu']['cpu_throttled_periods']}",
        f"cold (deploy + first invoke): {c['cold_start']['n']} functions from stem cells, Init "
        f"Duration p50 {_ms(c['init_duration_p50_ms'])}; {n['cold_start']['n']} without, Init "
        f"Duration p50 {_ms(n['init_duration_p50_ms'])}",
        f"throughput c=8: {t['sandboxes']} warm containers, {t['cold_during_measure']} cold "
        "starts while measuring",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples: a smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = measure(QUICK if args.quick else FULL)
    results["targets"] = verdicts(results)
    results["elapsed_s"] = time.monotonic() - started
    m = results["machine"]
    print(f"nblambda docker backend benchmarks ({'quick' if args.quick else 'full'} run, "
          f"{results['elapsed_s']:.0f} s)")
    print(f"machine: {m['cpu_count']} cores, Python {m['python']}, Docker engine {m['engine']}, "
          f"image {m['image']}, network {m['network']}\n"
          f"         load average {', '.join(f'{x:.2f}' for x in m['loadavg'])} at start, "
          f"{os.getloadavg()[0]:.2f} at end; {m['platform']}")
    print()
    print(table(results))
    print()
    print(notes(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if all(v["pass"] for v in results["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
