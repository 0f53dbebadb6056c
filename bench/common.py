"""Shared benchmark plumbing: a broker to measure against, raw clients and producing, percentiles."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console

from agentflux.transport.kafka_client import Client, client_config, cluster_watch, make_client
from agentflux.transport.settings import KafkaSettings

console = Console(stderr=True)


def kafka_client(kind: type[Client], bootstrap: str, config: dict[str, Any] | None = None) -> Client:
    """A bare confluent-kafka client of ``kind``, its librdkafka log through Python logging like agentflux's own."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    return make_client(kind, {**client_config(settings, cluster_watch(settings)), **(config or {})})


@contextmanager
def broker(progress: Callable[[str], None] | None = None) -> Iterator[str]:
    """``AGENTFLUX_BENCH_BOOTSTRAP`` if set, else a fresh embedded broker for this run.

    Starting one shows a spinner, or reports to ``progress`` when given (a caller with its own display).
    """
    external = os.environ.get("AGENTFLUX_BENCH_BOOTSTRAP")
    if external:
        yield external
        return
    from agentflux.local import LocalBroker

    with tempfile.TemporaryDirectory() as tmp, LocalBroker(Path(tmp) / "kafka") as local:
        if progress:
            bootstrap = local.start(progress=progress)
        else:
            with console.status("starting a Kafka broker for the benchmark") as spinner:
                bootstrap = local.start(progress=lambda msg: spinner.update(msg))
        yield bootstrap


def add_run_options(parser: argparse.ArgumentParser, quick: dict[str, Any]) -> None:
    """``--quick`` (the loads in ``quick``, for ``run_all.py``) and ``--json PATH``."""
    loads = ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in quick.items())
    parser.add_argument("--quick", action="store_true", help=f"smaller loads: {loads} (an explicit flag still wins)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as a JSON list")


def parse_loads(parser: argparse.ArgumentParser, quick: dict[str, Any]) -> argparse.Namespace:
    """The arguments; with ``--quick`` the loads in ``quick`` replace the defaults."""
    if parser.parse_args().quick:
        parser.set_defaults(**quick)
    return parser.parse_args()


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = kafka_client(AdminClient, bootstrap)
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def fill(bootstrap: str, topic: str, count: int, value: bytes, keys: int = 1000) -> None:
    producer = kafka_client(Producer, bootstrap, {"linger.ms": 20, "batch.size": 1_000_000})
    with console.status(f"producing {count:,} records to {topic}"):
        for n in range(count):
            while True:
                try:
                    producer.produce(topic, value, str(n % keys).encode())
                    break
                except BufferError:
                    producer.poll(0.01)
        assert producer.flush(60) == 0


def pct(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[min(998, max(0, round(p * 10) - 1))]


def p50_p99_ms(seconds: list[float]) -> tuple[float, float]:
    """The p50 and p99 of latencies in seconds, in milliseconds."""
    return pct(seconds, 50) * 1000, pct(seconds, 99) * 1000


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"
