"""``agentflux demo maintenance``: sensors, the window job and both agents end to end, each in its own process.

It gives the run a namespace of its own (fresh topics, groups and window
state), starts the Diagnostics and Maintenance Scheduling agents with
``agentflux run ... --agent NAME`` and the window job with ``agentflux streams
run examples.predictive_maintenance:job [--engine flink]``, then runs the
sensor simulator: N machines, anomalies injected into a few, event time
accelerated so a 10-minute window passes in seconds. The readings are Avro
through the schema registry, which every process of the run is given. Halfway
through it sends a few readings that fail their model (on the embedded engine
only: Flink's ``avro-confluent`` format cannot skip a record that is not Avro,
so it would stop the Flink job). Every refined event, diagnosis, booking
and dead letter is printed as it happens. Once every refined event the job must
write (``report.expect``) has been diagnosed and every flagged machine booked,
it stops everything and checks the maintenance database. The simulator starts
once the job reads its source (``jobs.py`` says why that matters for Flink).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from agentflux.contract.topics import DEAD_LETTER_TOPIC, reserved_specs, task_requests_topic
from agentflux.transport.base import TopicPartition
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings
from examples.demo_support import AgentProcesses, demo_registry, wait_for_groups
from examples.predictive_maintenance.app import DIAGNOSTICS, SCHEDULING, build_app
from examples.predictive_maintenance.config import MaintenanceConfig
from examples.predictive_maintenance.jobs import JobHandle, JobProcess
from examples.predictive_maintenance.observer import MaintenanceObserver
from examples.predictive_maintenance.report import Expected, complete, expect, summarize
from examples.predictive_maintenance.simulator import SimulatorConfig, machine_ids, publish

APP_REF = "examples.predictive_maintenance:app"


@dataclass(frozen=True)
class DemoOptions:
    machines: int = 20
    rate: float = 2000.0  # readings per second of wall time
    speedup: float = 60.0  # event-time seconds per wall second
    duration: float = 30.0  # seconds of wall time
    anomalies: tuple[str, ...] = ("m-003", "m-011")
    engine: str = "embedded"
    bad_readings: int = 3
    seed: int = 7
    data_dir: Path | None = None
    namespace: str | None = None  # default: a fresh one per run
    settle_timeout: float = 90.0


JobStarter = Callable[[MaintenanceConfig], JobHandle]


def bad_readings(count: int, machines: list[str], at: datetime) -> list[tuple[bytes, bytes]]:
    """(key, value) of readings that fail the model: not JSON, a word for a number, a field missing.

    They carry the time ``at`` (the run's start): should an engine read their time anyway, as Flink
    may, it cannot move a watermark past the good readings.
    """
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kinds = [
        "not json at all",
        '{"machine_id": "%s", "timestamp": "%s", "vibration": "loud", "temperature": 60}',
        '{"machine_id": "%s", "timestamp": "%s", "vibration": 3.1}',
    ]
    out = []
    for n in range(count):
        machine = machines[n % len(machines)]
        kind = kinds[n % len(kinds)]
        out.append((machine.encode(), (kind % (machine, stamp) if "%s" in kind else kind).encode()))
    return out


async def run_demo(
    bootstrap: str, console: Console, options: DemoOptions | None = None, start_job: JobStarter | None = None,
    *, schema_registry_url: str | None = None,
) -> dict[str, object]:  # fmt: skip
    """Run the system once and return the summary; ``start_job`` replaces the job process (tests).

    The registry is ``schema_registry_url``, else the one the settings resolve for ``bootstrap``.
    """
    options = options or DemoOptions()
    registry = demo_registry(bootstrap, schema_registry_url, "the maintenance demo (its readings are Avro)")
    data = options.data_dir or Path(tempfile.mkdtemp(prefix="agentflux-maintenance-"))
    data.mkdir(parents=True, exist_ok=True)
    namespace = options.namespace or f"run{uuid.uuid4().hex[:6]}"
    config = MaintenanceConfig(maintenance_db=data / "maintenance.sqlite", namespace=namespace)
    ids = machine_ids(options.machines)
    simulated = SimulatorConfig(
        machines=options.machines, rate=options.rate, speedup=options.speedup, duration=options.duration,
        anomalies=tuple(a for a in options.anomalies if a in ids), seed=options.seed,
    )  # fmt: skip
    console.print(f"[green]namespace[/] {namespace}; database in {data}")
    console.print(f"[green]schema registry[/] at {registry}: the sensor readings are Avro")
    app = build_app(config)
    transport = KafkaTransport(KafkaSettings(bootstrap))
    await transport.start()
    topics = [config.sensor_topic, config.diagnosed_topic, config.scheduled_topic, config.anomalies_topic]
    await transport.ensure_topics([app.topic_spec(t) for t in [*topics, task_requests_topic(config.schedule_skill)]])
    await transport.ensure_topics([s for s in reserved_specs() if s.name == DEAD_LETTER_TOPIC])
    observer = MaintenanceObserver(transport, config, console)
    await observer.start()
    job: JobHandle | None = None
    try:
        with AgentProcesses(bootstrap, console, env=config.env(), registry=registry) as agents:
            for name in (DIAGNOSTICS, SCHEDULING):
                agents.start(APP_REF, name)
            start_job = start_job or (
                lambda c: JobProcess(bootstrap, c, options.engine, data / "state", console, registry=registry)
            )
            job = start_job(config)
            await wait_for_groups(bootstrap, [a.task_group_id for a in app.agents.values()], console)
            await job.ready(120.0)  # see jobs.py: why the simulator waits for the job
            expected, bad_sent = await simulate(transport, bootstrap, registry, config, simulated, options, console)
            with console.status("waiting for the last windows to close and be handled"):
                handled = await observer.wait_for(lambda: complete(observer, expected), options.settle_timeout)
            if not handled:
                console.print("[red]not everything was handled in time[/]")
            job.stop()
            job = None
        raw = await sensor_records(transport, config.sensor_topic)
    finally:
        if job is not None:
            job.stop()
        await observer.close()
        await transport.close()
    return summarize(
        observer, expected, raw_readings=raw, bad_sent=bad_sent, engine=options.engine, db=config.maintenance_db,
        machines=options.machines,
    )  # fmt: skip


async def simulate(
    transport: KafkaTransport, bootstrap: str, registry: str, config: MaintenanceConfig, simulated: SimulatorConfig,
    options: DemoOptions, console: Console,
) -> tuple[Expected, int]:  # fmt: skip
    """Publish the readings (and, halfway, the bad ones); returns what the job must make of them."""
    bad_count = options.bad_readings if options.engine == "embedded" else 0
    if options.bad_readings and not bad_count:
        console.print(
            "[yellow]no bad readings[/] for the Flink engine: its avro-confluent format cannot skip a record "
            "that is not Avro, so one would stop the job (docs/streams.md)"
        )
    console.print(
        f"[green]simulator[/]: {simulated.machines} machines, {simulated.rate:,.0f} readings/s, event time x"
        f"{simulated.speedup:g} (a 10-minute window passes in {600 / simulated.speedup:.0f} s), "
        f"{simulated.duration:g} s; anomalies injected into {', '.join(simulated.anomalies) or 'none'}"
    )
    began = time.monotonic()
    stop = threading.Event()  # Ctrl-C: the publishing thread ends too
    kafka = KafkaSettings(bootstrap, schema_registry_url=registry)
    sending = asyncio.create_task(asyncio.to_thread(publish, simulated, kafka, config.sensor_topic, stop))
    expecting = asyncio.create_task(asyncio.to_thread(expect, config, simulated))
    try:
        await asyncio.sleep(options.duration / 2)
        bad = bad_readings(bad_count, machine_ids(simulated.machines), simulated.start)
        for key, value in bad:
            await transport.publish(config.sensor_topic, value, key=key)
        sent = await sending
    finally:
        stop.set()
    console.print(f"[green]simulator[/]: published {sent:,} readings in {time.monotonic() - began:.1f} s")
    return await expecting, len(bad)


async def sensor_records(transport: KafkaTransport, topic: str) -> int:
    """How many records the sensor topic holds (the run's topic, so all of them are this run's)."""
    tail = transport.tail()
    try:
        count = await tail.partition_count(topic)
        ends = await tail.end_offsets([TopicPartition(topic, p) for p in range(count)])
        return sum(ends.values())
    finally:
        await tail.close()
