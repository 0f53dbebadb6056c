"""Source agents on a clock: ``@agent.every(seconds)``."""

import asyncio

import pytest

from agentflux import AgentApp, ConfigError, Context
from agentflux.testing import TestApp


@pytest.mark.asyncio
async def test_ticks_publish_and_each_record_can_start_its_own_correlation() -> None:
    app = AgentApp("clock")
    source, sink = app.agent("source"), app.agent("sink")
    ticks: list[Context] = []
    got: list[Context] = []

    @source.every(0.02)
    async def poll(ctx: Context) -> None:
        ticks.append(ctx)
        if len(ticks) == 2:
            raise RuntimeError("a failed tick is logged; the next tick goes on")
        await ctx.publish("clock.reading-taken.v1", {"n": len(ticks), "part": "a"}, key="a", new_correlation=True)
        await ctx.publish("clock.reading-taken.v1", {"n": len(ticks), "part": "b"}, key="b", new_correlation=True)

    @sink.on("clock.reading-taken.v1")
    async def take(event: dict, ctx: Context) -> None:
        got.append(ctx)

    async with TestApp(app):  # the source never stops publishing: wait for enough, not for drain()
        async with asyncio.timeout(5):
            while len(got) < 4:
                await asyncio.sleep(0.01)
    assert ticks[0].topic is None and ticks[0].key is None
    assert len({c.correlation_id for c in got}) == len(got)  # one fresh correlation per record
    tick_ids = {c.message_id for c in ticks}
    assert all(c.causation_id in tick_ids for c in got)  # ... still caused by its tick
    assert all(c.correlation_id == c.message_id for c in got)  # each record is the edge of its own request
    assert not {c.correlation_id for c in got} & tick_ids


@pytest.mark.asyncio
async def test_a_new_request_can_be_given_its_correlation_id() -> None:
    app = AgentApp("clock")
    source, sink = app.agent("source"), app.agent("sink")
    got: list[Context] = []

    @source.every(0.02)
    async def poll(ctx: Context) -> None:
        if not got:
            await ctx.publish("clock.reading-taken.v1", {"n": 1}, key="a", new_correlation=True, correlation_id="r-1")

    @sink.on("clock.reading-taken.v1")
    async def take(event: dict, ctx: Context) -> None:
        got.append(ctx)

    async with TestApp(app):
        async with asyncio.timeout(5):
            while not got:
                await asyncio.sleep(0.01)
    assert got[0].correlation_id == "r-1" and got[0].message_id != "r-1"


def test_schedules_are_validated() -> None:
    agent = AgentApp("clock").agent("source")
    with pytest.raises(ConfigError, match="positive interval"):
        agent.every(0)
    with pytest.raises(ConfigError, match="async function"):
        agent.every(1)(lambda ctx: None)  # type: ignore[arg-type,return-value]
