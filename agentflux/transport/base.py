"""The transport seam: the few operations the runtime needs from a broker.

Two implementations exist: ``KafkaTransport`` (confluent-kafka, real brokers)
and ``MemoryTransport`` (in-process, for unit tests of handler logic).

Contract for implementers:

* ``publish`` returns only once the record is acknowledged (for Kafka: by all
  in-sync replicas). It may be called concurrently from many tasks.
* A ``Consumer`` is driven by one task: ``poll``, ``commit``, ``pause`` and
  ``resume`` are never called concurrently with each other.
* ``commit`` takes the *next* offset to read per partition, as Kafka does,
  with a metadata string per partition (the runtime encodes the offsets that
  finished above it there). A commit that does not go through raises
  ``CommitFailed`` (retry later) or ``ConsumerFailed`` (the consumer is
  unusable: make a new one); ``poll`` raises ``ConsumerFailed`` likewise. A
  broker outage by itself never raises from ``poll``: it returns no records.
* Rebalance callbacks run inside ``poll``. ``on_assigned`` receives the
  committed position of each new partition (offset and metadata; a partition
  the group never committed is absent, and so are all when they cannot be read).
  ``on_revoked`` returns the offsets to commit for the revoked partitions; the
  transport commits them, best effort, before it gives the partitions away.
  Partitions *lost* (the member's session expired) are revoked with nothing
  committed.
* ``watch`` tells whether the cluster is reachable (``transport.health``).
* ``publish(..., partition=n)`` writes to partition ``n`` instead of the one
  the key selects (request-reply: the requester names its reply partition).
* A ``Tail`` reads partitions chosen by the caller from offsets chosen by the
  caller, outside any consumer group, and commits nothing. Like a
  ``Consumer`` it is driven by one task at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from agentflux.contract.topics import TopicSpec
from agentflux.transport.health import ClusterWatch

Headers = list[tuple[str, bytes]]


class TopicPartition(NamedTuple):
    """A partition of a topic. A tuple, so hashing it is cheap on the per-record path."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    """A record as read from the broker. ``headers`` keep the broker's order."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp_ms: int

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    @property
    def ref(self) -> str:
        """``topic/partition/offset``: where this record lives."""
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True, slots=True)
class Ack:
    """Where a published record landed."""

    topic: str
    partition: int
    offset: int


class Position(NamedTuple):
    """A committed position: the next offset to read, and the metadata committed with it."""

    offset: int
    metadata: str = ""


Positions = Mapping[TopicPartition, Position]
AssignCallback = Callable[[list[TopicPartition], Positions], Coroutine[Any, Any, None]]
RevokeCallback = Callable[[list[TopicPartition]], Coroutine[Any, Any, Positions]]


class Consumer(Protocol):
    async def poll(self, max_records: int, timeout: float) -> list[Record]: ...

    async def commit(self, positions: Positions) -> None: ...

    async def pause(self, partitions: Sequence[TopicPartition]) -> None: ...

    async def resume(self, partitions: Sequence[TopicPartition]) -> None: ...

    async def close(self) -> None: ...


class Tail(Protocol):
    async def partition_count(self, topic: str) -> int:
        """How many partitions ``topic`` has; 0 when it does not exist."""
        ...

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset the next record of each partition will get."""
        ...

    async def offsets_at(self, partitions: Sequence[TopicPartition], timestamp_ms: int) -> dict[TopicPartition, int]:
        """The first offset with a timestamp at or after ``timestamp_ms``, or the end offset."""
        ...

    async def assign(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Start reading these partitions (in addition to those already read) at these offsets."""
        ...

    async def poll(self, max_records: int, timeout: float) -> list[Record]: ...

    async def read_range(
        self, start: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int], timeout: float = 30.0
    ) -> list[Record]:
        """Every record from ``start`` up to (not including) ``end``, per partition."""
        ...

    async def close(self) -> None: ...


class Transport(Protocol):
    watch: ClusterWatch

    async def start(self) -> None: ...

    async def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Ack: ...

    def consumer(
        self,
        group_id: str,
        topics: Sequence[str],
        *,
        on_assigned: AssignCallback | None = None,
        on_revoked: RevokeCallback | None = None,
        from_beginning: bool = True,
    ) -> Consumer: ...

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None: ...

    async def read_all(self, topic: str) -> list[Record]: ...

    async def list_topics(self) -> list[str]:
        """Names of the topics that exist, sorted, without the broker's internal ones."""
        ...

    def tail(self) -> Tail: ...

    async def close(self) -> None: ...
