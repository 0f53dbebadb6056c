"""``KafkaTail``: a consumer with manual assignment, for reply listening and state restores.

It never joins a group and commits nothing (the ``group.id`` it must carry is
random and unused). Assignments, polls and range reads run on one dedicated
thread, as for ``KafkaConsumer``, so they never overlap. Lookups go through an
admin client of its own (metadata, and ``ListOffsets``, never cached): a caller
that takes the end offset, assigns it and only then publishes a request cannot
miss a reply, however fast it comes. Its contract is ``transport.base.Tail``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as _TP
from confluent_kafka.admin import AdminClient, OffsetSpec

from agentflux.contract.errors import LifecycleError, TransportError
from agentflux.transport.base import Record, TopicPartition
from agentflux.transport.health import ClusterWatch
from agentflux.transport.kafka_client import client_config, make_client, to_record
from agentflux.transport.kafka_errors import QUIET, Op, error_of, is_fatal, is_passing, kafka_error, map_kafka_errors
from agentflux.transport.settings import KafkaSettings

log = logging.getLogger("agentflux.transport")
T = TypeVar("T")
_LOOKUP_PATIENCE = 10.0


class KafkaTail:
    def __init__(self, settings: KafkaSettings, watch: ClusterWatch) -> None:
        self.watch = watch
        config: dict[str, Any] = {
            **client_config(settings, watch),
            "group.id": f"agentflux-tail-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            **settings.consumer_config,
        }
        self._consumer = make_client(Consumer, config)
        self._admin_client: AdminClient | None = make_client(
            AdminClient, {**client_config(settings, watch), "allow.auto.create.topics": False}
        )
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentflux-tail")
        self._closed = False

    @property
    def _admin(self) -> AdminClient:
        if self._admin_client is None:
            raise LifecycleError("KafkaTail used after close()")
        return self._admin_client

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        with map_kafka_errors(Op.READ):
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def _lookup(self, fn: Callable[[], T]) -> T:
        # Lookups go through an admin client: on the consumer's own connection they would queue
        # behind its fetch long-poll. A topic created a moment ago may have no leader yet.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _LOOKUP_PATIENCE
        while True:
            try:
                return await loop.run_in_executor(None, fn)
            except KafkaException as exc:  # not only translated: a passing error is waited out first
                err = error_of(exc)
                if err is not None and is_passing(err) and loop.time() < deadline:
                    await asyncio.sleep(0.05)
                    continue
                raise kafka_error(exc, Op.LOOKUP) from exc

    async def partition_count(self, topic: str) -> int:
        def count() -> int:
            info = self._admin.list_topics(topic, timeout=10).topics.get(topic)
            if info is None or (info.error is not None and info.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                return 0
            if info.error is not None and not is_passing(info.error):
                raise KafkaException(info.error)  # the topic exists but cannot be read (not authorized, ...)
            return len(info.partitions)

        return await self._lookup(count)

    def _offsets(self, partitions: Sequence[TopicPartition], spec: OffsetSpec) -> dict[TopicPartition, int]:
        query = {_TP(tp.topic, tp.partition): spec for tp in partitions}
        found = self._admin.list_offsets(query, request_timeout=10)
        return {TopicPartition(tp.topic, tp.partition): f.result().offset for tp, f in found.items()}

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        return await self._lookup(lambda: self._offsets(partitions, OffsetSpec.latest()))

    async def offsets_at(self, partitions: Sequence[TopicPartition], timestamp_ms: int) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        found = await self._lookup(lambda: self._offsets(partitions, OffsetSpec.for_timestamp(timestamp_ms)))
        ends = await self.end_offsets([tp for tp, offset in found.items() if offset < 0])
        return {tp: offset if offset >= 0 else ends[tp] for tp, offset in found.items()}

    async def assign(self, offsets: Mapping[TopicPartition, int]) -> None:
        await self._run(self._consumer.incremental_assign, [_TP(t.topic, t.partition, o) for t, o in offsets.items()])

    def _fetch(self, max_records: int, timeout: float) -> list[Record]:
        # poll() returns as soon as one message is there; consume(n, 0) then takes what is already fetched.
        first = self._consumer.poll(timeout)
        messages = [] if first is None else [first, *self._consumer.consume(max_records - 1, 0)]
        out = []
        for msg in messages:
            err = msg.error()
            if err is None:
                out.append(to_record(msg))
            elif is_fatal(err):
                raise kafka_error(err, Op.READ)
            elif err.code() not in QUIET:
                log.warning("tail error (librdkafka retries it): %s", err.str())
        if out:
            self.watch.mark_back()
        return out

    async def poll(self, max_records: int, timeout: float) -> list[Record]:
        return await self._run(self._fetch, max_records, timeout)

    async def read_range(
        self, start: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int], timeout: float = 30.0
    ) -> list[Record]:
        wanted = {tp: (offset, end[tp]) for tp, offset in start.items() if offset < end.get(tp, 0)}
        if not wanted:
            return []
        return await self._run(self._read_range, wanted, timeout)

    def _read_range(self, wanted: dict[TopicPartition, tuple[int, int]], timeout: float) -> list[Record]:
        tps = [_TP(tp.topic, tp.partition, first) for tp, (first, _) in wanted.items()]
        self._consumer.incremental_assign(tps)
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                for record in self._fetch(1000, 0.2):
                    if record.offset < wanted[record.tp][1]:
                        out.append(record)
                # The position passes gaps (compaction, transaction markers) that no record shows.
                positions = self._consumer.position([_TP(tp.topic, tp.partition) for tp in wanted])
                if all(p.offset >= wanted[TopicPartition(p.topic, p.partition)][1] for p in positions):
                    return out
                if time.monotonic() > deadline:
                    raise TransportError(f"reading {sorted(wanted, key=str)} did not reach the end in {timeout:g}s")
        finally:
            self._consumer.incremental_unassign([_TP(tp.topic, tp.partition) for tp in wanted])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._admin_client = None  # dropped now: its connections close with it, not at interpreter exit
        await asyncio.get_running_loop().run_in_executor(self._thread, self._consumer.close)
        self._thread.shutdown(wait=True)
