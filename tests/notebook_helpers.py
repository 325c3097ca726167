"""Running the project's notebooks headless in the tests, and reading their outputs."""
from pathlib import Path

import pytest

from nblambda.notebook_runner import execute

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def text_of(cell) -> str:
    """What a reader of the saved notebook sees as text: streams and text/plain outputs."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def cell_after(nb, prefix: str):
    """The first code cell whose source starts with ``prefix``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(prefix):
            return cell
    raise AssertionError(f"no cell starts with {prefix!r}")


def run_notebook(name: str, tmp_path_factory, timeout: int = 300):
    """Execute notebooks/NAME in a fresh kernel with its own nblambda home; (notebook, home)."""
    home = tmp_path_factory.mktemp(f"{Path(name).stem}-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("NBLAMBDA_HOME", str(home))
    try:
        nb = execute(NOTEBOOKS / name, tmp_path_factory.mktemp("out") / name, timeout=timeout)
    finally:
        mp.undo()
    return nb, home


def error_outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.get("output_type") == "error"]
