"""W3C trace context (``traceparent``) parsing and child-span creation.

The runtime does not need a tracer to keep traces joined across agents: every
record a handler publishes carries a ``traceparent`` with the handled record's
trace id and a fresh span id. When OpenTelemetry is configured, its spans use
the same ids (see ``agentflux.runtime.tracing``).
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from agentflux.contract.errors import EnvelopeError

# Ids need to be unique, not secret: a Mersenne Twister seeded from the OS (and again in
# every forked child) makes them ~20x cheaper than os.urandom per id. A private instance,
# so an application that seeds ``random`` for its own reasons cannot repeat our ids.
_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)


def random_hex(bits: int) -> str:
    """``bits`` random bits as lowercase hex, never all zero."""
    while True:
        value = _ids.getrandbits(bits)
        if value:
            return f"{value:0{bits // 4}x}"


def random_uuid() -> str:
    """A random (version 4) UUID string."""
    value = _ids.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceParent:
    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def parse(cls, value: str) -> TraceParent:
        match = _TRACEPARENT.match(value)
        if not match:
            raise EnvelopeError(
                f"invalid traceparent {value!r}: expected 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"
            )
        version, trace_id, span_id, flags = match.groups()
        if version == "ff" or trace_id == "0" * 32 or span_id == "0" * 16:
            raise EnvelopeError(f"invalid traceparent {value!r}: all-zero id or version ff")
        return cls(trace_id, span_id, flags)

    @classmethod
    def new_root(cls) -> TraceParent:
        return cls(random_hex(128), random_hex(64))

    def child(self) -> TraceParent:
        """A new span in the same trace."""
        return TraceParent(self.trace_id, random_hex(64), self.flags)

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


@lru_cache(maxsize=4096)
def parse_traceparent(value: str) -> TraceParent:
    """``TraceParent.parse``, remembered: a handler's records are all children of one traceparent."""
    return TraceParent.parse(value)
