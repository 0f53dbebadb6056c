"""The ceiling for bench_delegate.py's throughput: request-reply in bare confluent-kafka.

``python bench/raw_echo.py worker BOOTSTRAP REQUESTS REPLIES GROUP`` runs an echo
worker: each request record is answered with one reply record (same key and
value), offsets auto-committed, no envelopes, no task states, no validation.
``drive()`` sends requests and counts replies. Two records per task, against
agentflux's five, so the gap shows what the runtime's guarantees cost.
"""

from __future__ import annotations

import sys
import time
import uuid

from common import kafka_client
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def worker(bootstrap: str, requests: str, replies: str, group: str) -> None:
    consumer = kafka_client(
        Consumer, bootstrap, {"group.id": group, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10}
    )
    producer = kafka_client(Producer, bootstrap, {"linger.ms": 1, "enable.idempotence": True})
    consumer.subscribe([requests])
    while True:
        for msg in consumer.consume(500, 0.1):
            if msg.error() is None:
                while True:
                    try:
                        producer.produce(replies, msg.value(), msg.key())
                        break
                    except BufferError:
                        producer.poll(0.01)
        producer.poll(0)


def drive(bootstrap: str, requests: str, replies: str, tasks: int, window: int) -> float:
    """Tasks per second for ``tasks`` request-reply round trips with ``window`` in flight."""
    producer = kafka_client(Producer, bootstrap, {"linger.ms": 1, "enable.idempotence": True})
    consumer = kafka_client(
        Consumer, bootstrap, {"group.id": f"raw-driver-{uuid.uuid4().hex}", "auto.offset.reset": "latest"}
    )
    consumer.assign([TopicPartition(replies, p, end) for p, end in _ends(consumer, replies).items()])
    sent = done = 0
    run = uuid.uuid4().hex[:8]
    answered: set[bytes] = set()  # distinct tasks: a rebalance among the echo workers may answer one twice
    value = b'{"n": 1, "body": ""}'
    begin = time.perf_counter()
    last_progress, last_done = time.monotonic(), 0
    while done < tasks:
        if done != last_done:
            last_progress, last_done = time.monotonic(), done
        elif time.monotonic() - last_progress > 60:
            raise RuntimeError(f"raw echo: no reply for 60 s ({done:,} of {tasks:,} back)")
        while sent < tasks and sent - done < window:
            try:
                producer.produce(requests, value, f"{run}-{sent}".encode())
                sent += 1
            except BufferError:
                break
        producer.poll(0)
        for msg in consumer.consume(1000, 0.01):
            key = msg.key()
            if msg.error() is None and key is not None and key.startswith(run.encode()):
                answered.add(key)
        done = len(answered)
    elapsed = time.perf_counter() - begin
    producer.flush(10)
    consumer.close()
    return tasks / elapsed


def _ends(consumer: Consumer, topic: str) -> dict[int, int]:
    """End offsets of a topic created a moment ago: retried until every partition has a leader."""
    deadline = time.monotonic() + 30
    while True:
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10, False)[1] for p in partitions}
            if ends and all(end >= 0 for end in ends.values()):
                return ends
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no end offsets for {topic} within 30 s")
        time.sleep(0.1)


if __name__ == "__main__" and sys.argv[1] == "worker":
    worker(*sys.argv[2:6])
