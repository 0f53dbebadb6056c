"""An in-process transport for fast unit tests of handler logic.

It keeps topics as lists per partition and commits per group, and it honours
keys (one key, one partition), pause/resume and commits. It does not model
what only a broker can show: rebalancing between several members of a group
(each group here has one member, which owns every partition), crashes,
replication or broker-side limits. Tests of those run on real Kafka.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Sequence

from agentflux.contract.errors import PublishError
from agentflux.contract.topics import TopicSpec
from agentflux.transport.base import (
    Ack,
    AssignCallback,
    Headers,
    Position,
    Positions,
    Record,
    RevokeCallback,
    TopicPartition,
)
from agentflux.transport.health import ClusterWatch
from agentflux.transport.memory_tail import MemoryTail


class MemoryTransport:
    """``watch`` can be driven by a test (``mark_down``/``mark_back``) to model an outage for retry logic."""

    def __init__(self, default_partitions: int = 1) -> None:
        self.default_partitions = default_partitions
        self.watch = ClusterWatch("memory")
        self.topics: dict[str, list[list[Record]]] = {}
        self.committed: dict[tuple[str, TopicPartition], Position] = {}
        self._changed = asyncio.Condition()
        self._round_robin = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        for spec in specs:
            self.topics.setdefault(spec.name, [[] for _ in range(spec.partitions)])

    def _partition_for(self, topic: str, key: bytes | None) -> int:
        count = len(self.topics.setdefault(topic, [[] for _ in range(self.default_partitions)]))
        if key is None:
            self._round_robin += 1
            return self._round_robin % count
        return zlib.crc32(key) % count

    async def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Ack:
        index = self._partition_for(topic, key)
        if partition is not None:
            if not 0 <= partition < len(self.topics[topic]):
                raise PublishError(f"publish to {topic!r} failed: no partition {partition}")
            index = partition
        log = self.topics[topic][index]
        record = Record(topic, index, len(log), key, value, list(headers or ()), int(time.time() * 1000))
        log.append(record)
        async with self._changed:
            self._changed.notify_all()
        return Ack(topic, index, record.offset)

    def tail(self) -> MemoryTail:
        return MemoryTail(self)

    async def list_topics(self) -> list[str]:
        return sorted(self.topics)

    async def read_all(self, topic: str) -> list[Record]:
        """Every record of ``topic``, partition by partition."""
        return self.records(topic)

    def records(self, topic: str) -> list[Record]:
        """``read_all`` without awaiting, for test kits that inspect topics synchronously (``TestApp``)."""
        return [r for log in self.topics.get(topic, []) for r in log]

    def consumer(
        self,
        group_id: str,
        topics: Sequence[str],
        *,
        on_assigned: AssignCallback | None = None,
        on_revoked: RevokeCallback | None = None,
        from_beginning: bool = True,
    ) -> MemoryConsumer:
        return MemoryConsumer(self, group_id, list(topics), on_assigned, on_revoked, from_beginning)

    async def wait_for_change(self, timeout: float) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                pass


class MemoryConsumer:
    """The single member of its group: it owns every partition of its topics."""

    def __init__(
        self,
        transport: MemoryTransport,
        group_id: str,
        topics: list[str],
        on_assigned: AssignCallback | None,
        on_revoked: RevokeCallback | None,
        from_beginning: bool,
    ) -> None:
        self._t = transport
        self._group = group_id
        self._topics = topics
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._from_beginning = from_beginning
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()

    async def _assign_new(self) -> None:
        new = []
        positions: dict[TopicPartition, Position] = {}
        for topic in self._topics:
            for index, log in enumerate(self._t.topics.setdefault(topic, [[]])):
                tp = TopicPartition(topic, index)
                if tp not in self._positions:
                    committed = self._t.committed.get((self._group, tp))
                    start = 0 if self._from_beginning else len(log)
                    self._positions[tp] = committed.offset if committed is not None else start
                    if committed is not None:
                        positions[tp] = committed
                    new.append(tp)
        if new and self._on_assigned:
            await self._on_assigned(new, positions)

    def _take(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        for tp, position in self._positions.items():
            if tp in self._paused:
                continue
            log = self._t.topics[tp.topic][tp.partition]
            batch = log[position : position + max_records - len(out)]
            self._positions[tp] = position + len(batch)
            out.extend(batch)
            if len(out) >= max_records:
                break
        return out

    async def poll(self, max_records: int, timeout: float) -> list[Record]:
        await self._assign_new()
        records = self._take(max_records)
        if not records:
            await self._t.wait_for_change(timeout)
            records = self._take(max_records)
        return records

    async def commit(self, positions: Positions) -> None:
        for tp, position in positions.items():
            self._t.committed[(self._group, tp)] = position

    async def pause(self, partitions: Sequence[TopicPartition]) -> None:
        self._paused.update(partitions)

    async def resume(self, partitions: Sequence[TopicPartition]) -> None:
        self._paused.difference_update(partitions)

    async def close(self) -> None:
        self._positions.clear()
