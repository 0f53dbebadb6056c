"""The transport seam: the few operations the runtime needs from a broker.

Two implementations exist: ``KafkaTransport`` (confluent-kafka, real brokers)
and ``MemoryTransport`` (in-process, for unit tests of handler logic). A
``Transport`` publishes and provisions topics and makes the two kinds of
readers: a ``Consumer`` (a member of a consumer group, which commits) and a
``Tail`` (partitions and offsets chosen by the caller, no group, no commits).
The contract of each operation is on its method below; the errors it names
are those of ``agentflux.contract.errors``. Offsets are Kafka's: a position is
the *next* offset to read.
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
    """A member of a consumer group, reading the partitions the group assigns it; made by ``Transport.consumer``.

    One task drives it: ``poll``, ``commit``, ``pause`` and ``resume`` are never
    called concurrently with each other, and none of them after ``close``.
    Delivery is at least once: records after the group's last commit are
    delivered again to whichever member owns their partition next.
    """

    async def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records, waiting at most ``timeout`` seconds for the first; ``[]`` if none came.

        It returns as soon as a record is there, with what has been fetched
        by then. Records of one partition come in offset order; paused
        partitions give none. Nothing is committed.

        Rebalance callbacks run inside ``poll``, before it returns records of
        the new assignment. ``on_assigned`` receives the new partitions and the
        committed position of each (offset and metadata; a partition the group
        never committed is absent, and so are all when they cannot be read).
        ``on_revoked`` returns the positions to commit for partitions that are
        taken away; they are committed, best effort, before the partitions go.
        Partitions *lost* (the member's session expired) are given to
        ``on_revoked`` too, and what it returns is not committed. A partition
        the group never committed starts at its oldest record with
        ``from_beginning``, else at its end.

        A broker outage never raises: polls return ``[]`` until the broker is
        back. Raises ``ConsumerFailed`` after a fatal error (a fenced static
        member, for example) or any error the client raises: this consumer
        cannot go on; close it and make a new one. Cancelling a ``poll`` may
        drop, for this consumer, the records it was fetching: cancel only to
        stop reading (they are not committed, so the next owner reads them).
        """
        ...

    async def commit(self, positions: Positions) -> None:
        """Commit, per partition, the next offset to read and a metadata string; return once the broker has them.

        The runtime puts the offsets that finished above the committed one in
        the metadata. An empty mapping commits nothing. A commit the group
        refuses because it has moved on (a rebalance took the partitions) is
        skipped without raising: the new owner reads those records again.
        Raises ``CommitFailed`` when the commit did not go through (a broker
        outage, no coordinator): a later commit of the same or higher positions
        retries it. Raises ``ConsumerFailed`` after a fatal error, as ``poll``.
        """
        ...

    async def pause(self, partitions: Sequence[TopicPartition]) -> None:
        """Stop returning records of these assigned partitions; the group membership and positions are kept."""
        ...

    async def resume(self, partitions: Sequence[TopicPartition]) -> None:
        """Return records of these paused partitions again, from where they stopped."""
        ...

    async def close(self) -> None:
        """Leave the group; idempotent, never raises.

        Nothing is committed and ``on_revoked`` is not called: commit first.
        Records not committed are delivered again to the next owner. On Kafka
        the wait for the group coordinator is cut after 15 s (the member's
        session then expires on the broker).
        """
        ...


