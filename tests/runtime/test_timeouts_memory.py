"""Timeouts, outages and cancellation in handler logic (in-memory transport; Kafka behaviour is in tests/faults)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from agentflux import AgentApp, ConfigError, Context, RetryPolicy
from agentflux.testing import TestApp

ONCE = RetryPolicy(max_attempts=1)


class Job(BaseModel):
    n: int


class HangingTools:
    """A tool provider whose calls never answer, and which records that they were cancelled."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def handle(self, name: str, meta: dict[str, str] | None = None) -> Any:
        tools = self

        class Handle:
            async def call(self, tool: str, /, **arguments: Any) -> Any:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    tools.cancelled.append(f"{name}.{tool}")
                    raise

        return Handle()


def test_timeouts_are_declared_per_agent_handler_and_skill() -> None:
    app = AgentApp("limits")
    agent = app.agent("worker", timeout=5)

    @agent.on("limits.job.v1")
    async def inherits(job: Job, ctx: Context) -> None: ...

    @agent.on("limits.other-job.v1", timeout=None)
    async def unbounded(job: Job, ctx: Context) -> None: ...

    @agent.skill("bounded", timeout=0.5)
    async def bounded(job: Job, ctx: Context) -> Job:
        return job

    assert (inherits.timeout, unbounded.timeout, bounded.timeout) == (5, None, 0.5)
    assert app.agent("default").timeout == 60.0  # the documented default
    with pytest.raises(ConfigError, match="timeout must be a positive number"):
        agent.on("limits.third-job.v1", timeout=0)


@pytest.mark.asyncio
async def test_a_timed_out_handler_stops_waiting_for_its_delegation_and_its_tool_call() -> None:
    app = AgentApp("cancelling")
    worker = app.agent("worker", timeout=None)
    release = asyncio.Event()

    @worker.skill("slow-skill")
    async def slow(job: Job, ctx: Context) -> Job:
        await release.wait()
        return job

    caller = app.agent("caller", retry=ONCE, timeout=0.3)

    @caller.on("cancelling.delegate-job.v1")
    async def delegate(job: Job, ctx: Context) -> None:
        await ctx.delegate("slow-skill", job, timeout=30)

    @caller.on("cancelling.tool-job.v1")
    async def call_tool(job: Job, ctx: Context) -> None:
        await ctx.tools("inventory").call("get_inventory", n=job.n)

    tools = HangingTools()
    async with TestApp(app, tools=tools) as t:
        await t.publish("cancelling.delegate-job.v1", Job(n=1))
        await t.publish("cancelling.tool-job.v1", Job(n=2))
        async with asyncio.timeout(5):
            while len(t.dead_letters()) < 2:
                await asyncio.sleep(0.01)
        requester = t.runner.services.requester
        assert requester is not None and requester.waiting == 0  # the delegation stopped waiting with its handler
        assert tools.cancelled == ["inventory.get_inventory"]
        assert sorted(d.info["error_type"] for d in t.dead_letters()) == ["HandlerTimeout", "HandlerTimeout"]
        release.set()  # the skill task itself goes on (only its requester gave up), and finishes
        await t.drain()


@pytest.mark.asyncio
async def test_attempts_that_fail_while_the_cluster_is_lost_do_not_count() -> None:
    app = AgentApp("outage")
    agent = app.agent("worker", retry=RetryPolicy(max_attempts=2, initial_backoff=0.001))
    attempts: list[int] = []
    t = TestApp(app)
    watch = t.transport.watch

    @agent.on("outage.job.v1")
    async def work(job: Job, ctx: Context) -> None:
        attempts.append(ctx.attempt)
        if len(attempts) <= 4:
            watch.mark_down("a test outage")  # the cluster goes away while this attempt runs
            asyncio.get_running_loop().call_later(0.05, watch.mark_back)
            raise ConnectionError("broker unreachable")

    async with t:
        await t.publish("outage.job.v1", Job(n=1))
        await t.drain(timeout=5)
    assert attempts == [1, 1, 1, 1, 1]  # four failures during outages, then success on a first counted attempt
    assert t.dead_letters() == []
