"""The magics, driven through an in-process IPython shell as a notebook would drive them."""
import os
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from conftest import alive, src, wait_gone
from nblambda.errors import ResourceNotFoundException
from nblambda.jupyter import get_platform
from nblambda.jupyter.event import EventError, parse_event
from nblambda.jupyter.magics import LambdaMagics
from nblambda.jupyter.views import FunctionDescription, FunctionTable, LiveLog
from nblambda.jupyter.widgets import FunctionCard
from nblambda.models import InvocationResult

ECHO = src("""
    def handler(event, context):
        print("event is", event)
        return event
""")




def deploy(shell, line="echo", cell=ECHO):
    with capture_output() as captured:
        card = shell.run_cell_magic("lambda_function", line, cell)
    return card, captured


# -- %%lambda_function ------------------------------------------------------------------------
def test_deploy_creates_the_function_in_the_kernel_platform(shell, tmp_path):
    card, _ = deploy(shell)
    config = get_platform().get_function("echo")
    assert config.source == ECHO
    assert config.handler == "lambda_function.handler"
    assert (config.memory, config.timeout, config.environment) == (128, 3, {})
    assert get_platform().home == tmp_path / "home"
    assert isinstance(card, FunctionCard) and card.name == "echo"


def test_deploy_options_are_parsed(shell):
    line = ('fn --memory 256 --timeout 10 --env STAGE=dev GREETING="hello world" --env EXPR=a=b '
            '--handler main --description "my first function"')
    deploy(shell, line, "def main(event, context):\n    return 1\n")
    config = get_platform().get_function("fn")
    assert config.memory == 256
    assert config.timeout == 10
    assert config.environment == {"STAGE": "dev", "GREETING": "hello world", "EXPR": "a=b"}
    assert config.handler == "lambda_function.main"
    assert config.description == "my first function"
    result = shell.run_line_magic("lambda", "invoke fn")
    assert result.payload == 1


def test_redeploy_updates_the_code(shell):
    deploy(shell)
    first = get_platform().get_function("echo").code_hash
    deploy(shell, "echo", "def handler(event, context):\n    return 'v2'\n")
    assert get_platform().get_function("echo").code_hash != first
    assert shell.run_line_magic("lambda", "invoke echo").payload == "v2"


def test_deploy_help_documents_every_option():
    doc = LambdaMagics.lambda_function.__doc__
    for option in ("NAME", "--memory", "--timeout", "--env", "--handler", "--backend",
                   "--description"):
        assert option in doc


# -- %%lambda ---------------------------------------------------------------------------------
def test_cell_invoke_with_json_body_returns_the_result(shell):
    deploy(shell)
    with capture_output():
        result = shell.run_cell_magic("lambda", "echo", '{"a": [1, 2], "b": null}\n')
    assert isinstance(result, InvocationResult)
    assert result.status == "success"
    assert result.payload == {"a": [1, 2], "b": None}


def test_cell_invoke_with_python_expression_uses_notebook_variables(shell):
    deploy(shell)
    shell.user_ns["n"] = 41
    with capture_output():
        result = shell.run_cell_magic("lambda", "echo", '{"n": n + 1,\n "items": list(range(3))}')
    assert result.payload == {"n": 42, "items": [0, 1, 2]}


def test_cell_invoke_with_empty_body_sends_empty_object(shell):
    deploy(shell)
    with capture_output():
        result = shell.run_cell_magic("lambda", "echo", "\n")
    assert result.payload == {}


def test_cell_invoke_is_the_cell_value(shell):
    deploy(shell)
    with capture_output():
        outcome = shell.run_cell('%%lambda echo\n{"k": "v"}\n')
    assert outcome.success
    assert isinstance(outcome.result, InvocationResult)
    assert shell.user_ns["_"] is outcome.result
    assert outcome.result.payload == {"k": "v"}


