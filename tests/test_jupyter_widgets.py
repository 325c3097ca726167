"""Widgets and rich displays, checked through their models: no browser needed."""
import pytest
from IPython.core.interactiveshell import InteractiveShell
from ipywidgets.widgets.widget import _instances

from conftest import src
from nblambda.jupyter import close_platform, get_platform
from nblambda.jupyter.views import (FunctionDescription, LiveLog, cost_usd, function_html,
                                    invocation_bundle, invocation_html)
from nblambda.jupyter.widgets import WIDGET_MIME, FunctionCard, InvocationView
from nblambda.models import FunctionConfig, InvocationResult

ECHO = "def handler(event, context):\n    print('got', event)\n    return event\n"


@pytest.fixture
def kernel_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("NBLAMBDA_HOME", str(tmp_path / "home"))
    platform = get_platform()
    yield platform
    close_platform()


@pytest.fixture
def with_kernel(monkeypatch):
    """Pretend a kernel is attached to the shell, as in Jupyter, so widget views are offered."""
    monkeypatch.setattr(InteractiveShell.instance(), "kernel", object(), raising=False)


def made_result(**fields) -> InvocationResult:
    values = dict(request_id="req-1", function_name="fn", payload={"ok": True},
                  logs="START RequestId: req-1 Version: $LATEST\nEND RequestId: req-1\n",
                  cold=True, duration_ms=12.5, billed_duration_ms=108, init_duration_ms=95.1,
                  max_memory_used_mb=41, memory_size_mb=256)
    values.update(fields)
    return InvocationResult(**values)


# -- FunctionCard -----------------------------------------------------------------------------
def test_invoke_button_sets_the_last_result_view(kernel_platform):
    kernel_platform.deploy("echo", ECHO, memory=256)
    card = FunctionCard(kernel_platform, "echo")
    assert card.event.value == "{}"
    assert card.result_view.value == ""
    card.event.value = '{"a": "<b>"}'
    card.invoke_button.click()
    result = card.result_view.result
    assert result.payload == {"a": "<b>"}
    assert "success" in card.result_view.value
    assert "&quot;a&quot;: &quot;&lt;b&gt;&quot;" in card.result_view.value
    assert "got {&#x27;a&#x27;: &#x27;&lt;b&gt;&#x27;}" in card.result_view.value  # the logs
    assert "1 warm sandbox" in card.info.value  # state refreshed after the invoke
    assert not card.invoke_button.disabled
    assert kernel_platform.invocations("echo")[0].request_id == result.request_id


def test_card_event_may_be_a_python_expression(kernel_platform):
    kernel_platform.deploy("echo", ECHO)
    card = FunctionCard(kernel_platform, "echo", namespace={"n": 20})
    card.event.value = "{'double': n * 2}"
    card.invoke_button.click()
    assert card.result_view.result.payload == {"double": 40}


def test_card_shows_a_bad_event_as_a_message(kernel_platform):
    kernel_platform.deploy("echo", ECHO)
    card = FunctionCard(kernel_platform, "echo")
    card.event.value = "{not json"
    card.invoke_button.click()
    assert "neither JSON" in card.message.value
    assert card.result_view.result is None
    assert kernel_platform.invocations("echo") == []


def test_card_of_a_deleted_function(kernel_platform):
    kernel_platform.deploy("echo", ECHO)
    card = FunctionCard(kernel_platform, "echo")
    kernel_platform.delete_function("echo")
    card.invoke_button.click()
    assert "ResourceNotFoundException" in card.message.value
    assert card.result_view.value == ""
    assert card.state == "Deleted"
    assert "Function not found" in repr(card)


def test_card_shows_the_configuration(kernel_platform):
    config = kernel_platform.deploy("echo", ECHO, memory=512, timeout=9,
                                    environment={"STAGE": "dev"}, description="<echo> & co")
    card = FunctionCard(kernel_platform, "echo")
    for piece in ("echo", "512 MB", "9 s", "STAGE=dev", "lambda_function.handler",
                  config.runtime, "process", config.code_hash[:12], "Active",
                  "&lt;echo&gt; &amp; co"):
        assert piece in card.info.value
    assert "<echo>" not in card.info.value


def test_card_renders_as_text_and_html_without_a_kernel(kernel_platform):
    kernel_platform.deploy("echo", ECHO, memory=256)
    card = FunctionCard(kernel_platform, "echo")
    bundle = card._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "Function echo" in bundle["text/plain"] and "Memory:" in bundle["text/plain"]
    assert "256 MB" in bundle["text/plain"]
    card.invoke_button.click()
    bundle = card._repr_mimebundle_()
    assert "Last invocation: echo [success" in bundle["text/plain"]
    assert "nblambda-invocation" in bundle["text/html"]  # the last result, statically


def test_card_offers_its_widget_view_in_a_kernel(kernel_platform, with_kernel):
    kernel_platform.deploy("echo", ECHO)
    card = FunctionCard(kernel_platform, "echo")
    bundle = card._repr_mimebundle_()
    assert bundle[WIDGET_MIME]["model_id"] == card.model_id
    assert "text/plain" in bundle and "text/html" in bundle


