"""Runs queued asynchronous events with the pool: retries, event age, throttles and destinations.

Lambda's rules for ``Event`` invocations: a function error, timeout or out-of-memory is retried up
to ``maximum_retry_attempts`` times (0-2, default 2), about 1 minute and then 2 minutes later
(``delay_factor`` scales these for tests and demos, it never skips them); an event older than
``maximum_event_age`` (60 s - 6 h) is dropped; a throttled event stays queued and is tried again,
without counting as an attempt. Like Lambda's async pollers, which scale down to a function's
available concurrency, an event throttled by its function's reserved concurrency waits for one of
that function's events running here to end (then runs at once), and the queue meanwhile hands out
other functions' events; account-level throttles back off (jittered, scaled, capped). Settled events go to the ``on_success`` / ``on_failure``
destination (another function, invoked asynchronously with Lambda's destination record) and failed
ones to the function's dead-letter queue in the store.
"""
from __future__ import annotations

import collections
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .concurrency import RESERVED_REASON
from .errors import LambdaError, ResourceNotFoundException, TooManyRequestsException
from .eventqueue import EventQueue, QueuedEvent
from .logs import iso_now
from .models import InvocationResult, function_arn

RETRY_DELAYS_S = (60.0, 120.0)  # "about 1 minute, then about 2 more"
# Throttle backoff: account-level throttles start at 1 s; a reserved-concurrency throttle with none
# of the function's events running here (its slots held by synchronous invokes, or reserved 0)
# starts at 0.1 s, as such a slot frees soon. Both double up to Lambda's 5 minutes; the 1 s and the
# cap are Lambda-like delays, scaled by ``delay_factor``. Jittered so workers do not retry in step.
ACCOUNT_BACKOFF_S = 1.0
RESERVED_BACKOFF_S = 0.1
MAX_THROTTLE_BACKOFF_S = 300.0
MIN_BACKOFF_S = 0.01  # never 0, even with delay_factor=0: no requeue-claim spin
# A function whose events wait for a slot gets one extra try this often, in case its reservation
# grew or a slot freed elsewhere (a synchronous invoke ended).
PROBE_INTERVAL_S = 1.0
DEFAULT_MAX_EVENT_AGE_S = 21600


@dataclass(frozen=True)
class EventInvokeConfig:
    maximum_retry_attempts: int = 2
    maximum_event_age_s: int = DEFAULT_MAX_EVENT_AGE_S
    on_success: str | None = None  # a function name or ARN
    on_failure: str | None = None
    dead_letter_queue: bool = True  # nblambda keeps failed events unless told not to

    def to_dict(self) -> dict:
        return {"maximum_retry_attempts": self.maximum_retry_attempts,
                "maximum_event_age_s": self.maximum_event_age_s, "on_success": self.on_success,
                "on_failure": self.on_failure, "dead_letter_queue": self.dead_letter_queue}


