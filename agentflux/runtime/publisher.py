"""Publishing records with envelopes, provisioning topics on first use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from opentelemetry.trace import SpanKind

from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.payloads import LATER, Payloads
from agentflux.contract.topics import TopicSpec, validate_topic
from agentflux.runtime.tracing import Tracing, message_attributes, traceparent_of
from agentflux.transport.base import Ack, Transport

CONTENT_TYPES = {"avro": "application/avro", "json-schema": "application/json"}  # ``content-type`` of framed values


def key_bytes(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


class Publisher:
    """Encodes payloads and publishes them; ``publish`` returns once the broker acknowledged.

    The first publish to a topic this process has not seen provisions it from
    ``spec_for`` (the app's declaration or default), so a topic is never
    written before it exists, even on clusters without auto-creation.
    Payloads are encoded by ``payloads`` (JSON when None): a topic in a
    registry format gets the Confluent wire format. With ``tracing`` active,
    each publish is a ``send`` span whose context the record carries.
    """

    def __init__(
        self,
        transport: Transport,
        spec_for: Callable[[str], TopicSpec],
        payloads: Payloads | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.transport = transport
        self.payloads = payloads
        self.tracing = tracing or Tracing()
        self._spec_for = spec_for
        self._ready: set[str] = set()
        self._registered: dict[str, bool] = {}
        self._lock = asyncio.Lock()

    def mark_ready(self, topics: list[str]) -> None:
        self._ready.update(topics)

    async def _provision(self, topic: str) -> None:
        async with self._lock:
            if topic not in self._ready:
                await self.transport.ensure_topics([self._spec_for(topic)])
                self._ready.add(topic)

    async def publish(
        self,
        topic: str,
        payload: object,
        *,
        envelope: Envelope,
        key: str | bytes | None = None,
    ) -> Ack:
        if topic not in self._ready:
            validate_topic(topic)
            await self._provision(topic)
        value = await self.encode(topic, payload)
        if value[:1] == b"\x00" and self.payloads is not None and self._registered.get(topic):  # the wire format
            envelope = envelope.with_(content_type=CONTENT_TYPES[self.payloads.format_of(topic).format])
        if self.tracing.active:
            return await self._publish_traced(topic, value, key_bytes(key), envelope)
        return await self.transport.publish(topic, value, key=key_bytes(key), headers=envelope.to_headers())

    async def _publish_traced(self, topic: str, value: bytes, key: bytes | None, envelope: Envelope) -> Ack:
        attributes = message_attributes(topic, envelope, "send")
        with self.tracing.span(f"send {topic}", SpanKind.PRODUCER, attributes=attributes) as span:
            envelope = envelope.with_(traceparent=traceparent_of(span) or envelope.traceparent)
            ack = await self.transport.publish(topic, value, key=key, headers=envelope.to_headers())
            span.set_attribute("messaging.destination.partition.id", str(ack.partition))
            span.set_attribute("messaging.kafka.offset", ack.offset)
            return ack

    async def encode(self, topic: str, payload: object) -> bytes:
        """``payload`` as ``topic``'s record value (JSON, or the registry's wire format)."""
        registered = self._registered.get(topic)
        if registered is None:
            registered = self._registered[topic] = self.payloads is not None and self.payloads.registered(topic)
        if registered:
            assert self.payloads is not None
            value = self.payloads.encode_now(topic, payload)  # no await once the schema's id is known
            return value if value is not LATER else await self.payloads.encode(topic, payload)
        return encode(payload)
