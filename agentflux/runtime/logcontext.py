"""The ids of the record being handled, on every log line written meanwhile.

While a handler (or a skill's task) runs, ``handling(envelope)`` holds the
record's envelope in a context variable: it follows the handler into every
task it starts, and no other record sees it. ``RecordIds``, a logging filter,
puts on each log record ``correlation_id``, ``trace_id`` and ``span_id``: the
current OpenTelemetry span's ids when there is one (the attempt's ``process``
span, or a span inside it), else the trace of the record's ``traceparent``.
Outside a handler they are None. A log call that passes them in ``extra`` keeps
its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from opentelemetry import trace

from agentflux.contract.envelope import Envelope

_HANDLING: ContextVar[Envelope | None] = ContextVar("agentflux_handling", default=None)
FIELDS = ("correlation_id", "trace_id", "span_id")


@contextmanager
def handling(envelope: Envelope) -> Iterator[None]:
    """Log lines written in the block (in any task it starts too) carry ``envelope``'s ids."""
    token = _HANDLING.set(envelope)
    try:
        yield
    finally:
        _HANDLING.reset(token)


def begin(envelope: Envelope) -> Token[Envelope | None]:
    """``handling`` without a context manager, for the per-record path: ``end(token)`` when done."""
    return _HANDLING.set(envelope)


def end(token: Token[Envelope | None]) -> None:
    _HANDLING.reset(token)


def current_ids() -> tuple[str | None, str | None, str | None]:
    """(correlation id, trace id, span id) of the record being handled here; Nones outside a handler."""
    envelope = _HANDLING.get()
    if envelope is None:
        return None, None, None
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        return envelope.correlation_id, f"{span.trace_id:032x}", f"{span.span_id:016x}"
    parts = (envelope.traceparent or "").split("-")
    if len(parts) == 4:
        return envelope.correlation_id, parts[1], parts[2]
    return envelope.correlation_id, None, None


class RecordIds(logging.Filter):
    """Sets ``correlation_id``, ``trace_id`` and ``span_id`` on every log record (None outside a handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_ids()
        for name, value in zip(FIELDS, ids, strict=True):
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True
