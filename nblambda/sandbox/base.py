"""The host's view of one sandbox: the framed protocol, deadlines and exits, for every backend.

A backend supplies the process (or container) behind a channel; everything a user can observe —
init, invoke, logs, timeouts, out-of-memory and crash reports — happens here, so backends cannot
drift apart.
"""
from __future__ import annotations

import json
import math
import os
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from ..runtime.protocol import Channel, ChannelClosed
from .logstream import LogStream

LogSink = Callable[[str], None]


@dataclass
class InitOutcome:
    ok: bool
    duration_ms: float
    logs: list[str] = field(default_factory=list)
    error: dict | None = None
    status: str = "success"  # success | error | timeout | oom | crash


@dataclass
class Reply:
    status: str  # success | error | timeout | oom | crash
    body: bytes = b""
    content_type: str = "application/json"
    error: dict | None = None
    logs: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    max_memory_mb: int = 0

    @property
    def reusable(self) -> bool:
        """A sandbox survives a returned result or a handled error, nothing else (as in Lambda)."""
        return self.status in ("success", "error")


_SIGNAL_NAMES = {  # the names Go's os/exec prints, which Lambda's error messages use
    1: "hangup", 2: "interrupt", 3: "quit", 4: "illegal instruction", 5: "trace/breakpoint trap",
    6: "aborted", 7: "bus error", 8: "floating point exception", 9: "killed",
    11: "segmentation fault", 13: "broken pipe", 15: "terminated",
}


def exit_description(wait_status: int | None) -> str:
    if wait_status is None:
        return "signal: killed"
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        return "signal: " + _SIGNAL_NAMES.get(sig, f"signal {sig}")
    return f"exit status {os.WEXITSTATUS(wait_status)}"


def _log_sink(logs: list[str], on_log: LogSink | None) -> LogSink:
    """Where the function's lines go: kept for the result, and streamed to the caller as they come."""
    if on_log is None:
        return logs.append

    def sink(text: str) -> None:
        logs.append(text)
        on_log(text)
    return sink


def runtime_error(request_id: str, error_type: str, description: str) -> dict:
    return {"errorMessage": f"RequestId: {request_id} Error: {description}",
            "errorType": error_type, "requestId": request_id, "stackTrace": []}


