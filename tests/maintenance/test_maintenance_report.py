"""Configuration, the demo's bad readings, the expected outcome and the summary's verdict (fast tier)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentflux import ConfigError
from agentflux.streams import job_sql
from agentflux.streams.results import result_headers
from agentflux.testing import MemoryTransport
from examples.mcp_servers import maintenance_db
from examples.predictive_maintenance.config import MaintenanceConfig
from examples.predictive_maintenance.demo import bad_readings
from examples.predictive_maintenance.job import build_job, job_for
from examples.predictive_maintenance.models import Diagnosis, SensorReading
from examples.predictive_maintenance.observer import MaintenanceObserver, Refined, short_reason
from examples.predictive_maintenance.report import Expected, expect, summarize
from examples.predictive_maintenance.simulator import SimulatorConfig

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_namespace_renames_everything_and_the_default_is_canonical() -> None:
    config = MaintenanceConfig.from_env({"MAINTENANCE_NAMESPACE": "t1", "MAINTENANCE_THRESHOLD": "6.5"})
    assert (config.app_name, config.diagnose_skill, config.schedule_skill) == (
        "maintenance-t1", "diagnose-machine-t1", "schedule-maintenance-t1",
    )  # fmt: skip
    assert config.sensor_topic == "manufacturing-t1.sensor-reading.v1"
    assert MaintenanceConfig.from_env(config.env()) == config
    job = job_for(config)
    assert (job.name, job.sink_spec.topic) == ("vibration-anomalies-t1", "agent.task-requests.diagnose-machine-t1")
    assert "> CAST(6.5 AS DOUBLE)" in job_sql(job)
    assert job_sql(job_for(MaintenanceConfig.from_env({}))) == job_sql(build_job())
    with pytest.raises(ConfigError, match="MAINTENANCE_THRESHOLD"):
        MaintenanceConfig.from_env({"MAINTENANCE_THRESHOLD": "high"})


def test_every_bad_reading_fails_the_model_and_reads_as_one_line() -> None:
    bad = bad_readings(3, ["m-001", "m-002"], START)
    assert [k for k, _ in bad] == [b"m-001", b"m-002", b"m-001"]
    assert b'"timestamp": "2026-01-01T00:00:00Z"' in bad[1][1]
    reasons = []
    for _, value in bad:
        with pytest.raises(ValidationError) as failed:
            SensorReading.model_validate_json(value)
        reasons.append(short_reason(f"record does not match SensorReading: {failed.value}"))
    assert reasons[0].startswith("Invalid JSON")
    assert reasons[1].startswith("vibration: Input should be a valid number")
    assert reasons[2] == "temperature: Field required"


def test_expect_names_every_refined_event_by_the_task_id_the_job_writes() -> None:
    config = MaintenanceConfig(namespace="t2")
    simulated = SimulatorConfig(machines=6, rate=1000, speedup=600, duration=4, anomalies=("m-002",), start=START)
    expected = expect(config, simulated)
    assert expected.machines == {"m-002"} == set(expected.injected) and len(expected.anomalies) > 3
    for task_id, a in expected.anomalies.items():
        headers = dict(result_headers(config.job_name, config.anomalies_topic, a.machine_id, a.window_start,
                                      a.window_end))  # fmt: skip
        assert headers["ce_taskid"] == task_id.encode()


def test_the_summary_checks_bookings_against_the_injected_anomalies(maintenance_db_path: Path) -> None:
    config = MaintenanceConfig(maintenance_db=maintenance_db_path, namespace="t3")
    simulated = SimulatorConfig(machines=6, rate=1000, speedup=600, duration=4, anomalies=("m-002",), start=START)
    expected = expect(config, simulated)
    observer = MaintenanceObserver(MemoryTransport(), config)
    for task_id, a in expected.anomalies.items():
        observer.refined[task_id] = Refined(a, task_id, config.job_name, 0)
        observer.diagnoses[task_id] = Diagnosis(
            machine_id=a.machine_id, anomaly_id=task_id, window_start=a.window_start, window_end=a.window_end,
            avg_vibration=a.avg_vibration, severity="high", priority="high", action="already-booked", reasons=[],
        )  # fmt: skip
    observer.dead_letters = [{}, {}]
    maintenance_db.book_maintenance("m-002", "high", "vibration", "r1", "a1")
    figures = summarize(
        observer, expected, raw_readings=4008, bad_sent=2, engine="embedded", db=maintenance_db_path, machines=6
    )
    assert figures["as injected"] == "yes" and figures["machines booked"] == "m-002"
    assert figures["raw readings per agent input"] == 4008 / len(expected.anomalies)

    maintenance_db.book_maintenance("m-005", "high", "vibration", "r2", "a2")  # a healthy machine booked
    observer.refined["stray"] = Refined(next(iter(expected.anomalies.values())), "stray", "someone-else", 0)
    verdict = str(summarize(observer, expected, raw_readings=1, bad_sent=3, engine="embedded",
                            db=maintenance_db_path, machines=6)["as injected"])  # fmt: skip
    assert verdict.startswith("NO: ")
    for problem in ("refined events arrived", "did not come from the window job", "not diagnosed",
                    "open bookings per machine", "2 of 3 bad readings"):  # fmt: skip
        assert problem in verdict
    unexpected = Expected({}, frozenset({"m-001"}))
    assert "the job flags []" in str(summarize(observer, unexpected, raw_readings=1, bad_sent=0, engine="flink",
                                               db=maintenance_db_path, machines=6)["as injected"])  # fmt: skip
