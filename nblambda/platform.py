"""The Platform: the one object everything uses — function registry, invoker, sandbox pool, store.

Embedded in the kernel by default (see ``nblambda.jupyter``); the same object can sit behind a server.
"""
from __future__ import annotations

import atexit
import json
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable

from . import validation
from .concurrency import ConcurrencyLimits
from .errors import InvalidParameterValueException, LambdaError
from .invoker import Invoker
from .logs import DEFAULT_LOG_LIMIT
from .models import Alias, FunctionConfig, InvocationResult
from .registry import LATEST, Registry, parse_function_ref
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
    injectable so keep-alive can be tested without waiting. ``concurrency_limit``: the account's
    concurrent executions (Lambda's default quota is 1000).
    """

    def __init__(self, home: str | Path | None = None, *, backend: str = "process",
                 keep_alive: float = 600.0, memory_budget_mb: int | None = None,
                 retention: int = 1000, log_limit: int = DEFAULT_LOG_LIMIT,
                 memory_enforcement: str = "auto", python: str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 reap_interval: float | None = None, concurrency_limit: int = 1000) -> None:
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
        self.registry = Registry(self.store, self.home / "code")
        self.limits = ConcurrencyLimits(concurrency_limit)
        self.layers = None
        self.invoker = Invoker(self.pool, self._backends, self.store, self.limits,
                               self.home / "code", log_limit, layers=self.layers)
        self._load_settings()
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
               backend: str | None = None, description: str = "",
               requirements: list[str] | str | None = None, image: str = "",
               network: str = "", publish: bool = False) -> FunctionConfig:
        """Create or update function ``name`` ($LATEST) from Python ``source`` (a notebook cell).
        ``publish=True`` also publishes it as a new version and returns that version."""
        self._check_open()
        backend = backend or self.default_backend
        if backend not in BACKENDS:
            raise InvalidParameterValueException(f"Unknown backend {backend!r}: use one of {BACKENDS}")
        if isinstance(requirements, str):
            requirements = requirements.split()
        requirements = [r.strip() for r in (requirements or []) if r.strip()]
        runtime = "python%d.%d" % self.backend(backend).python_version()
        if requirements:
            if self.layers is None:
                raise InvalidParameterValueException("Dependencies need the layers support")
            self.layers.ensure(requirements, self.backend(backend).python_version())
        config = self.registry.put(name, source, handler, memory=memory, timeout=timeout,
                                   environment=environment, backend=backend,
                                   description=description, runtime=runtime,
                                   requirements=requirements, image=image, network=network)
        self.pool.retire(name, version=LATEST, keep_key=config.sandbox_key)
        return self.publish_version(name) if publish else config

    def get_function(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """The configuration ``name`` (or ``name:qualifier``, or an ARN) resolves to."""
        fn_name, qualifier = parse_function_ref(name, qualifier)
        if qualifier is None or qualifier == LATEST or qualifier.isdigit():
            return self.registry.version(fn_name, qualifier or LATEST)
        return self.registry.version(fn_name, self.registry.get_alias(fn_name, qualifier).function_version)

    def list_functions(self) -> list[FunctionConfig]:
        return self.registry.list()

    def delete_function(self, name: str, qualifier: str | None = None) -> None:
        fn_name, qualifier = parse_function_ref(name, qualifier)
        self.registry.delete(fn_name, qualifier)
        self.limits.set_reserved(fn_name, None) if qualifier is None else None
        self.pool.retire(fn_name, version=qualifier)

    # -- versions and aliases -------------------------------------------------------------------
    def publish_version(self, name: str, description: str = "") -> FunctionConfig:
        """Freeze $LATEST's code and configuration as the next version (1, 2, ...)."""
        return self.registry.publish(name, description)

    def list_versions(self, name: str) -> list[FunctionConfig]:
        return self.registry.list_versions(name)

    def create_alias(self, name: str, alias: str, version: str, description: str = "",
                     routing: dict[str, float] | None = None) -> Alias:
        return self.registry.create_alias(name, alias, str(version), description, routing)

    def get_alias(self, name: str, alias: str) -> Alias:
        return self.registry.get_alias(name, alias)

    def update_alias(self, name: str, alias: str, version: str | None = None,
                     description: str | None = None,
                     routing: dict[str, float] | None = None) -> Alias:
        return self.registry.update_alias(name, alias, version, description, routing)

    def list_aliases(self, name: str) -> list[Alias]:
        return self.registry.list_aliases(name)

    def delete_alias(self, name: str, alias: str) -> None:
        self.registry.delete_alias(name, alias)

    # -- concurrency ------------------------------------------------------------------------------
    def put_function_concurrency(self, name: str, reserved: int) -> int:
        """Reserve concurrency for ``name`` (at most this many at once; 0 disables it)."""
        self.registry.latest(name)
        self.limits.set_reserved(name, reserved)
        self.store.set_setting(name, "reserved_concurrency", reserved)
        return reserved

    def get_function_concurrency(self, name: str) -> int | None:
        self.registry.latest(name)
        return self.limits.reserved(name)

    def delete_function_concurrency(self, name: str) -> None:
        self.registry.latest(name)
        self.limits.set_reserved(name, None)
        self.store.set_setting(name, "reserved_concurrency", None)

    def _load_settings(self) -> None:
        for fn in self.registry.list():
            reserved = self.store.get_setting(fn.name, "reserved_concurrency")
            if reserved is not None:
                try:
                    self.limits.set_reserved(fn.name, reserved)
                except LambdaError:
                    pass  # the account limit shrank since; the function runs unreserved

    # -- history --------------------------------------------------------------------------------
    def invocations(self, name: str | None = None, limit: int = 50) -> list[InvocationResult]:
        """Recent invocations, newest first, from the store (they survive a kernel restart)."""
        if name is not None:
            self.registry.latest(name)
        return self.store.invocations(name, limit)

    def logs(self, name: str, limit: int = 10) -> str:
        """The logs of the last ``limit`` invocations, oldest first, as one text."""
        return "".join(r.logs for r in reversed(self.invocations(name, limit)))

    # -- invocation ---------------------------------------------------------------------------
    def invoke(self, name: str, event: Any = None, *, payload: bytes | str | None = None,
               qualifier: str | None = None, client_context: dict | None = None,
               identity: dict | None = None,
               on_log: Callable[[str], None] | None = None) -> InvocationResult:
        """Run ``name`` synchronously (RequestResponse) with ``event`` (any JSON value), or with
        ``payload`` (raw JSON bytes, passed on as the caller sent them). ``name`` may carry a
        qualifier (``name:2``, ``name:prod``) or be an ARN."""
        self._check_open()
        config, qualifier = self.registry.resolve(name, qualifier)
        body = self._body(event, payload)
        validation.check_payload(body)
        return self.invoker.run(config, body, qualifier=qualifier, client_context=client_context,
                                identity=identity, on_log=on_log)

    @staticmethod
    def _body(event: Any, payload: bytes | str | None) -> bytes:
        if payload is None:
            try:
                return json.dumps(event).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidParameterValueException(f"The event is not JSON-serializable: {exc}")
        return payload.encode() if isinstance(payload, str) else bytes(payload)

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
