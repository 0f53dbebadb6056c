"""Retries and timeouts: how often and how long to wait (``RetryPolicy``), and cancelling an attempt
that runs past its timeout (``Watchdog``). ``handlers.run_with_retries`` is the loop that applies both.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from agentflux.contract.errors import HandlerTimeout, Retry, SchemaRegistryUnavailable

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


async def until_registry_answers(who: str, work: Callable[[], Awaitable[T]]) -> T:
    """``await work()``, again and again while the schema registry does not answer (backoff up to 10 s).

    A consumer never dead-letters a record because the registry is down: the
    record (and its partition) waits, as for a broker outage. Cancellation
    (shutdown, revocation) ends the wait and leaves the record uncommitted.
    """
    delay = 0.5
    while True:
        try:
            return await work()
        except SchemaRegistryUnavailable as exc:
            log.warning("%s: %s; trying again in %.1f s (the partition waits)", who, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
