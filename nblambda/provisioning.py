"""Provisioned concurrency: sandboxes kept initialised ahead of demand, per function and qualifier.

The settings live in the store; ``ensure`` starts whatever is missing (first configuration, after
a deploy retired them, after a timeout or crash destroyed one) and runs on the reaper's tick.
"""
from __future__ import annotations

from typing import Callable

from .errors import InvalidParameterValueException, LambdaError, ResourceNotFoundException
from .invoker import Invoker
from .models import function_arn
from .registry import LATEST, Registry, parse_function_ref
from .sandbox.pool import Pool
from .store import Store


class Provisioner:
    def __init__(self, store: Store, registry: Registry, pool: Pool, invoker: Invoker,
                 reserved_of: Callable[[str], int | None], closed: Callable[[], bool]) -> None:
        self.store = store
        self.registry = registry
        self.pool = pool
        self.invoker = invoker
        self.reserved_of = reserved_of
        self.closed = closed

    def settings(self, name: str) -> dict[str, int]:
        return self.store.get_setting(name, "provisioned", {})

    def put(self, name: str, count: int, qualifier: str | None = None) -> dict:
        fn_name, qualifier = parse_function_ref(name, qualifier)
        self.registry.resolve(fn_name, qualifier)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidParameterValueException(
                "ProvisionedConcurrentExecutions must be a whole number >= 0")
        reserved = self.reserved_of(fn_name)
        if reserved is not None and count > reserved:
            raise InvalidParameterValueException(
                "Requested Provisioned Concurrency should not be greater than the "
                f"reservedConcurrentExecution for function ({reserved})")
        settings = dict(self.settings(fn_name))
        settings[qualifier or LATEST] = count
        self.store.set_setting(fn_name, "provisioned", settings)
        self.ensure(fn_name)
        return self.describe(fn_name, qualifier)

    def describe(self, name: str, qualifier: str | None = None) -> dict:
        fn_name, qualifier = parse_function_ref(name, qualifier)
        requested = self.settings(fn_name).get(qualifier or LATEST)
        if requested is None:
            raise ResourceNotFoundException(
                "No Provisioned Concurrency Config found for this function: "
                f"{function_arn(fn_name, qualifier or LATEST)}")
        config, _ = self.registry.resolve(fn_name, qualifier)
        available = self.pool.provisioned_count(config.sandbox_key)
        return {"RequestedProvisionedConcurrentExecutions": requested,
                "AvailableProvisionedConcurrentExecutions": available,
                "AllocatedProvisionedConcurrentExecutions": available,
                "Status": "READY" if available >= requested else "IN_PROGRESS"}

    def delete(self, name: str, qualifier: str | None = None) -> None:
        fn_name, qualifier = parse_function_ref(name, qualifier)
        settings = dict(self.settings(fn_name))
        settings.pop(qualifier or LATEST, None)
        self.store.set_setting(fn_name, "provisioned", settings or None)
        config, _ = self.registry.resolve(fn_name, qualifier)
        self.pool.retire(fn_name, version=config.version)

    def ensure(self, only: str | None = None) -> None:
        """Start what is missing of every provisioned concurrency setting."""
        for fn in ([self.registry.latest(only)] if only else self.registry.list()):
            for qualifier, count in self.settings(fn.name).items():
                try:
                    config, _ = self.registry.resolve(fn.name, qualifier)
                except LambdaError:
                    continue
                spec = self.invoker.spec(config)

                def message(config=config, spec=spec) -> dict:
                    base = self.invoker.init_message(config, spec)
                    return dict(base, env=dict(
                        base["env"], AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency"))

                for _ in range(count - self.pool.provisioned_count(config.sandbox_key)):
                    if self.closed() or not self.pool.add_provisioned(
                            config.sandbox_key, config.name, config.memory, config.backend,
                            message, spec):
                        break
