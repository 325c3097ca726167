"""Live views: the function card of ``%%lambda_function`` and the view of one invocation.

Thin views over the Platform's Python API. They are built on the kernel's main thread (when a cell
runs, or in a button's comm handler, which also runs there); anything else only sets trait values.
"""
from __future__ import annotations

from typing import Any, Mapping

import ipywidgets as widgets

from ..errors import LambdaError
from ..models import InvocationResult
from ..platform import Platform
from . import live
from .event import EventError, parse_event
from .views import (LiveLog, esc, function_html, function_state, function_text, invocation_html,
                    running_html)

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def frontend_available() -> bool:
    """Whether a widget would reach a front end: a kernel (which carries the comms) is attached to
    the running IPython. Plain terminal IPython has none, and its widgets would talk to nobody."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def view_reference(widget: widgets.Widget) -> dict:
    """The ``application/vnd.jupyter.widget-view+json`` value that shows ``widget``."""
    return {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}


def _message_html(text: str) -> str:
    return f'<div style="color: #cf222e; font-size: 12px;">{esc(text)}</div>'


class InvocationView(widgets.HTML):
    """One invocation: its static HTML view, or the live log tail while it runs."""

    def __init__(self, result: InvocationResult | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result: InvocationResult | None = None
        self._running: str | None = None
        self._live = LiveLog()
        if result is not None:
            self.show(result)

    def show(self, result: InvocationResult) -> None:
        self.result = result
        self._running = None
        self.value = invocation_html(result)

    def start(self, name: str) -> None:
        """Show ``name`` as running, with an empty log until ``append_log`` brings lines."""
        self._running = name
        self._live = LiveLog()
        self.value = running_html(name, "")

    def append_log(self, chunk: str) -> None:
        if self._running is not None and self._live.write(chunk):
            self.value = running_html(self._running, self._live.text)

    def clear(self) -> None:
        self.result = None
        self._running = None
        self.value = ""

    def __repr__(self) -> str:
        if self._running is not None:
            return f"<InvocationView: {self._running} running>"
        return repr(self.result) if self.result is not None else "<InvocationView: no invocation>"


class FunctionCard(widgets.VBox):
    """A deployed function: its configuration and state, an event editor, an Invoke button, and
    the last result. The event is JSON, or a Python expression evaluated in ``namespace``."""

    def __init__(self, platform: Platform, name: str,
                 namespace: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.platform = platform
        self.name = name
        self.namespace = namespace
        self.info = widgets.HTML()
        self.event = widgets.Textarea(value="{}", placeholder="event: JSON, or a Python expression",
                                      rows=3, layout=widgets.Layout(width="100%"))
        self.invoke_button = widgets.Button(description="Invoke", icon="play",
                                            button_style="primary", tooltip=f"Invoke {name}")
        self.message = widgets.HTML()
        self.stats = widgets.HTML()
        self.result_view = InvocationView()
        self.invoke_button.on_click(lambda _button: self.invoke())
        super().__init__(children=[self.info, self.stats, self.event, self.invoke_button,
                                   self.message, self.result_view], **kwargs)
        self.refresh()
        live.refresh(self)
        live.watch(self)  # concurrency, queued events, throttles and DLQ size, kept current

    @property
    def state(self) -> str:
        try:
            self.platform.get_function(self.name)
        except LambdaError:
            return "Deleted"
        return function_state(self.platform.pool.sandboxes(self.name))

    def refresh(self) -> None:
        """Re-read the configuration and state from the platform."""
        self.info.value = self._static_html(with_result=False)

    def invoke(self) -> InvocationResult | None:
        """Invoke the function with the editor's event; the result goes to ``result_view``.

        Problems with the event or the request show as a message on the card, like the Lambda
        console's test panel: a button press has no cell to raise into."""
        self.message.value = ""
        try:
            event = parse_event(self.event.value, self.namespace)
        except EventError as exc:
            self.message.value = _message_html(str(exc))
            return None
        self.invoke_button.disabled = True
        self.result_view.start(self.name)
        try:
            result = self.platform.invoke(self.name, event, on_log=self.result_view.append_log)
        except LambdaError as exc:
            self.result_view.clear()
            self.message.value = _message_html(f"{exc.code}: {exc.message}")
            return None
        finally:
            self.invoke_button.disabled = False
            self.refresh()
        self.result_view.show(result)
        return result

    def _static_html(self, with_result: bool = True) -> str:
        try:
            config = self.platform.get_function(self.name)
        except LambdaError as exc:
            return _message_html(f"{self.name}: {exc.message}")
        html = function_html(config, self.state)
        if with_result and self.result_view.result is not None:
            html += invocation_html(self.result_view.result)
        return html

    def __repr__(self) -> str:
        try:
            text = function_text(self.platform.get_function(self.name), self.state)
        except LambdaError as exc:
            return f"Function {self.name}: {exc.message}"
        if self.result_view.result is not None:
            text += f"\nLast invocation: {self.result_view.result.summary()}"
        return text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        # text and static HTML for terminals, nbconvert and saved notebooks; the live widget on top
        bundle: dict[str, Any] = {"text/plain": repr(self), "text/html": self._static_html()}
        if frontend_available():
            bundle[WIDGET_MIME] = view_reference(self)
        return bundle
