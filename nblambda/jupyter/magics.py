"""The magics: ``%%lambda_function`` deploys a cell, ``%%lambda`` invokes, ``%lambda`` manages.

Each magic parses its line and calls the Platform's Python API; anything more lives in the
modules it calls. Lines are not variable-expanded: ``{...}`` and ``$x`` are JSON and shell syntax
in events and descriptions, not notebook variables. Every refusal, from the platform or from the
line, is a one-line ``UsageError`` (no traceback), which also stops "Run All" like a real error.
"""
from __future__ import annotations

import contextlib
import shlex
import sys
import threading
from typing import Any, Callable, Iterator

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import LambdaError
from ..layers import read_requirements_file
from ..models import InvocationResult
from ..platform import Platform
from . import close_platform, get_platform
from .api_commands import API_SUBCOMMANDS, ApiCommands, stop_server
from .async_commands import ASYNC_SUBCOMMANDS, AsyncCommands
from .event import EventError, parse_event
from .names import deploy_warnings
from .views import FunctionDescription, FunctionTable, LiveLogDisplay
from .widgets import FunctionCard


def _stack(*decorators: Callable) -> Callable:
    """Several magic_arguments decorators as one, in source order: a reusable option stack."""
    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


function_name = argument("name", metavar="NAME",
                         help="the function's name: letters, digits, - and _, at most 64")

deploy_options = _stack(
    argument("--memory", type=int, default=128, metavar="MB",
             help="memory in MB, 128-10240 (default 128); CPU share grows with it, as in Lambda"),
    argument("--timeout", type=int, default=3, metavar="S",
             help="timeout in seconds, 1-900 (default 3)"),
    argument("--env", nargs="+", action="extend", default=[], metavar="K=V",
             help="environment variables, e.g. --env STAGE=dev LEVEL=debug"),
    argument("--handler", default="handler", metavar="FUNC",
             help="the handler: a function of the cell, or module.function (default handler)"),
    argument("--backend", default=None, metavar="B",
             help="sandbox backend: process or docker (default: the platform's)"),
    argument("--description", default="", metavar="TEXT",
             help="a description; quote it if it has spaces"),
    argument("--requirements", default="", metavar="'PKG==V ...'",
             help="packages to install once into a shared dependency layer (on sys.path; "
                  "/opt/python in containers), e.g. --requirements \"requests==2.32.3 six\"; "
                  "pip options such as --find-links DIR --no-index may go with them"),
    argument("--requirements-file", default=None, metavar="FILE",
             help="a requirements.txt to install the same way"),
    argument("--image", default="", metavar="IMAGE",
             help="docker backend: the image (default python:X.Y-slim or nblambda/python:X.Y)"),
    argument("--network", default="", metavar="NET",
             help="docker backend: a Docker network, or none to isolate (default: on)"),
    argument("--reserved-concurrency", type=int, default=None, metavar="N",
             help="at most N invocations at once (0 disables the function)"),
    argument("--provisioned", type=int, default=None, metavar="N",
             help="keep N sandboxes initialised ahead of demand (no cold starts on them)"),
)


@magic_arguments(name="lambda list")
def _list_args(line: str) -> None:
    """List the deployed functions. The value is a list of FunctionConfig."""


@magic_arguments(name="lambda invoke")
@argument("--async", dest="asynchronous", action="store_true",
          help="queue an asynchronous (Event) invocation; put it before NAME")
@function_name
@argument("event", nargs="*", metavar="EVENT",
          help="the rest of the line: JSON, or a Python expression (default {})")
def _invoke_args(line: str) -> None:
    """Invoke NAME synchronously. The value is the InvocationResult."""


@magic_arguments(name="lambda logs")
@function_name
@argument("-n", type=int, default=10, metavar="N", help="how many invocations (default 10)")
def _logs_args(line: str) -> None:
    """Print the logs of NAME's last N invocations, oldest first."""


@magic_arguments(name="lambda describe")
@function_name
def _describe_args(line: str) -> None:
    """Show NAME's configuration, state and source."""


@magic_arguments(name="lambda delete")
@function_name
def _delete_args(line: str) -> None:
    """Delete NAME; its warm sandboxes stop."""


