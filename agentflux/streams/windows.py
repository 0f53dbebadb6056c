"""Event-time windows: tumbling and hopping (sliding), with a grace period for late events.

Windows are aligned to the Unix epoch: a window of ``size`` that slides by
``slide`` starts at every multiple of ``slide`` and covers ``[start, start + size)``
(start inclusive, end exclusive), in milliseconds of event time. A tumbling
window is a hopping window whose slide equals its size. The size must be a
whole multiple of the slide, as both engines require for exact agreement.

``grace`` is how far event time may run backwards before a record is late: see
``docs/streams.md`` for when a window closes and what happens to late records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from agentflux.contract.errors import ConfigError

Duration = timedelta | int | str
"""A duration: a ``timedelta``, whole milliseconds, or text such as ``"10m"``, ``"30s"``, ``"250ms"``."""

_UNITS = {"ms": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_TEXT = re.compile(r"^\s*(\d+)\s*(ms|sec|s|min|m|h|d)\s*$")


def to_ms(value: Duration, what: str = "duration") -> int:
    """Milliseconds in ``value``; a ConfigError for negative, fractional or unreadable values."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, timedelta):
        ms = value / timedelta(milliseconds=1)
        if ms != int(ms):
            raise ConfigError(f"{what}: {value} is not a whole number of milliseconds")
        result = int(ms)
    elif isinstance(value, int):
        result = value
    elif isinstance(value, str):
        match = _TEXT.match(value)
        if match is None:
            raise ConfigError(f"{what}: cannot read {value!r}; write e.g. '10m', '30s', '250ms' or a timedelta")
        result = int(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ConfigError(f"{what}: expected a timedelta, milliseconds or text like '10m', got {value!r}")
    if result < 0:
        raise ConfigError(f"{what} must not be negative, got {value!r}")
    return result


@dataclass(frozen=True)
class Window:
    """A window definition in milliseconds; build it with ``tumbling()`` or ``hopping()``."""

    size_ms: int
    slide_ms: int
    grace_ms: int = 0

    def __post_init__(self) -> None:
        if self.size_ms <= 0 or self.slide_ms <= 0:
            raise ConfigError(f"window size and slide must be positive, got {self.size_ms} ms / {self.slide_ms} ms")
        if self.slide_ms > self.size_ms:
            raise ConfigError(f"window slide ({self.slide_ms} ms) must not exceed its size ({self.size_ms} ms)")
        if self.size_ms % self.slide_ms:
            raise ConfigError(
                f"window size ({self.size_ms} ms) must be a whole multiple of the slide ({self.slide_ms} ms)"
            )
        if self.grace_ms < 0:
            raise ConfigError(f"grace must not be negative, got {self.grace_ms} ms")

    @property
    def tumbling(self) -> bool:
        return self.slide_ms == self.size_ms

    def ranges(self, timestamp_ms: int) -> list[tuple[int, int]]:
        """The ``(start, end)`` of every window holding ``timestamp_ms``, oldest first.

        Windows that would start before the epoch are left out, as Quix Streams does.
        """
        first = timestamp_ms - timestamp_ms % self.slide_ms
        starts = range(first, timestamp_ms - self.size_ms, -self.slide_ms)
        return [(start, start + self.size_ms) for start in reversed(starts) if start >= 0]

    def describe(self) -> str:
        grace = f", grace {self.grace_ms} ms" if self.grace_ms else ""
        if self.tumbling:
            return f"tumbling {self.size_ms} ms{grace}"
        return f"hopping {self.size_ms} ms every {self.slide_ms} ms{grace}"


def tumbling(size: Duration, *, grace: Duration = 0) -> Window:
    """Back-to-back windows of ``size``, each record in exactly one."""
    size_ms = to_ms(size, "window size")
    return Window(size_ms, size_ms, to_ms(grace, "grace"))


def hopping(size: Duration, slide: Duration, *, grace: Duration = 0) -> Window:
    """Overlapping windows of ``size`` starting every ``slide`` (Flink's sliding window)."""
    return Window(to_ms(size, "window size"), to_ms(slide, "window slide"), to_ms(grace, "grace"))


sliding = hopping
