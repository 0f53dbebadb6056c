"""The task log's fold: log order decides, terminal states stick, cancel overrides (fast tier, memory transport)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from a2a.types import Task, TaskStatus
from a2a.types import TaskState as S

from agentflux.a2a.records import SNAPSHOT_TYPE, WORKER_TYPE, A2AInfo, TaskRecord, to_json
from agentflux.a2a.task_log import TaskLog
from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.tasks import TaskPhase, TaskReport
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.transport.memory import MemoryTransport

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def log() -> AsyncIterator[tuple[TaskLog, MemoryTransport]]:
    transport = MemoryTransport()
    task_log = TaskLog(transport)
    await task_log.start()
    try:
        yield task_log, transport
    finally:
        await task_log.close()


async def snapshot(transport: MemoryTransport, state: int, prev: int, *, task_id: str = "t1") -> int:
    task = Task(id=task_id, context_id="c", status=TaskStatus(state=state))  # type: ignore[arg-type]
    record = TaskRecord(
        task_id=task_id,
        skill="s",
        state=TaskPhase.WORKING,
        correlation_id=task_id,
        a2a=A2AInfo(agent="a", task=to_json(task), prev_version=prev),
    )
    headers = Envelope.new(source="test", type=SNAPSHOT_TYPE).to_headers()
    ack = await transport.publish(TASKS_TOPIC, encode(record), key=task_id.encode(), headers=headers)
    return ack.offset + 1


async def settled(task_log: TaskLog) -> None:
    await task_log.sync(2)
    await asyncio.sleep(0)


async def test_a_write_based_on_a_stale_version_loses(log: tuple[TaskLog, MemoryTransport]) -> None:
    task_log, transport = log
    v1 = await snapshot(transport, S.TASK_STATE_SUBMITTED, 0)
    v2 = await snapshot(transport, S.TASK_STATE_WORKING, v1)
    await snapshot(transport, S.TASK_STATE_COMPLETED, v1)  # a second writer, still at v1
    await settled(task_log)
    found = task_log.get("t1")
    assert found is not None and (found.task.status.state, found.version) == (S.TASK_STATE_WORKING, v2)


async def test_a_terminal_task_never_changes_but_cancel_overrides_a_live_one(
    log: tuple[TaskLog, MemoryTransport],
) -> None:
    task_log, transport = log
    v1 = await snapshot(transport, S.TASK_STATE_WORKING, 0)
    canceled = await snapshot(transport, S.TASK_STATE_CANCELED, 12345)  # no version check for a cancel
    await snapshot(transport, S.TASK_STATE_COMPLETED, v1)
    await settled(task_log)
    found = task_log.get("t1")
    assert found is not None and (found.task.status.state, found.version) == (S.TASK_STATE_CANCELED, canceled)


async def test_worker_states_show_tasks_delegated_inside_the_mesh(log: tuple[TaskLog, MemoryTransport]) -> None:
    task_log, transport = log
    state = TaskReport(task_id="d1", skill="s", state=TaskPhase.SUBMITTED, correlation_id="corr", worker="agent-a@h:1")
    headers = Envelope.new(source="agent-a", type=WORKER_TYPE).to_headers()
    for step in (state, state.advance(TaskPhase.WORKING), state.advance(TaskPhase.COMPLETED, result={"ok": True})):
        await transport.publish(TASKS_TOPIC, encode(step), key=b"d1", headers=headers)
    await settled(task_log)
    found = task_log.get("d1")
    assert found is not None and found.source == "worker" and found.agent == "agent-a"
    assert found.task.status.state == S.TASK_STATE_COMPLETED and found.task.context_id == "corr"
    assert [a.artifact_id for a in found.task.artifacts] == ["result"]
    assert [s.task.id for s in task_log.snapshots("agent-a")] == ["d1"]


async def test_followers_see_every_record_of_their_key_in_order(log: tuple[TaskLog, MemoryTransport]) -> None:
    task_log, transport = log
    with task_log.follow("t9") as queue:
        v1 = await snapshot(transport, S.TASK_STATE_SUBMITTED, 0, task_id="t9")
        await snapshot(transport, S.TASK_STATE_WORKING, v1, task_id="t9")
        await snapshot(transport, S.TASK_STATE_WORKING, 0, task_id="other")
        first, second = await queue.get(), await queue.get()
    assert (first.version, first.accepted, second.accepted) == (v1, True, True)
    assert queue.empty()
    assert [e.version for e in task_log.recent("t9")] == [first.version, second.version]


async def test_the_view_keeps_the_most_recently_changed_tasks() -> None:
    transport = MemoryTransport()
    task_log = TaskLog(transport, max_tasks=2)
    await task_log.start()
    try:
        for task_id in ("a", "b", "c"):
            await snapshot(transport, S.TASK_STATE_SUBMITTED, 0, task_id=task_id)
        await settled(task_log)
        assert [task_log.get(t) is not None for t in ("a", "b", "c")] == [False, True, True]
    finally:
        await task_log.close()


async def test_a_worker_that_finishes_before_the_first_snapshot_does_not_lock_the_task_out(
    log: tuple[TaskLog, MemoryTransport],
) -> None:
    """A fast skill's worker may write its whole first turn before the gateway saves the task at all.

    Its terminal worker state is a mesh view of the task, not the A2A task: the gateway's
    snapshots, from the first one (``prev_version`` 0) on, must still be accepted and saved.
    """
    from a2a.server.cluster import TaskVersion
    from a2a.server.context import ServerCallContext

    from agentflux.a2a.task_store import KafkaTaskStore

    task_log, transport = log
    headers = Envelope.new(source="agent-a", type=WORKER_TYPE).to_headers()
    for state in (TaskPhase.SUBMITTED, TaskPhase.WORKING, TaskPhase.COMPLETED):
        record = TaskReport(task_id="t1", skill="s", state=state, correlation_id="t1", worker="a@h:1")
        await transport.publish(TASKS_TOPIC, encode(record), key=b"t1", headers=headers)
    await settled(task_log)
    store = KafkaTaskStore(task_log, transport, agent="a")
    context = ServerCallContext()
    task = Task(id="t1", context_id="c", status=TaskStatus(state=S.TASK_STATE_SUBMITTED))
    v1 = await store.save(task, event=task, prev=None, prev_version=TaskVersion.MISSING, context=context)
    task.status.state = S.TASK_STATE_WORKING
    v2 = await store.save(task, event=None, prev=None, prev_version=v1, context=context)
    task.status.state = S.TASK_STATE_COMPLETED
    v3 = await store.save(task, event=None, prev=None, prev_version=v2, context=context)
    await settled(task_log)
    found = task_log.get("t1")
    assert found is not None and found.source == "a2a"
    assert found.task.status.state == S.TASK_STATE_COMPLETED and TaskVersion(found.version) == v3
