"""W3C trace context (``traceparent``) parsing and child-span creation.

The runtime does not need a tracer to keep traces joined across agents: every
record a handler publishes carries a ``traceparent`` with the handled record's
trace id and a fresh span id. When OpenTelemetry is configured, its spans use
the same ids (see ``agentflux.runtime.tracing``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from agentflux.contract.errors import EnvelopeError

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
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    def child(self) -> TraceParent:
        """A new span in the same trace."""
        return TraceParent(self.trace_id, secrets.token_hex(8), self.flags)

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"
