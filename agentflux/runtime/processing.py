"""Handling one record: decode it, run its handler with retries and a timeout, or dead-letter it."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import SpanKind

from agentflux.contract.codec import decode
from agentflux.contract.envelope import (
    MAX_BODY_CORRELATION_ID,
    Envelope,
    correlation_in_body,
    usable_correlation_id,
)
from agentflux.contract.errors import InvalidMessage
from agentflux.contract.payloads import LATER, Payloads
from agentflux.ops.deadletters import DeadLetterWriter
from agentflux.runtime import logcontext
from agentflux.runtime.context import Context, Services
from agentflux.runtime.declarations import Agent
from agentflux.runtime.handlers import Handler, run_with_retries
from agentflux.runtime.retry import Watchdog, until_registry_answers
from agentflux.runtime.tracing import Attempt, Tracing, message_attributes, record_attributes
from agentflux.transport.base import Record

log = logging.getLogger("agentflux.runtime")


def read_envelope(record: Record, max_bytes: int, noted: set[str] | None = None) -> Envelope:
    """The record's envelope; raises InvalidMessage for oversized values and bad headers.

    A record from a producer outside agentflux (no ``ce_id`` or correlation id)
    is given them, and that is logged at INFO once per topic in ``noted``
    (every time when ``noted`` is None), then at DEBUG.
    """
    size = len(record.value or b"")
    if size > max_bytes:
        raise InvalidMessage(f"value is {size} bytes; the limit is {max_bytes} bytes (max_message_bytes)")
    envelope = Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic)
    if envelope.assigned:
        first = noted is None or record.topic not in noted
        if noted is not None:
            noted.add(record.topic)
        log.log(
            logging.INFO if first else logging.DEBUG,
            "record %s arrived without %s; assigned id=%s correlation_id=%s%s",
            record.ref,
            " or ".join(envelope.assigned),
            envelope.id,
            envelope.correlation_id,
            " (said once per topic)" if first and noted is not None else "",
        )
    return envelope


def _type_of(ce_type: str | None) -> str | None:
    """The record type a JSON record's ``ce_type`` names: its last dotted part."""
    return ce_type.rsplit(".", 1)[-1] if ce_type else None


def correlate_from_body(envelope: Envelope, payload: object, record: Record, noted: set[str] | None = None) -> Envelope:
    """``envelope``, with the correlation id the payload's body names when no header named one.

    A producer outside agentflux may carry its request's id in the body
    (``{"correlation_id": "...", ...}``, read as a dict key or a model's
    field). When the record came without ``ce_correlationid``, a usable value
    (``usable_correlation_id``) becomes the envelope's correlation id instead of
    the assigned one, so everything the handler causes carries it. A value that
    is not usable is ignored: the assigned id stays, and the record is handled.
    A header always wins over the body. Logged like ``read_envelope``'s
    assigned ids: at INFO once per topic in ``noted``, then at DEBUG.
    """
    if "correlation_id" not in envelope.assigned:
        return envelope
    found = correlation_in_body(payload)
    if found is None:
        return envelope
    value = usable_correlation_id(found)
    first = noted is None or record.topic not in noted
    if noted is not None:
        noted.add(record.topic)
    level = logging.INFO if first else logging.DEBUG
    once = " (said once per topic)" if first and noted is not None else ""
    if value is None:  # described, not echoed: it may be anything
        what = f"a string of {len(found)} characters" if isinstance(found, str) else f"of type {type(found).__name__}"
        log.log(
            level, "record %s: the correlation_id in its body (%s) is not a usable id (1 to %d printable ASCII "
            "characters); kept correlation_id=%s%s",
            record.ref, what, MAX_BODY_CORRELATION_ID, envelope.correlation_id, once,
        )  # fmt: skip
        return envelope
    log.log(level, "record %s: took correlation_id=%s from its body%s", record.ref, value, once)
    return envelope.with_(correlation_id=value)


def unreadable(exc: Exception) -> InvalidMessage:
    """Whatever reading a record raised, as the permanent error its dead letter names."""
    if isinstance(exc, InvalidMessage):
        return exc
    problem = InvalidMessage(f"the record cannot be read: {type(exc).__name__}: {exc}")
    problem.__cause__ = exc
    return problem


