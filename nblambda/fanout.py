"""``Platform.map``: run many events through one function in parallel, results in input order.

Each item's outcome is kept (a failure does not lose the others); throttled items are retried with
a short backoff, as the AWS SDK retries TooManyRequestsException. An interrupt (Ctrl-C, a kernel
interrupt) or ``cancel()`` stops what has not started; what finished is returned.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .errors import LambdaError, TooManyRequestsException
from .models import InvocationResult

THROTTLE_RETRIES = 6


@dataclass
class Progress:
    total: int
    done: int = 0
    failed: int = 0
    running: int = 0
    cancelled: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Invocations finished per second."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        left = self.total - self.done - self.cancelled
        if left <= 0:
            return 0.0
        return left / self.rate if self.rate > 0 else None

    def line(self) -> str:
        eta = "?" if self.eta is None else f"{self.eta:.1f} s"
        return (f"{self.done}/{self.total} done, {self.failed} failed, {self.running} running, "
                f"{self.rate:.0f}/s, ETA {eta}" +
                (f", {self.cancelled} cancelled" if self.cancelled else ""))


class MapResults(list):
    """The results in input order; ``None`` for items cancelled before they started."""

    progress: Progress
    interrupted: bool = False

    @property
    def failed(self) -> list[InvocationResult]:
        return [r for r in self if r is not None and not r.ok]

    @property
    def payloads(self) -> list[Any]:
        return [r.payload if r is not None else None for r in self]

    def summary(self) -> str:
        head = "interrupted: " if self.interrupted else ""
        return f"{head}{self.progress.line()} in {self.progress.elapsed:.2f} s"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(f"<MapResults {self.summary()}>")


def _error_result(name: str, exc: LambdaError) -> InvocationResult:
    return InvocationResult(request_id="", function_name=name, status="error",
                            error={"errorType": exc.code, "errorMessage": exc.message})


class MapRun:
    """One fan-out, running in worker threads; ``wait()`` from the caller's thread."""

    def __init__(self, invoke: Callable[[Any], InvocationResult], name: str,
                 events: Sequence[Any], concurrency: int,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.invoke = invoke
        self.name = name
        self.events = list(events)
        self.concurrency = max(1, min(concurrency, len(self.events) or 1))
        self.on_progress = on_progress
        self.results = MapResults([None] * len(self.events))
        self.results.progress = self.progress = Progress(len(self.events))
        self._next = 0
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"nblambda-map-{i}", daemon=True)
                         for i in range(self.concurrency)]
        for t in self._threads:
            t.start()

    def _take(self) -> int | None:
        with self._lock:
            if self._cancelled.is_set() or self._next >= len(self.events):
                return None
            index, self._next = self._next, self._next + 1
            self.progress.running += 1
            return index

    def _work(self) -> None:
        while (index := self._take()) is not None:
            result = self._one(self.events[index])
            with self._lock:
                self.results[index] = result
                self.progress.running -= 1
                self.progress.done += 1
                self.progress.failed += 0 if result.ok else 1
            if self.on_progress is not None:
                self.on_progress(self.progress)

    def _one(self, event: Any) -> InvocationResult:
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                return self.invoke(event)
            except TooManyRequestsException as exc:
                if attempt == THROTTLE_RETRIES or self._cancelled.is_set():
                    return _error_result(self.name, exc)
                time.sleep(0.05 * 2 ** attempt)
            except LambdaError as exc:
                return _error_result(self.name, exc)
        raise AssertionError("unreachable")

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<MapRun {self.name} ({state}): {self.progress.line()}>"

    def cancel(self) -> None:
        """Start nothing more; running invocations finish."""
        self._cancelled.set()

    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def wait(self, timeout: float | None = None, tick: Callable[[Progress], None] | None = None,
             tick_interval: float = 0.2) -> MapResults:
        """Wait for the run; on KeyboardInterrupt, cancel what has not started, wait for what
        runs, and return what finished (``results.interrupted`` is then True)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self.done():
                if deadline is not None and time.monotonic() > deadline:
                    break
                for t in self._threads:
                    t.join(tick_interval / len(self._threads))
                if tick is not None:
                    tick(self.progress)
        except KeyboardInterrupt:
            self.cancel()
            self.results.interrupted = True
            for t in self._threads:
                t.join()
        return self._finish(tick)

    def _finish(self, tick) -> MapResults:
        if self.done() and self.progress.finished is None:
            self.progress.cancelled = sum(1 for r in self.results if r is None)
            self.progress.finished = time.monotonic()
            if self.on_progress is not None:
                self.on_progress(self.progress)
        if tick is not None:
            tick(self.progress)
        return self.results


def terminal_ticker(stream=None) -> Callable[[Progress], None]:
    """Progress on one terminal line, rewritten in place."""
    stream = stream or sys.stderr

    def tick(progress: Progress) -> None:
        end = "\n" if progress.finished is not None else ""
        stream.write("\r" + progress.line() + end)
        stream.flush()

    return tick