class Sandbox:
    """One execution environment. Subclasses implement ``kill``, ``exit_status`` and ``oom_killed``."""

    backend_name = "?"

    def __init__(self, sandbox_id: str, sock: socket.socket, memory_mb: int) -> None:
        self.id = sandbox_id
        self.sock = sock
        self.channel = Channel(sock)
        self.memory_mb = memory_mb
        self.dead = False
        self.max_memory_mb = 0
        self.invocations = 0
        self.oom_flag = False  # set by a memory watchdog that killed this sandbox
        self.log: LogStream | None = None  # the function's output, handed over at init
        self._poll: select.poll | None = None

    # -- lifecycle, per backend --------------------------------------------------------------
    def kill(self) -> None:
        raise NotImplementedError

    def exit_status(self, timeout: float) -> int | None:
        raise NotImplementedError

    def oom_killed(self) -> bool:
        return self.oom_flag

    def peak_memory_mb(self) -> int:
        return self.max_memory_mb

    def steer_to_caller(self) -> bool:
        """Ask that the sandbox wake on the caller's CPU; True if the runtime must then widen its
        CPU set again. Only a backend that can place the sandbox's process does anything."""
        return False

    # -- protocol -----------------------------------------------------------------------------
    def _recv(self, deadline: float, sink: LogSink, fds: list[int] | None = None):
        """The next frame, reading the function's output live while waiting for it."""
        sock_fd = self.sock.fileno()
        while not self.channel.has_frame():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            log, poller = self.log, self._poll  # close() may clear them from another thread
            if log is None or poller is None:
                self.sock.settimeout(remaining)
                return self.channel.recv(fds)
            # The socket stays blocking: poll, then one recv that cannot wait. (A timeout on the
            # socket would make Python poll it again, and set it, per call.)
            ready = poller.poll(math.ceil(remaining * 1000))
            if any(fd == log.fd for fd, _ in ready):
                log.read(sink)
                if log.eof:  # every writer is gone; the socket will say why
                    self._poll = None
            if any(fd == sock_fd for fd, _ in ready):
                self.channel.fill_nowait(fds)
        return self.channel.recv(fds)

    def _adopt_log(self, fd: int) -> None:
        self.sock.settimeout(None)
        self.log = LogStream(fd)
        self._poll = select.poll()
        self._poll.register(self.sock.fileno(), select.POLLIN)
        self._poll.register(fd, select.POLLIN)

    def _last_lines(self, sink: LogSink) -> None:
        """The invocation (or init) is over: everything the function wrote so far, to the end."""
        if self.log is not None:
            self.log.read(sink, final=True)

    def _death(self, request_id: str) -> tuple[str, dict]:
        """Why the sandbox went away: out of memory, or a crash with its exit status."""
        status = self.exit_status(timeout=2.0)
        self.dead = True
        if self.oom_killed():
            return "oom", runtime_error(request_id, "Runtime.OutOfMemory",
                                        "Runtime exited with error: signal: killed")
        if status == 0:  # a clean exit mid-invocation: Lambda's wording for it
            return "crash", runtime_error(request_id, "Runtime.ExitError",
                                          "Runtime exited without providing a reason")
        return "crash", runtime_error(request_id, "Runtime.ExitError",
                                      "Runtime exited with error: " + exit_description(status))

    def init(self, message: dict, init_timeout: float, on_log: LogSink | None = None,
             request_id: str = "") -> InitOutcome:
        started = time.monotonic()
        logs: list[str] = []
        sink = _log_sink(logs, on_log)
        try:
            self.channel.send(message)
            while True:
                fds: list[int] = []
                header, body = self._recv(started + init_timeout, sink, fds)
                kind = header["t"]
                if kind == "logs" and fds and self.log is None:
                    self._adopt_log(fds.pop(0))
                for fd in fds:
                    os.close(fd)
                if kind == "logs":
                    continue
                self.max_memory_mb = max(self.max_memory_mb, header.get("mem", 0))
                elapsed = (time.monotonic() - started) * 1000.0
                self._last_lines(sink)
                if kind == "init_ok":
                    return InitOutcome(True, elapsed, logs)
                error = json.loads(body)  # requestId stays "": init errors have none in Lambda
                self.dead = True  # awslambdaric exits after reporting an init error
                return InitOutcome(False, elapsed, logs, error, "error")
        except socket.timeout:
            self.kill()
            self.dead = True
            elapsed = (time.monotonic() - started) * 1000.0
            self._last_lines(sink)
            error = runtime_error(request_id, "Sandbox.Timedout",
                                  f"Init phase timed out after {init_timeout:.2f} seconds")
            return InitOutcome(False, elapsed, logs, error, "timeout")
        except (ChannelClosed, OSError):
            status, error = self._death(request_id)
            elapsed = (time.monotonic() - started) * 1000.0
            self._last_lines(sink)
            return InitOutcome(False, elapsed, logs, error, status)

    def invoke(self, request_id: str, payload: bytes, timeout: float, *, arn: str = "",
               client_context: dict | None = None, identity: dict | None = None,
               on_log: LogSink | None = None, steer: bool = False) -> Reply:
        header = {"t": "invoke", "id": request_id, "arn": arn,
                  "deadline_ms": int((time.time() + timeout) * 1000)}
        if client_context is not None:
            header["cc"] = client_context
        if identity is not None:
            header["ci"] = identity
        if steer and self.steer_to_caller():
            header["unpin"] = True
        logs: list[str] = []
        sink = _log_sink(logs, on_log)
        started = time.monotonic()
        deadline = started + timeout
        self.invocations += 1
        try:
            self.channel.send(header, payload)
            head, body = self._recv(deadline, sink)
            duration = (time.monotonic() - started) * 1000.0
            self._last_lines(sink)
            kind = head["t"]
            mem = head.get("mem", 0)
            self.max_memory_mb = max(self.max_memory_mb, mem)
            if mem > self.memory_mb:
                # Only the watchdog fallback lets a sandbox get past its limit; Lambda would
                # have killed it, so it is reported and destroyed the same way.
                self.kill()
                self.dead = True
                return Reply("oom", error=runtime_error(
                    request_id, "Runtime.OutOfMemory", "Runtime exited with error: signal: killed"),
                    logs=logs, duration_ms=duration, max_memory_mb=self.max_memory_mb)
            if kind == "result":
                return Reply("success", body, head.get("ct", "application/json"), None, logs,
                             duration, self.max_memory_mb)
            error = json.loads(body)
            return Reply("error", body, "application/json", error, logs, duration,
                         self.max_memory_mb)
        except socket.timeout:
            self.kill()
            self.dead = True
            self._last_lines(sink)
            return Reply("timeout", error=runtime_error(
                request_id, "Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds"),
                logs=logs, duration_ms=timeout * 1000.0, max_memory_mb=self.peak_memory_mb())
        except (ChannelClosed, OSError):
            status, error = self._death(request_id)
            duration = (time.monotonic() - started) * 1000.0
            self._last_lines(sink)
            return Reply(status, error=error, logs=logs, duration_ms=duration,
                         max_memory_mb=max(self.peak_memory_mb(),
                                           self.memory_mb if status == "oom" else 0))

    def destroy(self) -> None:
        self.dead = True
        self.kill()
        self.close()

    def close(self) -> None:
        self.channel.close()
        self._poll = None
        if self.log is not None:
            self.log.close()
            self.log = None
