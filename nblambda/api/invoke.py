"""The Invoke operation: ``POST /2015-03-31/functions/{FunctionName}/invocations``.

Reproduces Lambda's HTTP contract: 200 / 202 (Event) / 204 (DryRun); a failed function is still a
200, marked by ``X-Amz-Function-Error: Unhandled`` with the error object as the body;
``X-Amz-Executed-Version`` names the version that ran; ``LogType: Tail`` returns the last 4 KB of
the log, base64, in ``X-Amz-Log-Result``.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Mapping

from .. import validation
from ..errors import InvalidParameterValueException
from ..platform import Platform
from .lambda_rest import function_ref

LOG_TAIL_BYTES = 4096
MAX_CLIENT_CONTEXT = 3583  # bytes of base64, Lambda's limit for X-Amz-Client-Context
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def log_tail(logs: str, limit: int = LOG_TAIL_BYTES) -> str:
    """Base64 of the last ``limit`` bytes of ``logs`` in UTF-8, starting on a character boundary:
    continuation bytes (0b10xxxxxx) left at the cut are dropped rather than sent half."""
    data = logs.encode("utf-8")[-limit:]
    start = 0
    while start < len(data) and data[start] & 0xC0 == 0x80:
        start += 1
    return base64.b64encode(data[start:]).decode("ascii")


def client_context(header: str | None) -> dict | None:
    """X-Amz-Client-Context: base64 of a JSON object (mobile SDK context), at most 3583 bytes."""
    if not header:
        return None
    if len(header) > MAX_CLIENT_CONTEXT:
        raise InvalidParameterValueException(
            f"Client context must be at most {MAX_CLIENT_CONTEXT} bytes of base64")
    try:
        value = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, UnicodeError):
        value = None
    if not isinstance(value, dict):
        raise InvalidParameterValueException(
            "Client context must be a valid Base64-encoded JSON object.")
    return value


Reply = tuple[int, list[tuple[str, str]], bytes]


def invoke(platform: Platform, name: str, body: bytes, headers: Mapping[str, str],
           qualifier: str | None) -> Reply:
    """Run the invocation (blocking: called from a worker thread); Lambda's (status, headers,
    body). ``headers`` maps lower-case names to values."""
    invocation_type = headers.get("x-amz-invocation-type") or "RequestResponse"
    if invocation_type not in INVOCATION_TYPES:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to "
            "satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, "
            "DryRun]")
    log_type = headers.get("x-amz-log-type") or "None"
    if log_type not in ("None", "Tail"):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{log_type}' at 'logType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [None, Tail]")
    name, qualifier = function_ref(name, qualifier)
    context = client_context(headers.get("x-amz-client-context"))
    payload = validation.check_json(body)
    kwargs: dict[str, Any] = {"payload": payload, "qualifier": qualifier,
                              "client_context": context}
    if invocation_type != "RequestResponse":
        kwargs["invocation_type"] = invocation_type
    result = platform.invoke(name, **kwargs)
    out = [("x-amzn-requestid", result.request_id)]
    if invocation_type == "Event":
        return 202, out, b""
    if invocation_type == "DryRun":
        return 204, out, b""
    out.append(("x-amz-executed-version", result.version))
    if result.function_error:
        out.append(("x-amz-function-error", result.function_error))
    if log_type == "Tail":
        out.append(("x-amz-log-result", log_tail(result.logs)))
    out.append(("content-type", result.content_type or "application/json"))
    return 200, out, result.response_bytes
