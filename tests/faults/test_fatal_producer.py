"""A producer that hits a fatal error is replaced: the records it held fail transiently, later ones go through."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import KafkaError
from kafka_helpers import create_topic

from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60), pytest.mark.asyncio]


async def test_a_fatal_producer_error_replaces_the_client(kafka_bootstrap: str, unique: str) -> None:
    topic = f"faults.note-{unique}.v1"
    create_topic(kafka_bootstrap, topic)
    transport = KafkaTransport(KafkaSettings(kafka_bootstrap))
    await transport.start()
    try:
        producer = transport._require_producer()
        before = producer._producer
        await transport.publish(topic, b"before")
        # librdkafka reports a fatal error (for an idempotent producer: its sequence state is lost).
        producer._on_error(KafkaError(KafkaError._FATAL, "injected by the test", fatal=True))
        async with asyncio.timeout(10):
            while producer._producer is before:
                await asyncio.sleep(0.01)
        ack = await transport.publish(topic, b"after")
        assert ack.offset == 1
    finally:
        await transport.close()