_SUBCOMMANDS = {"list": _list_args, "invoke": _invoke_args, "logs": _logs_args,
                "describe": _describe_args, "delete": _delete_args, **ASYNC_SUBCOMMANDS,
                **API_SUBCOMMANDS}


def _lambda_help() -> str:
    parts = ["Manage Lambda functions::\n\n  %lambda SUBCOMMAND [ARGS]\n\nSubcommands:\n"]
    parts += [spec.__doc__ for spec in _SUBCOMMANDS.values()]
    return "\n".join(parts)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """The platform's refusals and bad events as one-line usage errors."""
    try:
        yield
    except LambdaError as exc:
        raise UsageError(f"{exc.code}: {exc.message}") from None
    except EventError as exc:
        raise UsageError(str(exc)) from None


def parse_line(magic: Callable, line: str) -> Any:
    """Parse ``line`` with the magic's argparse options, splitting it as a POSIX shell would, so
    that quotes group words and go away (IPython's own splitter keeps them in the value)."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Cannot split the line: {exc}") from None
    return magic.parser.parse_args(argv)


def _requirements(args: Any) -> list[str]:
    """--requirements' words, then the lines of --requirements-file."""
    reqs = args.requirements.split()
    if args.requirements_file:
        try:
            reqs += read_requirements_file(args.requirements_file)
        except OSError as exc:
            raise UsageError(f"--requirements-file: {exc}") from None
    return reqs


