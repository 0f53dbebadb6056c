"""``KafkaTransport.read_all`` on a real broker: the topic as of the call, partition by partition; none when missing."""

from __future__ import annotations

import pytest

from agentflux.contract.topics import TopicSpec
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


@pytest.mark.asyncio
async def test_read_all_returns_every_record_in_partition_order(kafka_bootstrap: str, unique: str) -> None:
    topic = f"test.read-all-{unique}.v1"
    transport = KafkaTransport(KafkaSettings(kafka_bootstrap))
    await transport.start()
    try:
        assert await transport.read_all(topic) == []  # not created yet: no records, no error
        await transport.ensure_topics([TopicSpec(topic, partitions=3)])
        assert await transport.read_all(topic) == []
        for i in range(12):
            await transport.publish(topic, str(i).encode(), partition=i % 3)
        records = await transport.read_all(topic)
        await transport.publish(topic, b"later", partition=0)
    finally:
        await transport.close()
    assert [(r.partition, r.offset) for r in records] == [(p, o) for p in range(3) for o in range(4)]
    assert [r.value for r in records] == [str(i).encode() for p in range(3) for i in range(p, 12, 3)]
