"""The ASGI application: Lambda's REST API under ``/YYYY-MM-DD/...`` and the HTTP routes on every
other path, one Platform behind both.

Per request: read the body (bounded), check the SigV4 signature when the server has a key pair,
run the operation in a worker thread (the platform's calls block), and answer in AWS's shapes.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import uuid
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import validation
from ..errors import LambdaError, RequestTooLargeException
from ..models import ACCOUNT_ID
from ..platform import Platform
from . import invoke as invoke_op
from .errors import UnknownOperationException, error_response, service_error
from .lambda_rest import Call, LambdaApi
from .routes import TOO_LARGE, HttpRoutes
from .sigv4 import Credentials, SigV4Verifier

log = logging.getLogger("nblambda.api")

FN = "/2015-03-31/functions/{function}"
# (method, path, operation): the paths and methods of botocore's lambda service model.
# Invoke (POST FN/invocations) is served by the fast path in LambdaServer, before routing.
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")
OPERATIONS = [
    ("POST", "/2015-03-31/functions", "create_function"),
    ("GET", "/2015-03-31/functions", "list_functions"),
    ("GET", FN, "get_function"),
    ("DELETE", FN, "delete_function"),
    ("GET", FN + "/configuration", "get_function_configuration"),
    ("PUT", FN + "/configuration", "update_function_configuration"),
    ("PUT", FN + "/code", "update_function_code"),
    ("GET", FN + "/code", "download_code"),  # nblambda's GetFunction Code.Location
    ("POST", FN + "/versions", "publish_version"),
    ("GET", FN + "/versions", "list_versions_by_function"),
    ("POST", FN + "/aliases", "create_alias"),
    ("GET", FN + "/aliases", "list_aliases"),
    ("GET", FN + "/aliases/{alias}", "get_alias"),
    ("PUT", FN + "/aliases/{alias}", "update_alias"),
    ("DELETE", FN + "/aliases/{alias}", "delete_alias"),
    ("PUT", "/2017-10-31/functions/{function}/concurrency", "put_function_concurrency"),
    ("GET", "/2019-09-30/functions/{function}/concurrency", "get_function_concurrency"),
    ("DELETE", "/2017-10-31/functions/{function}/concurrency", "delete_function_concurrency"),
    ("PUT", "/2019-09-25/functions/{function}/event-invoke-config",
     "put_function_event_invoke_config"),
    ("POST", "/2019-09-25/functions/{function}/event-invoke-config",
     "update_function_event_invoke_config"),
    ("GET", "/2019-09-25/functions/{function}/event-invoke-config",
     "get_function_event_invoke_config"),
    ("DELETE", "/2019-09-25/functions/{function}/event-invoke-config",
     "delete_function_event_invoke_config"),
]
API_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}(/|$)")  # Lambda's API versions; never an HTTP route
MAX_MANAGEMENT_BODY = 70 * 1024 * 1024  # a 50 MB zip, base64 in JSON (Lambda's direct upload)
MAX_ROUTE_BODY = 10 * 1024 * 1024  # API Gateway's payload quota
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection"}
DRAIN_LIMIT = 80 * 1024 * 1024  # past this, stop reading and let the connection close


async def read_body(receive: Callable, content_length: str | None, limit: int,
                    too_large: Callable[[], Exception]) -> bytes:
    """The whole body, or ``too_large()`` once it passes ``limit``. A body a little over the limit
    is still read to its end (and dropped) so that the client, still sending, gets the answer
    instead of a reset connection."""
    if content_length and content_length.isdigit() and int(content_length) > DRAIN_LIMIT:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
        if not message.get("more_body", False):
            break
    if size > limit:
        raise too_large()
    return b"".join(chunks)


def _content_length(scope: dict) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.decode("latin-1")
    return None


def _headers(scope: dict, encoding: str = "latin-1") -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode(encoding, "replace")) for k, v in scope["headers"]]


def _raw_path(scope: dict) -> str:
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else quote(scope["path"])


class Gateway:
    """What the endpoints share: the platform's API objects, the signature verifier, and the
    worker threads the platform's blocking calls run on (the event loop never blocks)."""

    def __init__(self, platform: Platform, credentials: Credentials | None = None,
                 workers: int = 128) -> None:
        self.platform = platform
        self.api = LambdaApi(platform)
        self.routes = HttpRoutes(platform, MAX_ROUTE_BODY)
        self.verifier = SigV4Verifier(credentials) if credentials else None
        # Threads are made on demand; a function that runs for minutes holds one.
        self.executor = concurrent.futures.ThreadPoolExecutor(workers, "nblambda-api")

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def blocking(self, fn: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _authenticate(self, scope: dict, body: bytes, service: str) -> str | None:
        if self.verifier is None:
            return None
        return self.verifier.verify(scope["method"], _raw_path(scope),
                                    scope.get("query_string", b"").decode("latin-1"),
                                    _headers(scope), body, service)

    def _url_token_ok(self, request: Request) -> bool:
        query = request.query_params
        token, expires = query.get("X-Nblambda-Signature"), query.get("X-Nblambda-Expires")
        if self.verifier is None or not token or not expires:
            return False
        target = f"{request.url.path}?Qualifier={query.get('Qualifier', '$LATEST')}"
        return self.verifier.check_url_token(target, expires, token)

    # -- Invoke: the hot path, plain ASGI (no routing table, no Request/Response objects) ---------
    async def invoke(self, scope: dict, receive: Callable, send: Callable, function: str) -> None:
        limit = validation.MAX_SYNC_PAYLOAD
        try:
            body = await read_body(receive, _content_length(scope), limit, lambda: (
                RequestTooLargeException(f"Request must be smaller than {limit} bytes for the "
                                         "InvokeFunction operation")))
            self._authenticate(scope, body, "lambda")
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            query = scope.get("query_string", b"")
            qualifier = (parse_qs(query.decode("latin-1")).get("Qualifier", [""])[0] or None
                         if query else None)
            status, out, payload = await self.blocking(invoke_op.invoke, self.platform, function,
                                                       body, headers, qualifier)
        except LambdaError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except Exception as exc:  # a bug of ours: AWS's 500 shape, and the trace in the log
            log.exception("Invoke failed")
            await error_response(service_error(exc))(scope, receive, send)
            return
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out]
        raw.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})

    # -- the other Lambda operations -----------------------------------------------------------------
    def endpoint(self, operation: str) -> Callable[[Request], Awaitable[Response]]:
        def too_large() -> Exception:
            return RequestTooLargeException(f"Request must be smaller than {MAX_MANAGEMENT_BODY} "
                                            "bytes")

        async def handle(request: Request) -> Response:
            request_id = str(uuid.uuid4())
            scope = request.scope
            try:
                body = await read_body(request.receive, _content_length(scope),
                                       MAX_MANAGEMENT_BODY, too_large)
                if not (operation == "download_code" and self._url_token_ok(request)):
                    self._authenticate(scope, body, "lambda")
                params = request.path_params
                call = Call(function=params.get("function"), alias=params.get("alias"),
                            query=request.query_params, headers=request.headers, body=body,
                            base_url=f"{request.url.scheme}://{request.headers.get('host', '')}",
                            url_signer=self.verifier.url_token if self.verifier else None)
                status, result = await self.blocking(getattr(self.api, operation), call)
            except LambdaError as exc:
                return error_response(exc, request_id)
            except Exception as exc:  # a bug of ours: AWS's 500 shape, and the trace in the log
                log.exception("%s failed", operation)
                return error_response(service_error(exc), request_id)
            headers = {"X-Amzn-RequestId": request_id}
            if result is None:
                return Response(status_code=status, headers=headers)
            if isinstance(result, bytes):
                return Response(result, status, headers, media_type="application/zip")
            return Response(_json(result), status, headers, media_type="application/json")

        return handle

    # -- HTTP routes ------------------------------------------------------------------------------
    async def route(self, request: Request) -> Response:
        scope = request.scope
        if API_PATH.match(scope["path"]):
            return error_response(UnknownOperationException(
                f"Unknown operation: {request.method} {scope['path']}"))
        try:
            body = await read_body(request.receive, _content_length(scope), MAX_ROUTE_BODY,
                                   lambda: RequestTooLargeException(""))
        except RequestTooLargeException:
            return _reply(TOO_LARGE)
        authorizer = None
        try:
            key = self._authenticate(scope, body, "execute-api")
        except LambdaError as exc:  # API Gateway's IAM authorization answers {"message": ...}
            return _reply((exc.status, [("content-type", "application/json")],
                           _json({"message": exc.message})))
        if key is not None:
            authorizer = {"iam": {"accessKey": key, "accountId": ACCOUNT_ID, "callerId": key,
                                  "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/{key}",
                                  "userId": key}}
        client = request.client
        reply = await self.blocking(
            self.routes.handle, request.method, _raw_path(scope),
            scope.get("query_string", b"").decode("latin-1"), _headers(scope, "utf-8"), body,
            client.host if client else "127.0.0.1",
            f"HTTP/{scope.get('http_version', '1.1')}", authorizer)
        return _reply(reply)


