"""Sensor simulator: N machines publishing vibration and temperature, some with injected anomalies.

Readings go round-robin over the machines at ``rate`` readings per second of
wall time, to ``manufacturing.sensor-reading.v1`` keyed by machine id. Event
time runs ``speedup`` times faster than wall time, so with ``--speedup 60`` a
10-minute window passes in 10 seconds. Healthy machines vibrate around their
own baseline (2-4 mm/s); an anomalous machine ramps up by about 8 mm/s for
``anomaly_length`` seconds of event time. Values are seeded: the same
configuration gives the same readings.

    python -m examples.predictive_maintenance.simulator --machines 20 --rate 2000 --speedup 60 --duration 30

The stream ends (with ``close_windows``) with one reading per machine past
the last window's end plus grace, so every window of the run closes.

Readings are Avro in the Confluent wire format: agentflux's ``Payloads``
registers ``SensorReading``'s schema under ``{topic}-value`` (BACKWARD) in the
schema registry of the Kafka settings and encodes each reading with it, as an
agent publishing an ``avro`` topic does.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer

from agentflux.contract.envelope import now_rfc3339
from agentflux.contract.errors import ConfigError
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import TopicFormat
from agentflux.contract.topics import event_type
from agentflux.transport.kafka_client import client_config, cluster_watch, make_client
from agentflux.transport.settings import ENV_REGISTRY, KafkaSettings
from examples.predictive_maintenance.models import SENSOR_TOPIC, SensorReading

CLOSING_GAP = timedelta(minutes=12)  # past a 10-minute window plus its 30 s grace
AVRO = b"application/avro"


def machine_ids(count: int) -> list[str]:
    return [f"m-{n:03d}" for n in range(1, count + 1)]


@dataclass(frozen=True)
class SimulatorConfig:
    machines: int = 20
    rate: float = 2000.0  # readings per second of wall time, all machines together
    speedup: float = 60.0  # event-time seconds per wall-clock second
    duration: float = 30.0  # seconds of wall time
    anomalies: tuple[str, ...] = ("m-003", "m-011")
    anomaly_start: float = 300.0  # event-time seconds after the start
    anomaly_length: float = 900.0  # event-time seconds
    seed: int = 7
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    close_windows: bool = True

    @property
    def count(self) -> int:
        return int(self.rate * self.duration)

    @property
    def event_step(self) -> timedelta:
        """Event time between two consecutive readings (of any machines)."""
        return timedelta(seconds=self.speedup / self.rate)


def readings(config: SimulatorConfig) -> Iterator[SensorReading]:
    """The readings of one run, in publishing order."""
    rng = random.Random(config.seed)
    ids = machine_ids(config.machines)
    baseline = {m: rng.uniform(2.0, 4.0) for m in ids}
    anomalous = set(config.anomalies)
    step = config.event_step
    for n in range(config.count):
        machine = ids[n % len(ids)]
        at = config.start + n * step
        elapsed = (at - config.start).total_seconds()
        extra = 0.0
        if machine in anomalous and config.anomaly_start <= elapsed < config.anomaly_start + config.anomaly_length:
            extra = min(1.0, (elapsed - config.anomaly_start) / 60.0) * 8.0  # a one-minute ramp to +8 mm/s
        vibration = max(0.1, rng.gauss(baseline[machine] + extra, 0.5))
        temperature = rng.gauss(62.0 + 2.0 * extra, 1.5)
        yield SensorReading(
            machine_id=machine, timestamp=at, vibration=round(vibration, 3), temperature=round(temperature, 2)
        )
    if config.close_windows:
        last = config.start + config.count * step + CLOSING_GAP
        for machine in ids:
            yield SensorReading(machine_id=machine, timestamp=last, vibration=baseline[machine], temperature=62.0)


def _headers(reading_type: bytes) -> list[tuple[str, bytes]]:
    message_id = str(uuid.uuid4()).encode()
    return [
        ("ce_specversion", b"1.0"), ("ce_id", message_id), ("ce_source", b"sensor-simulator"),
        ("ce_type", reading_type), ("ce_time", now_rfc3339().encode()), ("content-type", AVRO),
        ("ce_correlationid", message_id),
    ]  # fmt: skip


def publish(
    config: SimulatorConfig, kafka: KafkaSettings, topic: str = SENSOR_TOPIC, stop: threading.Event | None = None
) -> int:
    """Publish a run at ``config.rate`` readings per second, in Avro; returns how many were published.

    ``stop`` ends the run early (checked every 500 readings), for a caller that runs it on a thread
    (it runs an event loop of its own for the registry's client).
    """
    if not kafka.schema_registry_url:
        raise ConfigError(
            f"the simulator writes Avro: it needs a schema registry (`agentflux up` starts one, or set {ENV_REGISTRY})"
        )
    registry = Registry(kafka.schema_registry_url, kafka.schema_registry_config)
    payloads = Payloads(lambda t: TopicFormat(t, "avro", (SensorReading,)), registry)
    return asyncio.run(_publish(config, kafka, topic, stop, payloads))


async def _publish(
    config: SimulatorConfig, kafka: KafkaSettings, topic: str, stop: threading.Event | None, payloads: Payloads
) -> int:
    options = {**client_config(kafka, cluster_watch(kafka)), **kafka.producer_config, "linger.ms": 5, "acks": "all"}
    producer = make_client(Producer, options)
    kind = event_type(topic).encode()
    started = time.monotonic()
    sent = 0
    try:
        sent = await _produce(config, producer, topic, kind, stop, payloads, started)
    finally:
        await payloads.close()
    if producer.flush(60):
        raise RuntimeError("the broker did not acknowledge every reading within 60 s")
    return sent


async def _produce(
    config: SimulatorConfig, producer: Producer, topic: str, kind: bytes, stop: threading.Event | None,
    payloads: Payloads, started: float,
) -> int:  # fmt: skip
    sent = 0
    for sent, reading in enumerate(readings(config), start=1):
        value = await payloads.encode(topic, reading)
        while True:
            try:
                producer.produce(topic, value, reading.machine_id.encode(), headers=_headers(kind))
                break
            except BufferError:
                producer.poll(0.01)
        if sent % 500 == 0:
            if stop is not None and stop.is_set():
                break
            producer.poll(0)
            ahead = started + sent / config.rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)  # this loop is the thread's own: nothing else waits on it
    return sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", "-b", default=None)
    parser.add_argument("--topic", default=SENSOR_TOPIC)
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--rate", type=float, default=2000.0, help="readings per second (wall time)")
    parser.add_argument("--speedup", type=float, default=60.0, help="event-time seconds per wall second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of wall time")
    parser.add_argument("--anomalies", default="m-003,m-011", help="comma-separated machine ids")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    config = SimulatorConfig(
        machines=args.machines, rate=args.rate, speedup=args.speedup, duration=args.duration, seed=args.seed,
        anomalies=tuple(a for a in args.anomalies.split(",") if a),
    )  # fmt: skip
    began = time.monotonic()
    sent = publish(config, KafkaSettings.resolve(args.bootstrap_servers), args.topic)
    wall = time.monotonic() - began
    span = config.count * config.event_step
    print(
        f"published {sent:,} readings of {config.machines} machines in {wall:.1f}s ({sent / wall:,.0f}/s), "
        f"{span} of event time; anomalies: {', '.join(config.anomalies) or 'none'}"
    )


if __name__ == "__main__":
    main()
