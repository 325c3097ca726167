"""Static renderings (text and self-contained HTML) of functions and invocations.

Everything here is plain text or an HTML string built from plain values, so it survives nbconvert,
terminals and saved notebooks; the live widgets in ``widgets.py`` reuse these strings.
"""
from __future__ import annotations

import html
import json
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from ..models import FunctionConfig, InvocationResult

# AWS Lambda's x86 on-demand price (us-east-1): per GB-second of billed duration, plus per request
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_REQUEST = 0.0000002
MAX_SHOWN = 100_000  # characters of a result shown in HTML; the full value stays on the object

_FONT = "font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 13px;"
_MONO = "font-family: SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;"
_PRE = (f"{_MONO} background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 4px; "
        "padding: 6px 8px; margin: 4px 0; max-height: 320px; overflow: auto; white-space: pre-wrap; "
        "word-break: break-word;")
_BOX = f"{_FONT} border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px; margin: 2px 0;"
# Jupyter typesets $...$ in HTML outputs as LaTeX; "$LATEST" and "$0.0000002" would become math.
# These classes are how MathJax (and pandas' tables) opt out.
_NO_MATH = "tex2jax_ignore mathjax_ignore"
_STATUS = {  # status -> (label, colour)
    "success": ("success", "#1a7f37"),
    "error": ("error", "#cf222e"),
    "timeout": ("timeout", "#bc4c00"),
    "oom": ("out of memory", "#8250df"),
    "crash": ("crash", "#82071e"),
    "queued": ("queued (202)", "#0969da"),
    "dryrun": ("dry run (204)", "#57606a"),
}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def badge(label: str, colour: str) -> str:
    return (f'<span style="background: {colour}; color: #fff; border-radius: 10px; padding: 1px 8px; '
            f'font-size: 11px; font-weight: 600; margin-left: 4px;">{esc(label)}</span>')


def _clip(text: str, limit: int = MAX_SHOWN) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… {len(text) - limit} more characters (the full value is on the object)"


def _table(rows: Iterable[tuple[str, str]]) -> str:
    """Two-column key/value table; values are already-escaped HTML."""
    cells = "".join(f'<tr><th style="text-align: left; padding: 1px 12px 1px 0; color: #57606a; '
                    f'font-weight: 500;">{esc(k)}</th><td style="text-align: left; padding: 1px 0;">'
                    f"{v}</td></tr>" for k, v in rows)
    return f'<table style="border-collapse: collapse; margin: 4px 0;">{cells}</table>'


def _report_table(rows: list[tuple[str, str]]) -> str:
    """Figures side by side, as one REPORT line: labels above values."""
    cell = "text-align: left; padding: 1px 14px 1px 0;"
    head = "".join(f'<th style="{cell} color: #57606a; font-weight: 500;">{esc(k)}</th>'
                   for k, _ in rows)
    values = "".join(f'<td style="{cell}">{esc(v)}</td>' for _, v in rows)
    return (f'<table style="border-collapse: collapse; margin: 4px 0;"><tr>{head}</tr>'
            f"<tr>{values}</tr></table>")


def _when(timestamp: float) -> str:
    if not timestamp:
        return "—"
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- invocations ------------------------------------------------------------------------------
def cost_usd(result: InvocationResult) -> float:
    """What the invocation would cost on AWS: billed GB-seconds plus the request charge."""
    gb_seconds = result.billed_duration_ms / 1000 * result.memory_size_mb / 1024
    return gb_seconds * PRICE_PER_GB_SECOND + PRICE_PER_REQUEST


def format_usd(amount: float) -> str:
    return f"${amount:.10f}"


def report_rows(result: InvocationResult) -> list[tuple[str, str]]:
    init = f"{result.init_duration_ms:.2f} ms" if result.init_duration_ms is not None else "—"
    return [("Duration", f"{result.duration_ms:.2f} ms"),
            ("Billed duration", f"{result.billed_duration_ms} ms"),
            ("Init duration", init),
            ("Memory size", f"{result.memory_size_mb} MB"),
            ("Max memory used", f"{result.max_memory_used_mb} MB"),
            ("Cost", format_usd(cost_usd(result)))]


def payload_text(result: InvocationResult) -> str:
    payload = result.payload
    if isinstance(payload, (bytes, bytearray)):
        preview = bytes(payload[:200])
        more = " …" if len(payload) > 200 else ""
        return f"<{len(payload)} bytes, {result.content_type}> {preview!r}{more}"
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str)


