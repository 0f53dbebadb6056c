"""A confluent-kafka consumer driven from asyncio through one dedicated thread.

librdkafka runs rebalance callbacks inside ``consume()``, on the thread that
called it. Every consumer call therefore goes through one single-thread
executor, and the async rebalance callbacks are run on the event loop while
that thread waits for them.

Group protocol: the consumer group protocol of KIP-848 (``group.protocol=consumer``,
Kafka 4.0 and later) by default. With it, a member keeps its partitions through
a broker restart of any length: the restarted coordinator reloads the group
and the member goes on heartbeating, so records flow again within about a
second of the broker answering. (With the classic protocol a member whose
session lapsed during the outage joins again as a new member, and the broker
waits a session timeout for the old one first.) Its session timeout and
heartbeat interval are broker settings (``group.consumer.*``); the embedded
broker sets 10 s and 1 s. ``AGENTFLUX_KAFKA_GROUP_PROTOCOL=classic`` selects the
classic protocol for older clusters, with a 10 s session, 1 s heartbeats and
the cooperative-sticky assignor. A consumer with static membership
(``group.instance.id``, ``agentflux run --instance-id``) uses the classic
protocol too: only there does a member restarted after a crash take its
partitions back at once (the consumer protocol refuses the instance id until
the dead member's session expires).

Broker outages: librdkafka reconnects by itself; meanwhile ``poll`` returns
nothing and a commit raises ``CommitFailed``, which the runtime retries with
its next commit. A fatal error (for example ``Static consumer fenced by other
consumer with same group.instance.id`` after a broker restart) makes the
consumer unusable: ``poll`` and ``commit`` then raise ``ConsumerFailed``, and
the runtime rejoins the group with a new consumer.
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

from agentflux.contract.errors import CommitFailed, ConsumerFailed
from agentflux.transport.base import AssignCallback, Position, Positions, Record, RevokeCallback, TopicPartition
from agentflux.transport.health import ClusterWatch
from agentflux.transport.kafka_client import client_config, make_client, to_record
from agentflux.transport.kafka_errors import QUIET, REBALANCE, Op, is_fatal, kafka_error, map_kafka_errors, reason
from agentflux.transport.settings import KafkaSettings

log = logging.getLogger("agentflux.transport")

_CLASSIC_ONLY = {"session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"}
_CLASSIC_DEFAULTS = {
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 1_000,
    "partition.assignment.strategy": "cooperative-sticky",
}
_CLOSE_TIMEOUT = 15.0


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
        watch: ClusterWatch,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.watch = watch
        self._fatal: KafkaError | None = None
        config = consumer_config(client_config(settings, watch, self._on_error), group_id, from_beginning, {
            **settings.consumer_config, **(extra or {}),
        })  # fmt: skip
        self._group = group_id
        self._consumer = make_client(_Consumer, config)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"consumer-{group_id}")
        self._loop = asyncio.get_running_loop()
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._consumer.subscribe(
            list(topics), on_assign=self._assign_cb, on_revoke=self._revoke_cb, on_lost=self._lost_cb
        )
        self._closed = False

    def _on_error(self, err: KafkaError) -> None:
        if is_fatal(err):
            log.error("%s: the consumer failed: %s", self._group, err.str())
            self._fatal = err

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise kafka_error(self._fatal, Op.CONSUME, f"group {self._group}")

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await self._loop.run_in_executor(self._thread, fn, *args)

    def _assign_cb(self, consumer: Any, partitions: list[_TP]) -> None:
        if self._on_assigned and partitions:
            tps = [TopicPartition(p.topic, p.partition) for p in partitions]
            committed = self._committed(consumer, partitions)
            asyncio.run_coroutine_threadsafe(self._on_assigned(tps, committed), self._loop).result()

    def _committed(self, consumer: Any, partitions: list[_TP]) -> dict[TopicPartition, Position]:
        # The group's own OffsetFetch (never the admin API's: librdkafka crashes on its NOT_COORDINATOR path).
        try:
            found = consumer.committed([_TP(p.topic, p.partition) for p in partitions], timeout=5)
        except KafkaException as exc:  # best effort: without it, finished records may run again
            log.info("%s: could not read the committed positions: %s", self._group, reason(exc))
            return {}
        return {
            TopicPartition(p.topic, p.partition): Position(p.offset, p.metadata or "") for p in found if p.offset >= 0
        }

    def _revoke_cb(self, _c: Any, partitions: list[_TP]) -> None:
        if self._on_revoked and partitions and not self._closed:
            tps = [TopicPartition(p.topic, p.partition) for p in partitions]
            positions = asyncio.run_coroutine_threadsafe(self._on_revoked(tps), self._loop).result()
            try:
                self._commit_sync(positions)
            except (CommitFailed, ConsumerFailed) as exc:
                log.info("%s: %s; the new owner reads those records again", self._group, exc)

    def _lost_cb(self, _c: Any, partitions: list[_TP]) -> None:
        if self._on_revoked and partitions and not self._closed:
            tps = [TopicPartition(p.topic, p.partition) for p in partitions]
            log.warning("%s: lost %d partition(s) (the group moved on without this member)", self._group, len(tps))
            asyncio.run_coroutine_threadsafe(self._on_revoked(tps), self._loop).result()

    def _fetch(self, max_records: int, timeout: float) -> list[Any]:
        # consume(n, t) waits for n messages or t seconds, whichever is first: poll() returns
        # as soon as one message is there, then consume(..., 0) takes what is already fetched.
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        return [first, *self._consumer.consume(max_records - 1, 0)] if max_records > 1 else [first]

    async def poll(self, max_records: int, timeout: float) -> list[Record]:
        self._check_fatal()
        with map_kafka_errors(Op.CONSUME, f"group {self._group}"):
            messages = await self._run(self._fetch, max_records, timeout)
        records = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if is_fatal(err):
                    self._fatal = err
                elif err.code() not in QUIET:
                    log.warning("%s: consumer error (librdkafka retries it): %s", self._group, err.str())
                continue
            records.append(to_record(msg))
        self._check_fatal()
        if records:
            self.watch.mark_back()
        return records

    def _commit_sync(self, positions: Positions) -> None:
        if not positions:
            return
        self._check_fatal()
        offsets = [_TP(tp.topic, tp.partition, p.offset, metadata=p.metadata) for tp, p in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # More than a translation: a fatal error also marks the consumer failed, and a commit the group
            # refused because it moved on is skipped (the new owner reads those records again).
            err = exc.args[0]
            if is_fatal(err):
                self._fatal = err
            elif err.code() in REBALANCE:
                log.info(
                    "%s: commit skipped during a rebalance (records will be redelivered): %s", self._group, err.str()
                )
                return
            raise kafka_error(exc, Op.COMMIT, f"group {self._group}") from exc

    async def commit(self, positions: Positions) -> None:
        await self._run(self._commit_sync, dict(positions))

    async def pause(self, partitions: Sequence[TopicPartition]) -> None:
        await self._run(self._consumer.pause, [_TP(p.topic, p.partition) for p in partitions])

    async def resume(self, partitions: Sequence[TopicPartition]) -> None:
        await self._run(self._consumer.resume, [_TP(p.topic, p.partition) for p in partitions])

    async def close(self) -> None:
        """Leave the group (commit first: revoke callbacks are not run on close).

        Closing waits for the group coordinator; when it cannot be reached the
        wait is cut after ``_CLOSE_TIMEOUT`` seconds and the member's session
        simply expires on the broker.
        """
        if self._closed:
            return
        self._closed = True
        closing = self._loop.run_in_executor(self._thread, self._close_quietly)
        try:
            await asyncio.wait_for(asyncio.shield(closing), _CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("%s: leaving the group did not finish within %gs; going on", self._group, _CLOSE_TIMEOUT)
        self._thread.shutdown(wait=False)

    def _close_quietly(self) -> None:
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:  # leaving is best effort: the session expires anyway
            log.info("%s: closing the consumer: %s", self._group, exc)


def consumer_config(
    client: Mapping[str, Any], group_id: str, from_beginning: bool, options: Mapping[str, Any]
) -> dict[str, Any]:
    """A group member's configuration: ``client`` (shared options), ours, then ``options`` (the caller's).

    The group protocol is the one the options name, else classic for a static
    member (``group.instance.id``), else the consumer protocol.
    """
    named = options.get("group.protocol") or client.get("group.protocol")
    protocol = named or ("classic" if "group.instance.id" in options else "consumer")
    config = {
        **client,
        "group.id": group_id,
        "group.protocol": protocol,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "fetch.wait.max.ms": 50,
        **options,
    }
    return group_protocol_options({**config, "group.protocol": protocol})


def group_protocol_options(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the options of its group protocol: classic defaults, or classic-only options removed."""
    if str(config.get("group.protocol", "classic")).lower() == "classic":
        return {**_CLASSIC_DEFAULTS, **config}
    ignored = sorted(_CLASSIC_ONLY & set(config))
    if ignored:
        log.info(
            "ignoring %s for agentflux consumers: with group.protocol=consumer they are broker settings "
            "(group.consumer.*)",
            ", ".join(ignored),
        )
    return {k: v for k, v in config.items() if k not in _CLASSIC_ONLY}
