"""Per-function configuration of asynchronous invocations (Lambda's FunctionEventInvokeConfig):
retries, maximum event age and destinations, stored with the function."""
from __future__ import annotations

import time

from .dispatcher import EventInvokeConfig
from .errors import InvalidParameterValueException
from .models import function_arn
from .registry import Registry, parse_function_ref
from .store import Store

CACHE_S = 1.0  # read for every async event; short enough that another kernel's change shows


class EventInvokeConfigs:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self._cache: dict[str, tuple[float, EventInvokeConfig]] = {}

    def get(self, name: str) -> EventInvokeConfig:
        cached = self._cache.get(name)
        if cached is not None and time.monotonic() - cached[0] < CACHE_S:
            return cached[1]
        self.registry.latest(name)
        data = self.store.get_setting(name, "event_invoke_config")
        config = EventInvokeConfig(**data) if data else EventInvokeConfig()
        self._cache[name] = (time.monotonic(), config)
        return config

    def put(self, name: str, *, maximum_retry_attempts: int | None = None,
            maximum_event_age_in_seconds: int | None = None, on_success: str | None = None,
            on_failure: str | None = None, dead_letter_queue: bool | None = None) -> dict:
        self.registry.latest(name)
        current = self.get(name)
        retries = current.maximum_retry_attempts if maximum_retry_attempts is None \
            else maximum_retry_attempts
        age = current.maximum_event_age_s if maximum_event_age_in_seconds is None \
            else maximum_event_age_in_seconds
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 2:
            raise InvalidParameterValueException(
                "1 validation error detected: Value at 'maximumRetryAttempts' failed to satisfy "
                "constraint: Member must have value between 0 and 2")
        if isinstance(age, bool) or not isinstance(age, int) or not 60 <= age <= 21600:
            raise InvalidParameterValueException(
                "1 validation error detected: Value at 'maximumEventAgeInSeconds' failed to "
                "satisfy constraint: Member must have value between 60 and 21600")
        for target in (on_success, on_failure):
            if target:
                self.registry.latest(parse_function_ref(target)[0])
        config = EventInvokeConfig(
            retries, age, on_success if on_success is not None else current.on_success,
            on_failure if on_failure is not None else current.on_failure,
            current.dead_letter_queue if dead_letter_queue is None else dead_letter_queue)
        self.store.set_setting(name, "event_invoke_config", config.to_dict())
        self._cache.pop(name, None)
        return self.describe(name)

    def describe(self, name: str) -> dict:
        """The configuration in AWS's FunctionEventInvokeConfig shape."""
        config = self.get(name)
        fn = self.registry.latest(name)
        destinations = {}
        for key, target in (("OnSuccess", config.on_success), ("OnFailure", config.on_failure)):
            if target:
                destinations[key] = {"Destination": function_arn(*parse_function_ref(target))}
        return {"FunctionArn": fn.version_arn, "MaximumRetryAttempts": config.maximum_retry_attempts,
                "MaximumEventAgeInSeconds": config.maximum_event_age_s,
                "LastModified": fn.updated_at, "DestinationConfig": destinations}

    def delete(self, name: str) -> None:
        self.registry.latest(name)
        self.store.set_setting(name, "event_invoke_config", None)
        self._cache.pop(name, None)