def parse_environment(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` as a dict; the value may contain "="."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def invoke_until_interrupted(platform: Platform, name: str, event: Any,
                             write: Callable[[str], None]) -> InvocationResult:
    """Invoke on a worker thread and show its log lines from this (the main) thread. Interrupting
    the kernel stops the waiting, not the invocation: like a Lambda whose caller went away, it runs
    to its end and is recorded (``%lambda logs NAME``)."""
    pending: list[str] = []
    lock = threading.Lock()
    news = threading.Event()
    outcome: dict = {}

    def on_log(text: str) -> None:
        with lock:
            pending.append(text)
            news.set()

    def run() -> None:
        try:
            outcome["result"] = platform.invoke(name, event, on_log=on_log)
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome["error"] = exc
        finally:
            with lock:
                outcome["done"] = True
                news.set()

    threading.Thread(target=run, name=f"nblambda-invoke-{name}", daemon=True).start()
    try:
        done = False
        while not done:
            news.wait(0.1)  # (Event.wait lets Ctrl-C through; an except/continue loop may not)
            with lock:
                batch, pending[:] = list(pending), []
                news.clear()
                done = "done" in outcome
            for text in batch:
                write(text)
    except KeyboardInterrupt:
        print(f"Interrupted: stopped waiting for {name}; the invocation runs on, as on Lambda "
              f"when a caller goes away. Its result and logs: %lambda logs {name}", file=sys.stderr)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@magics_class
class LambdaMagics(AsyncCommands, ApiCommands, Magics):
    """The magics of ``%load_ext nblambda``; they all work on the kernel's one Platform."""

    @property
    def platform(self) -> Platform:
        return get_platform()

    @no_var_expand
    @magic_arguments(name="%lambda_function")  # shown as %%lambda_function: a cell magic
    @function_name
    @deploy_options
    @argument("--publish", action="store_true",
              help="also publish the code as a new version (1, 2, ...), as Lambda's Publish")
    @argument("--route", action="append", default=[], metavar="'METHOD /path'",
              help="serve the function on this HTTP route, e.g. --route \"GET /items/{id}\" "
                   "(repeatable; see %%lambda serve)")
    @cell_magic
    def lambda_function(self, line: str, cell: str) -> FunctionCard:
        """Deploy the cell's code as Lambda function NAME (creating or updating it).

        The cell is the function's whole module, as a Lambda deployment package: names it takes
        from the notebook without defining or importing them are reported, since they would be a
        NameError at invoke time. The value is the function's card: configuration, state, an event
        editor with an Invoke button, and the last result.
        """
        args = parse_line(self.lambda_function, line)
        env = parse_environment(args.env)
        with _refusals():
            self.platform.deploy(args.name, cell, args.handler, memory=args.memory,
                                 timeout=args.timeout, environment=env, backend=args.backend,
                                 description=args.description,
                                 requirements=_requirements(args), image=args.image,
                                 network=args.network)
            if args.reserved_concurrency is not None:
                self.platform.put_function_concurrency(args.name, args.reserved_concurrency)
            if args.provisioned is not None:
                self.platform.put_provisioned_concurrency_config(args.name, args.provisioned)
        self._after_deploy(args)
        for warning in deploy_warnings(args.name, cell, self.shell.user_ns):
            print(warning, file=sys.stderr)
        return FunctionCard(self.platform, args.name, namespace=self.shell.user_ns)

    @no_var_expand
    @magic_arguments(name="%lambda")  # shown as %%lambda: a cell magic
    @function_name
    @argument("--async", dest="asynchronous", action="store_true",
              help="an asynchronous (Event) invocation: queued, retried on failure, status 202")
    @cell_magic("lambda")
    def lambda_cell(self, line: str, cell: str) -> InvocationResult:
        """Invoke function NAME with the cell as the event: JSON, or else a Python expression
        evaluated in the notebook (an empty cell is {}). Logs stream while it runs; the value is
        the InvocationResult (``r = _`` keeps it).
        """
        args = parse_line(self.lambda_cell, line)
        return self._invoke(args.name, cell, asynchronous=args.asynchronous)

    def _invoke(self, name: str, event_text: str, asynchronous: bool = False) -> InvocationResult:
        with _refusals():
            platform = self.platform
            platform.get_function(name)  # before evaluating the event, whose code may do things
            event = parse_event(event_text, self.shell.user_ns)
            if asynchronous:
                return platform.invoke(name, event, invocation_type="Event")
            with LiveLogDisplay(self.shell, name) as live:
                return invoke_until_interrupted(platform, name, event, live.write)

    @no_var_expand
    @line_magic("lambda")
    def lambda_line(self, line: str) -> Any:
        command, _, rest = line.strip().partition(" ")
        spec = _SUBCOMMANDS.get(command)
        if spec is None:
            known = ", ".join(_SUBCOMMANDS)
            raise UsageError(f"%lambda needs a subcommand ({known}); got {command!r}. "
                             "See %lambda? for their options.")
        return getattr(self, f"_cmd_{command}")(spec, rest.strip())

    lambda_line.__doc__ = _lambda_help()

    def _cmd_list(self, spec: Callable, rest: str) -> FunctionTable:
        parse_line(spec, rest)
        return FunctionTable(self.platform.list_functions())

    def _cmd_invoke(self, spec: Callable, rest: str) -> InvocationResult:
        # the event is the raw rest of the line: shell-like splitting would eat JSON's quotes
        asynchronous = rest.startswith("--async ")
        if asynchronous:
            rest = rest[len("--async "):].lstrip()
        name, _, event = rest.partition(" ")
        return self._invoke(parse_line(spec, name).name, event, asynchronous=asynchronous)

    def _cmd_logs(self, spec: Callable, rest: str) -> None:
        args = parse_line(spec, rest)
        with _refusals():
            text = self.platform.logs(args.name, args.n)
        print(text if text else f"No invocations of {args.name} yet.", end="" if text else "\n")

    def _cmd_describe(self, spec: Callable, rest: str) -> FunctionDescription:
        args = parse_line(spec, rest)
        with _refusals():
            config = self.platform.get_function(args.name)
        return FunctionDescription(config, self.platform.pool.sandboxes(args.name))

    def _cmd_delete(self, spec: Callable, rest: str) -> None:
        args = parse_line(spec, rest)
        with _refusals():
            self.platform.delete_function(args.name)
        print(f"Deleted function {args.name}.")


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(LambdaMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and close the kernel's Platform: no sandbox outlives the extension."""
    stop_server()
    magics = ipython.magics_manager.magics
    for kind, names in LambdaMagics.magics.items():
        for name in names:
            magics[kind].pop(name, None)
    close_platform()
