"""``%lambda`` subcommands for Lambda's other invocation styles: ``map`` (fan-out) and ``dlq``
(failed asynchronous events). Mixed into LambdaMagics; the work is the Platform's."""
from __future__ import annotations

import re
import sys
from typing import Any, Callable

from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from .event import parse_event
from .progress import MapProgress


@magic_arguments(name="lambda map")
@argument("name", metavar="NAME", help="the function to fan out over")
@argument("--concurrency", "-c", type=int, default=8, metavar="K",
          help="invocations at once (default 8)")
@argument("--background", action="store_true",
          help="return at once with the running map (.wait(), .cancel(), .results); the "
               "progress keeps updating while the kernel is free")
@argument("events", nargs="*", metavar="EXPR",
          help="a Python expression giving the events (a list, or any iterable)")
def _map_args(line: str) -> None:
    """Invoke NAME once per event of EXPR, K at a time, with a live progress bar. The value is
    the results in input order (each one's error kept); interrupting the kernel cancels what has
    not started and returns what finished. Options may stand anywhere on the line; the words
    after NAME that are not options are the expression."""


@magic_arguments(name="lambda dlq")
@argument("name", metavar="NAME")
@argument("--redrive", action="store_true", help="queue the dead letters again")
@argument("--seq", nargs="+", type=int, default=None, metavar="SEQ",
          help="with --redrive: only these (the SEQ column of the listing)")
def _dlq_args(line: str) -> None:
    """List NAME's dead-lettered asynchronous events (retries exhausted or too old), or redrive
    them. The value is the list of DeadLetter records."""


ASYNC_SUBCOMMANDS = {"map": _map_args, "dlq": _dlq_args}


class DeadLetterTable(list):
    def __repr__(self) -> str:
        if not self:
            return "No dead letters."
        lines = ["SEQ  REQUEST ID                            CONDITION         INVOKES  EVENT"]
        for d in self:
            event = repr(d.event)
            lines.append(f"{d.seq:<4} {d.request_id:<37} {d.condition:<17} "
                         f"{d.record['requestContext']['approximateInvokeCount']:<8} "
                         f"{event[:60]}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


class AsyncCommands:
    """Mixin for LambdaMagics: relies on ``platform``, ``shell``, ``_parse`` and ``_refusals``."""

    def _cmd_map(self, spec: Callable, rest: str) -> Any:
        from .magics import _refusals, parse_line

        head, expr = split_map_line(rest)
        args = parse_line(spec, head)
        with _refusals():
            self.platform.get_function(args.name)
            events = list(parse_event(expr or "[]", self.shell.user_ns))
            progress = MapProgress(args.name, len(events))
            handle = display(progress, display_id=True)
            run = self.platform.map(args.name, events, concurrency=args.concurrency,
                                    progress=progress.update, background=True)
            if args.background:
                return run
            results = run.wait()
        progress.update(results.progress, force=True)
        if handle is not None:  # the final figures in the text and HTML a saved notebook keeps
            handle.update(progress)
        if results.interrupted:
            print(f"Interrupted: {results.summary()}", file=sys.stderr)
        return results

    def _cmd_dlq(self, spec: Callable, rest: str) -> Any:
        from .magics import _refusals, parse_line

        args = parse_line(spec, rest)
        with _refusals():
            if args.redrive:
                queued = self.platform.redrive(args.name, args.seq)
                print(f"Queued {len(queued)} event(s) of {args.name} again.")
                return None
            return DeadLetterTable(self.platform.dead_letters(args.name))


_MAP_OPTION = re.compile(r"(?:(?<=\s)|^)(?:(?:--concurrency|-c)(?:\s+|=)(\d+)|--background)(?=\s|$)")


def split_map_line(rest: str) -> tuple[str, str]:
    """``NAME EXPR`` with ``--concurrency K`` / ``-c K`` / ``--background`` anywhere -> (the
    options and NAME, for argparse; EXPR, raw Python, never split like a shell line)."""
    options = [m.group(0) for m in _MAP_OPTION.finditer(rest)]
    words = _MAP_OPTION.sub(" ", rest).split(None, 1)
    name = words[0] if words else ""
    expr = words[1].strip() if len(words) > 1 else ""
    return " ".join([name] + options), expr
