"""``%lambda`` subcommands for the HTTP side: ``serve`` (the Lambda API and HTTP routes of the
kernel's platform, in a background thread), ``versions``, ``alias``/``aliases`` and
``route``/``routes``. Mixed into LambdaMagics; the work is the Platform's and nblambda.api's."""
from __future__ import annotations

import threading
from typing import Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from ..models import Alias

_lock = threading.Lock()
_server = None  # the kernel's nblambda.api.Server, while it runs


@magic_arguments(name="lambda serve")
@argument("--port", type=int, default=9001, metavar="N",
          help="port to listen on (default 9001; 0 picks a free one)")
@argument("--host", default="127.0.0.1", metavar="ADDR",
          help="address to bind (default 127.0.0.1; others need --access-key/--secret-key)")
@argument("--access-key", default=None, metavar="KEY",
          help="require requests signed (SigV4) with this access key ...")
@argument("--secret-key", default=None, metavar="SECRET", help="... and this secret key")
@argument("--stop", action="store_true", help="stop the server")
def _serve_args(line: str) -> None:
    """Serve the kernel's functions over HTTP in the background: Lambda's API for boto3 and the
    AWS CLI (endpoint_url), and the functions' HTTP routes. ``--stop`` stops it."""


@magic_arguments(name="lambda versions")
@argument("name", metavar="NAME")
def _versions_args(line: str) -> None:
    """List NAME's versions: $LATEST and the published ones (1, 2, ...)."""


@magic_arguments(name="lambda alias")
@argument("name", metavar="NAME")
@argument("alias", metavar="ALIAS")
@argument("version", nargs="?", default=None, metavar="VERSION",
          help="the version ALIAS points at (creates ALIAS, or moves it); omit to show ALIAS")
@argument("--description", default=None, metavar="TEXT")
@argument("--routing", nargs="+", default=None, metavar="V=W",
          help="also send a share W (0-1) of invocations to version V, e.g. --routing 3=0.1")
@argument("--delete", action="store_true", help="delete ALIAS")
def _alias_args(line: str) -> None:
    """Create, move, show or delete alias ALIAS of NAME. The value is the Alias."""


@magic_arguments(name="lambda aliases")
@argument("name", metavar="NAME")
def _aliases_args(line: str) -> None:
    """List NAME's aliases."""


@magic_arguments(name="lambda route")
@argument("route_key", metavar="ROUTE", help="'METHOD /path', e.g. \"GET /items/{id}\", or $default")
@argument("target", nargs="?", default=None, metavar="NAME[:QUALIFIER]",
          help="the function (or version/alias) that serves the route")
@argument("--delete", action="store_true", help="remove the route")
def _route_args(line: str) -> None:
    """Serve NAME on an HTTP route (API Gateway payload format 2.0), or remove the route."""


@magic_arguments(name="lambda routes")
def _routes_args(line: str) -> None:
    """List the HTTP routes (with their URLs while the server runs)."""


API_SUBCOMMANDS = {"serve": _serve_args, "versions": _versions_args, "alias": _alias_args,
                   "aliases": _aliases_args, "route": _route_args, "routes": _routes_args}


def running_server():
    """The kernel's running server, or None."""
    with _lock:
        return _server if _server is not None and _server.running else None


def stop_server() -> None:
    """Stop the kernel's server, if one runs (the extension's unload calls this)."""
    global _server
    with _lock:
        server, _server = _server, None
    if server is not None:
        server.stop()


