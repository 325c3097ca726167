"""The Platform: the one object everything uses — function registry, invoker, sandbox pool, store.

Embedded in the kernel by default (see ``nblambda.jupyter``); the same object can sit behind a server.
"""
from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any, Callable

from . import validation
from .concurrency import ConcurrencyLimits
from .dispatcher import Dispatcher, EventInvokeConfig
from .eventconfig import EventInvokeConfigs
from .eventqueue import DeadLetter, EventQueue, QueuedEvent
from .concurrency import RESERVED_REASON
from .errors import (InvalidParameterValueException, LambdaError, TooManyRequestsException)
from .invoker import Invoker
from .provisioning import Provisioner
from .layers import DependencyLayers
from .logs import DEFAULT_LOG_LIMIT
from .models import Alias, FunctionConfig, InvocationResult
from .registry import LATEST, Registry, parse_function_ref
from .sandbox.pool import Pool
from .store import Store

BACKENDS = ("process", "docker")


class _NoEvent:
    def __repr__(self) -> str:
        return "NO_EVENT"


NO_EVENT: Any = _NoEvent()  # invoke() without an event: the handler gets {}, as from Lambda
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
    concurrent executions (Lambda's default quota is 1000). ``async_workers``: asynchronous
    events run at once. ``retry_delay_factor`` scales Lambda's async retry delays (1 and 2
    minutes) and throttle backoff; ``wall_clock`` (epoch seconds) drives event ages and delays.
    """

    def __init__(self, home: str | Path | None = None, *, backend: str = "process",
                 keep_alive: float = 600.0, memory_budget_mb: int | None = None,
                 retention: int = 1000, log_limit: int = DEFAULT_LOG_LIMIT,
                 memory_enforcement: str = "auto", python: str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 reap_interval: float | None = None, concurrency_limit: int = 1000,
                 async_workers: int = 8, retry_delay_factor: float = 1.0,
                 wall_clock: Callable[[], float] = time.time, image: str = "",
                 network: str = "", prewarm: int = 2) -> None:
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
        self.registry = Registry(self.store)
        self.limits = ConcurrencyLimits(concurrency_limit)
        # Dependency layers, shared by both backends; docker defaults: image ("" = python:X.Y-slim
        # or nblambda/python:X.Y), network ("" = on, "none" isolates), stem cells kept ready.
        self.layers = DependencyLayers(self.home / "layers")
        self._docker_options = {"image": image, "network": network, "prewarm": prewarm}
        self.invoker = Invoker(self.pool, self._backends, self.store, self.limits,
                               self.home / "code", log_limit, layers=self.layers)
        self.wall_clock = wall_clock
        self.event_configs = EventInvokeConfigs(self.store, self.registry)
        self.provisioner = Provisioner(self.store, self.registry, self.pool, self.invoker,
                                       self.limits.reserved, lambda: self._closed)
        self.events = EventQueue(self.store, self.home / "queue")
        self.dispatcher = Dispatcher(self.events, self._run_event, self.event_invoke_config,
                                     self._send_to_function, workers=async_workers,
                                     delay_factor=retry_delay_factor, clock=wall_clock)
        self.events.on_ingest = self.dispatcher.wake
        self._load_settings()
        self.registry.on_change.append(self._load_settings)
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        interval = reap_interval if reap_interval is not None else min(5.0, max(0.05, keep_alive / 4))
        self._reaper = threading.Thread(target=self._reap_loop, args=(interval,),
                                        name="nblambda-reaper", daemon=True)
        self._reaper.start()
        _live.add(self)
        self.dispatcher.start()
        self._prestarter: threading.Thread | None = None
        # The default backend's fork server (or stem cells) up before the first deploy, so the
        # first cold start is cheap.
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
        if name == "docker":  # imported and connected only now: Docker is optional
            from .sandbox.docker import DockerBackend

            return DockerBackend(layer_store=self.layers.root, **self._docker_options)
        raise InvalidParameterValueException(
            f"The {name!r} backend is not available in this version; use backend='process'")

    def backend(self, name: str | None = None):
        return self._backends[name or self.default_backend]

    def _prestart(self) -> None:
        try:
            if not self._closed:
                backend = self.backend(self.default_backend)
                if hasattr(backend, "prestart"):
                    backend.prestart()
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
        if LATEST in self.store.get_setting(name, "provisioned", {}):
            self.provisioner.ensure(name)
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
        if qualifier is None:
            self.limits.set_reserved(fn_name, None)
            self.events.drop_function(fn_name)
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

    def put_provisioned_concurrency_config(self, name: str, count: int,
                                           qualifier: str | None = None) -> dict:
        """Keep ``count`` sandboxes of ``name`` (at ``qualifier``) initialised ahead of demand;
        invocations on them report no Init Duration. AWS requires a version or alias here;
        nblambda also accepts $LATEST (the default), re-provisioning after each deploy."""
        return self.provisioner.put(name, count, qualifier)

    def get_provisioned_concurrency_config(self, name: str, qualifier: str | None = None) -> dict:
        return self.provisioner.describe(name, qualifier)

    def delete_provisioned_concurrency_config(self, name: str, qualifier: str | None = None) -> None:
        self.provisioner.delete(name, qualifier)

    def _load_settings(self) -> None:
        """Reserved concurrency as stored: at start, and whenever another process changed it."""
        stored = {fn.name: self.store.get_setting(fn.name, "reserved_concurrency")
                  for fn in self.registry.list()}
        for name in self.limits.reserved_names():
            if stored.get(name) is None:
                self.limits.set_reserved(name, None)
        for name, reserved in stored.items():
            if reserved is not None and reserved != self.limits.reserved(name):
                try:
                    self.limits.set_reserved(name, reserved)
                except LambdaError:
                    pass  # the account limit shrank since; the function runs unreserved

    # -- HTTP routes (served by nblambda.api as an API Gateway HTTP API would) ---------------------
    @staticmethod
    def _route_key(method_path: str) -> str:
        """``"get /items/{id}"`` -> ``"GET /items/{id}"``, or AWS-style refusal with the fix."""
        import re

        text = " ".join(str(method_path).split())
        if text == "$default":
            return text
        method, _, path = text.partition(" ")
        method = method.upper()
        segment = re.compile(r"^(\{\w+\+?\}|[A-Za-z0-9._~!$&'()*+,;=:@%-]+)$")
        parts = path.split("/")[1:] if path != "/" else []
        problem = None
        if method not in ("ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            problem = f"unknown method {method!r}"
        elif not path.startswith("/") or (path != "/" and path.endswith("/")):
            problem = "the path must start with / and not end with /"
        elif any(not segment.match(p) or p in (".", "..") for p in parts):
            problem = "path segments are names or {variables}, without '.', '..' or '//'"
        elif any(p.endswith("+}") for p in parts[:-1]):
            problem = "a greedy {name+} variable must be the last segment"
        elif parts and re.match(r"^\d{4}-\d{2}-\d{2}$", parts[0]):
            problem = "paths under /YYYY-MM-DD/ belong to the Lambda API"
        if problem:
            raise InvalidParameterValueException(
                f"Invalid route key {method_path!r}: {problem}. Use 'METHOD /path' such as "
                "'GET /items/{id}' or 'ANY /files/{path+}', or '$default'")
        return f"{method} {path}"

    def add_route(self, method_path: str, function: str, qualifier: str | None = None) -> dict:
        """Serve ``function`` (``name``, ``name:alias`` or an ARN) on the HTTP route
        ``method_path`` (``"GET /items/{id}"``, ``"ANY /{proxy+}"``, ``"$default"``); replaces the
        route's previous target. The server (``nblambda serve``) turns requests into API Gateway
        payload-2.0 events."""
        key = self._route_key(method_path)
        name, qualifier = parse_function_ref(function, qualifier)
        self.get_function(name, qualifier)  # the target must exist now (it may be deleted later)
        self.store.save_route(key, name, qualifier, time.time())
        return {"route_key": key, "function": name, "qualifier": qualifier}

    def list_routes(self) -> list[dict]:
        """Every route: ``{"route_key", "function", "qualifier"}``, sorted by route key."""
        return self.store.list_routes()

    def remove_route(self, method_path: str) -> None:
        key = self._route_key(method_path)
        if not self.store.delete_route(key):
            from .errors import ResourceNotFoundException

            raise ResourceNotFoundException(f"Route not found: {key}")

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
    def invoke(self, name: str, event: Any = NO_EVENT, *, payload: bytes | str | None = None,
               qualifier: str | None = None, invocation_type: str = "RequestResponse",
               client_context: dict | None = None, identity: dict | None = None,
               on_log: Callable[[str], None] | None = None) -> InvocationResult:
        """Invoke ``name`` with ``event`` (any JSON value) or ``payload`` (raw JSON bytes, passed
        on as sent: not JSON, it is the runtime's Runtime.UnmarshalError). With neither, or an
        empty payload, the handler gets ``{}``, as from Lambda. ``name`` may carry a qualifier (``name:2``, ``name:prod``) or be an ARN.

        ``invocation_type``: "RequestResponse" runs it and returns the result; "Event" queues it
        durably and returns at once (status 202); "DryRun" only validates (status 204)."""
        self._check_open()
        config, qualifier = self.registry.resolve(name, qualifier)
        body = self._body(event, payload)
        if invocation_type == "RequestResponse":
            validation.check_payload(body)
            return self.invoker.run(config, body, qualifier=qualifier,
                                    client_context=client_context, identity=identity,
                                    on_log=on_log)
        if invocation_type == "Event":
            validation.check_payload(body, validation.MAX_ASYNC_PAYLOAD)
            request_id = str(uuid.uuid4())
            self.events.put(request_id, config.name, qualifier, body, self.wall_clock())
            return InvocationResult(request_id, config.name, status="queued",
                                    version=config.version, memory_size_mb=config.memory)
        if invocation_type == "DryRun":
            validation.check_payload(body)
            if self.limits.reserved(config.name) == 0:
                raise TooManyRequestsException("Rate Exceeded.", reason=RESERVED_REASON)
            return InvocationResult(str(uuid.uuid4()), config.name, status="dryrun",
                                    version=config.version, memory_size_mb=config.memory)
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed "
            "to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, "
            "DryRun]")

    def map(self, name: str, events, *, concurrency: int = 8, qualifier: str | None = None,
            progress=None, background: bool = False):
        """Invoke ``name`` once per event, ``concurrency`` at a time; results in input order
        (a ``MapResults`` list), each item's error kept. ``progress``: True prints a progress
        line to the terminal, a callable gets each ``Progress`` (default: print on a terminal).
        ``background=True`` returns the running ``MapRun`` at once (``.wait()``, ``.cancel()``)."""
        from .fanout import MapRun, terminal_ticker

        self._check_open()
        self.registry.resolve(name, qualifier)
        run = MapRun(lambda event: self.invoke(name, event, qualifier=qualifier), name, events,
                     concurrency, on_progress=progress if callable(progress) else None)
        if background:
            return run
        if progress is True or (progress is None and sys.stderr.isatty()):
            return run.wait(tick=terminal_ticker())
        return run.wait()

    # -- asynchronous invocation ----------------------------------------------------------------
    def _run_event(self, event: QueuedEvent) -> InvocationResult:
        config, qualifier = self.registry.resolve(event.function, event.qualifier)
        return self.invoker.run(config, event.payload, qualifier=qualifier,
                                request_id=event.request_id)

    def _send_to_function(self, target: str, record: dict) -> None:
        """Function destinations are invoked asynchronously, as Lambda does."""
        self.invoke(target, record, invocation_type="Event")

    def put_function_event_invoke_config(self, name: str, *,
                                         maximum_retry_attempts: int | None = None,
                                         maximum_event_age_in_seconds: int | None = None,
                                         on_success: str | None = None,
                                         on_failure: str | None = None,
                                         dead_letter_queue: bool | None = None) -> dict:
        """Retries (0-2), maximum event age (60-21600 s) and destinations (function names or
        ARNs) of ``name``'s asynchronous invocations; returns AWS's FunctionEventInvokeConfig."""
        return self.event_configs.put(
            name, maximum_retry_attempts=maximum_retry_attempts,
            maximum_event_age_in_seconds=maximum_event_age_in_seconds, on_success=on_success,
            on_failure=on_failure, dead_letter_queue=dead_letter_queue)

    def event_invoke_config(self, name: str) -> EventInvokeConfig:
        return self.event_configs.get(name)

    def get_function_event_invoke_config(self, name: str) -> dict:
        return self.event_configs.describe(name)

    def delete_function_event_invoke_config(self, name: str) -> None:
        self.event_configs.delete(name)

    def queued_events(self, name: str | None = None) -> list[QueuedEvent]:
        """Asynchronous events waiting or running (including those waiting for a retry)."""
        return self.events.pending(name)

    def dead_letters(self, name: str | None = None) -> list[DeadLetter]:
        """Events whose retries were exhausted or that got too old, with their failure record."""
        return self.events.dead_letters(name)

    def redrive(self, name: str, seqs: list[int] | None = None) -> list[InvocationResult]:
        """Queue dead-lettered events of ``name`` again (all, or the given ``seq`` numbers)."""
        self.registry.latest(name)
        return [self.invoke(name, payload=letter.payload, qualifier=letter.qualifier,
                            invocation_type="Event")
                for letter in self.events.take_dead_letters(name, seqs)]

    def wait_for_event(self, request_id: str, timeout: float = 60.0) -> bool:
        """Block until the async event ``request_id`` has had its first attempt (by this process
        or another one serving the same home) or is settled; False on timeout."""
        def tried() -> bool:
            attempts = self.events.attempts_made(request_id)
            return attempts is None or attempts >= 1
        return self._wait_for_queue(tried, timeout)

    def wait_for_async(self, timeout: float = 60.0, name: str | None = None) -> bool:
        """Block until no asynchronous event (of ``name``) is queued or running; False on timeout.
        Events waiting for a retry count as pending."""
        return self._wait_for_queue(lambda: self.events.count(name) == 0, timeout)

    def _wait_for_queue(self, done: Callable[[], bool], timeout: float) -> bool:
        # The queue may be worked by another process on the same home: ask the store, not a
        # condition of this one; nudging our dispatcher makes it claim what is due now.
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                return False
            self.dispatcher.wake()
            time.sleep(0.02)
        return True

    @staticmethod
    def _body(event: Any, payload: bytes | str | None) -> bytes:
        if payload is None:
            if event is NO_EVENT:
                return b"{}"
            try:
                return json.dumps(event).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidParameterValueException(f"The event is not JSON-serializable: {exc}")
        body = payload.encode() if isinstance(payload, str) else bytes(payload)
        # Not checked here: a payload that is not JSON reaches the runtime, which answers with
        # Runtime.UnmarshalError (LAMBDA_CONTRACT.md); the HTTP API refuses it up front, as
        # Lambda's front end does (InvalidRequestContentException).
        return body or b"{}"

    # -- lifecycle ----------------------------------------------------------------------------
    def _reap_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.pool.reap()
                self.provisioner.ensure()
            except Exception:
                pass

    def _check_open(self) -> None:
        if self._closed:
            from .errors import PlatformClosedError

            raise PlatformClosedError("This Platform is closed; create a new one")

    def function_stats(self, name: str) -> dict:
        """What a function is doing now: invocations in flight, its reserved concurrency, async
        events queued, throttles so far, dead letters, and warm sandboxes."""
        fn_name, _ = parse_function_ref(name)
        self.registry.latest(fn_name)
        return {"in_flight": self.limits.in_flight(fn_name),
                "reserved": self.limits.reserved(fn_name),
                "queued": self.events.count(fn_name),
                "throttles": self.limits.throttles[fn_name],
                "dead_letters": self.events.dead_letter_count(fn_name),
                "sandboxes": len(self.pool.sandboxes(fn_name))}

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
        self.dispatcher.stop()
        if self._prestarter is not None:
            self._prestarter.join()
        self.pool.close()
        self.dispatcher.finish()
        self.events.close()
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