def _error_html(error: dict) -> str:
    trace = error.get("stackTrace") or []
    lines = "".join(str(frame) if str(frame).endswith("\n") else f"{frame}\n" for frame in trace)
    pre = f'<pre style="{_PRE}">{esc(_clip(lines))}</pre>' if lines else ""
    return (f'<div style="color: #cf222e; margin: 4px 0;"><b>{esc(error.get("errorType", ""))}</b>: '
            f'{esc(_clip(str(error.get("errorMessage", ""))))}</div>{pre}')


def invocation_html(result: InvocationResult) -> str:
    """A static, self-contained HTML view: badges, result or error, logs, REPORT figures."""
    label, colour = _STATUS.get(result.status, (result.status, "#57606a"))
    if result.status in ("queued", "dryrun"):
        note = ("queued for an asynchronous run: see %lambda logs, or the function's history"
                if result.status == "queued" else "the request is valid; nothing ran")
        return (f'<div class="nblambda-invocation {_NO_MATH}" style="{_BOX}">'
                f"<b>{esc(result.function_name)}</b>{badge(label, colour)}"
                f' <span style="color: #57606a; font-size: 11px;">request '
                f"{esc(result.request_id)} · {esc(note)}</span></div>")
    head = (f"<b>{esc(result.function_name)}</b>{badge(label, colour)}"
            f"{badge('cold' if result.cold else 'warm', '#0969da' if result.cold else '#6e7781')}"
            f' <span style="color: #57606a; font-size: 11px;">{esc(result.version)} · request '
            f"{esc(result.request_id)}</span>")
    if result.error is not None:
        body = _error_html(result.error)
    else:
        body = f'<pre style="{_PRE}">{esc(_clip(payload_text(result)))}</pre>'
    lines = result.logs.count("\n")
    logs = (f'<details open style="margin: 4px 0;"><summary style="cursor: pointer; color: #57606a;">'
            f'Logs ({lines} line{"s" if lines != 1 else ""})</summary>'
            f'<pre style="{_PRE}">{esc(result.logs)}</pre></details>')
    return (f'<div class="nblambda-invocation {_NO_MATH}" style="{_BOX}"><div>{head}</div>'
            f"{body}{logs}{_report_table(report_rows(result))}</div>")


def invocation_text(result: InvocationResult) -> str:
    return repr(result)


def invocation_bundle(result: InvocationResult) -> dict:
    """The mimebundle of an InvocationResult: text, static HTML, and a live widget view when a
    kernel with comms can show one."""
    bundle: dict[str, Any] = {"text/plain": invocation_text(result),
                              "text/html": invocation_html(result)}
    from .widgets import InvocationView, frontend_available, view_reference

    if frontend_available():
        bundle["application/vnd.jupyter.widget-view+json"] = view_reference(InvocationView(result))
    return bundle


# -- running invocations ----------------------------------------------------------------------
class LiveLog:
    """The tail of a running invocation's log, for views refreshed while it runs.

    Keeps the last ``limit`` characters (the complete log is on the result); ``write`` says whether
    a refresh is due, at most one per ``interval`` seconds, so a chatty function does not flood the
    front end with updates."""

    interval = 0.1

    def __init__(self, limit: int = 20_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.text = ""
        self._last = float("-inf")

    def write(self, chunk: str) -> bool:
        self.text = (self.text + chunk)[-self.limit:]
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False


def running_html(name: str, log: str) -> str:
    pre = f'<pre style="{_PRE}">{esc(log)}</pre>' if log else ""
    return (f'<div class="{_NO_MATH}" style="{_BOX}"><b>{esc(name)}</b>'
            f'{badge("running", "#9a6700")}{pre}</div>')


def running_text(name: str, log: str) -> str:
    return f"{name} [running]\n{log}"


class LiveLogDisplay:
    """Streams a running invocation's log into a transient output, then clears it.

    In a front end that can update outputs in place (a kernel, or captured output) the log goes
    into one display updated by its display_id; the final view is the result's own display, so the
    transient one is emptied at the end and nothing is shown twice. A plain terminal cannot update
    an output, so there the lines are written to stdout as they come."""

    def __init__(self, shell: Any, name: str) -> None:
        from IPython.core.displaypub import DisplayPublisher

        self.name = name
        self.log = LiveLog()
        self.handle = None
        self.stream = shell is None or type(shell.display_pub) is DisplayPublisher

    def __enter__(self) -> "LiveLogDisplay":
        if not self.stream:
            from IPython.display import display

            self.handle = display(self._bundle(), raw=True, display_id=True)
        return self

    def _bundle(self) -> dict:
        return {"text/plain": running_text(self.name, self.log.text),
                "text/html": running_html(self.name, self.log.text)}

    def write(self, chunk: str) -> None:
        if self.stream:
            sys.stdout.write(chunk)
            sys.stdout.flush()
        elif self.log.write(chunk):
            self.handle.update(self._bundle(), raw=True)

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": "", "text/html": ""}, raw=True)


# -- functions --------------------------------------------------------------------------------
def function_state(sandboxes: list[dict]) -> str:
    """Lambda's State (a deployed function is Active) and the sandboxes it holds right now."""
    if not sandboxes:
        return "Active · no warm sandbox"
    busy = sum(1 for s in sandboxes if s["state"] == "busy")
    idle = len(sandboxes) - busy
    parts = [f"{idle} warm" if idle else "", f"{busy} busy" if busy else ""]
    noun = "sandbox" if len(sandboxes) == 1 else "sandboxes"
    return f"Active · {', '.join(p for p in parts if p)} {noun}"


def _environment_text(config: FunctionConfig) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(config.environment.items())) or "—"


