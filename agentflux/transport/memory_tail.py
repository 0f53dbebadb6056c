"""``MemoryTail``: the in-memory counterpart of ``KafkaTail`` (manual assignment, no group)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from agentflux.transport.base import Record, TopicPartition

if TYPE_CHECKING:
    from agentflux.transport.memory import MemoryTransport


class MemoryTail:
    def __init__(self, transport: MemoryTransport) -> None:
        self._t = transport
        self._positions: dict[TopicPartition, int] = {}

    def _log(self, tp: TopicPartition) -> list[Record]:
        partitions = self._t.topics.get(tp.topic, [])
        return partitions[tp.partition] if tp.partition < len(partitions) else []

    async def partition_count(self, topic: str) -> int:
        return len(self._t.topics.get(topic, []))

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self._log(tp)) for tp in partitions}

    async def offsets_at(self, partitions: Sequence[TopicPartition], timestamp_ms: int) -> dict[TopicPartition, int]:
        out = {}
        for tp in partitions:
            log = self._log(tp)
            out[tp] = next((r.offset for r in log if r.timestamp_ms >= timestamp_ms), len(log))
        return out

    async def assign(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._positions.update(offsets)

    def _take(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        for tp, position in self._positions.items():
            batch = self._log(tp)[position : position + max_records - len(out)]
            self._positions[tp] = position + len(batch)
            out.extend(batch)
        return out

    async def poll(self, max_records: int, timeout: float) -> list[Record]:
        records = self._take(max_records)
        if not records:
            await self._t.wait_for_change(timeout)
            records = self._take(max_records)
        return records

    async def read_range(
        self, start: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int], timeout: float = 30.0
    ) -> list[Record]:
        return [r for tp, first in start.items() for r in self._log(tp)[first : end.get(tp, 0)]]

    async def close(self) -> None:
        self._positions.clear()
