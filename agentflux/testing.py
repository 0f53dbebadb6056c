"""A public in-memory test kit for handler logic.

::

    async with TestApp(app) as t:
        await t.publish("ecommerce.price-changed.v1", PriceChanged(...), key="p1")
        await t.drain()
        assert t.published("ecommerce.order-updated.v1")

It runs the app's agents on ``MemoryTransport``: handlers, retries, dead
letters, envelopes and per-key order behave as on Kafka. What only a broker can
show (rebalancing, crash redelivery, broker limits) is not modelled here; test
that against a real broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from agentflux.contract.codec import decode
from agentflux.contract.envelope import Envelope
from agentflux.contract.tasks import TaskReport
from agentflux.contract.topics import DEAD_LETTER_TOPIC, TASKS_TOPIC, event_type, task_requests_topic
from agentflux.ops.deadletters import DeadLetter
from agentflux.runtime.context import ToolProvider
from agentflux.runtime.declarations import AgentApp
from agentflux.runtime.keyed_consumer import KeyOrderedConsumer
from agentflux.runtime.runner import AppRunner
from agentflux.transport.base import Ack, Record, Tail
from agentflux.transport.memory import MemoryTransport

__all__ = ["MemoryTransport", "TestApp", "caught_up"]


async def caught_up(consumers: Iterable[KeyOrderedConsumer], tail: Tail) -> bool:
    """True when every consumer has committed the end of each partition it owns: all it read was handled.

    Works on any transport (``TestApp.drain`` polls it on memory; a test against
    Kafka can poll it with a ``KafkaTail``). The committed positions are taken
    before the end offsets are asked for: a record that a handler published
    before its own record was committed is therefore counted, and the answer is
    never True while work caused by an earlier record is still on its way.
    """
    committed = [(tp, consumer.committed.get(tp, 0)) for consumer in consumers for tp in consumer.assigned]
    ends = await tail.end_offsets(sorted({tp for tp, _ in committed}))
    return all(offset >= ends[tp] for tp, offset in committed)


class TestApp:
    """Runs ``app`` in-process. ``drain()`` waits until every record has been handled."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, app: AgentApp, *, agents: Iterable[str] | None = None, tools: ToolProvider | None = None
    ) -> None:
        self.transport = MemoryTransport()
        self.runner = AppRunner(app, self.transport, agents=agents, tools=tools, grace=5.0)
        self._tail = self.transport.tail()

    async def __aenter__(self) -> TestApp:
        await self.runner.start()
        async with asyncio.timeout(5.0):  # every consumer owns its partitions before the test publishes
            while not all(c.assigned for c in self.runner.consumers):
                await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.runner.stop()
        await self._tail.close()

    async def publish(
        self,
        topic: str,
        payload: object,
        *,
        key: str | bytes | None = None,
        correlation_id: str | None = None,
    ) -> Ack:
        """Publish as an outside producer would, with a fresh envelope."""
        envelope = Envelope.new(source="test", type=event_type(topic), correlation_id=correlation_id)
        return await self.runner.services.publisher.publish(topic, payload, envelope=envelope, key=key)

    async def delegate(
        self,
        skill: str,
        input: object,
        *,
        timeout: float = 5.0,
        correlation_id: str | None = None,
        task_id: str | None = None,
    ) -> Any:
        """Delegate as an outside client would (``AgentClient.delegate``), through the app's requester."""
        requester = self.runner.services.requester
        assert requester is not None
        envelope = Envelope.new(source="test", type=task_requests_topic(skill), correlation_id=correlation_id)
        envelope = envelope.with_(task_id=task_id or envelope.id)
        return await requester.delegate(skill, input, envelope=envelope, timeout=timeout)

    def task_states(self, task_id: str | None = None) -> list[TaskReport]:
        """Every state record on ``agent.tasks.v1`` (of one task, if given), oldest first."""
        states = [TaskReport.model_validate_json(r.value or b"") for r in self.records(TASKS_TOPIC)]
        return [s for s in states if task_id is None or s.task_id == task_id]

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every consumer has committed everything there is to read."""
        async with asyncio.timeout(timeout):
            while not await caught_up(self.runner.consumers, self._tail):
                await asyncio.sleep(0.01)

    def records(self, topic: str) -> list[Record]:
        """Every record of ``topic`` so far, partition by partition."""
        return self.transport.records(topic)

    def published(self, topic: str, model: type[Any] = dict) -> list[Any]:
        """The payloads on ``topic``, decoded as ``model``."""
        return [decode(r.value, model) for r in self.records(topic)]

    def envelopes(self, topic: str) -> list[Envelope]:
        return [Envelope.from_headers(r.headers, fallback_id=r.ref, topic=topic) for r in self.records(topic)]

    def dead_letters(self) -> list[DeadLetter]:
        return [DeadLetter.from_record(r) for r in self.records(DEAD_LETTER_TOPIC)]
