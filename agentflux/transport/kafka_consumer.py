"""A confluent-kafka consumer driven from asyncio through one dedicated thread.

librdkafka runs rebalance callbacks inside ``consume()``, on the thread that
called it. Every consumer call therefore goes through one single-thread
executor, and the async rebalance callbacks are run on the event loop while
that thread waits for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer as _Consumer
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as _TP

from agentflux.contract.errors import TransportError
from agentflux.transport.base import AssignCallback, Record, RevokeCallback, TopicPartition
from agentflux.transport.settings import KafkaSettings

log = logging.getLogger("agentflux.transport")

# Commit failures that only mean "the group moved on": the records will be
# redelivered to the new owner, which at-least-once allows.
_REBALANCE_CODES = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._NO_OFFSET,
    KafkaError._STATE,
}


class KafkaConsumer:
    """One consumer-group member. Auto-commit is off; the runtime commits."""

    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        *,
        on_assigned: AssignCallback | None,
        on_revoked: RevokeCallback | None,
        from_beginning: bool,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        config: dict[str, Any] = {
            **settings.base_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "fetch.wait.max.ms": 50,
            **settings.consumer_config,
            **(extra or {}),
        }
        self._consumer = _Consumer(config, logger=log)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"consumer-{group_id}")
        self._loop = asyncio.get_running_loop()
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._consumer.subscribe(list(topics), on_assign=self._assign_cb, on_revoke=self._revoke_cb)
        self._closed = False

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await self._loop.run_in_executor(self._thread, fn, *args)

    def _assign_cb(self, _c: Any, partitions: list[_TP]) -> None:
        if self._on_assigned and partitions:
            tps = [TopicPartition(p.topic, p.partition) for p in partitions]
            asyncio.run_coroutine_threadsafe(self._on_assigned(tps), self._loop).result()

    def _revoke_cb(self, _c: Any, partitions: list[_TP]) -> None:
        if self._on_revoked and partitions and not self._closed:
            tps = [TopicPartition(p.topic, p.partition) for p in partitions]
            offsets = asyncio.run_coroutine_threadsafe(self._on_revoked(tps), self._loop).result()
            self._commit_sync(offsets)

    def _fetch(self, max_records: int, timeout: float) -> list[Any]:
        # consume(n, t) waits for n messages or t seconds, whichever is first: poll() returns
        # as soon as one message is there, then consume(..., 0) takes what is already fetched.
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        return [first, *self._consumer.consume(max_records - 1, 0)] if max_records > 1 else [first]

    async def poll(self, max_records: int, timeout: float) -> list[Record]:
        messages = await self._run(self._fetch, max_records, timeout)
        records = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise TransportError(f"consumer failed: {err.str()}")
                log.warning("consumer error (librdkafka retries it): %s", err.str())
                continue
            records.append(
                Record(
                    topic=msg.topic(),
                    partition=msg.partition(),
                    offset=msg.offset(),
                    key=msg.key(),
                    value=msg.value(),
                    headers=list(msg.headers() or ()),
                    timestamp_ms=msg.timestamp()[1],
                )
            )
        return records

    def _commit_sync(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                offsets=[_TP(tp.topic, tp.partition, off) for tp, off in offsets.items()], asynchronous=False
            )
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() not in _REBALANCE_CODES:
                raise TransportError(f"commit failed: {err.str()}") from exc
            log.info("commit skipped during a rebalance (records will be redelivered): %s", err.str())

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        await self._run(self._commit_sync, dict(offsets))

    async def pause(self, partitions: Sequence[TopicPartition]) -> None:
        await self._run(self._consumer.pause, [_TP(p.topic, p.partition) for p in partitions])

    async def resume(self, partitions: Sequence[TopicPartition]) -> None:
        await self._run(self._consumer.resume, [_TP(p.topic, p.partition) for p in partitions])

    async def close(self) -> None:
        """Leave the group. Commit first: revoke callbacks are not run on close."""
        if self._closed:
            return
        self._closed = True
        await self._run(self._consumer.close)
        self._thread.shutdown(wait=True)
