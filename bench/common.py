"""Shared benchmark plumbing: a broker and a schema registry to measure against, raw clients, producing, percentiles."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
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


@contextmanager
def schema_registry(progress: Callable[[str], None] | None = None) -> Iterator[str]:
    """``AGENTFLUX_BENCH_REGISTRY`` if set, else a fresh embedded Apicurio Registry for this run.

    Yields its Confluent-compatible URL. The embedded one runs detached (a session of its own), so it
    is stopped here whatever ends the block; a caller that may get SIGTERM should turn it into an
    exception (``stop_on_sigterm``) so that this runs.
    """
    external = os.environ.get("AGENTFLUX_BENCH_REGISTRY")
    if external:
        yield external
        return
    from agentflux.local import LocalRegistry

    with tempfile.TemporaryDirectory() as tmp:
        registry = LocalRegistry(Path(tmp) / "registry")
        try:
            if progress:
                url = registry.start(progress=progress, timeout=180)
            else:
                with console.status("starting a schema registry for the benchmark") as spinner:
                    url = registry.start(progress=lambda msg: spinner.update(msg), timeout=180)
            yield url
        finally:
            registry.stop()


def stop_on_sigterm() -> None:
    """Turn SIGTERM (``run_all.py`` stopping a step) into ``SystemExit``, so that ``finally`` blocks run."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


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


def fill(
    bootstrap: str, topic: str, count: int, value: bytes | Sequence[bytes], keys: int = 1000, *, spinner: bool = True
) -> None:
    """Produce ``count`` records on ``keys`` keys: ``value``, or the values of a sequence in turn.

    ``spinner``: show one while producing (False under a caller's own progress display).
    """
    values = [value] if isinstance(value, bytes) else list(value)
    producer = kafka_client(Producer, bootstrap, {"linger.ms": 20, "batch.size": 1_000_000})
    with console.status(f"producing {count:,} records to {topic}") if spinner else nullcontext():
        for n in range(count):
            while True:
                try:
                    producer.produce(topic, values[n % len(values)], str(n % keys).encode())
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
