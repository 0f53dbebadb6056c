"""The Kafka transport: producer, consumers and topic provisioning on confluent-kafka."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from agentflux.contract.errors import BrokerUnavailable, LifecycleError, TransportError
from agentflux.contract.topics import TopicSpec
from agentflux.transport.base import Ack, AssignCallback, Headers, Record, RevokeCallback, TopicPartition
from agentflux.transport.health import ClusterWatch
from agentflux.transport.kafka_client import client_config, cluster_watch, make_client
from agentflux.transport.kafka_consumer import KafkaConsumer
from agentflux.transport.kafka_errors import Op, error_of, kafka_error, map_kafka_errors, reason
from agentflux.transport.kafka_producer import AsyncProducer
from agentflux.transport.kafka_tail import KafkaTail
from agentflux.transport.settings import KafkaSettings

log = logging.getLogger("agentflux.transport")


class KafkaTransport:
    """``Transport`` on a real Kafka cluster. ``start()`` checks that a broker answers.

    Every client it makes reports to the process-wide ``watch`` of the cluster.
    """

    def __init__(self, settings: KafkaSettings, *, consumer_extra: Mapping[str, Any] | None = None) -> None:
        self.settings = settings
        self.watch = cluster_watch(settings)
        self._consumer_extra = dict(consumer_extra or {})
        self._admin: AdminClient | None = None
        self._producer: AsyncProducer | None = None

    @classmethod
    def resolve(
        cls,
        bootstrap_servers: str | None = None,
        *,
        consumer_extra: Mapping[str, Any] | None = None,
        **settings_options: Any,
    ) -> KafkaTransport:
        """A transport on the cluster ``KafkaSettings.resolve`` finds (argument, environment, embedded broker).

        ``settings_options`` are the other ``KafkaSettings`` fields (``connect_timeout``,
        ``client_config``, ...); ``ConfigError`` when no cluster is configured.
        """
        return cls(KafkaSettings.resolve(bootstrap_servers, **settings_options), consumer_extra=consumer_extra)

    async def start(self) -> None:
        if self._producer is not None:
            return
        self._admin = make_client(AdminClient, client_config(self.settings, self.watch))
        await wait_for_broker(self._admin, self.settings.bootstrap_servers, self.settings.connect_timeout, self.watch)
        self._producer = AsyncProducer(self.settings, self.watch)

    def _require_producer(self) -> AsyncProducer:
        if self._producer is None:
            raise LifecycleError("KafkaTransport used before start() or after close()")
        return self._producer

    async def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Ack:
        return await self._require_producer().publish(topic, value, key=key, headers=headers, partition=partition)

    def tail(self) -> KafkaTail:
        """A group-less reader with manual assignment (reply listening, state restores)."""
        return KafkaTail(self.settings, self.watch)

    def consumer(
        self,
        group_id: str,
        topics: Sequence[str],
        *,
        on_assigned: AssignCallback | None = None,
        on_revoked: RevokeCallback | None = None,
        from_beginning: bool = True,
    ) -> KafkaConsumer:
        return KafkaConsumer(
            self.settings,
            group_id,
            topics,
            on_assigned=on_assigned,
            on_revoked=on_revoked,
            from_beginning=from_beginning,
            watch=self.watch,
            extra=self._consumer_extra,
        )

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        if self._admin is None:
            raise LifecycleError("KafkaTransport used before start() or after close()")
        await asyncio.get_running_loop().run_in_executor(None, create_topics, self._admin, list(specs))

    async def list_topics(self) -> list[str]:
        if self._admin is None:
            raise LifecycleError("KafkaTransport used before start() or after close()")
        admin = self._admin
        with map_kafka_errors(Op.LIST_TOPICS):
            metadata = await asyncio.get_running_loop().run_in_executor(None, lambda: admin.list_topics(timeout=10))
        return sorted(name for name in metadata.topics if not name.startswith("__"))

    async def read_all(self, topic: str) -> list[Record]:
        """Every record of ``topic`` up to its current end, partition by partition, on a tail of its own.

        The tail assigns every partition explicitly: it joins no group and commits nothing.
        """
        tail = self.tail()
        try:
            partitions = [TopicPartition(topic, p) for p in range(await tail.partition_count(topic))]
            start = await tail.offsets_at(partitions, 0)  # the oldest record each partition still holds
            records = await tail.read_range(start, await tail.end_offsets(partitions))
        except TransportError as exc:
            raise TransportError(f"cannot read topic {topic!r}: {exc}") from exc
        finally:
            await tail.close()
        return sorted(records, key=lambda r: (r.partition, r.offset))

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.close()
        self._producer = None
        self._admin = None


async def wait_for_broker(admin: AdminClient, bootstrap: str, timeout: float | None, watch: ClusterWatch) -> None:
    """Return once a broker answers; ``BrokerUnavailable`` after ``timeout`` s.

    With ``timeout`` None it waits as long as it takes, saying so once, and the
    wait counts as an outage for ``watch`` (one INFO when the cluster answers).
    Once the process has reached the cluster, a failure here (a second client
    starting just as the broker comes back) only makes the cluster suspect: the
    watch's probe decides, so a blip logs nothing and a real outage one WARNING.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    last = ""
    while deadline is None or loop.time() < deadline:
        try:
            await loop.run_in_executor(None, lambda: admin.list_topics(timeout=1.0))
            watch.mark_back()
            return
        except KafkaException as exc:  # not a failure yet: asked again until the deadline
            last = reason(exc)
        if deadline is None and not watch.lost and watch.reached:
            watch.mark_down(last)
        elif deadline is None and not watch.lost:
            log.warning(
                "no Kafka broker answers at %s yet (%s); waiting for one (start it with `agentflux up`, "
                "or set AGENTFLUX_BOOTSTRAP_SERVERS)", bootstrap, last,
            )  # fmt: skip
            watch.mark_down(last, announce=False)
    raise BrokerUnavailable(
        f"no Kafka broker answered at {bootstrap} within {timeout:g}s ({last}); "
        "start one with `agentflux up` or set AGENTFLUX_BOOTSTRAP_SERVERS"
    )


def create_topics(admin: AdminClient, specs: list[TopicSpec]) -> None:
    """Create the topics that do not exist yet. Existing topics are left as they are."""
    if not specs:
        return
    unique = {s.name: s for s in specs}.values()
    new = [NewTopic(s.name, s.partitions, s.replication_factor, config=s.topic_config()) for s in unique]
    for name, future in admin.create_topics(new, operation_timeout=10).items():
        try:
            future.result()
            log.info("created topic %s", name)
        except KafkaException as exc:
            err = error_of(exc)
            if err is None or err.code() != KafkaError.TOPIC_ALREADY_EXISTS:  # one that exists is left as it is
                raise kafka_error(exc, Op.CREATE_TOPIC, repr(name)) from exc
