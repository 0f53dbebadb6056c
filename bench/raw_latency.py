"""The floors under the latency figures: the same paths in bare confluent-kafka, in the same run.

``publish_to_consume`` is bench_runtime.py's publish -> handler latency without
agentflux: an idempotent producer (``linger.ms`` 1, as agentflux's) writes
paced records, and a consumer in another thread (``fetch.wait.max.ms`` 50, as
agentflux's) reads them. ``round_trip`` is bench_delegate.py's round trip
without agentflux, in the shape of a quick agentflux task: the requester writes
a request; a worker process (``python raw_latency.py worker ...``) reads it,
writes a state record, waits for that record's acknowledgement, then writes
the reply; the requester reads the reply. That is three broker writes in a row
and two fetches, with no envelope, validation, commit bookkeeping or event
loop. ``state=False`` gives plain request-reply. Both skip their first second
at the rate, as the benchmarks they underlie do.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from common import create_topic, kafka_client
from confluent_kafka import Consumer, Producer, TopicPartition
from raw_echo import _ends

HERE = Path(__file__).resolve().parent
PRODUCER = {"linger.ms": 1, "enable.idempotence": True, "acks": "all"}
CONSUMER = {"fetch.wait.max.ms": 50, "enable.auto.commit": False}


def _paced(
    producer: Producer, topic: str, rate: int, seconds: float, headers: list[tuple[str, bytes]] | None = None
) -> list[float]:
    """Write ``rate * seconds`` records keyed by their number; when each was written."""
    total = int(rate * seconds)
    sent: list[float] = []
    begin = time.perf_counter()
    for n in range(total):
        delay = begin + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent.append(time.perf_counter())
        producer.produce(topic, b"x" * 20, str(n).encode(), headers=headers)
        producer.poll(0)
    producer.flush(30)
    return sent


def _batch(consumer: Consumer) -> list:  # type: ignore[type-arg]
    """What is there now: ``consume(n, t)`` alone would wait for n records or t seconds (agentflux's way)."""
    first = consumer.poll(0.1)
    return [] if first is None else [first, *consumer.consume(499, 0)]


def _collect(consumer: Consumer, count: int, seen: dict[int, float], stop: threading.Event) -> None:
    while len(seen) < count and not stop.is_set():
        for msg in _batch(consumer):
            if msg.error() is None and msg.key() and msg.key().isdigit():
                seen.setdefault(int(msg.key()), time.perf_counter())


def _reader(bootstrap: str, topic: str, subscribe: bool = False) -> Consumer:
    """A consumer of ``topic`` from its end: assigned every partition, or a group member with the consumer protocol."""
    group = {"group.id": f"raw-lat-{uuid.uuid4().hex}", **CONSUMER}
    if not subscribe:
        consumer = kafka_client(Consumer, bootstrap, group)
        consumer.assign([TopicPartition(topic, p, end) for p, end in _ends(consumer, topic).items()])
        return consumer
    consumer = kafka_client(Consumer, bootstrap, {**group, "group.protocol": "consumer", "auto.offset.reset": "latest"})
    consumer.subscribe([topic])
    while not consumer.assignment():
        consumer.poll(0.1)  # joins; nothing is published to the topic yet
    return consumer


def _measure(
    bootstrap: str,
    write_to: str,
    read_from: str,
    rate: int,
    seconds: float,
    readers: int = 1,
    *,
    headers: list[tuple[str, bytes]] | None = None,
    subscribe: bool = False,
) -> list[float]:
    """Latency to the last of ``readers`` consumers of ``rate * seconds`` records, after one unmeasured second."""
    seconds += 1.0
    total = int(rate * seconds)
    consumers = [_reader(bootstrap, read_from, subscribe) for _ in range(readers)]
    producer = kafka_client(Producer, bootstrap, PRODUCER)
    producer.produce(write_to, b"warm", b"warm")  # the producer's connection and metadata, before the clock
    producer.flush(30)
    seen: list[dict[int, float]] = [{} for _ in consumers]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_collect, args=(consumer, total, got, stop), daemon=True)
        for consumer, got in zip(consumers, seen, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        sent = _paced(producer, write_to, rate, seconds, headers)
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        for consumer in consumers:
            consumer.close()
    return [max(got[n] for got in seen) - sent[n] for n in range(rate, total) if all(n in got for got in seen)]


def publish_to_consume(
    bootstrap: str,
    rate: int,
    seconds: float,
    partitions: int = 6,
    *,
    headers: list[tuple[str, bytes]] | None = None,
    subscribe: bool = False,
) -> list[float]:
    """Seconds from ``produce`` to the consumer's hand, for ``rate * seconds`` paced records.

    ``headers`` go on every record; ``subscribe`` makes the consumer a group member with the
    consumer protocol (as agentflux's are) instead of assigning it the partitions.
    """
    topic = f"bench.raw-latency-{uuid.uuid4().hex[:6]}.v1"
    create_topic(bootstrap, topic, partitions)
    return _measure(bootstrap, topic, topic, rate, seconds, headers=headers, subscribe=subscribe)


def fan_out(bootstrap: str, readers: int, rate: int, seconds: float, partitions: int = 6) -> list[float]:
    """``publish_to_consume`` to the last of ``readers`` consumers, each a thread and a group of its own."""
    topic = f"bench.raw-fanout-{uuid.uuid4().hex[:6]}.v1"
    create_topic(bootstrap, topic, partitions)
    return _measure(bootstrap, topic, topic, rate, seconds, readers)


def round_trip(bootstrap: str, rate: int, seconds: float, *, state: bool = True) -> list[float]:
    """Seconds from request to reply through a bare worker process, ``rate`` requests a second."""
    tag = uuid.uuid4().hex[:6]
    requests, states, replies = (f"bench.raw-{name}-{tag}.v1" for name in ("requests", "states", "replies"))
    for topic in (requests, states, replies):
        create_topic(bootstrap, topic, 6)
    argv = [sys.executable, str(HERE / "raw_latency.py"), "worker", bootstrap, requests, states if state else "",
            replies]  # fmt: skip
    worker = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert worker.stdout is not None
        worker.stdout.readline()  # "ready": it has its partitions
        return _measure(bootstrap, requests, replies, rate, seconds)
    finally:
        worker.kill()
        worker.wait(timeout=10)


def worker(bootstrap: str, requests: str, states: str, replies: str) -> None:
    consumer = _reader(bootstrap, requests)
    producer = kafka_client(Producer, bootstrap, PRODUCER)
    print("ready", flush=True)
    while True:
        batch = [msg for msg in _batch(consumer) if msg.error() is None]
        if not batch:
            continue
        if states:
            for msg in batch:
                producer.produce(states, msg.value(), msg.key())
            producer.flush(30)  # the state records acknowledged before any reply, as agentflux does
        for msg in batch:
            producer.produce(replies, msg.value(), msg.key())
        producer.poll(0)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "worker":
    worker(*sys.argv[2:6])
