"""Publish stamped records at a fixed rate with agentflux's publisher, from a process of its own.

bench_runtime.py's latency run starts it, so that the agent under test has its
process to itself, as an agent run by ``agentflux run`` has. Each record
carries its send time from ``time.monotonic()`` (CLOCK_MONOTONIC, one clock for
every process of the host), taken just before ``Publisher.publish`` is called.
With ``--bare`` it publishes the same records with a bare confluent-kafka
producer (raw_latency.py's settings) instead, to tell the publisher's share of
the latency from the agent's.

    python paced_publisher.py BOOTSTRAP TOPIC RATE COUNT [--bare]
"""

from __future__ import annotations

import asyncio
import sys
import time

from common import kafka_client
from confluent_kafka import Producer
from pydantic import BaseModel
from raw_latency import PRODUCER

from agentflux import TopicSpec
from agentflux.contract.envelope import Envelope
from agentflux.runtime.publisher import Publisher
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings


class Stamped(BaseModel):
    id: int
    sent: float  # time.monotonic() when publish was called
    body: str = "x"


async def publish_paced(bootstrap: str, topic: str, rate: int, count: int) -> None:
    transport = KafkaTransport(KafkaSettings(bootstrap))
    await transport.start()
    try:
        publisher = Publisher(transport, lambda name: TopicSpec(name, partitions=6))
        publisher.mark_ready([topic])
        start, pending = time.perf_counter(), []
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            envelope = Envelope.new(source="bench", type="bench.latency")
            record = Stamped(id=n, sent=time.monotonic())
            pending.append(asyncio.ensure_future(publisher.publish(topic, record, envelope=envelope, key=str(n))))
        await asyncio.gather(*pending)
    finally:
        await transport.close()


def publish_bare(bootstrap: str, topic: str, rate: int, count: int) -> None:
    producer = kafka_client(Producer, bootstrap, PRODUCER)
    start = time.perf_counter()
    for n in range(count):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        producer.produce(topic, Stamped(id=n, sent=time.monotonic()).model_dump_json().encode(), str(n).encode())
        producer.poll(0)
    producer.flush(30)


if __name__ == "__main__":
    bootstrap, topic, rate, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if "--bare" in sys.argv[5:]:
        publish_bare(bootstrap, topic, rate, count)
    else:
        asyncio.run(publish_paced(bootstrap, topic, rate, count))
