"""OpenTelemetry spans for each hop: publish, process (one per handler attempt), delegate, and a skill's task.

The OpenTelemetry API is a dependency, the SDK is not: with no SDK configured
every span here is skipped before it is made (``Tracing.active`` is False), and
records still carry a W3C ``traceparent`` that continues the trace of the
record that caused them (``agentflux.contract.tracecontext``). With an SDK
(configured in code, or from the ``OTEL_*`` variables: ``agentflux.runtime.telemetry``)
the spans are:

=====================  ========  ==========================================================
span                   kind      parent
=====================  ========  ==========================================================
``send {topic}``       PRODUCER  the current span (the handler's ``process`` span, yours)
``process {topic}``    CONSUMER  the record's ``traceparent``: one span per handler attempt
``delegate {id}``      CLIENT    the current span; the task request carries its context
``skill {id}``         SERVER    the task request's ``traceparent``: the task, all attempts
``tools/call {tool}``  CLIENT    the current span; the call's ``_meta`` carries its context
=====================  ========  ==========================================================

A published record's ``traceparent`` is its ``send`` span's context, so the
``process`` span of whoever handles it is that span's child, in any process.
Attributes follow the messaging semantic conventions (``messaging.system`` is
``kafka``; the correlation id is ``messaging.message.conversation_id``). An
attempt that fails records the exception; the decision taken is an event on its
span: ``retry`` (with the delay), ``dead_letter``, ``task_failed``, ``cluster_away`` or
``cancelled``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from agentflux.contract.envelope import Envelope
from agentflux.contract.tracecontext import parse_traceparent
from agentflux.transport.base import Record

Attributes = Mapping[str, Any]
SYSTEM = {"messaging.system": "kafka"}


class Tracing:
    """The spans of one runner (or client). ``provider`` defaults to the global tracer provider.

    ``active`` is decided once, when this is made: a provider that is the API's
    default (a proxy with nothing behind it) makes no spans, and nothing here
    costs more than that check.
    """

    def __init__(self, provider: trace.TracerProvider | None = None) -> None:
        found = provider or trace.get_tracer_provider()
        self.active = sdk_configured(found)
        self.tracer = found.get_tracer("agentflux")

    @contextmanager
    def span(
        self, name: str, kind: SpanKind, *, parent: str | None = None, attributes: Attributes | None = None
    ) -> Iterator[Span]:
        """A span made current for the block, ended after it; an exception is recorded on it, then re-raised.

        ``parent`` (a ``traceparent``) makes the span a child of that remote context; without it, the
        current span is the parent.
        """
        context = remote_context(parent) if parent else None
        with self.tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes) as span:
            yield span

    def start(self, name: str, kind: SpanKind, *, parent: str | None, attributes: Attributes) -> Attempt:
        """A span made current until ``Attempt.end`` (for work whose outcome is decided after it returns)."""
        context = remote_context(parent) if parent else None
        span = self.tracer.start_span(name, context=context, kind=kind, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        return Attempt(span, token)

    def on_current(self, number: int) -> Attempt:
        """Attempt ``number`` as events on the current span, which stays open (a skill's attempts)."""
        span = trace.get_current_span()
        span.set_attribute("agentflux.attempts", number)
        return Attempt(span, None)


class Attempt:
    """A started span and the token that made it current (None: a span someone else ends)."""

    __slots__ = ("span", "token")

    def __init__(self, span: Span, token: object | None) -> None:
        self.span = span
        self.token = token

    def end(self, error: BaseException | None = None, event: str | None = None, **attributes: Any) -> None:
        """End the attempt: ``error`` recorded (status ERROR), then ``event`` (what was decided), if any."""
        if error is not None:
            self.span.record_exception(error)
            if event != "retry" or self.token is not None:  # a retried attempt of a task: the task may yet succeed
                self.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))
        if event is not None:
            details = {"error.type": type(error).__name__} if error is not None else {}
            self.span.add_event(event, {**details, **attributes})
        if self.token is not None:
            otel_context.detach(self.token)  # type: ignore[arg-type]
            self.span.end()


def sdk_configured(provider: trace.TracerProvider) -> bool:
    """True unless ``provider`` is the API's no-op or a proxy that has no SDK provider behind it."""
    if isinstance(provider, trace.NoOpTracerProvider):
        return False
    return not isinstance(provider, trace.ProxyTracerProvider)


def remote_context(traceparent: str) -> otel_context.Context | None:
    """An OpenTelemetry context whose span is the remote one ``traceparent`` names (None if unusable)."""
    try:
        parsed = parse_traceparent(traceparent)
    except Exception:  # a record's header was checked when it was read; anything else starts a trace
        return None
    remote = SpanContext(
        int(parsed.trace_id, 16), int(parsed.span_id, 16), is_remote=True, trace_flags=TraceFlags(int(parsed.flags, 16))
    )
    return trace.set_span_in_context(NonRecordingSpan(remote))


def traceparent_of(span: Span) -> str | None:
    """``span``'s context as a ``traceparent`` header value (None for an invalid span)."""
    found = span.get_span_context()
    if not found.is_valid:
        return None
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{int(found.trace_flags):02x}"


def message_attributes(topic: str, envelope: Envelope, operation: str) -> dict[str, Any]:
    """The messaging attributes of a record on ``topic`` (``operation``: send, process)."""
    found = {
        **SYSTEM,
        "messaging.operation.name": operation,
        "messaging.operation.type": operation,
        "messaging.destination.name": topic,
        "messaging.message.id": envelope.id,
        "messaging.message.conversation_id": envelope.correlation_id,
    }
    if envelope.task_id:
        found["agentflux.task.id"] = envelope.task_id
    return found


def record_attributes(record: Record, group: str) -> dict[str, Any]:
    """Where a consumed record was: partition, offset and key, and the consumer group."""
    found: dict[str, Any] = {
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.consumer.group.name": group,
    }
    if record.key:
        found["messaging.kafka.message.key"] = record.key.decode("utf-8", "replace")
    return found
