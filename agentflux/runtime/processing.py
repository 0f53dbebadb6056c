"""Handling one record: decode it, run its handler with retries and a timeout, or dead-letter it."""

from __future__ import annotations

import logging
from typing import Any

from agentflux.contract.codec import decode
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import InvalidMessage
from agentflux.ops.deadletters import DeadLetterWriter
from agentflux.runtime.context import Context, Services
from agentflux.runtime.declarations import Agent
from agentflux.runtime.handlers import Handler, run_with_retries
from agentflux.runtime.retry import Watchdog
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
        self.max_message_bytes = max_message_bytes
        self.dead_letters = DeadLetterWriter(
            services.publisher.transport, group=agent.group_id, agent=agent.name, max_bytes=max_message_bytes
        )
        self.watchdog = Watchdog()
        self.noted: set[str] = set()  # topics whose records come without envelopes, already said

    async def __call__(self, record: Record) -> None:
        handler = self.agent.handler_for(record.topic)
        if handler is None:  # subscribed through a pattern or a stale subscription
            return
        try:
            envelope = read_envelope(record, self.max_message_bytes, self.noted)
            payload = decode(record.value, handler.payload_type)
        except Exception as exc:  # any input at all: a dead letter, never a crash
            await self.dead_letters.send(record, 0, unreadable(exc))
            return
        await self._run(handler, record, envelope, payload)

    async def _run(self, handler: Handler, record: Record, envelope: Envelope, payload: Any) -> None:
        def context(number: int) -> Context:
            return Context(
                agent=self.agent.name, envelope=envelope, record=record, services=self.services, attempt=number
            )

        outcome = await run_with_retries(
            handler, payload, context, watchdog=self.watchdog, watch=self.services.publisher.transport.watch,
            what=lambda: f"{self.agent.name}: {record.ref}",
            attempt_name=lambda: f"handler {handler.name} for {record.ref}",
        )  # fmt: skip
        if outcome.error is not None:
            await self.dead_letters.send(record, outcome.attempts, outcome.error)
