"""The platform's value objects: a function's configuration and an invocation's result.

Plain dataclasses, so every layer (store, API, widgets) can read them without importing the others.
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "000000000000"  # Lambda ARNs need an account; local emulators use twelve zeros.
DEFAULT_MODULE = "lambda_function"  # a cell becomes this module, as in the AWS console's editor


def function_arn(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


@dataclass(frozen=True)
class FunctionConfig:
    """A deployed function: its code (a cell's source) and Lambda configuration."""

    name: str
    source: str
    handler: str = f"{DEFAULT_MODULE}.handler"  # module.function, as Lambda's _HANDLER
    memory: int = 128
    timeout: int = 3
    environment: dict[str, str] = field(default_factory=dict)
    backend: str = "process"
    code_hash: str = ""
    version: str = "$LATEST"
    description: str = ""
    runtime: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    requirements: list[str] = field(default_factory=list)  # pip requirement lines
    image: str = ""  # docker backend: the image ("" = the default one)
    network: str = ""  # docker backend: a network name, "none" to isolate ("" = default)

    @property
    def arn(self) -> str:
        return function_arn(self.name)

    @property
    def version_arn(self) -> str:
        return function_arn(self.name, self.version)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @functools.cached_property  # read several times per invoke; a frozen config never changes
    def sandbox_key(self) -> tuple:
        """What makes two sandboxes interchangeable: same code, same configuration."""
        return (self.name, self.version, self.code_hash, self.handler, self.memory, self.timeout,
                tuple(sorted(self.environment.items())), self.backend, tuple(self.requirements),
                self.image, self.network)

    @property
    def code_sha256(self) -> str:
        """What AWS's CodeSha256 means: a digest of the deployment package (here, source + handler)."""
        return self.code_hash

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FunctionConfig":
        return cls(**data)

    def __repr__(self) -> str:
        return (f"<Function {self.name} {self.handler} memory={self.memory}MB timeout={self.timeout}s "
                f"backend={self.backend} code={self.code_hash[:12]}>")


@dataclass(frozen=True)
class Alias:
    """A name for a published version, optionally routing a share of traffic to a second one."""

    function_name: str
    name: str
    function_version: str
    description: str = ""
    routing: dict[str, float] = field(default_factory=dict)  # {version: weight 0..1}
    revision_id: str = ""

    @property
    def arn(self) -> str:
        return function_arn(self.function_name, self.name)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class InvocationResult:
    """What one invocation returned, as Lambda reports it (payload or error, logs, REPORT figures)."""

    request_id: str
    function_name: str
    payload: Any = None
    error: dict | None = None
    logs: str = ""
    cold: bool = False
    duration_ms: float = 0.0
    billed_duration_ms: int = 0
    init_duration_ms: float | None = None
    max_memory_used_mb: int = 0
    memory_size_mb: int = 128
    status: str = "success"  # success | error | timeout | oom | crash | queued | dryrun
    version: str = "$LATEST"
    started_at: float = field(default_factory=time.time)
    content_type: str = "application/json"
    raw_payload: bytes | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status_code(self) -> int:
        """The Invoke API's status: 202 for a queued Event, 204 for a DryRun, else 200."""
        return {"queued": 202, "dryrun": 204}.get(self.status, 200)

    @property
    def error_type(self) -> str | None:
        return self.error.get("errorType") if self.error else None

    @property
    def function_error(self) -> str | None:
        """The X-Amz-Function-Error header's value: 'Unhandled' for any failed invocation."""
        return "Unhandled" if self.error else None

    @property
    def response_bytes(self) -> bytes:
        """The response body Lambda would send: the payload's JSON, raw bytes, or the error object."""
        if self.error is not None:
            return json.dumps(self.error).encode()
        if self.raw_payload is not None:
            return self.raw_payload
        return json.dumps(self.payload).encode()

    def report_line(self) -> str:
        for line in reversed(self.logs.splitlines()):
            if line.startswith("REPORT "):
                return line
        return ""

    def to_dict(self) -> dict:
        # By hand: dataclasses.asdict deep-copies, and this runs once per invocation recorded.
        return {"request_id": self.request_id, "function_name": self.function_name,
                "payload": self.payload, "error": self.error, "logs": self.logs,
                "cold": self.cold, "duration_ms": self.duration_ms,
                "billed_duration_ms": self.billed_duration_ms,
                "init_duration_ms": self.init_duration_ms,
                "max_memory_used_mb": self.max_memory_used_mb,
                "memory_size_mb": self.memory_size_mb, "status": self.status,
                "version": self.version, "started_at": self.started_at,
                "content_type": self.content_type}

    def summary(self) -> str:
        if self.status == "queued":
            return (f"{self.function_name} [queued: asynchronous invocation, status 202] "
                    f"request {self.request_id}")
        if self.status == "dryrun":
            return f"{self.function_name} [dry run: the request is valid, status 204]"
        badge = "cold" if self.cold else "warm"
        init = f", init {self.init_duration_ms:.2f} ms" if self.init_duration_ms is not None else ""
        head = (f"{self.function_name} [{self.status}, {badge}] {self.duration_ms:.2f} ms{init}, "
                f"{self.max_memory_used_mb}/{self.memory_size_mb} MB, request {self.request_id}")
        if self.error:
            return f"{head}\n{self.error.get('errorType')}: {self.error.get('errorMessage')}"
        return head

    def __repr__(self) -> str:
        if self.status in ("queued", "dryrun"):
            return self.summary()
        body = self.error if self.error else self.payload
        text = body if isinstance(body, bytes) else json.dumps(body, indent=2, default=str)
        return f"{self.summary()}\n{text}"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from .jupyter.views import invocation_bundle

        return invocation_bundle(self)
