"""Retry policy: how often, and how long to wait, before a record is dead-lettered."""

from __future__ import annotations

import random
from dataclasses import dataclass


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

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        return attempt < self.max_attempts and is_transient(error)


def is_transient(error: BaseException) -> bool:
    return getattr(error, "transient", None) is not False
