"""CancelTask stops the work itself: the handler is cancelled, so is what it delegated (real broker, real gateway)."""

from __future__ import annotations

import asyncio
import time

import pytest
from a2a.helpers import new_data_part
from a2a.types import CancelTaskRequest, GetTaskRequest, Message, Role, SendMessageConfiguration, SendMessageRequest
from a2a.types import TaskState as S
from a2a.utils.constants import TransportProtocol
from a2a_helpers import client_for, gateway, running
from pydantic import BaseModel

from agentflux import AgentApp, Context, TaskPhase, TaskReport
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.transport.base import TopicPartition
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.timeout(90), pytest.mark.asyncio]


class Trip(BaseModel):
    city: str


def app_for(unique: str, seen: list[tuple[str, str, bool]]) -> AgentApp:
    app = AgentApp(f"cancel-{unique}")

    @app.agent("planner").skill(f"plan-{unique}", timeout=None)
    async def plan(trip: Trip, ctx: Context) -> Trip:
        try:
            return await ctx.delegate(f"fetch-{unique}", trip, timeout=300)
        except asyncio.CancelledError:
            seen.append(("plan", "cancelled", ctx.cancelled))
            raise

    @app.agent("fetcher").skill(f"fetch-{unique}", timeout=None)
    async def fetch(trip: Trip, ctx: Context) -> Trip:
        seen.append(("fetch", "started", ctx.cancelled))
        try:
            await asyncio.Event().wait()  # a long job
        except asyncio.CancelledError:
            seen.append(("fetch", "cancelled", ctx.cancelled))
            raise
        return trip

    return app


async def worker_states(bootstrap: str, since_ms: int) -> list[TaskReport]:
    transport = KafkaTransport(KafkaSettings(bootstrap))
    tail = transport.tail()
    try:
        partitions = [TopicPartition(TASKS_TOPIC, p) for p in range(await tail.partition_count(TASKS_TOPIC))]
        records = await tail.read_range(await tail.offsets_at(partitions, since_ms), await tail.end_offsets(partitions))
    finally:
        await tail.close()
    return [TaskReport.model_validate_json(r.value) for r in records if r.value]


async def test_cancel_task_cancels_the_handler_and_the_task_it_delegated(kafka_bootstrap: str, unique: str) -> None:
    seen: list[tuple[str, str, bool]] = []
    app, since = app_for(unique, seen), int(time.time() * 1000) - 1000
    async with running(app, kafka_bootstrap), gateway(kafka_bootstrap, app) as (_gw, url):
        async with client_for(f"{url}/agents/planner", TransportProtocol.JSONRPC, streaming=False) as client:
            msg = Message(role=Role.ROLE_USER, message_id=f"m-{unique}", parts=[new_data_part({"city": "oslo"})])
            config = SendMessageConfiguration(return_immediately=True)
            [sent] = [e async for e in client.send_message(SendMessageRequest(message=msg, configuration=config))]
            async with asyncio.timeout(30):
                while ("fetch", "started", False) not in seen:
                    await asyncio.sleep(0.05)
            canceled = await client.cancel_task(CancelTaskRequest(id=sent.task.id))
            assert canceled.status.state == S.TASK_STATE_CANCELED
            async with asyncio.timeout(30):
                while len(seen) < 3:
                    await asyncio.sleep(0.05)
            assert (await client.get_task(GetTaskRequest(id=sent.task.id))).status.state == S.TASK_STATE_CANCELED
    # The handler saw its cancellation (ctx.cancelled), and so did the task it had delegated.
    assert sorted(seen) == [("fetch", "cancelled", True), ("fetch", "started", False), ("plan", "cancelled", True)]
    final = {}
    for state in await worker_states(kafka_bootstrap, since):  # the workers' records, not the gateway's snapshots
        if state.skill in (f"plan-{unique}", f"fetch-{unique}") and not (state.worker or "").endswith("@a2a-gateway"):
            final[state.skill] = state
    assert final[f"plan-{unique}"].state is TaskPhase.CANCELED and final[f"plan-{unique}"].task_id == sent.task.id
    assert final[f"fetch-{unique}"].state is TaskPhase.CANCELED
    assert {s.error.type for s in final.values() if s.error} == {"TaskCanceled"}
    assert (final[f"plan-{unique}"].error.message, final[f"fetch-{unique}"].error.message) == (  # type: ignore[union-attr]
        "CancelTask",
        "the delegating task was cancelled",
    )
