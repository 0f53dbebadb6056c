"""The predictive maintenance pieces that exist so far: the sensor simulator and the window job."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka_helpers import create_topic, read_topic
from streams_support import collect, create_kept_topic, stop, streams_run

from agentflux.streams import job_sql
from agentflux.transport.base import Record
from agentflux.transport.settings import KafkaSettings
from examples.predictive_maintenance import job
from examples.predictive_maintenance.simulator import SimulatorConfig, publish, readings

START = datetime(2026, 1, 1, tzinfo=UTC)


def read_records(bootstrap: str, topic: str, count: int) -> list[Record]:
    return asyncio.run(read_topic(bootstrap, topic))[:count]


def test_only_machines_with_injected_anomalies_produce_refined_events() -> None:
    config = SimulatorConfig(machines=12, rate=1000, speedup=60, duration=20, anomalies=("m-003", "m-011"), start=START)
    stream = list(readings(config))
    assert len(stream) == 20_000 + 12  # plus one closing reading per machine
    assert stream == list(readings(config))  # seeded
    flagged = Counter(a.machine_id for a in job.test(stream))
    assert set(flagged) == {"m-003", "m-011"}
    assert len(stream) / sum(flagged.values()) > 500  # what reaches an agent is a trickle
    assert job.sink_spec.topic == "agent.task-requests.diagnose-machine"
    assert "HAVING AVG(CAST(`vibration` AS DOUBLE)) > CAST(7.0 AS DOUBLE)" in job_sql(job)


def test_time_acceleration_spreads_event_time() -> None:
    config = SimulatorConfig(machines=10, rate=1000, speedup=60, duration=10, start=START, close_windows=False)
    stream = list(readings(config))
    span = stream[-1].timestamp - stream[0].timestamp
    assert 599 <= span.total_seconds() <= 600  # 10 s of wall time, 10 minutes of event time
    assert [r.machine_id for r in stream[:3]] == ["m-001", "m-002", "m-003"]


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_simulator_at_thousands_per_second_into_the_embedded_engine(
    kafka_bootstrap: str, schema_registry: str, unique: str, tmp_path: Path
) -> None:
    """The simulator writes Avro through the registry; the embedded engine reads it back through the registry."""
    source, sink = f"manufacturing.sensor-reading-{unique}.v1", f"agent.task-requests.diagnose-{unique}"
    create_topic(kafka_bootstrap, source, partitions=3)
    create_kept_topic(kafka_bootstrap, sink)  # results carry 2026-01-01 event times: see create_kept_topic
    config = SimulatorConfig(
        machines=10, rate=5000, speedup=600, duration=2, anomalies=("m-004",), anomaly_start=300,
        anomaly_length=600, start=START,
    )  # fmt: skip
    began = time.monotonic()
    sent = publish(config, KafkaSettings(kafka_bootstrap, schema_registry_url=schema_registry), source)
    assert sent == 10_010 and time.monotonic() - began < 6  # paced at ~5,000/s
    expected = job.test(readings(config))
    assert {a.machine_id for a in expected} == {"m-004"}

    assert all((r.value or b"")[:1] == b"\0" for r in read_records(kafka_bootstrap, source, 10))  # Avro
    env = {"MAINT_SOURCE": source, "MAINT_SINK": sink, "MAINT_NAME": f"maint-{unique}"}
    env["AGENTFLUX_SCHEMA_REGISTRY_URL"] = schema_registry
    with streams_run("maintenance_job:job", kafka_bootstrap, env, "--state-dir", str(tmp_path)) as proc:
        got = collect(kafka_bootstrap, sink, len(expected), timeout=60)
        assert stop(proc) == 0
    assert sorted((r["value"]["window_start"], r["value"]["readings"]) for r in got) == sorted(
        (a.window_start, a.readings) for a in expected
    )
