"""Publish -> bare consumer latency for four publishers, to find the publisher's share of it.

The publishers, each paced at ``--rate`` records a second on a topic of its own:
a bare confluent-kafka producer paced with ``time.sleep`` (raw_latency.py's
baseline) and with ``asyncio.sleep``, and agentflux's publisher paced with
``asyncio.sleep`` (as bench_runtime.py's publisher is) and with ``time.sleep``.
The consumer is a bare confluent-kafka thread in this process, assigned every
partition. Every publisher has raw_latency.py's librdkafka settings. The order
repeats ``--runs`` times on one broker; the first round runs while the broker's
JVM is still compiling.

    cd bench && ../.venv/bin/python publisher_pacing.py [--runs 3] [--rate 1000] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
import uuid
from collections.abc import Callable

from common import broker, console, create_topic, kafka_client, p50_p99_ms
from confluent_kafka import Producer
from pydantic import BaseModel
from raw_latency import PRODUCER, _collect, _reader

from agentflux import TopicSpec
from agentflux.contract.envelope import Envelope
from agentflux.runtime.publisher import Publisher
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

Sent = dict[int, float]  # record number -> perf_counter just before it was handed to the publisher


class Numbered(BaseModel):
    id: int


async def turn(start: float, n: int, rate: int, *, asyncio_pacing: bool) -> float:
    """Wait until record ``n`` is due, by ``asyncio.sleep`` or by blocking ``time.sleep``; then the time."""
    delay = start + n / rate - time.perf_counter()
    if asyncio_pacing:
        await asyncio.sleep(max(0.0, delay))
    elif delay > 0:
        time.sleep(delay)  # noqa: ASYNC251 - blocking the loop is the variant measured
    return time.perf_counter()


def bare(bootstrap: str, topic: str, rate: int, total: int, sent: Sent, *, asyncio_pacing: bool) -> None:
    producer = kafka_client(Producer, bootstrap, PRODUCER)

    async def paced() -> None:
        start = time.perf_counter()
        for n in range(total):
            sent[n] = await turn(start, n, rate, asyncio_pacing=asyncio_pacing)
            producer.produce(topic, Numbered(id=n).model_dump_json().encode(), str(n).encode())
            producer.poll(0)

    asyncio.run(paced())
    producer.flush(30)


def agentflux(bootstrap: str, topic: str, rate: int, total: int, sent: Sent, *, asyncio_pacing: bool) -> None:
    async def paced() -> None:
        transport = KafkaTransport(KafkaSettings(bootstrap))
        await transport.start()
        publisher = Publisher(transport, lambda name: TopicSpec(name, partitions=6))
        publisher.mark_ready([topic])
        start, pending = time.perf_counter(), []
        for n in range(total):
            sent[n] = await turn(start, n, rate, asyncio_pacing=asyncio_pacing)
            envelope = Envelope.new(source="bench", type="bench.pacing")
            publish = publisher.publish(topic, Numbered(id=n), envelope=envelope, key=str(n))
            pending.append(asyncio.ensure_future(publish))
            if not asyncio_pacing:
                await asyncio.sleep(0)  # the publish runs now, as it does when the loop sleeps
        await asyncio.gather(*pending)
        await transport.close()

    asyncio.run(paced())


PUBLISHERS: dict[str, Callable[..., None]] = {
    "bare producer, time.sleep": lambda *a: bare(*a, asyncio_pacing=False),
    "bare producer, asyncio.sleep": lambda *a: bare(*a, asyncio_pacing=True),
    "agentflux publisher, asyncio.sleep": lambda *a: agentflux(*a, asyncio_pacing=True),
    "agentflux publisher, time.sleep": lambda *a: agentflux(*a, asyncio_pacing=False),
}


def measure(bootstrap: str, publish: Callable[..., None], rate: int, seconds: float) -> tuple[float, float]:
    """p50 and p99 in ms from the publisher's hand to the bare consumer's, after one unmeasured second."""
    topic = f"bench.pacing-{uuid.uuid4().hex[:6]}.v1"
    create_topic(bootstrap, topic, 6)
    total = int(rate * (seconds + 1))
    consumer = _reader(bootstrap, topic)
    seen: dict[int, float] = {}
    stop = threading.Event()
    reader = threading.Thread(target=_collect, args=(consumer, total, seen, stop), daemon=True)
    reader.start()
    sent: Sent = {}
    try:
        publish(bootstrap, topic, rate, total, sent)
        reader.join(timeout=30)
    finally:
        stop.set()
        reader.join(timeout=5)
        consumer.close()
    return p50_p99_ms([seen[n] - sent[n] for n in range(rate, total) if n in seen])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with broker() as bootstrap:
        for run in range(1, args.runs + 1):
            print(f"round {run}:")
            for name, publish in PUBLISHERS.items():
                with console.status(f"round {run} of {args.runs}: {name}"):
                    p50, p99 = measure(bootstrap, publish, args.rate, args.seconds)
                print(f"  {name:36} → bare consumer: p50 {p50:.3f} ms  p99 {p99:.3f}")


if __name__ == "__main__":
    main()