class VersionTable(list):
    def __repr__(self) -> str:
        if not self:
            return "No versions."
        lines = ["VERSION   CODE          MEMORY  TIMEOUT  DESCRIPTION"]
        for c in self:
            lines.append(f"{c.version:<9} {c.code_hash[:12]:<13} {c.memory:>6}  {c.timeout:>7}  "
                         f"{c.description}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


class AliasTable(list):
    def __repr__(self) -> str:
        if not self:
            return "No aliases."
        return "\n".join(alias_text(a) for a in self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def alias_text(alias: Alias) -> str:
    extra = "".join(f" + {w:.0%} to {v}" for v, w in alias.routing.items())
    note = f"  ({alias.description})" if alias.description else ""
    return f"{alias.name} -> version {alias.function_version}{extra}{note}  {alias.arn}"


class RouteTable(list):
    def __init__(self, routes: list[dict], endpoint: str | None) -> None:
        super().__init__(routes)
        self.endpoint = endpoint

    def __repr__(self) -> str:
        from ..api.routes import describe

        return describe(list(self), self.endpoint)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _weights(pairs: list[str] | None) -> dict[str, float] | None:
    if pairs is None:
        return None
    weights = {}
    for pair in pairs:
        version, sep, weight = pair.partition("=")
        try:
            weights[version] = float(weight)
        except ValueError:
            raise UsageError(f"--routing expects VERSION=WEIGHT, got {pair!r}") from None
        if not sep:
            raise UsageError(f"--routing expects VERSION=WEIGHT, got {pair!r}")
    return weights


class ApiCommands:
    """Mixin for LambdaMagics: relies on ``platform``; ``_after_deploy`` runs after
    ``%%lambda_function`` (``--publish``, ``--route``)."""

    def _after_deploy(self, args: Any) -> None:
        from .magics import _refusals

        with _refusals():
            if getattr(args, "publish", False):
                version = self.platform.publish_version(args.name)
                print(f"Published {args.name} version {version.version}.")
            for key in getattr(args, "route", None) or []:
                route = self.platform.add_route(key, args.name)
                print(_route_line(route))

    def _cmd_serve(self, spec: Callable, rest: str) -> Any:
        global _server
        from ..api import Credentials, Server
        from .magics import _refusals, parse_line

        args = parse_line(spec, rest)
        if args.stop:
            server = running_server()
            stop_server()
            print(f"Stopped the server at {server.endpoint}." if server else "No server runs.")
            return None
        if (args.access_key is None) != (args.secret_key is None):
            raise UsageError("--access-key and --secret-key go together")
        with _lock:
            if _server is not None and _server.running:
                print(f"Already serving at {_server.endpoint} (%lambda serve --stop first to "
                      "change it).")
                return _server
        try:
            credentials = (Credentials(args.access_key, args.secret_key) if args.access_key
                           else Credentials.from_env())
            with _refusals():
                server = Server(self.platform, args.host, args.port, credentials).start()
        except (OSError, ValueError, RuntimeError) as exc:
            raise UsageError(str(exc)) from None
        with _lock:
            _server = server
        print(f"Serving the Lambda API and HTTP routes at {server.endpoint}\n"
              f"  boto3.client('lambda', endpoint_url='{server.endpoint}', region_name='us-east-1')"
              f"\n  aws lambda list-functions --endpoint-url {server.endpoint}")
        return server

    def _cmd_versions(self, spec: Callable, rest: str) -> VersionTable:
        from .magics import _refusals, parse_line

        args = parse_line(spec, rest)
        with _refusals():
            return VersionTable(self.platform.list_versions(args.name))

    def _cmd_alias(self, spec: Callable, rest: str) -> Alias | None:
        from ..errors import ResourceNotFoundException
        from .magics import _refusals, parse_line

        args = parse_line(spec, rest)
        weights = _weights(args.routing)
        with _refusals():
            if args.delete:
                self.platform.delete_alias(args.name, args.alias)
                print(f"Deleted alias {args.alias} of {args.name}.")
                return None
            if args.version is None and args.description is None and weights is None:
                return self.platform.get_alias(args.name, args.alias)
            try:
                self.platform.get_alias(args.name, args.alias)
            except ResourceNotFoundException:
                if args.version is None:
                    raise
                return self.platform.create_alias(args.name, args.alias, args.version,
                                                  args.description or "", weights)
            return self.platform.update_alias(args.name, args.alias, args.version,
                                              args.description, weights)

    def _cmd_aliases(self, spec: Callable, rest: str) -> AliasTable:
        from .magics import _refusals, parse_line

        args = parse_line(spec, rest)
        with _refusals():
            return AliasTable(self.platform.list_aliases(args.name))

    def _cmd_route(self, spec: Callable, rest: str) -> None:
        from .magics import _refusals, parse_line

        args = parse_line(spec, rest)
        with _refusals():
            if args.delete:
                self.platform.remove_route(args.route_key)
                print(f"Removed route {args.route_key}.")
                return
            if not args.target:
                raise UsageError("%lambda route ROUTE NAME[:QUALIFIER] (or ROUTE --delete)")
            print(_route_line(self.platform.add_route(args.route_key, args.target)))

    def _cmd_routes(self, spec: Callable, rest: str) -> RouteTable:
        from .magics import parse_line

        parse_line(spec, rest)
        server = running_server()
        return RouteTable(self.platform.list_routes(), server.endpoint if server else None)


def _route_line(route: dict) -> str:
    from ..api.routes import describe

    server = running_server()
    text = describe([route], server.endpoint if server else None)
    return f"Route {text}" + ("" if server else "  (served by %lambda serve)")