def throttle_backoff(throttles: int, base: float, cap: float,
                     rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff for an event throttled ``throttles`` times before: ``base`` doubling up
    to ``cap``, with equal jitter (between half and all of it)."""
    delay = min(cap, base * 2.0 ** min(throttles, 32))
    return max(MIN_BACKOFF_S, delay * (0.5 + 0.5 * rand()))


def destination_record(event: QueuedEvent, condition: str, attempts: int,
                       result: InvocationResult | None, now: float) -> dict:
    """The record Lambda sends to an async invocation's destination."""
    qualifier = event.qualifier or "$LATEST"
    record = {
        "version": "1.0",
        "timestamp": iso_now(now),
        "requestContext": {"requestId": event.request_id,
                           "functionArn": function_arn(event.function, qualifier),
                           "condition": condition, "approximateInvokeCount": attempts},
        "requestPayload": _json_or_text(event.payload),
    }
    if result is not None:
        context = {"statusCode": 200, "executedVersion": result.version}
        if result.error is not None:
            context["functionError"] = "Unhandled"
        record["responseContext"] = context
        record["responsePayload"] = result.error if result.error is not None else result.payload
    return record


def _json_or_text(payload: bytes):
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


class Dispatcher:
    """A claiming thread keeps a small buffer of due events (claimed in this owner's name) that
    ``workers`` threads run; settled events are deleted in the claiming thread's next
    transaction. Claimed events are safe: a crash leaves them to recovery, a close hands them
    back.

    Reserved concurrency: an event throttled because its function's reservation is full, while
    other events of that function are in progress here, is parked (in memory, still claimed);
    each event of that function that ends wakes one parked event to the front of the buffer, so a
    reservation of N drains N at a time with no idle gap. While a function has parked events, its
    further events go straight to the parked line without a try, and the claiming thread leaves
    its queued events in the store, so other functions' events keep flowing. Every park relies on
    another event of the function in progress, whose end wakes the next: the last one never
    parks (it backs off in the store), so no event waits for a wake that cannot come."""

    def __init__(self, queue: EventQueue, run: Callable[[QueuedEvent], InvocationResult],
                 config_for: Callable[[str], EventInvokeConfig],
                 send_to_function: Callable[[str, dict], None], *, workers: int = 8,
                 delay_factor: float = 1.0, clock: Callable[[], float] = time.time,
                 poll_interval: float = 0.5) -> None:
        self.queue = queue
        self.run_event = run
        self.config_for = config_for
        self.send_to_function = send_to_function
        self.workers = workers
        self.delay_factor = delay_factor
        self.clock = clock
        self.poll_interval = poll_interval
        self._ready: collections.deque[QueuedEvent] = collections.deque()
        self._running = 0
        self._active: collections.Counter = collections.Counter()  # in progress, per function
        self._parked: dict[str, collections.deque[QueuedEvent]] = {}  # waiting for a slot
        self._woken: set[str] = set()  # parked events sent back to the buffer: they run
        self._probe_at: dict[str, float] = {}  # per parked function, time.monotonic()
        self._random = random.Random()
        self._finished: list[str] = []  # settled events, deleted with the next claim
        # One lock, two conditions: workers wait for events, the claiming thread for work to do.
        # Waking only who can act keeps a busy queue from waking nine threads per event.
        self._cond = threading.Condition()
        self._has_work = threading.Condition(self._cond)
        self._stop = False
        self._threads: list[threading.Thread] = []

    @property
    def _buffer_target(self) -> int:
        # Each claim is a write transaction that competes with the history writer for SQLite's
        # lock; claiming in large batches keeps that to a few per second.
        return max(128, self.workers * 16)

    def start(self) -> None:
        self.queue.recover()
        self._threads = [threading.Thread(target=self._claim_loop, name="nblambda-dispatcher",
                                          daemon=True)]
        self._threads += [threading.Thread(target=self._work_loop, name=f"nblambda-async-{i}",
                                           daemon=True) for i in range(self.workers)]
        for t in self._threads:
            t.start()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
            self._has_work.notify_all()

    def _claim_due(self) -> bool:
        """Under the lock: whether the claiming thread has something to do."""
        return (self._stop or len(self._finished) >= self.workers
                or len(self._ready) < self.workers * 2)

    def _claim_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._claim_due)
                if self._stop:
                    return
                self._probe_parked()
                want = self._buffer_target - len(self._ready) - self._running
                finished, self._finished = self._finished, []
                waiting = list(self._parked)  # their events stay queued until a slot frees
            try:
                events = self.queue.claim(self.clock(), max(0, want), finished, waiting)
            except Exception:
                with self._cond:
                    self._finished[:0] = finished
                events = []
            if events:
                with self._cond:
                    self._ready.extend(events)
                    self._has_work.notify(len(events))
            elif want > 0:
                self._sleep_until_due(waiting)

    def _work_loop(self) -> None:
        while True:
            with self._cond:
                self._has_work.wait_for(lambda: self._stop or self._ready)
                if self._stop:
                    return
                event = self._ready.popleft()
                if len(self._ready) == self.workers * 2 - 1:  # just fell below: claim more
                    self._cond.notify()
                fn = event.function
                if fn in self._parked and event.request_id not in self._woken:
                    self._parked[fn].append(event)  # its function has no free slot: no try
                    continue
                self._woken.discard(event.request_id)
                self._running += 1
                self._active[fn] += 1
            self._process(event)

    def _park(self, event: QueuedEvent) -> None:
        """Under the lock: ``event`` waits for an event of its function to end."""
        line = self._parked.get(event.function)
        if line is None:
            line = self._parked[event.function] = collections.deque()
            self._probe_at[event.function] = time.monotonic() + self._probe_interval()
        line.append(event)

    def _wake_parked(self, function: str) -> None:
        """Under the lock: a slot of ``function`` freed; its next parked event runs next."""
        line = self._parked.get(function)
        if not line:
            return
        event = line.popleft()
        self._woken.add(event.request_id)
        self._ready.appendleft(event)
        self._has_work.notify()
        if not line:
            del self._parked[function], self._probe_at[function]
            self._cond.notify()  # the claiming thread may take this function's events again

    def _probe_parked(self) -> None:
        """Under the lock: one extra try per waiting function now and then (its reservation may
        have grown, or a synchronous invoke freed a slot); throttled, it parks again."""
        now = time.monotonic()
        for function, due in list(self._probe_at.items()):
            if now >= due:
                self._probe_at[function] = now + self._probe_interval()
                self._wake_parked(function)

    def _probe_interval(self) -> float:
        return PROBE_INTERVAL_S * (0.5 + self._random.random())

    def _sleep_until_due(self, waiting: list[str]) -> None:
        try:
            due = self.queue.next_due(waiting)
        except Exception:
            due = None
        wait = self.poll_interval
        if due is not None:
            wait = min(wait, max(0.0, due - self.clock()))
        with self._cond:
            if not self._stop and not self._finished:
                self._cond.wait(wait if wait > 0 else 0.001)

    def _process(self, event: QueuedEvent) -> None:
        parked = False
        try:
            parked = self._settle(event)
        except Exception as exc:  # never lose an event to a bug: put it back, a bit later
            import sys

            print(f"nblambda: async event {event.request_id} failed to dispatch: {exc!r}",
                  file=sys.stderr)
            self.queue.requeue(event, self.clock() + 5.0, attempts=event.attempts,
                               throttles=event.throttles)
        finally:
            with self._cond:
                self._running -= 1
                if not parked:  # (a parked event left the function's count when it parked)
                    self._leave(event.function)
                    self._wake_parked(event.function)

    def _leave(self, function: str) -> None:
        """Under the lock: one event of ``function`` is no longer in progress."""
        self._active[function] -= 1
        if self._active[function] <= 0:
            del self._active[function]

    def _settle(self, event: QueuedEvent) -> bool:
        """Run ``event`` and settle its outcome. True: it was parked, to wait for a slot."""
        now = self.clock()
        try:
            config = self.config_for(event.function)
        except ResourceNotFoundException:
            self.queue.done([event.request_id])  # the function is gone: Lambda drops its events
            return False
        if now - event.enqueued_at > config.maximum_event_age_s:
            self._fail(event, config, "EventAgeExceeded", event.attempts, None)
            return False
        try:
            result = self.run_event(event)
            if self._stop and not result.ok:  # cut short by the platform closing: not an attempt
                self.queue.requeue(event, event.due_at, attempts=event.attempts,
                                   throttles=event.throttles)
                return False
        except TooManyRequestsException as exc:
            return self._throttled(event, exc)
        except LambdaError:
            self.queue.done([event.request_id])
            return False
        attempts = event.attempts + 1
        if result.ok:
            self._succeed(event, config, attempts, result)
        elif attempts <= config.maximum_retry_attempts:
            delay = RETRY_DELAYS_S[min(attempts, len(RETRY_DELAYS_S)) - 1] * self.delay_factor
            self.queue.requeue(event, self.clock() + delay, attempts=attempts,
                               throttles=event.throttles)
        else:
            self._fail(event, config, "RetriesExhausted", attempts, result)

    def _throttled(self, event: QueuedEvent, exc: TooManyRequestsException) -> bool:
        """A throttle never uses an attempt. Reserved concurrency full while other events of the
        function are in progress here: park until one ends (True). Otherwise back off."""
        reserved = exc.reason == RESERVED_REASON
        with self._cond:
            if reserved and self._active[event.function] > 1 and not self._stop:
                self._leave(event.function)
                event.throttles += 1
                self._park(event)
                return True
        if reserved:
            base, cap = RESERVED_BACKOFF_S, MAX_THROTTLE_BACKOFF_S * self.delay_factor
        else:
            base, cap = (ACCOUNT_BACKOFF_S * self.delay_factor,
                         MAX_THROTTLE_BACKOFF_S * self.delay_factor)
        backoff = throttle_backoff(event.throttles, base, cap, self._random.random)
        self.queue.requeue(event, self.clock() + backoff, attempts=event.attempts,
                           throttles=event.throttles + 1)
        return False

    def _succeed(self, event: QueuedEvent, config: EventInvokeConfig, attempts: int,
                 result: InvocationResult) -> None:
        if config.on_success:
            self.send_to_function(config.on_success,
                                  destination_record(event, "Success", attempts, result, self.clock()))
        self._finish(event)

    def _fail(self, event: QueuedEvent, config: EventInvokeConfig, condition: str, attempts: int,
              result: InvocationResult | None) -> None:
        record = destination_record(event, condition, attempts, result, self.clock())
        if config.on_failure:
            self.send_to_function(config.on_failure, record)
        if config.dead_letter_queue:
            self.queue.dead_letter(event, record, self.clock())
        self._finish(event)

    def _finish(self, event: QueuedEvent) -> None:
        with self._cond:
            self._finished.append(event.request_id)
            if len(self._finished) == self.workers or not self._ready:
                self._cond.notify()

    def stop(self) -> None:
        """Claim and start nothing more. Runs in progress end when the pool kills their
        sandboxes."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            self._has_work.notify_all()
        if self._threads:
            self._threads[0].join(timeout=10)

    def finish(self) -> None:
        """After the pool is closed: wait for the workers, and hand back what they held."""
        for t in self._threads[1:]:
            t.join(timeout=30)
        with self._cond:
            finished, self._finished = self._finished, []
            self._ready.clear()
            self._parked.clear()  # still claimed: release_mine hands them back
            self._probe_at.clear()
            self._woken.clear()
        if finished:
            self.queue.done(finished)
        self.queue.release_mine()
