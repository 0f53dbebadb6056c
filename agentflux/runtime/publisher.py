"""Publishing records with envelopes, provisioning topics on first use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.topics import TopicSpec, validate_topic
from agentflux.runtime.retry import RetryPolicy
from agentflux.transport.base import Ack, Headers, Transport
from agentflux.transport.health import ClusterWatch

log = logging.getLogger("agentflux.runtime")
_BACKOFF = RetryPolicy(initial_backoff=0.2, max_backoff=10.0)


def key_bytes(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


class Publisher:
    """Encodes payloads and publishes them; ``publish`` returns once the broker acknowledged.

    The first publish to a topic this process has not seen provisions it from
    ``spec_for`` (the app's declaration or default), so a topic is never
    written before it exists, even on clusters without auto-creation.
    """

    def __init__(self, transport: Transport, spec_for: Callable[[str], TopicSpec]) -> None:
        self.transport = transport
        self._spec_for = spec_for
        self._ready: set[str] = set()
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
        return await self.transport.publish(topic, encode(payload), key=key_bytes(key), headers=envelope.to_headers())

    async def publish_raw(self, topic: str, value: bytes | None, *, key: bytes | None, headers: Headers) -> Ack:
        """Publish bytes and headers as they are (dead letters, redrives)."""
        if topic not in self._ready:
            await self._provision(topic)
        return await self.transport.publish(topic, value, key=key, headers=headers)


async def publish_until_acked(what: str, send: Callable[[int], Awaitable[Ack]], watch: ClusterWatch) -> Ack:
    """``send(failures)`` until the broker acknowledges; transient errors are retried with backoff.

    For records whose source is committed only after they are safe (task
    states, results, dead letters): a broker outage stalls the caller rather
    than losing the record. A permanent error (``transient = False``, such as
    ``MessageTooLarge``) is raised at once.
    """
    failures = 0
    while True:
        try:
            return await send(failures)
        except Exception as exc:
            if getattr(exc, "transient", None) is False:
                raise
            failures += 1
            level = logging.DEBUG if watch.lost else logging.WARNING
            log.log(level, "publishing the %s failed (%d): %s; retrying", what, failures, exc)
            await asyncio.sleep(_BACKOFF.backoff(min(failures, 10)))
