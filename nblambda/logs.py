"""Invocation logs as Lambda writes them: START, the function's output, END and REPORT.

Output kept per invocation is bounded: past the limit the head and the tail are kept and the middle
is replaced by a line that says how much was left out.
"""
from __future__ import annotations

import math
import time
from collections import deque

DEFAULT_LOG_LIMIT = 256 * 1024  # characters kept per invocation


class BoundedLog:
    def __init__(self, limit: int = DEFAULT_LOG_LIMIT) -> None:
        self.half = max(1, limit // 2)
        self.head: list[str] = []
        self.head_size = 0
        self.tail: deque[str] = deque()
        self.tail_size = 0
        self.dropped = 0
        self._tail_at_line_start = True  # what was dropped last ended a line

    def append(self, text: str) -> None:
        if self.head_size < self.half:
            room = self.half - self.head_size
            self.head.append(text[:room])
            self.head_size += min(len(text), room)
            text = text[room:]
            if not text:
                return
        self.tail.append(text)
        self.tail_size += len(text)
        while self.tail_size > self.half and self.tail:
            extra = self.tail_size - self.half
            first = self.tail[0]
            if len(first) <= extra:
                self.tail.popleft()
                self.tail_size -= len(first)
                self.dropped += len(first)
                self._tail_at_line_start = first.endswith("\n")
            else:
                self.tail[0] = first[extra:]
                self.tail_size -= extra
                self.dropped += extra
                self._tail_at_line_start = first[extra - 1] == "\n"

    def text(self) -> str:
        head, tail = "".join(self.head), "".join(self.tail)
        if not self.dropped:
            return head + tail
        # Cut at line ends, so the marker stands between whole lines (a single line longer than
        # the limit is still cut inside).
        dropped = self.dropped
        if not head.endswith("\n") and "\n" in head:
            keep = head.rindex("\n") + 1
            dropped, head = dropped + len(head) - keep, head[:keep]
        if not head.endswith("\n"):
            head += "\n"
        if not self._tail_at_line_start and "\n" in tail[:-1]:
            cut = tail.index("\n") + 1
            dropped, tail = dropped + cut, tail[cut:]
        return (f"{head}[nblambda: {dropped} characters of log output omitted here; the "
                f"log keeps the first and last {self.half} characters]\n" + tail)


def iso_now(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def billed_ms(duration_ms: float, init_duration_ms: float | None) -> int:
    """Lambda bills the duration rounded up to the millisecond; since August 2025 it bills the
    init phase of on-demand functions too, so a cold start's billed duration includes it."""
    return int(math.ceil(duration_ms + (init_duration_ms or 0.0)))


def report_line(request_id: str, duration_ms: float, billed: int, memory_mb: int, max_used_mb: int,
                init_duration_ms: float | None, status: str, error_type: str | None,
                init_failed: bool = False) -> str:
    fields = [f"REPORT RequestId: {request_id}", f"Duration: {duration_ms:.2f} ms",
              f"Billed Duration: {billed} ms", f"Memory Size: {memory_mb} MB",
              f"Max Memory Used: {max_used_mb} MB"]
    if init_duration_ms is not None:
        fields.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status == "timeout":
        fields.append("Status: timeout")
    elif status in ("oom", "crash") or init_failed:
        fields += ["Status: error", f"Error Type: {error_type}"]
    return "\t".join(fields)