def test_cell_invoke_streams_logs_into_a_transient_display_then_clears_it(shell, monkeypatch):
    monkeypatch.setattr(LiveLog, "interval", 0)  # every chunk refreshes the display
    deploy(shell, "talk", src("""
        def handler(event, context):
            for i in range(3):
                print(f"step {i} <of 3>")
            return "done"
    """))
    with capture_output() as captured:
        result = shell.run_cell_magic("lambda", "talk", "\n")
    assert result.payload == "done"
    outputs = captured.outputs
    display_id = outputs[0].transient["display_id"]
    assert all(o.transient.get("display_id") == display_id for o in outputs)
    assert [o.update for o in outputs] == [False] + [True] * (len(outputs) - 1)
    shown = [o.data["text/plain"] for o in outputs]
    assert any("step 2 <of 3>" in text for text in shown)
    assert any("step 2 &lt;of 3&gt;" in o.data["text/html"] for o in outputs)
    assert outputs[-1].data == {"text/plain": "", "text/html": ""}  # cleared: shown once, as Out
    assert "step 2" not in captured.stdout


def test_cell_invoke_prints_logs_when_outputs_cannot_be_updated(shell, capsys):
    deploy(shell)
    shell.run_cell_magic("lambda", "echo", '{"live": 1}')  # plain DisplayPublisher: a terminal
    assert "event is {'live': 1}" in capsys.readouterr().out


# -- no variable expansion --------------------------------------------------------------------
def test_magic_lines_are_not_variable_expanded(shell):
    shell.user_ns["x"] = "EXPANDED"
    deploy(shell, "echo --description '$x {x}'")
    assert get_platform().get_function("echo").description == "$x {x}"
    result = shell.run_line_magic("lambda", 'invoke echo {"s": "$x {x}"}')
    assert result.payload == {"s": "$x {x}"}
    with capture_output():
        outcome = shell.run_cell('%lambda invoke echo {"s": "{x} $x"}')
    assert outcome.result.payload == {"s": "{x} $x"}


# -- %lambda subcommands ----------------------------------------------------------------------
def test_list_shows_a_table(shell):
    assert "No functions deployed" in repr(shell.run_line_magic("lambda", "list"))
    deploy(shell, "alpha --memory 256")
    deploy(shell, "beta")
    table = shell.run_line_magic("lambda", "list")
    assert isinstance(table, FunctionTable)
    assert [c.name for c in table] == ["alpha", "beta"]
    text = repr(table)
    assert text.splitlines()[0].split()[:2] == ["Name", "Handler"]
    assert "alpha" in text and "256 MB" in text and "beta" in text
    bundle = table._repr_mimebundle_()
    assert bundle["text/plain"] == text
    assert "<table" in bundle["text/html"] and "<td" in bundle["text/html"]


def test_invoke_line_takes_the_rest_of_the_line_as_event(shell):
    deploy(shell)
    shell.user_ns["n"] = 2
    with capture_output():
        assert shell.run_line_magic("lambda", 'invoke echo {"k": [1, "a b"]}').payload == {
            "k": [1, "a b"]}
        assert shell.run_line_magic("lambda", "invoke echo n * 21").payload == 42
        assert shell.run_line_magic("lambda", "invoke echo").payload == {}


def test_logs_prints_the_last_invocations(shell):
    deploy(shell)
    with capture_output():
        shell.run_line_magic("lambda", 'invoke echo "first"')
        shell.run_line_magic("lambda", 'invoke echo "second"')
    with capture_output() as captured:
        shell.run_line_magic("lambda", "logs echo -n 1")
    out = captured.stdout
    assert "event is second" in out and "event is first" not in out
    assert out.startswith("START RequestId:") and "REPORT RequestId:" in out
    with capture_output() as captured:
        shell.run_line_magic("lambda", "logs echo")
    assert captured.stdout.index("event is first") < captured.stdout.index("event is second")


def test_logs_of_a_function_never_invoked(shell):
    deploy(shell)
    with capture_output() as captured:
        shell.run_line_magic("lambda", "logs echo")
    assert captured.stdout == "No invocations of echo yet.\n"


