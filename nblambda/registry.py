"""Functions, versions and aliases: what a name (or ARN, or ``name:qualifier``) refers to.

``$LATEST`` is mutable; ``publish_version`` freezes code and configuration as 1, 2, ...; an alias
points at a version, optionally sending a weighted share of invocations to a second one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import threading
import time
import uuid
from typing import Callable

from . import validation
from .errors import (InvalidParameterValueException, ResourceConflictException,
                     ResourceNotFoundException)
from .models import DEFAULT_MODULE, Alias, FunctionConfig, function_arn
from .store import Store

LATEST = "$LATEST"
_ARN = re.compile(r"^(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:)?(?:\d{12}:)?(?:function:)?"
                  r"(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$")
_ALIAS = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}$")


def parse_function_ref(ref: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """``name``, ``name:qualifier``, a partial or a full ARN -> (name, qualifier)."""
    if not isinstance(ref, str):
        validation.check_name(ref)
    m = _ARN.match(ref)
    if not m:
        validation.check_name(ref)  # raises AWS's message
    name, inline = m["name"], m["qualifier"]
    if inline and qualifier and inline != qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier.")
    return name, inline or qualifier


CATALOG_CHECK_S = 0.05  # how stale a change made by another process may be seen


class Registry:
    def __init__(self, store: Store, rng: random.Random | None = None) -> None:
        self.store = store
        self.rng = rng or random.Random()
        self._latest: dict[str, FunctionConfig] = {}
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._local_seen = -1
        self._next_check = 0.0
        self.on_change: list[Callable[[], None]] = []  # run when another process changed the catalog

    # -- $LATEST --------------------------------------------------------------------------------
    def put(self, name: str, source: str, handler: str, *, memory: int, timeout: int,
            environment: dict | None, backend: str, description: str, runtime: str,
            requirements: list[str] | None = None, image: str = "",
            network: str = "") -> FunctionConfig:
        validation.check_name(name)
        validation.check_memory(memory)
        validation.check_timeout(timeout)
        validation.check_handler(handler)
        environment = validation.check_environment(environment)
        if not isinstance(source, str):
            raise InvalidParameterValueException("Function source must be a string of Python code")
        if "." not in handler:
            handler = f"{DEFAULT_MODULE}.{handler}"
        module = handler.rsplit(".", 1)[0]
        code_hash = hashlib.sha256(f"{module}\0{source}".encode()).hexdigest()
        now = time.time()
        with self._lock:
            previous = self._latest.get(name) or self.store.load_function(name)
            config = FunctionConfig(
                name=name, source=source, handler=handler, memory=memory, timeout=timeout,
                environment=environment, backend=backend, code_hash=code_hash,
                description=description, runtime=runtime,
                created_at=previous.created_at if previous else now, updated_at=now,
                requirements=list(requirements or []), image=image, network=network)
            self.store.save_function(config)
            self._latest[name] = config
        return config

    def refresh(self) -> None:
        """Forget what the store says has changed since: at once after a change made in this
        process (another Platform on the same home), within ``CATALOG_CHECK_S`` after one made by
        another process (the CLI next to a server, a second kernel). Querying the store on every
        invocation would cost a warm invoke tens of microseconds."""
        local, now = self.store.local_changes(), time.monotonic()
        if local == self._local_seen and now < self._next_check:
            return
        self._local_seen, self._next_check = local, now + CATALOG_CHECK_S
        generation = self.store.catalog_generation()
        if generation == self._generation:
            return
        with self._lock:
            self._generation = generation
            self._latest.clear()
        for listener in self.on_change:
            listener()

    def latest(self, name: str) -> FunctionConfig:
        self.refresh()
        config = self._latest.get(name)
        if config is None:
            config = self.store.load_function(name)
            if config is None:
                raise ResourceNotFoundException(f"Function not found: {function_arn(name)}")
            self._latest[name] = config
        return config

    def list(self) -> list[FunctionConfig]:
        return self.store.list_functions()

    def delete(self, name: str, qualifier: str | None = None) -> None:
        self.latest(name)
        if qualifier in (None, LATEST):
            if qualifier == LATEST:
                raise InvalidParameterValueException("$LATEST version cannot be deleted without "
                                                     "deleting the function.")
            self.store.delete_function(name)
            self._latest.pop(name, None)
            return
        if not qualifier.isdigit():
            raise InvalidParameterValueException("Deleting an alias: use delete_alias")
        if any(a.function_version == qualifier or qualifier in a.routing
               for a in self.list_aliases(name)):
            raise ResourceConflictException(
                "Unable to delete version because the following aliases reference it: "
                + ", ".join(a.name for a in self.list_aliases(name)
                            if a.function_version == qualifier or qualifier in a.routing))
        if not self.store.delete_version(name, int(qualifier)):
            raise ResourceNotFoundException(f"Function not found: {function_arn(name, qualifier)}")

    # -- versions -------------------------------------------------------------------------------
    def publish(self, name: str, description: str = "") -> FunctionConfig:
        latest = self.latest(name)
        with self._lock:
            versions = self.store.list_versions(name)
            if versions:
                last = versions[-1]
                # AWS returns the existing version when nothing changed since it was published.
                if self._frozen_fields(last) == self._frozen_fields(latest):
                    return last
            number = str(int(versions[-1].version) + 1 if versions else 1)
            version = dataclasses.replace(latest, version=number,
                                          description=description or latest.description,
                                          updated_at=time.time())
            self.store.save_version(version)
        return version

    @staticmethod
    def _frozen_fields(config: FunctionConfig) -> tuple:
        return config.sandbox_key[2:]

    def version(self, name: str, version: str) -> FunctionConfig:
        if version == LATEST:
            return self.latest(name)
        config = self.store.load_version(name, int(version)) if version.isdigit() else None
        if config is None:
            self.latest(name)
            raise ResourceNotFoundException(f"Function not found: {function_arn(name, version)}")
        return config

    def list_versions(self, name: str) -> list[FunctionConfig]:
        return [self.latest(name)] + self.store.list_versions(name)

    # -- aliases --------------------------------------------------------------------------------
    def _check_alias_target(self, name: str, version: str, routing: dict[str, float]) -> None:
        if version != LATEST:
            self.version(name, version)
        for extra, weight in routing.items():
            self.version(name, extra)
            if not 0.0 <= float(weight) <= 1.0:
                raise InvalidParameterValueException("Routing weights must be between 0.0 and 1.0")
        if len(routing) > 1:
            raise InvalidParameterValueException("An alias can route to one additional version")

    def create_alias(self, name: str, alias: str, version: str, description: str = "",
                     routing: dict[str, float] | None = None) -> Alias:
        self.latest(name)
        if not _ALIAS.match(alias) or alias == LATEST:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{alias}' at 'name' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: "
                "(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
        if self.store.load_alias(name, alias) is not None:
            raise ResourceConflictException(f"Alias already exists: {function_arn(name, alias)}")
        routing = {str(k): float(v) for k, v in (routing or {}).items()}
        self._check_alias_target(name, str(version), routing)
        record = Alias(name, alias, str(version), description, routing, str(uuid.uuid4()))
        self.store.save_alias(name, alias, record.to_dict())
        return record

    def get_alias(self, name: str, alias: str) -> Alias:
        self.latest(name)
        data = self.store.load_alias(name, alias)
        if data is None:
            raise ResourceNotFoundException(f"Alias not found: {function_arn(name, alias)}")
        return Alias(**data)

    def update_alias(self, name: str, alias: str, version: str | None = None,
                     description: str | None = None,
                     routing: dict[str, float] | None = None) -> Alias:
        current = self.get_alias(name, alias)
        version = str(version) if version is not None else current.function_version
        routing = ({str(k): float(v) for k, v in routing.items()} if routing is not None
                   else current.routing)
        self._check_alias_target(name, version, routing)
        record = Alias(name, alias, version,
                       current.description if description is None else description, routing,
                       str(uuid.uuid4()))
        self.store.save_alias(name, alias, record.to_dict())
        return record

    def list_aliases(self, name: str) -> list[Alias]:
        self.latest(name)
        return [Alias(**data) for data in self.store.list_aliases(name)]

    def delete_alias(self, name: str, alias: str) -> None:
        self.latest(name)
        if not self.store.delete_alias(name, alias):
            raise ResourceNotFoundException(f"Alias not found: {function_arn(name, alias)}")

    # -- resolution -----------------------------------------------------------------------------
    def resolve(self, ref: str, qualifier: str | None = None) -> tuple[FunctionConfig, str | None]:
        """The configuration an invocation of ``ref`` runs, and the qualifier it was called with."""
        name, qualifier = parse_function_ref(ref, qualifier)
        if qualifier is None or qualifier == LATEST:
            return self.latest(name), qualifier
        if qualifier.isdigit():
            return self.version(name, qualifier), qualifier
        alias = self.get_alias(name, qualifier)
        version = alias.function_version
        for extra, weight in alias.routing.items():
            if self.rng.random() < weight:
                version = extra
        return self.version(name, version), qualifier