class EventProcessor:
    """Runs an agent's event handlers for the records its consumer reads.

    Nothing a record carries can stop the agent: anything its decoding raises
    makes it a dead letter, and so does a handler that fails for good (after
    its retries, or at once for a permanent error).
    """

    def __init__(self, agent: Agent, services: Services, *, max_message_bytes: int) -> None:
        self.agent = agent
        self.services = services
        self.payloads = services.publisher.payloads
        self.max_message_bytes = max_message_bytes
        self.skipped: Counter[tuple[str, str]] = Counter()  # (topic, record type) no handler of this agent takes
        self.dead_letters = DeadLetterWriter(
            services.publisher.transport, group=agent.group_id, agent=agent.name, max_bytes=max_message_bytes
        )
        self.watchdog = Watchdog()
        self.noted: set[str] = set()  # topics whose records come without envelopes, already said
        self.correlated: set[str] = set()  # topics whose records name their correlation id in the body, said

    async def __call__(self, record: Record) -> None:
        handler = self.agent.handler_for(record.topic)
        if handler is None:  # subscribed through a pattern or a stale subscription
            return
        payloads = self.payloads
        envelope: Envelope | None = None
        try:
            envelope = read_envelope(record, self.max_message_bytes, self.noted)
            if payloads is None or not payloads.registered(record.topic):
                types = self.agent.record_types(record.topic)
                if types is not None:
                    chosen = self._choose(types, record, _type_of(envelope.type))
                    if chosen is None:
                        return
                    handler, tp = chosen
                    payload = decode(record.value, tp)
                else:
                    payload = decode(record.value, handler.payload_type)
            else:
                payload = LATER
                if self.agent.record_types(record.topic) is None:  # one type: no await once its schema is known
                    payload = payloads.decode_now(record.topic, record.value, handler.payload_type)
                if payload is LATER:
                    found = await self._decode_registered(payloads, handler, record, envelope)
                    if found is None:
                        return
                    handler, payload = found
        except Exception as exc:  # any input at all: a dead letter, never a crash
            if self.services.metrics.active:
                self.services.metrics.record_unreadable(self.agent.name, record.topic)
            if envelope is None:
                await self.dead_letters.send(record, 0, unreadable(exc))
                return
            token = logcontext.begin(envelope)
            try:
                await self.dead_letters.send(record, 0, unreadable(exc))
            finally:
                logcontext.end(token)
            return
        token = logcontext.begin(envelope)
        try:
            await self._run(handler, record, envelope, payload)
        finally:
            logcontext.end(token)

    async def _decode_registered(
        self, payloads: Payloads, handler: Handler, record: Record, envelope: Envelope
    ) -> tuple[Handler, Any] | None:
        """Decode a registry-format record, waiting out a registry that does not answer (the partition waits)."""

        async def attempt() -> tuple[Handler, Any] | None:
            types = self.agent.record_types(record.topic)
            chosen: tuple[Handler, Any] | None = (handler, handler.payload_type)
            if types is not None:
                name = await payloads.writer_type(record.topic, record.value) or _type_of(envelope.type)
                chosen = self._choose(types, record, name)
            if chosen is None:
                return None
            return chosen[0], await payloads.decode(record.topic, record.value, chosen[1])

        return await until_registry_answers(self.agent.name, attempt)

    def _choose(
        self, types: dict[str, tuple[Handler, Any]], record: Record, name: str | None
    ) -> tuple[Handler, Any] | None:
        """The handler and model for a record of type ``name``; None (skipped, counted) for a type it does not take."""
        found = types.get(name or "")
        if found is None:
            key = (record.topic, name or "(no type)")
            self.skipped[key] += 1
            log.log(
                logging.INFO if self.skipped[key] == 1 else logging.DEBUG,
                "%s: skipped %s, of type %s, which no handler of this agent takes (committed, not dead-lettered)",
                self.agent.name, record.ref, key[1],
            )  # fmt: skip
        return found

    async def _run(self, handler: Handler, record: Record, envelope: Envelope, payload: Any) -> None:
        envelope = correlate_from_body(envelope, payload, record, self.correlated)

        def context(number: int) -> Context:
            return Context(
                agent=self.agent.name, envelope=envelope, record=record, services=self.services, attempt=number
            )

        tracing, metrics = self.services.publisher.tracing, self.services.metrics
        started = time.perf_counter() if metrics.active else 0.0
        outcome = await run_with_retries(
            handler, payload, context, watchdog=self.watchdog, watch=self.services.publisher.transport.watch,
            what=lambda: f"{self.agent.name}: {record.ref}",
            attempt_name=lambda: f"handler {handler.name} for {record.ref}",
            traced=self._traced(tracing, handler, record, envelope) if tracing.active else None, give_up="dead_letter",
        )  # fmt: skip
        if metrics.active:
            result, seconds = "ok" if outcome.error is None else "dead_letter", time.perf_counter() - started
            metrics.record_handled(self.agent.name, record.topic, result, seconds, outcome.attempts)
        if outcome.error is not None:
            await self.dead_letters.send(record, outcome.attempts, outcome.error)

    def _traced(
        self, tracing: Tracing, handler: Handler, record: Record, envelope: Envelope
    ) -> Callable[[int], Attempt]:
        """The ``process`` span of each attempt: a child of the span that sent the record."""
        attributes = {
            **message_attributes(record.topic, envelope, "process"),
            **record_attributes(record, self.agent.group_id),
            "agentflux.agent": self.agent.name,
            "agentflux.handler": handler.name,
        }

        def attempt(number: int) -> Attempt:
            return tracing.start(
                f"process {record.topic}", SpanKind.CONSUMER, parent=envelope.traceparent,
                attributes={**attributes, "agentflux.attempt": number},
            )  # fmt: skip

        return attempt
