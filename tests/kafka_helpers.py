"""Helpers for tests against the real broker: raw producing, reading topics, worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(timeout=30)


def produce_raw(bootstrap: str, topic: str, records: Sequence[tuple[Any, ...]], *, max_bytes: int = 0) -> None:
    """Produce (key, value, headers[, partition]) records as a producer outside agentflux would."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "linger.ms": 5}
    if max_bytes:
        config["message.max.bytes"] = max_bytes
    producer = Producer(config)
    for key, value, headers, *partition in records:
        if partition:
            producer.produce(topic, value, key, headers=headers, partition=partition[0])
        else:
            producer.produce(topic, value, key, headers=headers)
    assert producer.flush(30) == 0


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of ``path``: a line still being written (no newline yet) is left for later."""
    if not path.exists():
        return []
    complete = path.read_text().rpartition("\n")[0]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def await_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def cli_processes(log_dir: Path | None = None) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``agentflux`` CLI processes: ``start(name, env, *args)``; every one is killed when the block ends.

    With ``log_dir``, each process's stderr goes to ``{log_dir}/{name}.log`` (read it with ``log_of``).
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        stderr = open(log_dir / f"{name}.log", "wb") if log_dir is not None else None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agentflux.cli.main", *args], cwd=ROOT, env={**os.environ, **env}, stderr=stderr
            )
        finally:
            if stderr is not None:
                stderr.close()  # the child has its own descriptor
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)


def log_of(log_dir: Path, name: str) -> str:
    return (log_dir / f"{name}.log").read_text(errors="replace")


@contextmanager
def agent_processes() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``agentflux run APP`` processes (``start(app_ref, env, *args)``); every one is killed at the end."""
    with cli_processes() as start_cli:

        def start(app_ref: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
            return start_cli(app_ref, env, "run", app_ref, "--log-level", "warning", *args)

        yield start


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` on the real broker, partition by partition, in offset order."""
    from agentflux.transport.kafka import KafkaTransport
    from agentflux.transport.settings import KafkaSettings

    transport = KafkaTransport(KafkaSettings(bootstrap))
    await transport.start()
    try:
        return await transport.read_all(topic)
    finally:
        await transport.close()


async def records_keyed(bootstrap: str, topic: str, key: str) -> list[Any]:
    """The records of ``topic`` keyed ``key`` (one partition, so in offset order): a task's, by task id."""
    return [r for r in await read_topic(bootstrap, topic) if r.key == key.encode()]


async def dead_letters_of(bootstrap: str, source_topic: str) -> list[Any]:
    """The dead letters on the real broker whose source is ``source_topic``."""
    from agentflux.contract.topics import DEAD_LETTER_TOPIC
    from agentflux.ops.deadletters import DeadLetter

    records = await read_topic(bootstrap, DEAD_LETTER_TOPIC)
    return [d for d in map(DeadLetter.from_record, records) if d.source_topic == source_topic]


def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int:
    """The offset ``group`` committed on ``topic[partition]`` (negative when none).

    Read with a consumer carrying the group's id that never joins it: librdkafka's
    admin ListConsumerGroupOffsets crashes the process on a NOT_COORDINATOR answer
    (confluentinc/librdkafka#5040), which a broker that just started gives.
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        [found] = consumer.committed([TopicPartition(topic, partition)], timeout=30)
    finally:
        consumer.close()
    return int(found.offset)