def function_rows(config: FunctionConfig, state: str) -> list[tuple[str, str]]:
    return [("Handler", config.handler), ("Runtime", config.runtime or "—"),
            ("Memory", f"{config.memory} MB"), ("Timeout", f"{config.timeout} s"),
            ("Environment", _environment_text(config)), ("Backend", config.backend),
            ("Code", config.code_hash[:12]), ("State", state),
            ("Last modified", _when(config.updated_at))]


def function_text(config: FunctionConfig, state: str) -> str:
    head = f"Function {config.name} ({config.arn})"
    if config.description:
        head += f"\n  {config.description}"
    width = max(len(k) for k, _ in function_rows(config, state))
    rows = "\n".join(f"  {k + ':':<{width + 1}} {v}" for k, v in function_rows(config, state))
    return f"{head}\n{rows}"


def function_html(config: FunctionConfig, state: str) -> str:
    description = (f'<div style="color: #57606a;">{esc(config.description)}</div>'
                   if config.description else "")
    rows = [(k, f"<code>{esc(v)}</code>" if k in ("Handler", "Code", "Environment") else esc(v))
            for k, v in function_rows(config, state)]
    return (f'<div class="nblambda-function {_NO_MATH}" style="{_FONT}"><div>'
            f'<b style="font-size: 14px;">λ {esc(config.name)}</b> '
            f'<span style="color: #57606a; font-size: 11px;">{esc(config.arn)}</span></div>'
            f"{description}{_table(rows)}</div>")


class FunctionDescription:
    """``%lambda describe``: a function's configuration, its state and its source."""

    def __init__(self, config: FunctionConfig, sandboxes: list[dict]) -> None:
        self.config = config
        self.state = function_state(sandboxes)

    def __repr__(self) -> str:
        source = self.config.source.rstrip("\n")
        return f"{function_text(self.config, self.state)}\n  Source:\n{_indent(source, '    ')}"

    def _repr_html_(self) -> str:
        return (f'<div class="{_NO_MATH}" style="{_BOX}">{function_html(self.config, self.state)}'
                f'<details><summary style="cursor: pointer; color: #57606a;">Source</summary>'
                f'<pre style="{_PRE}">{esc(self.config.source)}</pre></details></div>')

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


class FunctionTable(list):
    """``%lambda list``: the deployed functions (a list of FunctionConfig) shown as a table."""

    columns = ("Name", "Handler", "Runtime", "Memory", "Timeout", "Backend", "Code", "Last modified")

    def _rows(self) -> list[tuple[str, ...]]:
        return [(c.name, c.handler, c.runtime, f"{c.memory} MB", f"{c.timeout} s", c.backend,
                 c.code_hash[:12], _when(c.updated_at)) for c in self]

    def __repr__(self) -> str:
        if not self:
            return "No functions deployed yet: deploy a cell with %%lambda_function NAME"
        rows = [self.columns, *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.columns))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                         for row in rows)

    def _repr_html_(self) -> str:
        if not self:
            return f'<div class="{_NO_MATH}" style="{_FONT}">{esc(repr(self))}</div>'
        th = "".join(f'<th style="text-align: left; padding: 2px 10px 2px 0;">{esc(c)}</th>'
                     for c in self.columns)
        body = "".join("<tr>" + "".join(f'<td style="text-align: left; padding: 2px 10px 2px 0;">'
                                         f"{esc(cell)}</td>" for cell in row) + "</tr>"
                       for row in self._rows())
        return (f'<table class="nblambda-functions {_NO_MATH}" '
                f'style="{_FONT} border-collapse: collapse;">'
                f"<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}