class LambdaServer:
    """The ASGI app: Invoke first (the hot path), everything else through Starlette's router."""

    def __init__(self, gateway: Gateway, router: Starlette) -> None:
        self.gateway = gateway
        self.router = router

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = INVOKE_PATH.match(scope["path"])
            if match:
                await self.gateway.invoke(scope, receive, send, match.group(1))
                return
        await self.router(scope, receive, send)

    def close(self) -> None:
        self.gateway.close()


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _reply(reply: tuple[int, list[tuple[str, str]], bytes]) -> Response:
    status, headers, body = reply
    response = Response(body, status_code=status)
    for name, value in headers:
        if name.lower() in _HOP_HEADERS:  # the server frames the body itself
            continue
        response.raw_headers.append((name.encode("latin-1"), value.encode("latin-1", "replace")))
    return response


def create_app(platform: Platform, credentials: Credentials | None = None) -> LambdaServer:
    """The ASGI app serving ``platform``. With ``credentials`` every request must be SigV4-signed
    with that key pair (service ``lambda`` for the API, ``execute-api`` for routes)."""
    gateway = Gateway(platform, credentials)
    routes = []
    for method, path, operation in OPERATIONS:
        handler = gateway.endpoint(operation)
        routes.append(Route(path, handler, methods=[method]))
        if operation in ("list_functions", "create_function"):  # botocore sends a trailing /
            routes.append(Route(path + "/", handler, methods=[method]))
    every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes.append(Route("/{path:path}", gateway.route, methods=every))
    router = Starlette(routes=routes)
    router.router.redirect_slashes = False
    return LambdaServer(gateway, router)