def test_describe_shows_the_configuration(shell):
    deploy(shell, "echo --memory 512 --timeout 7 --env STAGE=prod")
    description = shell.run_line_magic("lambda", "describe echo")
    assert isinstance(description, FunctionDescription)
    text = repr(description)
    for piece in ("Function echo", "512 MB", "7 s", "STAGE=prod", "lambda_function.handler",
                  "python3.", "Active", 'print("event is", event)'):
        assert piece in text
    html = description._repr_mimebundle_()["text/html"]
    assert "512 MB" in html and "STAGE=prod" in html and "&quot;event is&quot;" in html


def test_delete_removes_the_function(shell):
    deploy(shell)
    with capture_output() as captured:
        shell.run_line_magic("lambda", "delete echo")
    assert captured.stdout == "Deleted function echo.\n"
    with pytest.raises(ResourceNotFoundException):
        get_platform().get_function("echo")
    assert list(shell.run_line_magic("lambda", "list")) == []


def test_lambda_help_documents_the_subcommands(shell):
    doc = shell.find_line_magic("lambda").__doc__
    for piece in ("%lambda list", "%lambda invoke [--async] NAME", "%lambda logs", "-n N",
                  "%lambda describe NAME", "%lambda delete NAME", "%lambda map", "%lambda dlq"):
        assert piece in doc


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("magic, line, cell", [
    ("line", "invoke nope {}", None),
    ("line", "logs nope", None),
    ("line", "describe nope", None),
    ("line", "delete nope", None),
    ("cell", "nope", "{}"),
])
def test_unknown_function_is_a_usage_error(shell, magic, line, cell):
    with pytest.raises(UsageError, match="ResourceNotFoundException: Function not found: "
                                         "arn:aws:lambda:.*:function:nope"):
        if magic == "line":
            shell.run_line_magic("lambda", line)
        else:
            shell.run_cell_magic("lambda", line, cell)


def test_errors_show_as_one_line_without_traceback(shell):
    with capture_output() as captured:
        outcome = shell.run_cell("%lambda describe nope")
    assert not outcome.success
    lines = captured.stderr.strip().splitlines()
    assert lines == ["UsageError: ResourceNotFoundException: Function not found: "
                     "arn:aws:lambda:us-east-1:000000000000:function:nope"]
    assert "Traceback" not in captured.stdout


def test_invalid_memory_is_a_usage_error_and_deploys_nothing(shell):
    with pytest.raises(UsageError, match="InvalidParameterValueException: .*'64' at 'memorySize'"):
        shell.run_cell_magic("lambda_function", "echo --memory 64", ECHO)
    with pytest.raises(ResourceNotFoundException):
        get_platform().get_function("echo")


@pytest.mark.parametrize("line, message", [
    ("echo --memory lots", "invalid int value"),
    ("echo --env NOEQUALS", "--env expects KEY=VALUE"),
    ("", "required: NAME"),
    ("echo --description 'unclosed", "Cannot split the line"),
])
def test_bad_deploy_lines_are_usage_errors(shell, line, message):
    with pytest.raises(UsageError, match=message):
        shell.run_cell_magic("lambda_function", line, ECHO)


def test_bad_event_is_a_usage_error(shell):
    deploy(shell)
    with pytest.raises(UsageError, match="NameError: name 'no_such_thing' is not defined"):
        shell.run_cell_magic("lambda", "echo", '{"a": no_such_thing}')
    with pytest.raises(UsageError, match="neither JSON"):
        shell.run_cell_magic("lambda", "echo", "{not: json,")
    with pytest.raises(UsageError, match="not JSON-serializable"):
        shell.run_cell_magic("lambda", "echo", "object()")


def test_unknown_subcommand_is_a_usage_error(shell):
    with pytest.raises(UsageError, match="needs a subcommand"):
        shell.run_line_magic("lambda", "frobnicate echo")


