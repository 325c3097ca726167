"""One synchronous invocation, end to end: concurrency, a sandbox lease, the run, Lambda's log
framing (START, END, REPORT), the result, and its record in the store."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import codefolder, validation
from .concurrency import ConcurrencyLimits
from .logs import BoundedLog, billed_ms, iso_now, report_line
from .models import FunctionConfig, InvocationResult, function_arn
from .sandbox.base import Reply, runtime_error
from .sandbox.environment import init_message, log_stream_name
from .sandbox.pool import Lease, Pool
from .store import Store


@dataclass(frozen=True)
class SandboxSpec:
    """What a backend needs to start a sandbox for a function (a process ignores most of it)."""

    function_name: str
    version: str
    code_dir: str
    layer_dir: str | None = None
    image: str = ""
    network: str = ""


class Invoker:
    def __init__(self, pool: Pool, backends, store: Store, limits: ConcurrencyLimits,
                 code_root: Path, log_limit: int, layers=None) -> None:
        self.pool = pool
        self.backends = backends
        self.store = store
        self.limits = limits
        self.code_root = code_root
        self.log_limit = log_limit
        self.layers = layers
        self._init_messages: dict[tuple, dict] = {}
        self._specs: dict[tuple, SandboxSpec] = {}

    def spec(self, config: FunctionConfig) -> SandboxSpec:
        # Per invoke on the hot path; a configuration's spec never changes, so build it once.
        spec = self._specs.get(config.sandbox_key)
        if spec is None:
            spec = self._specs[config.sandbox_key] = self._build_spec(config)
        return spec

    def _build_spec(self, config: FunctionConfig) -> SandboxSpec:
        layer_dir = None
        if config.requirements and self.layers is not None:
            layer_dir = str(self.layers.path(config.requirements,
                                             self.backends[config.backend].python_version()))
        return SandboxSpec(config.name, config.version, str(self.code_root / config.code_hash),
                           layer_dir, config.image, config.network)

    def init_message(self, config: FunctionConfig, spec: SandboxSpec) -> dict:
        """For each new sandbox, before it starts: its init message, and its code folder as
        deployed (the one place the folder is written: a process sandbox runs in it, a container
        gets a copy of it)."""
        codefolder.restore(self.code_root, config.code_hash, config.module, config.source)
        cached = self._init_messages.get(config.sandbox_key)
        if cached is None:
            backend = self.backends[config.backend]
            cached = init_message(config, task_root=backend.task_root(spec),
                                  runtime_dir=backend.runtime_dir(),
                                  python_version=backend.python_version(),
                                  paths=backend.layer_paths(spec))
            self._init_messages[config.sandbox_key] = cached
        # a log stream per sandbox, as Lambda names one per execution environment
        return dict(cached, env=dict(cached["env"],
                                     AWS_LAMBDA_LOG_STREAM_NAME=log_stream_name(config.version)))

    def run(self, config: FunctionConfig, body: bytes, *, qualifier: str | None = None,
            client_context: dict | None = None, identity: dict | None = None,
            on_log: Callable[[str], None] | None = None,
            request_id: str | None = None) -> InvocationResult:
        share = self.limits.acquire(config.name)
        try:
            return self._run(config, body, qualifier, client_context, identity, on_log,
                             request_id or str(uuid.uuid4()))
        finally:
            self.limits.release(config.name, share)

    def _run(self, config: FunctionConfig, body: bytes, qualifier: str | None,
             client_context: dict | None, identity: dict | None,
             on_log: Callable[[str], None] | None, request_id: str) -> InvocationResult:
        started_at = time.time()
        log = BoundedLog(self.log_limit)

        def emit(text: str) -> None:
            log.append(text)
            if on_log is not None:
                on_log(text)

        spec = self.spec(config)

        def acquire(init_timeout: float) -> Lease:
            return self.pool.acquire(config.sandbox_key, config.name, config.memory,
                                     config.backend, lambda: self.init_message(config, spec),
                                     request_id, on_log=emit, spec=spec, init_timeout=init_timeout)

        start_line = f"START RequestId: {request_id} Version: {config.version}\n"
        lease = acquire(self.pool.init_timeout)
        reinit_ms: float | None = None
        if lease.init is not None and lease.init.status == "timeout":
            # Lambda: an Init phase longer than its 10 s is run again when the invocation starts,
            # within the function's timeout, which then covers init and handler together.
            emit(f"INIT_REPORT Init Duration: {lease.init.duration_ms:.2f} ms\tPhase: init\t"
                 "Status: timeout\n")
            self.pool.release(lease, reusable=False)
            emit(start_line)
            began = time.monotonic()
            lease = acquire(config.timeout)
            reinit_ms = (time.monotonic() - began) * 1000.0
        else:
            emit(start_line)
        reply: Reply | None = None
        try:
            init = lease.init
            if init is not None and not init.ok:
                reply = Reply(init.status, error=init.error, duration_ms=reinit_ms or 0.0,
                              max_memory_mb=lease.sandbox.peak_memory_mb())
            else:
                remaining = config.timeout - (reinit_ms or 0.0) / 1000.0
                # Alone, an invoke is a ping-pong between two processes: steer the sandbox's
                # wake-up to this CPU. Side by side, leave the placement to the scheduler.
                reply = lease.sandbox.invoke(request_id, body, remaining,
                                             arn=function_arn(config.name, qualifier),
                                             client_context=client_context, identity=identity,
                                             on_log=emit, steer=self.pool.busy_count() <= 1)
                reply.duration_ms += reinit_ms or 0.0
        finally:
            self.pool.release(lease, reusable=reply is not None and reply.reusable)
        if reinit_ms is not None and reply.status == "timeout":
            reply.error = runtime_error(request_id, "Sandbox.Timedout",
                                        f"Task timed out after {config.timeout:.2f} seconds")
            reply.duration_ms = config.timeout * 1000.0
        if reply.status == "success" and len(reply.body) > validation.MAX_RESPONSE:
            reply = Reply("error", error={
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                                f"({validation.MAX_RESPONSE} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"}, duration_ms=reply.duration_ms,
                max_memory_mb=reply.max_memory_mb)
        if reply.status == "timeout":
            emit(f"{iso_now()} {request_id} Task timed out after {config.timeout:.2f} seconds\n")
        elif reply.status in ("crash", "oom") and reply.error:
            # Lambda logs why the runtime went away, then the error type, before END
            emit(f"{reply.error['errorMessage']}\n{reply.error['errorType']}\n")
        # A re-run init is part of the invocation's Duration, not an Init Duration of its own.
        init_ms = lease.init.duration_ms if lease.init is not None and reinit_ms is None else None
        billed = billed_ms(reply.duration_ms, init_ms)
        max_used = max(1, reply.max_memory_mb)
        emit(f"END RequestId: {request_id}\n")
        emit(report_line(request_id, reply.duration_ms, billed, config.memory, max_used, init_ms,
                         reply.status, reply.error and reply.error.get("errorType"),
                         init_failed=lease.init is not None and not lease.init.ok) + "\n")
        result = InvocationResult(
            request_id=request_id, function_name=config.name, error=reply.error, logs=log.text(),
            cold=lease.cold, duration_ms=round(reply.duration_ms, 3), billed_duration_ms=billed,
            init_duration_ms=round(init_ms, 3) if init_ms is not None else None,
            max_memory_used_mb=max_used, memory_size_mb=config.memory, status=reply.status,
            version=config.version, started_at=started_at, content_type=reply.content_type)
        if reply.status == "success":
            result.raw_payload = reply.body
            result.payload = (json.loads(reply.body) if reply.content_type == "application/json"
                              else reply.body)
        self.store.record_invocation(result)
        return result
