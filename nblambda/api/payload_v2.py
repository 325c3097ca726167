"""API Gateway HTTP API, payload format 2.0: an HTTP request as a Lambda event, and the function's
return value as the HTTP response.

Behaviours reproduced (AWS's "Working with AWS Lambda proxy integrations for HTTP APIs"):
- header names are lower-cased and repeated headers joined with commas; the ``Cookie`` header
  moves to ``cookies``; repeated query parameters are joined with commas;
  ``cookies``, ``queryStringParameters``, ``pathParameters`` and ``body`` are left out when empty;
- a body that is not text is base64 with ``isBase64Encoded: true``;
- a returned object with ``statusCode`` is a response (``headers``, ``cookies`` -> one
  ``Set-Cookie`` each, ``body``, ``isBase64Encoded``); any other JSON value is a 200
  ``application/json`` response whose body is that value (a string as its text);
- what cannot be turned into a response is the function's fault: a 502, as API Gateway answers.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any
from urllib.parse import unquote, unquote_plus

from ..models import ACCOUNT_ID

API_ID = "nblambda"
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript",
               "application/graphql", "application/yaml")


class MalformedResponse(Exception):
    """The function's return value is not something API Gateway can turn into a response."""


def is_text(content_type: str | None) -> bool:
    """Whether a body of this type goes into the event as text rather than base64."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return (kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith("+json")
            or kind.endswith("+xml"))


def _joined_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _query_parameters(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in raw_query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key, value = unquote_plus(key), unquote_plus(value)
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def request_time(now: float) -> str:
    """requestContext.time, in API Gateway's CLF-like format: ``12/Mar/2020:19:03:58 +0000``."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


def build_event(*, method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]],
                body: bytes, route_key: str, path_parameters: dict[str, str], source_ip: str,
                protocol: str, request_id: str, now: float,
                authorizer: dict | None = None) -> dict[str, Any]:
    joined = _joined_headers(headers)
    cookie_header = joined.pop("cookie", None)
    host = joined.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.split(";") if c.strip()]
    event["headers"] = joined
    query = _query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
        "http": {"method": method, "path": unquote(raw_path), "protocol": protocol,
                 "sourceIp": source_ip, "userAgent": joined.get("user-agent", "")},
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": request_time(now),
        "timeEpoch": int(now * 1000),
    }
    if authorizer:
        context["authorizer"] = authorizer
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        if is_text(joined.get("content-type")):
            try:
                event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["isBase64Encoded"] = False
    return event


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MalformedResponse(f"header values must be strings, got {type(value).__name__}")


def _body_bytes(body: Any, base64_encoded: bool) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        body = json.dumps(body)  # a non-string body is sent as its JSON text
    if base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("isBase64Encoded is true but body is not base64") from None
    return body.encode("utf-8")


def build_response(payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) for the function's raw response payload."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeError):
        raise MalformedResponse("the function's response is not JSON") from None
    if not (isinstance(value, dict) and "statusCode" in value):
        body = value.encode("utf-8") if isinstance(value, str) else bytes(payload)
        return 200, [("content-type", "application/json")], body
    status = value.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode must be an HTTP status (100-599), got {status!r}")
    headers_in = value.get("headers") or {}
    if not isinstance(headers_in, dict):
        raise MalformedResponse("headers must be an object")
    headers = [(str(k).lower(), _header_value(v)) for k, v in headers_in.items()]
    cookies = value.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponse("cookies must be a list of strings")
    headers += [("set-cookie", str(c)) for c in cookies]
    if not any(k == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/json"))
    encoded = value.get("isBase64Encoded", False)
    if isinstance(encoded, str):
        encoded = encoded.lower() == "true"
    return status, headers, _body_bytes(value.get("body"), bool(encoded))
