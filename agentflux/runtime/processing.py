"""Handling one record: decode, run the handler with retries, or dead-letter it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agentflux.contract.codec import decode
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import InvalidMessage, Retry
from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.runtime.context import Context, Services
from agentflux.runtime.deadletter import dead_letter_headers
from agentflux.runtime.declarations import Agent, Handler
from agentflux.runtime.retry import RetryPolicy
from agentflux.transport.base import Record

log = logging.getLogger("agentflux.runtime")


def read_envelope(record: Record, max_bytes: int) -> Envelope:
    """The record's envelope; raises InvalidMessage for oversized values and bad headers."""
    size = len(record.value or b"")
    if size > max_bytes:
        raise InvalidMessage(f"value is {size} bytes; the limit is {max_bytes} bytes (max_message_bytes)")
    envelope = Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic)
    if envelope.assigned:
        log.info(
            "record %s arrived without %s; assigned id=%s correlation_id=%s",
            record.ref,
            " or ".join(envelope.assigned),
            envelope.id,
            envelope.correlation_id,
        )
    return envelope


class DeadLetterer:
    """Publishes failed records to ``agent.dead-letter.v1``, retrying until the broker takes them.

    The source record is committed only after its dead letter is acknowledged,
    so a broker outage stalls the partition rather than losing the record.
    """

    def __init__(self, services: Services, *, group: str, agent: str) -> None:
        self._publisher = services.publisher
        self._group = group
        self._agent = agent

    async def send(self, record: Record, attempts: int, error: BaseException) -> None:
        headers = dead_letter_headers(record, group=self._group, agent=self._agent, attempts=attempts, error=error)
        backoff = RetryPolicy(initial_backoff=0.2, max_backoff=10.0)
        failures = 0
        while True:
            try:
                await self._publisher.publish_raw(DEAD_LETTER_TOPIC, record.value, key=record.key, headers=headers)
                break
            except Exception:
                failures += 1
                log.exception("dead-lettering %s failed (%d); retrying", record.ref, failures)
                await asyncio.sleep(backoff.backoff(min(failures, 10)))
        log.warning(
            "%s: dead-lettered %s after %d attempt(s): %s: %s",
            self._agent,
            record.ref,
            attempts,
            type(error).__name__,
            error,
        )


class EventProcessor:
    """Runs an agent's event handlers for the records its consumer reads."""

    def __init__(self, agent: Agent, services: Services, *, max_message_bytes: int) -> None:
        self.agent = agent
        self.services = services
        self.max_message_bytes = max_message_bytes
        self.dead_letters = DeadLetterer(services, group=agent.group_id, agent=agent.name)

    async def __call__(self, record: Record) -> None:
        handler = self.agent.handler_for(record.topic)
        if handler is None:  # subscribed through a pattern or a stale subscription
            return
        try:
            envelope = read_envelope(record, self.max_message_bytes)
            payload = decode(record.value, handler.payload_type)
        except InvalidMessage as exc:
            await self.dead_letters.send(record, 0, exc)
            return
        await self._run(handler, record, envelope, payload)

    async def _run(self, handler: Handler, record: Record, envelope: Envelope, payload: Any) -> None:
        attempt = 1
        while True:
            ctx = Context(
                agent=self.agent.name,
                envelope=envelope,
                record=record,
                services=self.services,
                attempt=attempt,
            )
            try:
                await handler(payload, ctx)
                return
            except Exception as exc:
                if not handler.retry.should_retry(exc, attempt):
                    await self.dead_letters.send(record, attempt, exc)
                    return
                delay = exc.delay if isinstance(exc, Retry) and exc.delay is not None else None
                delay = handler.retry.backoff(attempt) if delay is None else delay
                log.warning(
                    "%s: attempt %d for %s failed (%s: %s); retrying in %.2fs",
                    self.agent.name,
                    attempt,
                    record.ref,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                attempt += 1
