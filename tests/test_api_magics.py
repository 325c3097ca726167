"""The HTTP-side magics, driven through an in-process IPython shell: %lambda serve, --publish,
--route, versions, alias, routes."""
import json

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from apiserver import client, http
from nblambda.jupyter import get_platform
from nblambda.jupyter.api_commands import running_server

ITEMS = '''
def handler(event, context):
    return {"id": event["pathParameters"]["id"], "version": context.function_version}
'''




def run(shell, line, cell=None):
    with capture_output() as captured:
        if cell is None:
            value = shell.run_line_magic("lambda", line)
        else:
            value = shell.run_cell_magic("lambda_function", line, cell)
    return value, captured.stdout


def test_serve_publish_route_versions_alias_and_stop(shell):
    server, out = run(shell, "serve --port 0")
    assert running_server() is server and server.endpoint in out
    card, out = run(shell, 'items --publish --route "GET /items/{id}"', ITEMS)
    assert "Published items version 1." in out
    assert "GET /items/{id}" in out and server.endpoint + "/items/{id}" in out
    status, _, body = http("GET", server.endpoint + "/items/42")
    assert status == 200 and json.loads(body) == {"id": "42", "version": "$LATEST"}
    lam = client(server.endpoint)
    assert lam.get_function(FunctionName="items")["Configuration"]["Handler"] == \
        "lambda_function.handler"
    versions, _ = run(shell, "versions items")
    assert [v.version for v in versions] == ["$LATEST", "1"] and "VERSION" in repr(versions)
    alias, _ = run(shell, "alias items live 1 --description 'the live one'")
    assert alias.function_version == "1" and alias.description == "the live one"
    assert lam.get_alias(FunctionName="items", Name="live")["FunctionVersion"] == "1"
    shown, _ = run(shell, "alias items live")
    assert shown.revision_id == alias.revision_id
    _, out = run(shell, 'route "GET /live/{id}" items:live')
    assert "items:live" in out
    assert json.loads(http("GET", server.endpoint + "/live/7")[2])["version"] == "1"
    routes, _ = run(shell, "routes")
    assert {r["route_key"] for r in routes} == {"GET /items/{id}", "GET /live/{id}"}
    assert server.endpoint + "/live/{id}" in repr(routes)
    run(shell, 'route "GET /live/{id}" --delete')
    assert http("GET", server.endpoint + "/live/7")[0] == 404
    aliases, _ = run(shell, "aliases items")
    assert [a.name for a in aliases] == ["live"]
    run(shell, "alias items live --delete")
    assert get_platform().list_aliases("items") == []
    again, out = run(shell, "serve")
    assert again is server and "Already serving" in out
    _, out = run(shell, "serve --stop")
    assert "Stopped" in out and running_server() is None


def test_serve_refusals_are_usage_errors(shell):
    with pytest.raises(UsageError, match="access key pair"):
        run(shell, "serve --host 0.0.0.0 --port 0")
    with pytest.raises(UsageError, match="go together"):
        run(shell, "serve --port 0 --access-key ABCDEFGH")
    with pytest.raises(UsageError, match="Invalid route key"):
        run(shell, 'fn --route "GET nowhere"', "def handler(e, c):\n    return 1\n")
    with pytest.raises(UsageError, match="ResourceNotFoundException"):
        run(shell, "versions ghost")


def test_unload_stops_the_server(shell):
    server, _ = run(shell, "serve --port 0")
    shell.run_line_magic("unload_ext", "nblambda")
    assert not server.running
    shell.run_line_magic("load_ext", "nblambda")