# -- InvocationView ---------------------------------------------------------------------------
def test_invocation_view_of_a_success(kernel_platform):
    kernel_platform.deploy("echo", ECHO, memory=256)
    result = kernel_platform.invoke("echo", {"k": [1, 2]})
    html = InvocationView(result).value
    assert ">success<" in html and ">cold<" in html
    assert "&quot;k&quot;: [\n    1,\n    2\n  ]" in html  # pretty JSON
    assert "<pre" in html and "START RequestId: " + result.request_id in html
    for label in ("Duration", "Billed duration", "Init duration", "Memory size",
                  "Max memory used", "Cost"):
        assert f">{label}<" in html
    assert f"{result.billed_duration_ms} ms" in html
    assert f"${cost_usd(result):.10f}" in html
    warm = InvocationView(kernel_platform.invoke("echo", {})).value
    assert ">warm<" in warm


def test_invocation_view_of_an_error(kernel_platform):
    kernel_platform.deploy("boom", src("""
        def handler(event, context):
            raise ValueError("bad <input> & more")
    """))
    result = kernel_platform.invoke("boom", {})
    html = InvocationView(result).value
    assert ">error<" in html
    assert "<b>ValueError</b>: bad &lt;input&gt; &amp; more" in html
    assert "line 2, in handler" in html  # the stack trace
    assert "bad <input>" not in html


def test_invocation_view_of_a_timeout(kernel_platform):
    kernel_platform.deploy("slow", src("""
        import time
        def handler(event, context):
            time.sleep(5)
    """), timeout=1)
    result = kernel_platform.invoke("slow", {})
    html = InvocationView(result).value
    assert result.status == "timeout"
    assert ">timeout<" in html
    assert "Sandbox.Timedout" in html and "Task timed out after 1.00 seconds" in html


@pytest.mark.parametrize("status, label", [("oom", "out of memory"), ("crash", "crash")])
def test_invocation_view_badges_for_killed_sandboxes(status, label):
    result = made_result(status=status, payload=None,
                         error={"errorType": "Runtime.OutOfMemory", "errorMessage": "killed"})
    assert f">{label}<" in invocation_html(result)


def test_invocation_view_streams_a_running_log(monkeypatch):
    monkeypatch.setattr(LiveLog, "interval", 0)
    view = InvocationView()
    view.start("fn")
    assert ">running<" in view.value
    view.append_log("line <1>\n")
    assert "line &lt;1&gt;" in view.value
    assert repr(view) == "<InvocationView: fn running>"
    view.show(made_result())
    assert "line &lt;1&gt;" not in view.value and ">success<" in view.value


def test_live_log_refreshes_at_most_once_per_interval():
    now = [0.0]
    log = LiveLog(limit=10, clock=lambda: now[0])
    assert log.write("a") is True
    assert log.write("b") is False
    now[0] = 0.2
    assert log.write("0123456789xyz") is True
    assert log.text == "3456789xyz"  # only the tail is kept


# -- invocation_bundle and static renderings --------------------------------------------------
def test_cost_is_billed_gb_seconds_plus_the_request():
    result = made_result(billed_duration_ms=2000, memory_size_mb=512)
    assert cost_usd(result) == pytest.approx(2 * 0.5 * 0.0000166667 + 0.0000002)
    assert "$0.0000168667" in invocation_html(result)


def test_bundle_without_a_kernel_is_text_and_html():
    result = made_result()
    bundle = invocation_bundle(result)
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == repr(result)
    assert "fn [success, cold]" in bundle["text/plain"]
    assert bundle["text/html"].startswith('<div class="nblambda-invocation ')


def test_bundle_in_a_kernel_adds_an_invocation_view(with_kernel):
    result = made_result()
    bundle = result._repr_mimebundle_()
    reference = bundle[WIDGET_MIME]
    assert reference["version_major"] == 2
    view = _instances[reference["model_id"]]
    assert isinstance(view, InvocationView) and view.result is result
    assert "text/plain" in bundle and "text/html" in bundle


def test_ipython_displays_results_through_the_bundle():
    data, _ = InteractiveShell.instance().display_formatter.format(made_result())
    assert "text/html" in data and "fn [success, cold]" in data["text/plain"]


def test_everything_in_the_html_is_escaped():
    result = made_result(payload={"x": "<script>alert(1)</script>"}, logs="<b>not bold</b>\n",
                         function_name="fn", request_id="<id>")
    html = invocation_html(result)
    assert "<script>" not in html and "<b>not bold" not in html and "<id>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;not bold" in html
    assert "tex2jax_ignore" in html  # "$LATEST ... $0.0000002" must not be typeset as LaTeX
    config = FunctionConfig(name="fn", source="", description="<i>x</i>",
                            environment={"KEY": "<v>"})
    assert "<i>" not in function_html(config, "Active") and "&lt;v&gt;" in function_html(
        config, "Active")
    description = FunctionDescription(config, [])._repr_html_()
    assert "<i>x</i>" not in description


def test_bytes_payload_and_large_results_render():
    raw = made_result(payload=b"\x00\x01binary", content_type="application/unknown")
    assert "&lt;8 bytes, application/unknown&gt;" in invocation_html(raw)
    big = made_result(payload="x" * 300_000)
    html = invocation_html(big)
    assert "more characters" in html and len(html) < 150_000
