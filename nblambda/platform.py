"""The Platform: the one object everything uses — function registry, invoker, sandbox pool, store.

Embedded in the kernel by default (see ``nblambda.jupyter``); the same object can sit behind a server.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any, Callable

from . import validation
from .errors import InvalidParameterValueException, ResourceNotFoundException
from .logs import DEFAULT_LOG_LIMIT, BoundedLog, billed_ms, iso_now, report_line
from .models import DEFAULT_MODULE, FunctionConfig, InvocationResult, function_arn
from .sandbox.base import Reply
from .sandbox.environment import init_message
from .sandbox.pool import Pool
from .store import Store

BACKENDS = ("process", "docker")
_live: "weakref.WeakSet[Platform]" = weakref.WeakSet()


def default_home() -> Path:
    return Path(os.environ.get("NBLAMBDA_HOME") or Path.home() / ".nblambda")


def _default_budget_mb() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        total = 8192
    return max(1024, total // 2)


class Platform:
    """Deploy functions from source and invoke them in sandboxes, as AWS Lambda would.

    ``keep_alive``: seconds an idle sandbox stays warm (Lambda keeps them for minutes; default 600).
    ``memory_budget_mb``: the sum of configured memory the pool may hold (default: half the RAM).
    ``retention``: invocations kept per function in the history. ``clock``: monotonic seconds,
    injectable so keep-alive can be tested without waiting.
    """

    def __init__(self, home: str | Path | None = None, *, backend: str = "process",
                 keep_alive: float = 600.0, memory_budget_mb: int | None = None,
                 retention: int = 1000, log_limit: int = DEFAULT_LOG_LIMIT,
                 memory_enforcement: str = "auto", python: str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 reap_interval: float | None = None) -> None:
        if backend not in BACKENDS:
            raise InvalidParameterValueException(f"Unknown backend {backend!r}: use one of {BACKENDS}")
        self.home = Path(home) if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "code").mkdir(exist_ok=True)
        self.default_backend = backend
        self.log_limit = log_limit
        self.store = Store(self.home / "nblambda.db", retention=retention)
        self._python = python
        self._memory_enforcement = memory_enforcement
        self._backends: dict[str, Any] = _LazyBackends(self)
        self.pool = Pool(self._backends, keep_alive_s=keep_alive,
                         memory_budget_mb=memory_budget_mb or _default_budget_mb(), clock=clock)
        self._functions: dict[str, FunctionConfig] = {}
        self._init_messages: dict[tuple, dict] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        interval = reap_interval if reap_interval is not None else min(5.0, max(0.05, keep_alive / 4))
        self._reaper = threading.Thread(target=self._reap_loop, args=(interval,),
                                        name="nblambda-reaper", daemon=True)
        self._reaper.start()
        _live.add(self)
        self._prestarter: threading.Thread | None = None
        if backend == "process":  # fork server up before the first deploy: cold starts stay cheap
            self._prestarter = threading.Thread(target=self._prestart, daemon=True)
            self._prestarter.start()

    # -- backends -----------------------------------------------------------------------------
    def _make_backend(self, name: str):
        if name == "process":
            from .sandbox.process import ProcessBackend

            kwargs = {"memory_enforcement": self._memory_enforcement}
            if self._python:
                kwargs["python"] = self._python
            return ProcessBackend(**kwargs)
        raise InvalidParameterValueException(
            f"The {name!r} backend is not available in this version; use backend='process'")

    def backend(self, name: str | None = None):
        return self._backends[name or self.default_backend]

    def _prestart(self) -> None:
        try:
            if not self._closed:
                self.backend("process").prestart()
        except Exception:
            pass  # reported on first use, with the cause

    # -- functions ----------------------------------------------------------------------------
    def deploy(self, name: str, source: str, handler: str = "handler", *, memory: int = 128,
               timeout: int = 3, environment: dict[str, str] | None = None,
               backend: str | None = None, description: str = "") -> FunctionConfig:
        """Create or update function ``name`` from Python ``source`` (a notebook cell)."""
        self._check_open()
        validation.check_name(name)
        validation.check_memory(memory)
        validation.check_timeout(timeout)
        validation.check_handler(handler)
        environment = validation.check_environment(environment)
        backend = backend or self.default_backend
        if backend not in BACKENDS:
            raise InvalidParameterValueException(f"Unknown backend {backend!r}: use one of {BACKENDS}")
        if not isinstance(source, str):
            raise InvalidParameterValueException("Function source must be a string of Python code")
        if "." not in handler:
            handler = f"{DEFAULT_MODULE}.{handler}"
        module = handler.rsplit(".", 1)[0]
        code_hash = hashlib.sha256(f"{module}\0{source}".encode()).hexdigest()
        self._write_code(code_hash, module, source)
        now = time.time()
        with self._lock:
            previous = self._functions.get(name) or self.store.load_function(name)
            py = self.backend(backend).python_version() if backend == "process" else (3, 11)
            config = FunctionConfig(
                name=name, source=source, handler=handler, memory=memory, timeout=timeout,
                environment=environment, backend=backend, code_hash=code_hash,
                description=description, runtime="python%d.%d" % py,
                created_at=previous.created_at if previous else now, updated_at=now)
            self.store.save_function(config)
            self._functions[name] = config
        self.pool.retire(name, keep_key=config.sandbox_key)
        return config

    def _write_code(self, code_hash: str, module: str, source: str) -> Path:
        folder = self.home / "code" / code_hash
        target = folder / (module.replace(".", "/") + ".py")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(source, encoding="utf-8")
            os.replace(tmp, target)
        return folder

    def get_function(self, name: str) -> FunctionConfig:
        config = self._functions.get(name)
        if config is None:
            config = self.store.load_function(name) if isinstance(name, str) else None
            if config is None:
                raise ResourceNotFoundException(
                    f"Function not found: {function_arn(str(name))}")
            self._write_code(config.code_hash, config.module, config.source)
            self._functions[name] = config
        return config

    def list_functions(self) -> list[FunctionConfig]:
        return self.store.list_functions()

    def delete_function(self, name: str) -> None:
        self.get_function(name)
        self.store.delete_function(name)
        self._functions.pop(name, None)
        self.pool.retire(name)

    def invocations(self, name: str | None = None, limit: int = 50) -> list[InvocationResult]:
        """Recent invocations, newest first, from the store (they survive a kernel restart)."""
        if name is not None:
            self.get_function(name)
        return self.store.invocations(name, limit)

    def logs(self, name: str, limit: int = 10) -> str:
        """The logs of the last ``limit`` invocations, oldest first, as one text."""
        return "".join(r.logs for r in reversed(self.invocations(name, limit)))

    # -- invocation ---------------------------------------------------------------------------
    def invoke(self, name: str, event: Any = None, *, payload: bytes | str | None = None,
               client_context: dict | None = None, identity: dict | None = None,
               on_log: Callable[[str], None] | None = None) -> InvocationResult:
        """Run ``name`` synchronously (RequestResponse) with ``event`` (any JSON value), or with
        ``payload`` (raw JSON bytes, passed on as the caller sent them)."""
        self._check_open()
        config = self.get_function(name)
        if payload is None:
            try:
                body = json.dumps(event).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidParameterValueException(f"The event is not JSON-serializable: {exc}")
        else:
            body = payload.encode() if isinstance(payload, str) else bytes(payload)
        validation.check_payload(body)
        return self._run(config, body, client_context, identity, on_log)

    def _init_message(self, config: FunctionConfig) -> dict:
        cached = self._init_messages.get(config.sandbox_key)
        if cached is None:
            backend = self.backend(config.backend)
            code_dir = str(self.home / "code" / config.code_hash)
            cached = init_message(config, task_root=backend.task_root(code_dir),
                                  runtime_dir=backend.runtime_dir(),
                                  python_version=backend.python_version())
            self._init_messages[config.sandbox_key] = cached
        message = dict(cached)
        # a fresh log stream per sandbox, as Lambda names one per execution environment
        from .sandbox.environment import log_stream_name

        message["env"] = dict(cached["env"], AWS_LAMBDA_LOG_STREAM_NAME=log_stream_name(config.version))
        return message

    def _run(self, config: FunctionConfig, body: bytes, client_context: dict | None,
             identity: dict | None, on_log: Callable[[str], None] | None) -> InvocationResult:
        request_id = str(uuid.uuid4())
        started_at = time.time()
        log = BoundedLog(self.log_limit)

        def emit(text: str) -> None:
            log.append(text)
            if on_log is not None:
                on_log(text)

        lease = self.pool.acquire(config.sandbox_key, config.name, config.memory, config.backend,
                                  lambda: self._init_message(config), request_id, on_log=emit)
        reply: Reply | None = None
        try:
            init = lease.init
            emit(f"START RequestId: {request_id} Version: {config.version}\n")
            if init is not None and not init.ok:
                reply = Reply(init.status, error=init.error, max_memory_mb=lease.sandbox.max_memory_mb)
            else:
                reply = lease.sandbox.invoke(request_id, body, config.timeout,
                                             arn=function_arn(config.name),
                                             client_context=client_context, identity=identity,
                                             on_log=emit)
        finally:
            self.pool.release(lease, reusable=reply is not None and reply.reusable)
        if reply.status == "success" and len(reply.body) > validation.MAX_RESPONSE:
            reply = Reply("error", error={
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                                f"({validation.MAX_RESPONSE} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"}, duration_ms=reply.duration_ms,
                max_memory_mb=reply.max_memory_mb)
        if reply.status == "timeout":
            emit(f"{iso_now()} {request_id} Task timed out after {config.timeout:.2f} seconds\n")
        init_ms = lease.init.duration_ms if lease.init is not None else None
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

    # -- lifecycle ----------------------------------------------------------------------------
    def _reap_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.pool.reap()
            except Exception:
                pass

    def _check_open(self) -> None:
        if self._closed:
            from .errors import PlatformClosedError

            raise PlatformClosedError("This Platform is closed; create a new one")

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> dict:
        return self.pool.stats()

    def close(self) -> None:
        """Stop every sandbox and the fork server, and flush the history. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._prestarter is not None:
            self._prestarter.join()
        self.pool.close()
        for backend in self._backends.created():
            try:
                backend.close()
            except Exception:
                pass
        self.store.close()
        _live.discard(self)

    def __enter__(self) -> "Platform":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Platform home={str(self.home)!r} backend={self.default_backend} {state}>"


class _LazyBackends(dict):
    """Backends are created on first use: the process backend needs no Docker, and Docker is
    contacted only by the docker backend."""

    def __init__(self, platform: Platform) -> None:
        super().__init__()
        self._platform = platform
        self._lock = threading.Lock()

    def __missing__(self, name: str):
        with self._lock:
            if name not in self.keys():
                dict.__setitem__(self, name, self._platform._make_backend(name))
        return dict.__getitem__(self, name)

    def created(self) -> list:
        return list(self.values())


@atexit.register
def _close_all() -> None:
    for platform in list(_live):
        try:
            platform.close()
        except Exception:
            pass
