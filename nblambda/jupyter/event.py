"""The event of a notebook invocation: JSON, or a Python expression evaluated in the notebook."""
from __future__ import annotations

import json
from typing import Any, Mapping


class EventError(ValueError):
    """The text is neither JSON nor a Python expression that evaluates without error."""


def parse_event(text: str, namespace: Mapping[str, Any] | None = None) -> Any:
    """Decode ``text`` as JSON; failing that, evaluate it as a Python expression in ``namespace``.

    Empty text is ``{}``, the default test event of the Lambda console. The value is not checked
    for JSON-compatibility here: ``Platform.invoke`` does that and names the offending value.
    """
    text = text.strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        json_error = exc
    try:
        code = compile(text, "<event>", "eval")
    except SyntaxError as exc:
        raise EventError(f"The event is neither JSON ({json_error}) nor a Python expression "
                         f"({exc.msg}, line {exc.lineno})") from None
    # eval needs a real dict for globals; the notebook's user_ns is one, other mappings get copied
    scope = namespace if isinstance(namespace, dict) else dict(namespace or {})
    try:
        return eval(code, scope)
    except Exception as exc:
        raise EventError(f"Evaluating the event raised {type(exc).__name__}: {exc}") from None
