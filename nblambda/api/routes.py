"""HTTP routes, as an API Gateway HTTP API routes requests to Lambda functions.

A route key is ``METHOD /path`` (``ANY`` for every method; ``{name}`` captures one path segment,
``{name+}`` the rest of the path) or ``$default``. The platform stores the routes
(``Platform.add_route``); this module matches requests against them and runs the function.

Matching follows API Gateway's rule of the most specific route: a path without variables beats
one with variables, which beats a greedy ``{proxy+}``; a route with the request's method beats
``ANY``; ``$default`` catches what nothing else does. API Gateway ignores one trailing slash on
the request path, so ``/items/`` matches ``GET /items``.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import unquote

from ..errors import LambdaError, RequestTooLargeException
from ..platform import Platform
from . import payload_v2

log = logging.getLogger("nblambda.api")
Reply = tuple[int, list[tuple[str, str]], bytes]


def _message(status: int, text: str) -> Reply:
    return status, [("content-type", "application/json")], json.dumps({"message": text}).encode()


NOT_FOUND = _message(404, "Not Found")
FUNCTION_ERROR = _message(502, "Internal Server Error")  # the function failed or answered badly
INVOKE_ERROR = _message(500, "Internal Server Error")  # Lambda refused the invocation
TOO_LARGE = _message(413, "Request Entity Too Large")


@dataclass(frozen=True)
class Route:
    route_key: str
    function: str
    qualifier: str | None = None

    @property
    def method(self) -> str:
        return self.route_key.split(" ", 1)[0] if self.route_key != "$default" else "ANY"

    @property
    def segments(self) -> tuple[str, ...]:
        if self.route_key == "$default":
            return ()
        return tuple(s for s in self.route_key.split(" ", 1)[1].split("/") if s)

    @property
    def target(self) -> str:
        return f"{self.function}:{self.qualifier}" if self.qualifier else self.function


def _match_segments(pattern: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, seg in enumerate(pattern):
        if seg.startswith("{") and seg.endswith("+}"):
            rest = parts[i:]
            if not rest:
                return None
            params[seg[1:-2]] = "/".join(rest)
            return params
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            params[seg[1:-1]] = parts[i]
        elif seg != parts[i]:
            return None
    return params if len(parts) == len(pattern) else None


def _specificity(route: Route) -> tuple:
    """Sort key: smaller is more specific (literal segments first, greedy last, ANY after a method)."""
    segs = route.segments
    greedy = bool(segs) and segs[-1].endswith("+}")
    return (greedy, tuple(s.startswith("{") for s in segs), route.method == "ANY")


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        routes = list(routes)
        self.default = next((r for r in routes if r.route_key == "$default"), None)
        self.routes = sorted((r for r in routes if r.route_key != "$default"), key=_specificity)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        parts = [unquote(p) for p in path.split("/") if p]
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            params = _match_segments(route.segments, parts)
            if params is not None:
                return route, params
        return (self.default, {}) if self.default is not None else None


def _request_id() -> str:
    """API Gateway's request ids look like ``JKJaXmPLvHcESHA=``."""
    return base64.b64encode(os.urandom(10)).decode()


class HttpRoutes:
    """Serves the platform's routes; the table is rebuilt only when the stored routes change."""

    def __init__(self, platform: Platform, max_body: int = 10 * 1024 * 1024) -> None:
        self.platform = platform
        self.max_body = max_body  # API Gateway's payload quota: 10 MB
        self._records: list | None = None
        self._table = RouteTable(())
        self._lock = threading.Lock()

    def table(self) -> RouteTable:
        records = self.platform.list_routes()
        with self._lock:
            if records != self._records:
                self._table = RouteTable(Route(r["route_key"], r["function"], r.get("qualifier"))
                                         for r in records)
                self._records = records
            return self._table

    def handle(self, method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]],
               body: bytes, source_ip: str, protocol: str, authorizer: dict | None = None) -> Reply:
        matched = self.table().match(method, raw_path)
        if matched is None:
            return NOT_FOUND
        if len(body) > self.max_body:
            return TOO_LARGE
        route, params = matched
        request_id = _request_id()
        event = payload_v2.build_event(
            method=method, raw_path=raw_path, raw_query=raw_query, headers=headers, body=body,
            route_key=route.route_key, path_parameters=params, source_ip=source_ip,
            protocol=protocol, request_id=request_id, now=time.time(), authorizer=authorizer)
        try:
            result = self.platform.invoke(route.target, event)
        except RequestTooLargeException:
            return TOO_LARGE
        except LambdaError as exc:
            log.warning("route %r: %s calling %s: %s", route.route_key, exc.code, route.target,
                        exc.message)
            return INVOKE_ERROR
        if result.error is not None:
            log.warning("route %r: %s failed: %s: %s", route.route_key, route.target,
                        result.error.get("errorType"), result.error.get("errorMessage"))
            return self._stamp(FUNCTION_ERROR, request_id)
        try:
            status, out_headers, out_body = payload_v2.build_response(result.response_bytes)
        except payload_v2.MalformedResponse as exc:
            log.warning("route %r: %s returned a malformed response: %s", route.route_key,
                        route.target, exc)
            return self._stamp(FUNCTION_ERROR, request_id)
        return self._stamp((status, out_headers, out_body), request_id)

    @staticmethod
    def _stamp(reply: Reply, request_id: str) -> Reply:
        status, headers, body = reply
        return status, headers + [("apigw-requestid", request_id)], body


def describe(routes: list[dict[str, Any]], endpoint: str | None = None) -> str:
    """Plain-text listing, one route per line, for the CLI and the magics."""
    if not routes:
        return "No routes."
    width = max(len(r["route_key"]) for r in routes)
    lines = []
    for r in routes:
        target = r["function"] + (f":{r['qualifier']}" if r.get("qualifier") else "")
        url = ""
        if endpoint and r["route_key"] != "$default":
            url = "  " + endpoint + r["route_key"].split(" ", 1)[1]
        lines.append(f"{r['route_key']:<{width}}  -> {target}{url}")
    return "\n".join(lines)
