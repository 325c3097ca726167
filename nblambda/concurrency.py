"""Lambda's concurrency rules: an account-wide limit and optional reserved concurrency per function.

A function with reserved concurrency R runs at most R invocations at once (0 disables it); the
others share what the reservations leave of the account limit. Going over raises
TooManyRequestsException with AWS's Reason at once; nothing waits here (async events wait in
their queue instead).
"""
from __future__ import annotations

import threading
from collections import Counter

from .errors import InvalidParameterValueException, TooManyRequestsException

RESERVED_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_REASON = "ConcurrentInvocationLimitExceeded"


class ConcurrencyLimits:
    def __init__(self, account_limit: int = 1000) -> None:
        if account_limit < 1:
            raise InvalidParameterValueException("The account concurrency limit must be >= 1")
        self.account_limit = account_limit
        self._reserved: dict[str, int] = {}
        self._in_flight: Counter = Counter()
        self._unreserved_in_flight = 0
        self.throttles: Counter = Counter()
        self._lock = threading.Lock()

    @property
    def min_unreserved(self) -> int:
        # AWS keeps 100 of the default 1000 unreserved; scaled down for small local limits.
        return min(100, self.account_limit // 10)

    def set_reserved(self, name: str, reserved: int | None) -> None:
        with self._lock:
            if reserved is None:
                self._reserved.pop(name, None)
                return
            if isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < 0:
                raise InvalidParameterValueException(
                    "ReservedConcurrentExecutions must be a whole number >= 0")
            others = sum(v for k, v in self._reserved.items() if k != name)
            if self.account_limit - others - reserved < self.min_unreserved:
                raise InvalidParameterValueException(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    "UnreservedConcurrentExecution below its minimum value of "
                    f"[{self.min_unreserved}].")
            self._reserved[name] = reserved

    def reserved(self, name: str) -> int | None:
        return self._reserved.get(name)

    def reserved_names(self) -> list[str]:
        with self._lock:
            return list(self._reserved)

    def acquire(self, name: str) -> bool:
        """Count one more invocation of ``name`` in flight, or raise TooManyRequestsException.
        Returns which share it counts against (True: the function's reservation), for release."""
        with self._lock:
            reserved = self._reserved.get(name)
            if reserved is not None:
                if self._in_flight[name] >= reserved:
                    self.throttles[name] += 1
                    raise TooManyRequestsException("Rate Exceeded.", reason=RESERVED_REASON)
                self._in_flight[name] += 1
                return True
            else:
                pool = self.account_limit - sum(self._reserved.values())
                if self._unreserved_in_flight >= pool:
                    self.throttles[name] += 1
                    raise TooManyRequestsException("Rate Exceeded.", reason=ACCOUNT_REASON)
                self._unreserved_in_flight += 1
                self._in_flight[name] += 1
                return False

    def release(self, name: str, reserved_share: bool) -> None:
        with self._lock:
            self._in_flight[name] -= 1
            if not reserved_share:
                self._unreserved_in_flight -= 1

    def in_flight(self, name: str | None = None) -> int:
        with self._lock:
            return sum(self._in_flight.values()) if name is None else self._in_flight[name]
