"""Reading a whole topic, start to current end, without joining a group.

Used by the tools that inspect the log (dead letters, traces). It assigns
every partition explicitly, so it commits nothing and disturbs no group.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as _TP

from agentflux.contract.errors import TransportError
from agentflux.transport.base import Record
from agentflux.transport.kafka_client import client_config, cluster_watch, make_client
from agentflux.transport.settings import KafkaSettings


def read_topic(settings: KafkaSettings, topic: str, timeout: float = 30.0) -> list[Record]:
    consumer = make_client(
        Consumer,
        {
            **client_config(settings, cluster_watch(settings)),
            "group.id": f"agentflux-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        },
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            if info is not None and info.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return []
            raise TransportError(f"cannot read topic {topic!r}: {info.error if info else 'no metadata'}")
        ends = {}
        for partition in info.partitions:
            low, high = consumer.get_watermark_offsets(_TP(topic, partition), timeout=10)
            if high > low:
                ends[partition] = high
        if not ends:
            return []
        consumer.assign([_TP(topic, p, OFFSET_BEGINNING) for p in ends])
        return _drain(consumer, topic, ends, timeout)
    except KafkaException as exc:
        raise TransportError(f"cannot read topic {topic!r}: {exc.args[0].str()}") from exc
    finally:
        consumer.close()


def _drain(consumer: Consumer, topic: str, ends: dict[int, int], timeout: float) -> list[Record]:
    out: list[Record] = []
    remaining = dict(ends)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.5):
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    remaining.pop(msg.partition(), None)
                continue
            partition, offset = msg.partition(), msg.offset()
            if offset + 1 >= remaining.get(partition, 0):
                remaining.pop(partition, None)
            if offset < ends[partition]:
                out.append(
                    Record(
                        msg.topic(),
                        partition,
                        offset,
                        msg.key(),
                        msg.value(),
                        list(msg.headers() or ()),
                        msg.timestamp()[1],
                    )
                )
    if remaining:
        raise TransportError(f"reading {topic!r} timed out with partitions {sorted(remaining)} unread")
    out.sort(key=lambda r: (r.partition, r.offset))
    return out
