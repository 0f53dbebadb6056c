"""Retries: how often and how long to wait, the per-attempt timeout, and the loop that applies both.

``run_attempts`` runs one unit of work (a handler on a record, a skill on a
task) until it succeeds or its ``RetryPolicy`` gives up. Each attempt is
bounded by a timeout and cancelled when it expires (``Watchdog``;
``HandlerTimeout``, transient, so retried like any transient error). An attempt that failed while
the Kafka cluster was lost, or that saw the cluster go away while it ran, does
not count: the loop waits for the cluster to come back and tries again, so a
broker outage of any length delays work but never exhausts its retries.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agentflux.contract.errors import HandlerTimeout, Retry
from agentflux.transport.health import ClusterWatch

log = logging.getLogger("agentflux.runtime")
T = TypeVar("T")

DEFAULT_HANDLER_TIMEOUT = 60.0
"""Seconds one handler or skill attempt may run before it is cancelled (``timeout=None`` disables it).

Above the default delegation timeout (30 s), so a handler that delegates sees
``TaskTimeout`` before its own attempt times out."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by ``max_attempts`` (the first try counts).

    An error is retried when it is transient: its ``transient`` attribute is
    true, or it has no such attribute (an unexpected exception may well pass on
    a second try). Errors with ``transient = False`` (bad payloads, ``Reject``,
    tool-reported errors) are dead-lettered at once.
    """

    max_attempts: int = 3
    initial_backoff: float = 0.1
    multiplier: float = 2.0
    max_backoff: float = 5.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def delay(self, error: BaseException, attempt: int) -> float:
        """The wait before the next attempt: what ``Retry(delay=...)`` asks for, else the backoff."""
        if isinstance(error, Retry) and error.delay is not None:
            return error.delay
        return self.backoff(attempt)

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        return attempt < self.max_attempts and is_transient(error)


def is_transient(error: BaseException) -> bool:
    return getattr(error, "transient", None) is not False


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """How ``run_attempts`` ended: the value of the attempt that succeeded, or the last error."""

    value: T | None
    error: Exception | None
    attempts: int


class Watchdog:
    """Cancels attempts that run past their timeout: one ticker for all of them.

    ``asyncio.timeout`` around every attempt schedules (and cancels) a timer per
    record; this keeps one task that looks at the running attempts every
    ``tick`` seconds, so an attempt is cancelled at most ``tick`` seconds after
    its timeout. The cancelled attempt raises ``HandlerTimeout`` (a
    ``CancelledError`` of its own, or from elsewhere, propagates unchanged).
    """

    def __init__(self, tick: float = 0.25) -> None:
        self.tick = tick
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None

    async def run(self, timeout: float | None, what: Callable[[], str], work: Awaitable[T]) -> T:
        """Await ``work`` in the current task, cancelling it after ``timeout`` seconds; None waits forever."""
        if timeout is None:
            return await work
        task = asyncio.current_task()
        assert task is not None
        self._deadlines[task] = asyncio.get_running_loop().time() + timeout
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._watch(), name="agentflux-watchdog")
        try:
            return await work
        except asyncio.CancelledError:
            if task in self._expired and task.uncancel() == 0:
                raise HandlerTimeout(what(), timeout) from None
            raise
        finally:
            del self._deadlines[task]
            if task in self._expired:
                self._expired.discard(task)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._deadlines:
                await asyncio.sleep(self.tick)
                now = loop.time()
                for task, deadline in list(self._deadlines.items()):
                    if deadline <= now and task not in self._expired:
                        self._expired.add(task)
                        task.cancel()
        finally:
            self._ticker = None


async def run_attempts(
    attempt: Callable[[int], Awaitable[T]], policy: RetryPolicy, watch: ClusterWatch, what: Callable[[], str]
) -> Outcome[T]:
    """Call ``attempt(n)`` for n = 1, 2, ... until it returns or ``policy`` gives up (see the module docstring).

    ``what()`` names the work in log lines. Cancellation is not caught: it ends the loop at once.
    """
    number = 1
    while True:
        outages = watch.outages
        try:
            return Outcome(await attempt(number), None, number)
        except Exception as exc:
            if watch.lost or watch.outages != outages:
                log.info("%s: attempt %d failed while the Kafka cluster was away (%s); it does not count", what(),
                         number, _brief(exc))  # fmt: skip
                await watch.wait_back()
                continue
            if not policy.should_retry(exc, number):
                return Outcome(None, exc, number)
            delay = policy.delay(exc, number)
            log.warning("%s: attempt %d failed (%s); retrying in %.2fs", what(), number, _brief(exc), delay)
            await asyncio.sleep(delay)
            number += 1


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
