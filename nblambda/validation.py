"""Lambda's rules for names, configuration and payloads, with AWS's error messages."""
from __future__ import annotations

import json
import re

from .errors import (InvalidParameterValueException, InvalidRequestContentException,
                     RequestTooLargeException)

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024  # 6,291,456 bytes, request of a RequestResponse invocation
MAX_ASYNC_PAYLOAD = 1024 * 1024
MAX_RESPONSE = 6291556  # the figure Lambda's own error message quotes for responses
MAX_ENV_BYTES = 4096

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ENV_KEY = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
# module.function, each part an identifier: a handler is never a path (no "../" out of the task root)
_HANDLER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have "
            "length between 1 and 64")
    return name


def check_memory(memory: object) -> int:
    if isinstance(memory, bool) or not isinstance(memory, int) or not 128 <= memory <= 10240:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{memory}' at 'memorySize' failed to satisfy "
            "constraint: Member must have value between 128 and 10240 (whole megabytes)")
    return memory


def check_timeout(timeout: object) -> int:
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 900:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy "
            "constraint: Member must have value between 1 and 900 (whole seconds)")
    return timeout


def check_handler(handler: object) -> str:
    if not isinstance(handler, str) or not _HANDLER.match(handler) or len(handler) > 128:
        raise InvalidParameterValueException(f"Invalid handler {handler!r}: expected "
                                             "'function' or 'module.function' (Python names)")
    return handler


def check_environment(env: object) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise InvalidParameterValueException("Environment variables must be a mapping of strings")
    not_text = sorted(str(k) for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str))
    if not_text:
        raise InvalidParameterValueException(  # the SDKs refuse these before sending; so do we
            f"Environment variable names and values must be strings: {', '.join(not_text)}")
    with_nul = sorted(k for k, v in env.items() if "\0" in k or "\0" in v)
    if with_nul:
        raise InvalidParameterValueException(  # no process can be given such a variable
            f"Environment variables cannot contain a NUL character: {', '.join(with_nul)}")
    bad = [k for k in env if not _ENV_KEY.match(k)]
    if bad:
        raise InvalidParameterValueException(
            f"Environment variable names must match [a-zA-Z]([a-zA-Z0-9_])+: {', '.join(bad)}")
    reserved = sorted(k for k in env if k in RESERVED_ENV)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not supported "
            f"for modification. Reserved keys used in this request: {', '.join(reserved)}")
    size = len(json.dumps(env, separators=(",", ":")).encode())
    if sum(len(k.encode()) + len(v.encode()) for k, v in env.items()) > MAX_ENV_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided exceeded the 4KB limit. String measured: {size} bytes")
    return env


def check_json(body: bytes) -> bytes:
    """Lambda's front end refuses a payload that is not JSON before any sandbox sees it."""
    if not body:
        return b"{}"  # an Invoke without a payload delivers {} to the handler
    try:
        json.loads(body)
    except (ValueError, UnicodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}") \
            from None
    return body


def check_payload(body: bytes, limit: int = MAX_SYNC_PAYLOAD, operation: str = "Invoke") -> bytes:
    if len(body) > limit:
        raise RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the {operation} operation")
    return body
