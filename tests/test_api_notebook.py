"""The SDK-and-HTTP notebook runs headless: server started from the notebook, boto3 calls, versions
and an alias, a JSON API over HTTP routes, and the server stopped at the end."""
from pathlib import Path

import pytest

from nblambda import Platform
from nblambda.notebook_runner import execute

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "04-sdk-and-http.ipynb"


def text_of(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def cell_starting(nb, prefix: str):
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(prefix))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    home = tmp_path_factory.mktemp("sdk-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("NBLAMBDA_HOME", str(home))
    try:
        nb = execute(NOTEBOOK, tmp_path_factory.mktemp("out") / "executed.ipynb", timeout=120)
    finally:
        mp.undo()
    return nb, home


def test_every_cell_runs_without_error(executed):
    nb, _ = executed
    assert [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.get("output_type") == "error"] == []


def test_server_started_and_stopped(executed):
    nb, _ = executed
    assert "Serving the Lambda API and HTTP routes at http://127.0.0.1:" in \
        text_of(cell_starting(nb, "server = %lambda serve"))
    assert "Stopped the server at http://127.0.0.1:" in \
        text_of(cell_starting(nb, "%lambda serve --stop"))


def test_boto3_invoke_and_versions(executed):
    nb, _ = executed
    first = text_of(cell_starting(nb, "import base64"))
    assert "status: 200 | executed version: $LATEST" in first
    assert "Hello, boto3!" in first and "greeting boto3" in first and "REPORT RequestId" in first
    versions = text_of(cell_starting(nb, "v2 = lam.publish_version"))
    assert "prod -> version 1: Hello, Ada!" in versions
    assert "2 -> version 2: Hi there, Ada!" in versions
    assert "$LATEST -> version $LATEST: Hi there, Ada!" in versions


def test_json_api_answers(executed):
    nb, home = executed
    calls = text_of(cell_starting(nb, "import urllib.error"))
    assert "GET /books/3 -> 200 {'title': 'Kindred'" in calls
    assert "GET /books/9 -> 404 {'error': 'no book 9'}" in calls
    assert "POST /books -> 400 {'error': 'missing author'}" in calls
    assert "POST /books -> 201 {'id': '4', 'title': 'Dawn'" in calls
    assert "GET /authors -> 404 {'message': 'Not Found'}" in calls
    assert calls.count("A Wizard of Earthsea") == 1 and "Kindred'" in calls
    with Platform(home) as p:
        assert {r["route_key"] for r in p.list_routes()} == \
            {"GET /books", "GET /books/{id}", "POST /books"}
        assert p.get_alias("greet", "prod").function_version == "2"
