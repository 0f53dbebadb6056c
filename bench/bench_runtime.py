"""Runtime benchmarks (issue: foundation). Targets are targets, not tests.

1. Handler throughput against a raw confluent-kafka consume loop on the same
   topic, 200-byte records, on 1 and on 6 partitions (target: >= 70 %). The raw
   loop does the same per-record work a handler needs (JSON into the same
   pydantic model, call the same coroutine) and commits once per batch, without
   envelopes, per-key ordering, retries or dead letters.
2. Publish -> handler latency p50 / p99 at a fixed rate (targets at 1,000/s:
   p50 <= 2 ms, p99 <= 10 ms), with agentflux's publisher in a process of its
   own (``paced_publisher.py``), beside bare confluent-kafka's producer -> consumer.
3. 1,000 records on 100 keys in 1 partition, each handler sleeping 100 ms
   (an LLM call's stand-in), concurrency 100 (target: <= 2 s wall time).
   Not run with ``--quick``.

    .venv/bin/python bench/bench_runtime.py [--records 200000] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

from common import (
    add_run_options,
    broker,
    console,
    create_topic,
    fill,
    kafka_client,
    p50_p99_ms,
    parse_loads,
    verdict,
)
from confluent_kafka import Consumer
from paced_publisher import Stamped
from pydantic import BaseModel
from raw_latency import publish_to_consume
from report import Figure, figure, p50_p99, write_figures

from agentflux import AgentApp, AppRunner, Context
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

HERE = Path(__file__).resolve().parent
QUICK = {"records": 200_000}


class Payload(BaseModel):
    id: int
    body: str


VALUE = Payload(id=1, body="x" * 182).model_dump_json().encode()
assert len(VALUE) == 200, len(VALUE)


async def handle(event: Payload, ctx: object) -> None:
    return None


def raw_loop(bootstrap: str, topic: str, count: int) -> float:
    config = {"group.id": f"raw-{uuid.uuid4().hex}", "auto.offset.reset": "earliest", "enable.auto.commit": False}
    consumer = kafka_client(Consumer, bootstrap, config)
    consumer.subscribe([topic])
    loop = asyncio.new_event_loop()
    seen, first = 0, 0.0
    while seen < count:
        batch = consumer.consume(500, 1.0)
        if batch and not first:
            first = time.perf_counter()
        for msg in batch:
            if msg.error() is None:
                loop.run_until_complete(handle(Payload.model_validate_json(msg.value()), None))
                seen += 1
        if batch:
            consumer.commit(asynchronous=True)
    elapsed = time.perf_counter() - first
    consumer.close()
    loop.close()
    return count / elapsed


async def runtime_loop(bootstrap: str, topic: str, count: int, concurrency: int = 64) -> float:
    app = AgentApp(f"bench-{uuid.uuid4().hex[:8]}")
    agent = app.agent("sink", concurrency=concurrency)
    seen = 0
    first = last = 0.0
    done = asyncio.Event()

    @agent.on(topic)
    async def on_record(event: Payload, ctx: Context) -> None:
        nonlocal seen, first, last
        if not seen:
            first = time.perf_counter()
        seen += 1
        if seen == count:
            last = time.perf_counter()
            done.set()

    async with AppRunner(app, KafkaTransport(KafkaSettings(bootstrap))):
        await asyncio.wait_for(done.wait(), 300)
    return count / (last - first)


def throughput(bootstrap: str, records: int) -> list[Figure]:
    figures = []
    for partitions in (1, 6):
        topic = f"bench.throughput-p{partitions}-{uuid.uuid4().hex[:6]}.v1"
        create_topic(bootstrap, topic, partitions)
        fill(bootstrap, topic, records, VALUE)
        with console.status(f"raw consume loop, {partitions} partition(s)"):
            raw = raw_loop(bootstrap, topic, records)
        with console.status(f"agentflux handler, {partitions} partition(s)"):
            ours = asyncio.run(runtime_loop(bootstrap, topic, records))
        ratio = ours / raw
        print(
            f"throughput {partitions} partition(s): raw {raw:,.0f}/s  agentflux {ours:,.0f}/s  "
            f"ratio {ratio:.0%} (target >= 70%: {verdict(ratio >= 0.7)})"
        )
        figures.append(
            figure(
                f"handler throughput, {partitions} partition{'s' if partitions > 1 else ''}",
                ours,
                "rec/s",
                target="≥ 70 % of raw",
                met=ratio >= 0.7,
                baseline="raw consumer loop",
                baseline_value=raw,
                load=f"{records:,} records of 200 bytes on 1,000 keys",
            )
        )
    return figures


async def agent_latency(bootstrap: str, rate: int, seconds: float, *, bare_publisher: bool = False) -> list[float]:
    """Seconds from publish to handler, the agent in this process and the publisher in its own.

    The records' send times come from the publisher's process (``paced_publisher.py``,
    CLOCK_MONOTONIC): agentflux's publisher, or a bare confluent-kafka producer.
    ``latency_split.py`` measures the other shape, publisher and agent sharing one event
    loop, hop by hop.
    """
    topic = f"bench.latency-{uuid.uuid4().hex[:6]}.v1"
    create_topic(bootstrap, topic, 6)
    app = AgentApp(f"bench-{uuid.uuid4().hex[:8]}")
    app.topic(topic, partitions=6)
    lat_by_id: dict[int, float] = {}

    @app.agent("sink").on(topic)
    async def on_record(event: Stamped, ctx: Context) -> None:
        lat_by_id[event.id] = time.monotonic() - event.sent

    total = int(rate * (seconds + 1))  # the first second is not measured, as in the raw baseline
    transport = KafkaTransport(KafkaSettings(bootstrap))
    async with AppRunner(app, transport) as runner:
        while not runner.consumers[0].assigned:
            await asyncio.sleep(0.05)
        argv = [sys.executable, str(HERE / "paced_publisher.py"), bootstrap, topic, str(rate), str(total)]
        argv += ["--bare"] * bare_publisher
        publisher = await asyncio.create_subprocess_exec(*argv)
        if await publisher.wait() != 0:
            raise SystemExit(f"paced_publisher.py failed with exit status {publisher.returncode}")
        while len(lat_by_id) < total:
            await asyncio.sleep(0.05)
    return [lat_by_id[n] for n in range(rate, total)]


async def latency(bootstrap: str, rate: int, seconds: float) -> list[Figure]:
    lat = await agent_latency(bootstrap, rate, seconds)
    total = int(rate * (seconds + 1))
    p50, p99 = p50_p99_ms(lat)
    with console.status(f"bare confluent-kafka: {total:,} records at {rate:,}/s"):
        raw = publish_to_consume(bootstrap, rate, seconds)
    raw50, raw99 = p50_p99_ms(raw)
    print(
        f"publish->handler latency at {rate}/s for {seconds:g}s: p50 {p50:.2f} ms ({verdict(p50 <= 2)} <= 2 ms)  "
        f"p99 {p99:.2f} ms ({verdict(p99 <= 10)} <= 10 ms)  (n={len(lat)}); "
        f"bare confluent-kafka p50 {raw50:.2f} ms, p99 {raw99:.2f} ms"
    )
    load = (
        f"{len(lat):,} records at {rate:,}/s for {seconds:g} s after 1 s unmeasured, 6 partitions, "
        "agentflux's publisher in a process of its own"
    )
    return p50_p99(
        f"publish → handler latency at {rate:,} rec/s", p50, p99, bounds=(2, 10), load=load,
        baseline="bare confluent-kafka producer → consumer", baseline_values=(raw50, raw99),
    )  # fmt: skip


async def slow_handlers(bootstrap: str) -> None:
    topic = f"bench.slow-{uuid.uuid4().hex[:6]}.v1"
    create_topic(bootstrap, topic, 1)
    fill(bootstrap, topic, 1000, VALUE, keys=100)
    app = AgentApp(f"bench-{uuid.uuid4().hex[:8]}")
    agent = app.agent("llm", concurrency=100)
    seen = 0
    first = last = 0.0

    @agent.on(topic)
    async def think(event: Payload, ctx: Context) -> None:
        nonlocal seen, first, last
        first = first or time.perf_counter()
        await asyncio.sleep(0.1)
        seen += 1
        last = time.perf_counter()

    async with AppRunner(app, KafkaTransport(KafkaSettings(bootstrap))):
        while seen < 1000:
            await asyncio.sleep(0.02)
    wall = last - first + 0.1  # from the first handler's start to the last handler's end
    print(
        f"1,000 records / 100 keys / 1 partition / 100 ms handlers: {wall:.2f} s wall "
        f"(target <= 2 s: {verdict(wall <= 2.0)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=1000)
    add_run_options(parser, QUICK)
    args = parse_loads(parser, QUICK)
    with broker() as bootstrap:
        figures = throughput(bootstrap, args.records)
        figures += asyncio.run(latency(bootstrap, args.rate, 5.0))
        if not args.quick:
            asyncio.run(slow_handlers(bootstrap))
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
