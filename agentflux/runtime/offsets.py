"""Which offsets may be committed when records finish out of order.

Records of one partition complete in any order (different keys run
concurrently). The committed position is the lowest offset that has not
completed yet, so everything below it is done: a crash redelivers only work
that was still in flight, never skips any.
"""

from __future__ import annotations

from collections import deque

from agentflux.transport.base import TopicPartition


class PartitionOffsets:
    """Offsets of one partition, in the order they were read."""

    __slots__ = ("_done", "_next", "_pending")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._next: int | None = None

    def add(self, offset: int) -> None:
        self._pending.append(offset)

    def complete(self, offset: int) -> None:
        self._done.add(offset)
        pending = self._pending
        while pending and pending[0] in self._done:
            self._done.discard(pending[0])
            self._next = pending.popleft() + 1

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def committable(self) -> int | None:
        """The next offset to read after a restart, or None if nothing completed yet."""
        return self._next


class OffsetTracker:
    """Per-partition tracking for one consumer."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}
        self._committed: dict[TopicPartition, int] = {}

    def add(self, tp: TopicPartition, offset: int) -> None:
        partition = self._partitions.get(tp)
        if partition is None:
            partition = self._partitions[tp] = PartitionOffsets()
        partition.add(offset)

    def complete(self, tp: TopicPartition, offset: int) -> None:
        partition = self._partitions.get(tp)
        if partition is not None:  # None: the partition was revoked meanwhile
            partition.complete(offset)

    def in_flight(self) -> int:
        return sum(p.in_flight for p in self._partitions.values())

    def in_flight_of(self, tps: list[TopicPartition]) -> int:
        return sum(self._partitions[tp].in_flight for tp in tps if tp in self._partitions)

    def to_commit(self, tps: list[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Positions that advanced since the last ``mark_committed``."""
        out = {}
        for tp, partition in self._partitions.items():
            if tps is not None and tp not in tps:
                continue
            position = partition.committable
            if position is not None and position != self._committed.get(tp):
                out[tp] = position
        return out

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)

    def forget(self, tps: list[TopicPartition]) -> None:
        for tp in tps:
            self._partitions.pop(tp, None)
            self._committed.pop(tp, None)
