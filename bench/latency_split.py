"""Where publish -> handler latency goes, hop by hop, beside bare confluent-kafka on the same broker.

bench_runtime.py's latency run (records at a fixed rate, 6 partitions, publisher
and agent in one process), with a timestamp per record at each hop:

* ``call``: the publisher is called;
* ``produce``: the transport hands the record to librdkafka;
* ``polled``: the consumer's poll returns it, in the consumer's thread;
* ``dispatch``: the keyed consumer takes it, in the event loop;
* ``handler``: the handler starts.

The timestamps come from wrapping three internal methods for the length of the
run. The wrappers cost about a microsecond each, so these figures are not the
benchmark's. Each run is followed by ``raw_latency.publish_to_consume`` on the
same broker. The broker's first minute is slower (its JVM is still compiling),
so the runs are repeated on one broker, and the last ones are the ones to read.

With ``--variants``, each run also measures the bare baseline with agentflux's
headers on its records, and with a consumer that is a group member (consumer
protocol) rather than assigned the partitions: two differences between the
baseline and agentflux's path, measured one at a time. Then the benchmark's own
shape (``bench_runtime.agent_latency``: the publisher in a process of its own),
once with agentflux's publisher and once with a bare producer.

    cd bench && ../.venv/bin/python latency_split.py [--runs 4] [--rate 1000] [--seconds 5] [--variants]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench_runtime import agent_latency
from common import broker, console, p50_p99_ms, pct
from pydantic import BaseModel
from raw_latency import publish_to_consume

from agentflux import AgentApp, AppRunner, Context
from agentflux.contract.envelope import Envelope
from agentflux.runtime.keyed_consumer import KeyOrderedConsumer
from agentflux.runtime.publisher import Publisher
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.kafka_consumer import KafkaConsumer
from agentflux.transport.kafka_producer import AsyncProducer
from agentflux.transport.settings import KafkaSettings

HOPS = ("call", "produce", "polled", "dispatch", "handler")
Stamps = dict[str, dict[bytes, float]]  # hop -> record key -> perf_counter


class Payload(BaseModel):
    id: int
    body: str


@contextmanager
def stamped() -> Iterator[Stamps]:
    """Wrap the producer, the consumer's fetch and the dispatch to stamp each record's key."""
    stamps: Stamps = {hop: {} for hop in HOPS}
    publish, fetch, dispatch = AsyncProducer.publish, KafkaConsumer._fetch, KeyOrderedConsumer._dispatch

    async def publish_stamped(self: AsyncProducer, topic: str, value: bytes | None, **kw: Any) -> Any:
        if kw.get("key") is not None:
            stamps["produce"][kw["key"]] = time.perf_counter()
        return await publish(self, topic, value, **kw)

    def fetch_stamped(self: KafkaConsumer, max_records: int, timeout: float) -> list[Any]:
        messages = fetch(self, max_records, timeout)
        now = time.perf_counter()
        for msg in messages:
            if msg.error() is None and msg.key():
                stamps["polled"].setdefault(msg.key(), now)
        return messages

    def dispatch_stamped(self: KeyOrderedConsumer, record: Any) -> None:
        if record.key:
            stamps["dispatch"].setdefault(record.key, time.perf_counter())
        dispatch(self, record)

    AsyncProducer.publish = publish_stamped  # type: ignore[method-assign]
    KafkaConsumer._fetch = fetch_stamped  # type: ignore[method-assign]
    KeyOrderedConsumer._dispatch = dispatch_stamped  # type: ignore[method-assign]
    try:
        yield stamps
    finally:
        AsyncProducer.publish, KafkaConsumer._fetch, KeyOrderedConsumer._dispatch = publish, fetch, dispatch  # type: ignore[method-assign]


async def one_run(bootstrap: str, rate: int, seconds: float) -> Stamps:
    topic = f"bench.split-{uuid.uuid4().hex[:6]}.v1"
    app = AgentApp(f"bench-split-{uuid.uuid4().hex[:6]}")
    app.topic(topic, partitions=6)
    total = int(rate * (seconds + 1))
    with stamped() as stamps:

        @app.agent("sink").on(topic)
        async def on_record(event: Payload, ctx: Context) -> None:
            stamps["handler"][str(event.id).encode()] = time.perf_counter()

        transport = KafkaTransport(KafkaSettings(bootstrap))
        async with AppRunner(app, transport) as runner:
            while not runner.consumers[0].assigned:
                await asyncio.sleep(0.05)
            publisher = Publisher(transport, app.topic_spec)
            start, pending = time.perf_counter(), []
            for n in range(total):
                await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
                stamps["call"][str(n).encode()] = time.perf_counter()
                envelope = Envelope.new(source="bench", type="bench.split")
                publish = publisher.publish(topic, Payload(id=n, body="x"), envelope=envelope, key=str(n))
                pending.append(asyncio.ensure_future(publish))
            await asyncio.gather(*pending)
            while len(stamps["handler"]) < total:
                await asyncio.sleep(0.05)
    measured = [str(n).encode() for n in range(rate, total)]  # the first second is not measured
    return {hop: {key: stamps[hop][key] for key in measured} for hop in HOPS}


def report(stamps: Stamps) -> list[str]:
    lines = []
    for first, then in [*itertools.pairwise(HOPS), ("call", "handler")]:
        gaps = [stamps[then][key] - stamps[first][key] for key in stamps[first]]
        p50, p99 = p50_p99_ms(gaps)
        lines.append(f"  {first:>8} → {then:<8} p50 {p50:6.3f} ms  p90 {pct(gaps, 90) * 1000:6.3f}  p99 {p99:7.3f}")
    return lines


def bare(bootstrap: str, rate: int, seconds: float, variants: bool) -> list[str]:
    """The bare baseline's p50 and p99, plain and, with ``variants``, with each difference added."""
    headers = [(name, value or b"") for name, value in Envelope.new(source="bench", type="bench.split").to_headers()]
    shapes = {"": {}, ", with agentflux's headers": {"headers": headers}, ", as a group member": {"subscribe": True}}
    lines = []
    for label, options in list(shapes.items())[: 3 if variants else 1]:
        p50, p99 = p50_p99_ms(publish_to_consume(bootstrap, rate, seconds, **options))  # type: ignore[arg-type]
        lines.append(f"  bare confluent-kafka producer → consumer, same broker{label}: p50 {p50:.3f} ms  p99 {p99:.3f}")
    if variants:
        for name, bare_publisher in (("agentflux's", False), ("a bare", True)):
            seconds_each = asyncio.run(agent_latency(bootstrap, rate, seconds, bare_publisher=bare_publisher))
            p50, p99 = p50_p99_ms(seconds_each)
            lines.append(f"  {name} publisher in its own process → agentflux agent: p50 {p50:.3f} ms  p99 {p99:.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--variants", action="store_true", help="also the baseline with each difference added")
    args = parser.parse_args()
    with broker() as bootstrap:
        for run in range(1, args.runs + 1):
            with console.status(f"run {run} of {args.runs}: agentflux, then bare confluent-kafka"):
                stamps = asyncio.run(one_run(bootstrap, args.rate, args.seconds))
                baselines = bare(bootstrap, args.rate, args.seconds, args.variants)
            print(f"run {run}: {len(stamps['call']):,} records at {args.rate:,}/s")
            print("\n".join([*report(stamps), *baselines]))


if __name__ == "__main__":
    main()
