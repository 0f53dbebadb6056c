"""A worker SIGKILLed between a task's ``working`` record and its terminal state.

The request was not committed, so the next owner runs the task again. The
requester must get one outcome, and ``agent.tasks.v1`` must end with the
terminal state: a ``working`` record written after it would make every reader
(and compaction, which keeps the latest record) think the task is still running.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from kafka_helpers import agent_processes, read_lines, records_keyed
from pydantic import BaseModel

from agentflux import AgentClient, TaskPhase, UnknownSkill
from agentflux.contract.tasks import TaskReport
from agentflux.contract.topics import TASKS_TOPIC, task_results_topic

pytestmark = [pytest.mark.faults, pytest.mark.asyncio, pytest.mark.timeout(120)]
HELD = "tests/faults/apps/held_skill.py:app"


class Job(BaseModel):
    n: int


async def states_of(bootstrap: str, task_id: str) -> list[TaskReport]:
    return [
        TaskReport.model_validate_json(r.value or b"") for r in await records_keyed(bootstrap, TASKS_TOPIC, task_id)
    ]


async def poll(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Await ``check()`` until it is true, or fail after ``timeout`` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def test_a_sigkill_after_working_ends_with_one_outcome_and_the_terminal_state_last(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    skill, task_id = f"held-{unique}", f"held-task-{unique}"
    release, log = tmp_path / "release", tmp_path / "started.jsonl"
    env = {
        "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "T_APP": f"held-{unique}",
        "T_SKILL": skill,
        "T_RELEASE": str(release),
        "T_LOG": str(log),
    }
    with agent_processes() as start:
        first = start(HELD, env, "--instance-id", "w1")
        async with AgentClient(kafka_bootstrap) as client:

            async def provisioned() -> bool:
                try:
                    await client.prepare(skill)  # UnknownSkill until the worker has created the skill's topics
                except UnknownSkill:
                    return False
                return True

            await poll(provisioned, 30, "the worker to provision the skill's topics")
            delegation = asyncio.ensure_future(client.delegate(skill, Job(n=7), timeout=60, task_id=task_id))
            try:

                async def working() -> bool:
                    return any(s.state is TaskPhase.WORKING for s in await states_of(kafka_bootstrap, task_id))

                await poll(working, 30, "the working record of the held task")
                first.send_signal(signal.SIGKILL)
                await asyncio.to_thread(first.wait, 10)
                assert not delegation.done()
                release.touch()
                second = start(HELD, env, "--instance-id", "w1")  # the same static member: it takes over at once
                result = await asyncio.wait_for(delegation, 40)
            finally:
                delegation.cancel()
        second.send_signal(signal.SIGTERM)  # a clean stop: anything it would still write is on the broker after it
        assert await asyncio.to_thread(second.wait, 30) == 0
    assert result == {"n": 7, "pid": second.pid}
    assert [x["pid"] for x in read_lines(log)] == [first.pid, second.pid]  # held on the first, rerun on the second
    states = await states_of(kafka_bootstrap, task_id)
    phases = [s.state for s in states]
    assert phases[-1] is TaskPhase.COMPLETED, phases
    assert [p for p in phases if p.terminal] == [TaskPhase.COMPLETED], phases
    assert TaskPhase.WORKING not in phases[phases.index(TaskPhase.COMPLETED) :], phases
    working_pids = [s.worker.rpartition(":")[2] for s in states if s.state is TaskPhase.WORKING and s.worker]
    assert working_pids == [str(first.pid), str(second.pid)]  # one working record per run
    assert len(await records_keyed(kafka_bootstrap, task_results_topic(skill), task_id)) == 1
