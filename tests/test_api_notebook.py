"""The SDK-and-HTTP notebook runs headless: server started from the notebook, boto3 calls, versions
and an alias, a JSON API over HTTP routes, and the server stopped at the end."""

import pytest

from nblambda import Platform
from notebook_helpers import cell_after, error_outputs, run_notebook, text_of



@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return run_notebook("04-sdk-and-http.ipynb", tmp_path_factory, timeout=120)


def test_every_cell_runs_without_error(executed):
    nb, _ = executed
    assert error_outputs(nb) == []


def test_server_started_and_stopped(executed):
    nb, _ = executed
    assert "Serving the Lambda API and HTTP routes at http://127.0.0.1:" in \
        text_of(cell_after(nb, "server = %lambda serve"))
    assert "Stopped the server at http://127.0.0.1:" in \
        text_of(cell_after(nb, "%lambda serve --stop"))


def test_boto3_invoke_and_versions(executed):
    nb, _ = executed
    first = text_of(cell_after(nb, "import base64"))
    assert "status: 200 | executed version: $LATEST" in first
    assert "Hello, boto3!" in first and "greeting boto3" in first and "REPORT RequestId" in first
    versions = text_of(cell_after(nb, "v2 = lam.publish_version"))
    assert "prod -> version 1: Hello, Ada!" in versions
    assert "2 -> version 2: Hi there, Ada!" in versions
    assert "$LATEST -> version $LATEST: Hi there, Ada!" in versions


def test_json_api_answers(executed):
    nb, home = executed
    calls = text_of(cell_after(nb, "import urllib.error"))
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
