"""Helpers for the stream tests on a real broker: produce, collect a topic, run the CLI, compare results."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_helpers import ROOT

HERE = Path(__file__).resolve().parent


def create_kept_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    """Create ``name`` with no time retention (``retention.ms = -1``): the broker never deletes its records by age.

    The fixtures' event times lie in the past (2023, 2026-01-01), and the
    embedded engine gives each result the Kafka timestamp of its window, as
    Quix Streams does. On a topic with time retention (the broker's default
    is 7 days) the broker deletes such records at its next retention check,
    30 s after it starts and every 5 minutes after that, even while a test
    still means to read them. A repartition topic copies the retention of its
    source, so sources are created this way too.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, partitions, 1, config={"retention.ms": "-1"})
    admin.create_topics([topic])[name].result(timeout=30)


def produce(bootstrap: str, topic: str, records: Sequence[tuple[Any, ...]]) -> None:
    """Produce ``(key, value)`` or ``(key, value, partition)`` records, in order."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value, *partition in records:
        where = {"partition": partition[0]} if partition else {}
        while True:
            try:
                producer.produce(topic, value, key, **where)
                break
            except BufferError:  # a large backlog fills the local queue: let it drain
                producer.poll(0.1)
    assert producer.flush(60) == 0


def collect(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout: float,
    settle: float = 1.0,
    *,
    parse: bool = True,
    match: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Read ``topic`` from the start until ``expected`` records (that ``match``) arrived, then ``settle`` s more."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"collect-{time.monotonic_ns()}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False, "topic.metadata.refresh.interval.ms": 500,
    })  # fmt: skip
    consumer.subscribe([topic])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < (settle_until or deadline):
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            record = {
                "key": msg.key(), "value": json.loads(msg.value()) if parse else msg.value(),
                "headers": dict(msg.headers() or []), "partition": msg.partition(), "offset": msg.offset(),
            }  # fmt: skip
            if match is None or match(record):
                out.append(record)
            if len(out) >= expected and settle_until is None:
                settle_until = time.monotonic() + settle
    finally:
        consumer.close()
    return out


def by_window(
    records: list[dict[str, Any]], key_field: str = "machine_id"
) -> dict[tuple[Any, int, int], dict[str, Any]]:
    return {(r[key_field], r["window_start"], r["window_end"]): r for r in records}


def assert_same_results(
    actual: list[dict[str, Any]], expected: list[dict[str, Any]], key_field: str = "machine_id"
) -> None:
    """Same windows and keys, equal counts, other aggregates within float tolerance; no window twice."""
    got, want = by_window(actual, key_field), by_window(expected, key_field)
    assert len(got) == len(actual), f"a window was emitted twice: {sorted(got)}"
    assert sorted(got) == sorted(want), (
        f"windows differ:\n only got {sorted(set(got) - set(want))}\n only want {sorted(set(want) - set(got))}"
    )
    for window, row in want.items():
        for name, value in row.items():
            if isinstance(value, float):
                assert math.isclose(got[window][name], value, rel_tol=1e-9, abs_tol=1e-9), (window, name)
            else:
                assert got[window][name] == value, (window, name, got[window][name], value)


@contextmanager
def streams_run(job_ref: str, bootstrap: str, env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``agentflux streams run`` in a child process, killed (SIGKILL) if still running at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentflux.cli.main", "streams", "run", job_ref, "-b", bootstrap, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]), **env},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)
