"""The two backends the behaviour suite runs on: one test body, a fixture chooses the broker.

``MemoryBackend`` runs everything on one ``MemoryTransport``; ``KafkaBackend``
on the session's real broker, with a fresh ``KafkaTransport`` for each app it
runs. Both give a test the same things: a started transport (``transport``),
names nobody else uses (``topic``, ``skill``, ``app``), apps running on the
broker (``run``), and waiting without sleeping (``eventually``, ``drain``).

This is the one module of the suite that imports dead letters: when
``DeadLetter`` moves, only the import below changes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from agentflux import AgentApp, AppRunner, Envelope, KafkaSettings, TopicSpec
from agentflux.contract.codec import encode
from agentflux.contract.topics import DEAD_LETTER_TOPIC, event_type
from agentflux.ops.deadletters import DeadLetter
from agentflux.testing import caught_up
from agentflux.transport.base import Ack, Position, Record, TopicPartition, Transport
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.memory import MemoryTransport

__all__ = ["Backend", "DeadLetter", "KafkaBackend", "MemoryBackend", "Sent", "envelope_of"]

Check = Callable[[], bool | Awaitable[bool]]


@dataclass(frozen=True)
class Sent:
    """A record a test published as a client at the edge: where it landed, and the envelope it carried."""

    ack: Ack
    envelope: Envelope

    @property
    def ref(self) -> str:
        return f"{self.ack.topic}/{self.ack.partition}/{self.ack.offset}"


def envelope_of(record: Record) -> Envelope:
    return Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic)


class Backend:
    """What a behaviour test needs from a broker. ``patience`` is how long ``eventually`` waits by default."""

    name = ""
    patience = 5.0

    def __init__(self, unique: str, transport: Transport) -> None:
        self.unique = unique
        self.transport = transport
        self.app_name = f"bt-{unique}"

    def __repr__(self) -> str:
        return f"<{self.name} backend {self.unique}>"

    def topic(self, event: str) -> str:
        """An event topic only this test uses: ``bt{unique}.{event}.v1``."""
        return f"bt{self.unique}.{event}.v1"

    def skill(self, name: str) -> str:
        """A skill id only this test uses (its task topics are ``agent.task-*.{name}-{unique}``)."""
        return f"{name}-{self.unique}"

    def app(self) -> AgentApp:
        """An app named for this test, so its consumer groups (``{app}.{agent}``) are this test's own."""
        return AgentApp(self.app_name)

    async def create_topic(self, name: str, partitions: int = 1) -> None:
        await self.transport.ensure_topics([TopicSpec(name, partitions=partitions)])

    async def publish(
        self, topic: str, payload: object, *, key: str | None = None, correlation_id: str | None = None
    ) -> Sent:
        """Publish JSON with a fresh envelope, as a client at the edge of the system does."""
        envelope = Envelope.new(source="test", type=event_type(topic), correlation_id=correlation_id)
        value, raw_key = encode(payload), key.encode() if key is not None else None
        ack = await self.transport.publish(topic, value, key=raw_key, headers=envelope.to_headers())
        return Sent(ack, envelope)

    async def publish_raw(self, topic: str, value: bytes, *, key: bytes | None = None) -> Ack:
        """Publish bytes without any header, as a producer outside agentflux does."""
        return await self.transport.publish(topic, value, key=key)

    def runner_transport(self) -> Transport:
        """The transport an ``AppRunner`` gets (it closes it when it stops)."""
        raise NotImplementedError

    @asynccontextmanager
    async def run(self, app: AgentApp) -> AsyncIterator[AppRunner]:
        """Run ``app`` until the block ends; it is entered once every consumer owns its partitions."""
        async with AppRunner(app, self.runner_transport(), grace=5.0) as runner:
            await self.eventually(
                lambda: all(c.assigned for c in runner.consumers), what="every consumer to own its partitions"
            )
            yield runner

    async def eventually(self, check: Check, *, what: str, timeout: float | None = None) -> None:
        """Poll ``check`` (sync or async) until it is true; fail naming ``what`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else self.patience)
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def drain(self, runner: AppRunner) -> None:
        """Wait until every consumer of ``runner`` committed the end of its partitions: all was handled."""
        tail = self.transport.tail()
        try:
            await self.eventually(lambda: caught_up(runner.consumers, tail), what="every record handled and committed")
        finally:
            await tail.close()

    async def dead_letters(self, source_topic: str) -> list[DeadLetter]:
        """The dead letters whose source is ``source_topic``, read back from ``agent.dead-letter.v1``."""
        letters = map(DeadLetter.from_record, await self.transport.read_all(DEAD_LETTER_TOPIC))
        return [d for d in letters if d.source_topic == source_topic]

    async def committed(self, group: str, tp: TopicPartition) -> Position | None:
        """What the broker holds as ``group``'s committed position of ``tp`` (None when nothing)."""
        raise NotImplementedError


class MemoryBackend(Backend):
    name = "memory"

    def __init__(self, unique: str) -> None:
        self.memory = MemoryTransport()
        super().__init__(unique, self.memory)

    def runner_transport(self) -> Transport:
        return self.memory  # one in-process broker: the runner and the test see the same topics

    async def committed(self, group: str, tp: TopicPartition) -> Position | None:
        return self.memory.committed.get((group, tp))


class KafkaBackend(Backend):
    name = "kafka"
    patience = 30.0

    def __init__(self, unique: str, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        super().__init__(unique, KafkaTransport(KafkaSettings(bootstrap)))

    def runner_transport(self) -> Transport:
        return KafkaTransport(KafkaSettings(self.bootstrap))

    async def committed(self, group: str, tp: TopicPartition) -> Position | None:
        return await asyncio.to_thread(_kafka_committed, self.bootstrap, group, tp)


def _kafka_committed(bootstrap: str, group: str, tp: TopicPartition) -> Position | None:
    # A consumer carrying the group's id that never joins it (see kafka_helpers.committed_offset).
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as KafkaTP

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        [found] = consumer.committed([KafkaTP(tp.topic, tp.partition)], timeout=10)
    finally:
        consumer.close()
    return Position(found.offset, found.metadata or "") if found.offset >= 0 else None