# -- undefined names --------------------------------------------------------------------------
def test_deploy_warns_about_names_taken_from_the_notebook(shell):
    shell.user_ns.update(model="a model", threshold=0.5)
    _, captured = deploy(shell, "scorer", src("""
        def handler(event, context):
            return model.score(event) > threshold
    """))
    assert "model, threshold" in captured.stderr
    assert "NameError" in captured.stderr
    get_platform().get_function("scorer")  # a warning, not a refusal


def test_no_warning_for_names_the_cell_defines_or_imports(shell):
    shell.user_ns.update(model="a model", threshold=0.5, json=__import__("json"))
    _, captured = deploy(shell, "scorer", src("""
        import json
        threshold = 0.5
        def model(event):
            return len(json.dumps(event))
        def handler(event, context):
            return model(event) > threshold
    """))
    assert captured.stderr == ""


def test_syntax_error_warns_at_deploy(shell):
    _, captured = deploy(shell, "broken", "def handler(event, context)\n    return 1\n")
    assert "syntax error" in captured.stderr and "Runtime.UserCodeSyntaxError" in captured.stderr


# -- event parsing ----------------------------------------------------------------------------
def test_parse_event_json_then_python():
    assert parse_event('{"a": true}') == {"a": True}
    assert parse_event("  ") == {}
    assert parse_event("[1, 2]") == [1, 2]
    assert parse_event("{'a': x}", {"x": 3}) == {"a": 3}  # not JSON: single quotes
    with pytest.raises(EventError, match="neither JSON"):
        parse_event("def f(): pass")


# -- lifecycle --------------------------------------------------------------------------------
def _children() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def our_sandbox_processes() -> set[int]:
    """Live processes running the sandbox runtime that descend from this test process."""
    parents = _children()
    found = set()
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != os.getpid():
            ancestor = parents.get(ancestor)
        if ancestor != os.getpid() or not alive(pid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"nblambda/runtime" in cmdline:
            found.add(pid)
    return found


def test_unload_closes_the_platform_and_leaves_no_sandbox(shell):
    deploy(shell)
    deploy(shell, "other")
    with capture_output():
        shell.run_line_magic("lambda", "invoke echo")
        shell.run_line_magic("lambda", "invoke other")
    platform = get_platform()
    pids = our_sandbox_processes()
    assert len(pids) >= 3  # the fork server and two warm sandboxes
    shell.run_line_magic("unload_ext", "nblambda")
    assert "closed" in repr(platform)
    assert wait_gone(pids) == []
    assert shell.find_line_magic("lambda") is None
    assert shell.find_cell_magic("lambda_function") is None
    shell.run_line_magic("load_ext", "nblambda")  # loads again, with a new platform
    assert get_platform() is not platform
    assert shell.run_line_magic("lambda", "describe echo").config.name == "echo"  # from the store


def test_interrupting_a_cell_invoke_stops_waiting_but_the_invocation_completes(shell):
    # Jupyter's Interrupt during %%lambda: the cell stops, the function runs on and is recorded,
    # as a Lambda invocation goes on when its caller disconnects.
    import _thread
    import threading
    import time

    deploy(shell, "slow --timeout 10", src("""
        import time
        def handler(event, context):
            print("working")
            time.sleep(1.0)
            return "finished"
    """))
    threading.Timer(0.4, _thread.interrupt_main).start()
    started = time.monotonic()
    with capture_output() as captured, pytest.raises(KeyboardInterrupt):
        shell.run_cell_magic("lambda", "slow", "{}")
    assert time.monotonic() - started < 0.9  # the cell gave up waiting at once
    assert "the invocation runs on" in captured.stderr
    platform = get_platform()
    deadline = time.monotonic() + 10
    while not platform.invocations("slow") and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = platform.invocations("slow")
    assert record.payload == "finished" and "working" in record.logs
    assert shell.run_cell_magic("lambda", "slow", "{}").payload == "finished"  # still serving
