"""Both maintenance agents on the in-memory transport, with the maintenance-db server's tools in-process.

The tools are the server's own functions on a real SQLite file (run on threads,
as the MCP server runs them), so the "one open booking per machine" rule under
test is the real one; only MCP's stdio framing is left out.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agentflux.contract.envelope import Envelope
from agentflux.testing import TestApp
from examples.mcp_servers import maintenance_db
from examples.predictive_maintenance.app import DIAGNOSTICS, SCHEDULING, build_app
from examples.predictive_maintenance.config import MaintenanceConfig
from examples.predictive_maintenance.job import job_for
from examples.predictive_maintenance.models import Diagnosis, MaintenanceBooked, MaintenanceRequest, VibrationAnomaly

MINUTE = 60_000


class InProcessDb:
    """A ToolProvider whose ``maintenance-db`` calls the server's tool functions on a thread."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def handle(self, name: str, meta: dict[str, str] | None = None) -> InProcessDb:
        assert name == "maintenance-db"
        return self

    async def call(self, tool: str, /, **arguments: Any) -> Any:
        self.calls.append(tool)
        return await asyncio.to_thread(getattr(maintenance_db, tool), **arguments)


def window(machine: str, minute: int, avg: float = 8.5) -> VibrationAnomaly:
    return VibrationAnomaly(
        machine_id=machine, window_start=minute * MINUTE, window_end=(minute + 10) * MINUTE, avg_vibration=avg,
        max_vibration=avg + 2, avg_temperature=66.0, readings=600,
    )  # fmt: skip


async def refined(t: TestApp, config: MaintenanceConfig, event: VibrationAnomaly, task_id: str) -> None:
    """Write a refined event as the window job does: a task keyed by machine, with no reply address."""
    envelope = Envelope.new(source=config.job_name, type=config.anomalies_topic).with_(task_id=task_id)
    publisher = t.runner.services.publisher
    await publisher.publish(config.anomalies_topic, event, envelope=envelope, key=event.machine_id)


@pytest.mark.asyncio
async def test_a_run_of_anomaly_windows_books_each_machine_once(maintenance_db_path: Path) -> None:
    config = MaintenanceConfig(maintenance_db=maintenance_db_path)
    tools = InProcessDb()
    async with TestApp(build_app(config), tools=tools) as t:
        for minute in range(6):  # a sliding window reports one anomaly once a minute
            for machine in ("m-003", "m-011"):
                await refined(t, config, window(machine, minute), f"{machine}-w{minute}")
        await t.drain()
        diagnoses = t.published(config.diagnosed_topic, Diagnosis)
        assert len(diagnoses) == 12 and {d.anomaly_id for d in diagnoses} == {
            f"{m}-w{n}" for n in range(6) for m in ("m-003", "m-011")
        }
        for machine in ("m-003", "m-011"):
            mine = [d for d in diagnoses if d.machine_id == machine]
            assert [d.action for d in mine] == ["schedule"] + ["already-booked"] * 5  # one machine's tasks in order
            assert len({d.booking_id for d in mine}) == 1
        assert mine[0].priority == "normal" and mine[0].booking is not None and mine[0].booking.created
        m003 = next(d for d in diagnoses if d.machine_id == "m-003")
        assert m003.priority == "high" and "recurring" in "; ".join(m003.reasons)  # its history counts
        booked = t.published(config.scheduled_topic, MaintenanceBooked)
        assert sorted(b.machine_id for b in booked) == ["m-003", "m-011"] and all(b.created for b in booked)
        assert {b["machine_id"] for b in maintenance_db.list_bookings()} == {"m-003", "m-011"}
        assert tools.calls.count("machine_history") == 12 and tools.calls.count("book_maintenance") == 2
        assert not t.dead_letters()


@pytest.mark.asyncio
async def test_a_refined_event_written_twice_is_diagnosed_once(maintenance_db_path: Path) -> None:
    config = MaintenanceConfig(maintenance_db=maintenance_db_path)
    tools = InProcessDb()
    async with TestApp(build_app(config), tools=tools) as t:
        first = await t.delegate(config.diagnose_skill, window("m-007", 3), task_id="w-3")
        again = await t.delegate(config.diagnose_skill, window("m-007", 3), task_id="w-3")  # the job restarted
        assert again == first and first.action == "schedule"
        assert len(t.published(config.diagnosed_topic, Diagnosis)) == 1
        assert tools.calls.count("machine_history") == 1


@pytest.mark.asyncio
async def test_concurrent_schedule_tasks_for_one_machine_book_it_once(maintenance_db_path: Path) -> None:
    config = MaintenanceConfig(maintenance_db=maintenance_db_path)
    async with TestApp(build_app(config), agents=[SCHEDULING], tools=InProcessDb()) as t:
        request = MaintenanceRequest(machine_id="m-020", priority="urgent", reason="vibration", anomaly_id="a")
        answers = await asyncio.gather(
            *(t.delegate(config.schedule_skill, request, task_id=f"book-{n}") for n in range(6))
        )  # distinct task ids run concurrently: the database is what keeps them to one booking
        assert sum(a.created for a in answers) == 1 and len({a.booking_id for a in answers}) == 1
        assert len(maintenance_db.list_bookings()) == 1


def test_no_agent_reads_raw_readings_only_refined_events() -> None:
    config = MaintenanceConfig(namespace="t1")
    app = build_app(config)
    assert all(not a.handlers for a in app.agents.values())  # no event subscriptions at all
    inputs = {s.request_topic for a in app.agents.values() for s in a.skills}
    assert inputs == {config.anomalies_topic, "agent.task-requests.schedule-maintenance-t1"}
    job = job_for(config)
    assert (job.source_spec.topic, job.sink_spec.topic) == (config.sensor_topic, config.anomalies_topic)
    assert app.agents[DIAGNOSTICS].skills[0].input_model is job.sink_spec.model is VibrationAnomaly
