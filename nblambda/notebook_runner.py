"""Execute a notebook headless and summarise what ran: ``python -m nblambda.notebook_runner NB``.

Used by the README's main-job command and by the test suite. The summary reads the nblambda home
the notebook used (``$NBLAMBDA_HOME``), so it reports the functions and invocations that really ran.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path


def execute(path: str | Path, output: str | Path | None = None, timeout: int = 600):
    """Run every cell of the notebook at ``path`` in a fresh kernel; returns the executed notebook.
    Raises nbclient's CellExecutionError on the first failing cell (after saving the output)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    # The kernel listens on loopback only; its warning about TCP without encryption is noise here.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(Path(path).parent)}})
    try:
        client.execute()
    finally:
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(output))
    return nb


def summary(nb, home: str | None, elapsed: float) -> str:
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = sum(len(c.get("outputs", [])) for c in code)
    errors = sum(1 for c in code for o in c.get("outputs", []) if o.get("output_type") == "error")
    lines = [f"executed {len(code)} code cells in {elapsed:.1f} s: {outputs} outputs, "
             f"{errors} error outputs"]
    if home:
        from .platform import Platform

        with Platform(home) as platform:
            functions = platform.list_functions()
            history = platform.invocations(limit=100_000)
        by_fn = collections.defaultdict(collections.Counter)
        for r in history:
            by_fn[r.function_name][r.status] += 1
        lines.append(f"{len(functions)} functions deployed, {len(history)} invocations "
                     f"(home: {home})")
        for fn in functions:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(by_fn[fn.name].items())) or "none"
            lines.append(f"  {fn.name:<18} {fn.memory:>5} MB {fn.timeout:>4} s   {counts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebook")
    parser.add_argument("--output", help="where to save the executed notebook")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        nb = execute(args.notebook, args.output, args.timeout)
    except Exception as exc:
        print(f"FAILED: {args.notebook}: {exc}", file=sys.stderr)
        return 1
    print(summary(nb, os.environ.get("NBLAMBDA_HOME"), time.monotonic() - started))
    if args.output:
        print(f"executed notebook saved to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
