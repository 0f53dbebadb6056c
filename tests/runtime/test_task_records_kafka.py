"""How many records a delegated task costs on the real broker: a quick task two, a slow one three.

The request is the task's ``submitted`` record. A task that ends before
``WORKING_AFTER`` leaves one record on ``agent.tasks.v1`` (its terminal state)
and one result; a longer one leaves ``working``, then the terminal state, then
the result.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import pytest
from kafka_helpers import records_keyed
from pydantic import BaseModel

from agentflux import AgentApp, AgentClient, AppRunner, Context, TaskPhase
from agentflux.contract.tasks import TaskReport
from agentflux.contract.topics import TASKS_TOPIC, task_requests_topic, task_results_topic
from agentflux.runtime.handlers import WORKING_AFTER
from agentflux.runtime.runner import kafka_transport

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(120)]
SLOW = 1.0  # ten times WORKING_AFTER: the working record is written well before the handler returns


class Numbers(BaseModel):
    values: list[int]


class Total(BaseModel):
    total: int


def worker_app(bootstrap: str, unique: str) -> AgentApp:
    app = AgentApp(f"records-{unique}", bootstrap_servers=bootstrap)
    math = app.agent("math")

    @math.skill(f"quick-{unique}")
    async def quick(task: Numbers, ctx: Context) -> Total:
        return Total(total=sum(task.values))

    @math.skill(f"slow-{unique}")
    async def slow(task: Numbers, ctx: Context) -> Total:
        await asyncio.sleep(SLOW)
        return Total(total=sum(task.values))

    return app


class Delegated(NamedTuple):
    states: list[TaskReport]  # the task's records on agent.tasks.v1, in offset order
    results: list[TaskReport]  # its records on the skill's results topic
    submitted_at: str  # the request's ce_time


async def delegate_once(bootstrap: str, unique: str, skill: str, task_id: str) -> Delegated:
    """Run one task to its end, stop the worker, and read every record the task left."""
    app = worker_app(bootstrap, unique)
    async with AppRunner(app, kafka_transport(app)), AgentClient(bootstrap) as client:
        result = await client.delegate(skill, {"values": [1, 2, 3]}, timeout=30, task_id=task_id)
        assert result == {"total": 6}
    # The worker has stopped: whatever it would ever write for this task is on the broker now.
    states = await records_keyed(bootstrap, TASKS_TOPIC, task_id)
    assert len({r.partition for r in states}) <= 1
    results = await records_keyed(bootstrap, task_results_topic(skill), task_id)
    [request] = await records_keyed(bootstrap, task_requests_topic(skill), task_id)
    return Delegated(
        [TaskReport.model_validate_json(r.value or b"") for r in states],
        [TaskReport.model_validate_json(r.value or b"") for r in results],
        (dict(request.headers)["ce_time"] or b"").decode(),
    )


async def test_a_quick_task_writes_only_its_terminal_state_and_one_result(kafka_bootstrap: str, unique: str) -> None:
    task_id = f"quick-task-{unique}"
    task = await delegate_once(kafka_bootstrap, unique, f"quick-{unique}", task_id)
    assert [s.state for s in task.states] == [TaskPhase.COMPLETED]  # no submitted (the request is that), no working
    [final] = task.states
    assert final.task_id == task_id and final.input == {"values": [1, 2, 3]} and final.result == {"total": 6}
    assert final.timestamps[TaskPhase.SUBMITTED] == task.submitted_at
    assert set(final.timestamps) == {TaskPhase.SUBMITTED, TaskPhase.WORKING, TaskPhase.COMPLETED}
    assert [(r.state, r.result) for r in task.results] == [(TaskPhase.COMPLETED, {"total": 6})]


async def test_a_slow_task_writes_working_then_its_terminal_state_and_one_result(
    kafka_bootstrap: str, unique: str
) -> None:
    assert SLOW > 5 * WORKING_AFTER
    task_id = f"slow-task-{unique}"
    task = await delegate_once(kafka_bootstrap, unique, f"slow-{unique}", task_id)
    assert [s.state for s in task.states] == [TaskPhase.WORKING, TaskPhase.COMPLETED]  # in offset order
    working, final = task.states
    assert working.timestamps[TaskPhase.SUBMITTED] == final.timestamps[TaskPhase.SUBMITTED] == task.submitted_at
    assert working.timestamps[TaskPhase.WORKING] == final.timestamps[TaskPhase.WORKING]
    assert final.input == {"values": [1, 2, 3]} and final.result == {"total": 6}
    assert [(r.state, r.result) for r in task.results] == [(TaskPhase.COMPLETED, {"total": 6})]