class Tail(Protocol):
    """A reader of partitions and offsets chosen by the caller, outside any group; made by ``Transport.tail``.

    It commits nothing and disturbs no group. ``assign`` and ``poll`` may be
    called from different tasks (they run one after the other); lookups
    (``partition_count``, ``end_offsets``, ``offsets_at``) may run at any
    time. Nothing is called after ``close``. Lookups wait out a topic created a
    moment ago or a moving leader (about 10 s on Kafka) before they raise
    ``TransportError``.
    """

    async def partition_count(self, topic: str) -> int:
        """How many partitions ``topic`` has; 0 when it does not exist.

        Raises ``TransportError`` when the metadata cannot be read (no broker
        answers, or the topic exists but may not be read, e.g. not authorized).
        """
        ...

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset the next record of each partition will get, asked from the broker at the call.

        Never a cached value: a caller that takes the end offset, assigns it
        and only then publishes a request cannot miss the reply. Raises
        ``TransportError`` when the offsets cannot be looked up (on Kafka also
        for a partition that does not exist; the memory transport says 0).
        """
        ...

    async def offsets_at(self, partitions: Sequence[TopicPartition], timestamp_ms: int) -> dict[TopicPartition, int]:
        """The first offset with a timestamp at or after ``timestamp_ms``, or the end offset when none has one.

        ``timestamp_ms=0`` gives the oldest record each partition still holds.
        Raises ``TransportError`` when the offsets cannot be looked up.
        """
        ...

    async def assign(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Start reading these partitions at these offsets, in addition to those already read.

        Assign a partition once (again is an error on Kafka). Raises
        ``TransportError`` when the client refuses, or ``ConsumerFailed``
        after a fatal error.
        """
        ...

    async def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records of the assigned partitions, waiting at most ``timeout`` s for the first.

        ``[]`` when none came, also during a broker outage (which never
        raises). Records of one partition come in offset order.
        Raises ``ConsumerFailed`` after a fatal error: this tail cannot go on;
        close it and go on from the last positions with a new one
        (``TopicFollower`` does). Other client errors raise ``TransportError``.
        """
        ...

    async def read_range(
        self, start: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int], timeout: float = 30.0
    ) -> list[Record]:
        """Every record from ``start`` up to (not including) ``end``, per partition of ``start``.

        A partition missing from ``end``, or with ``end`` at or before
        ``start``, gives nothing. Each partition's records are in offset order;
        the partitions may interleave. Offsets without a record (compaction,
        transaction markers) are passed over. Kafka assigns the partitions for
        the call and unassigns them after, so call it on a tail that reads
        nothing else meanwhile (no ``assign``, no ``poll``). Raises
        ``TransportError`` when ``end`` is not reached within ``timeout``
        seconds, or as ``poll``.
        """
        ...

    async def close(self) -> None:
        """Stop reading and release the client; idempotent."""
        ...


class Transport(Protocol):
    """Publishing, topic provisioning and the readers, on one cluster.

    ``watch`` tells whether the cluster is reachable (``transport.health``).
    ``publish``, ``ensure_topics``, ``read_all`` and ``list_topics`` may be
    called from many tasks at once. ``start`` comes first and ``close`` last:
    the Kafka transport raises ``LifecycleError`` from ``publish``,
    ``ensure_topics`` and ``list_topics`` outside them.
    Readers (``consumer``, ``tail``) are the caller's to close; ``close`` does
    not close them.
    """

    watch: ClusterWatch

    async def start(self) -> None:
        """Connect; idempotent. Raises ``BrokerUnavailable`` when no broker answers within the connect timeout.

        ``KafkaSettings.connect_timeout`` None waits as long as it takes.
        Raises ``ConfigError`` for an invalid client setting.
        """
        ...

    async def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Ack:
        """Write one record and return where it landed, once the broker has acknowledged it.

        On Kafka the acknowledgement is from all in-sync replicas, and the
        producer is idempotent. Records with one key go to one partition;
        ``partition=n`` writes to partition ``n`` instead (request-reply: the
        requester names its reply partition). Records to one partition keep
        the order of the calls. ``headers`` keep their order. The topic must
        exist (``ensure_topics`` first): on a cluster without auto-creation a
        missing topic is a ``PublishError`` after the client's wait, while the
        memory transport creates it.

        During a broker outage the call waits while the client retries (on
        Kafka up to ``message.timeout.ms``, 5 minutes by default). Raises
        ``MessageTooLarge`` (``transient = False``) for a value over
        ``KafkaSettings.max_message_bytes`` (the memory transport has no
        limit) or one the broker refuses for its size, and
        ``PublishError`` when the broker refused or lost the record
        (``transient = False`` when no retry can help, such as a topic the
        client may not write). Cancelling the call does not withdraw the
        record: it may still be written.
        """
        ...

    def consumer(
        self,
        group_id: str,
        topics: Sequence[str],
        *,
        on_assigned: AssignCallback | None = None,
        on_revoked: RevokeCallback | None = None,
        from_beginning: bool = True,
    ) -> Consumer:
        """A new member of ``group_id`` subscribed to ``topics``; partitions come to it during its polls.

        The callbacks and ``from_beginning`` are described on
        ``Consumer.poll``. Call it on the event loop that will drive the
        consumer. Raises ``ConfigError`` for an invalid client setting.
        """
        ...

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        """Create the topics of ``specs`` that do not exist; existing ones are left as they are.

        Idempotent, also when several processes provision the same topics.
        Raises ``TransportError`` when a topic cannot be created.
        """
        ...

    async def read_all(self, topic: str) -> list[Record]:
        """Every record of ``topic`` as of the call, partition by partition, each in offset order.

        Records published after the call are not included. A topic that does
        not exist has none (``[]``). Raises ``TransportError`` when the
        topic cannot be read (its metadata refused, or not read to its end
        within 30 s). It joins no group and commits nothing.
        """
        ...

    async def list_topics(self) -> list[str]:
        """Names of the topics that exist, sorted, without the broker's internal ones (``__``...).

        Raises ``TransportError`` when no broker answers within 10 s.
        """
        ...

    def tail(self) -> Tail:
        """A new ``Tail`` on this cluster, with nothing assigned. The caller closes it."""
        ...

    async def close(self) -> None:
        """Wait (on Kafka up to 10 s) for records already published to be acknowledged, then disconnect.

        Idempotent. Consumers and tails made by the transport are not closed by it.
        """
        ...
