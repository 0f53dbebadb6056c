"""Handler logic on the in-memory transport: dispatch, retries, dead letters, order, context."""

import asyncio
from collections import defaultdict

import pytest
from pydantic import BaseModel

from agentflux import AgentApp, ConfigError, Context, Reject, Retry, RetryPolicy, TopicNameError
from agentflux.testing import TestApp

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.01)


class Reading(BaseModel):
    machine_id: str
    seq: int


def test_declarations_are_inspectable_and_validated() -> None:
    app = AgentApp("plant")
    watcher = app.agent("watcher", description="watches", publishes=["plant.alert-raised.v1"])

    @watcher.on("plant.sensor-reading.v1")
    async def on_reading(event: Reading, ctx: Context) -> None:
        return None

    assert app.agents["watcher"].handlers == [on_reading]
    assert on_reading.payload_type is Reading and on_reading.topic == "plant.sensor-reading.v1"
    assert watcher.group_id == "plant.watcher"
    with pytest.raises(TopicNameError, match="expected"):
        watcher.on("sensor_readings")
    with pytest.raises(ConfigError, match="annotate the first parameter"):
        watcher.on("plant.other.v1")(_untyped)
    with pytest.raises(ConfigError, match="async function"):
        watcher.on("plant.other.v1")(_sync)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="already has a handler"):
        watcher.on("plant.sensor-reading.v1")(on_reading.fn)
    with pytest.raises(ConfigError, match="unknown agent"):
        app.select(["nobody"])


async def _untyped(event, ctx):  # type: ignore[no-untyped-def]
    return None


def _sync(event: Reading, ctx: Context) -> None:
    return None


@pytest.mark.asyncio
async def test_transient_errors_are_retried_then_succeed() -> None:
    app = AgentApp("retrying")
    agent = app.agent("flaky", retry=FAST)
    attempts: list[int] = []

    @agent.on("demo.job.v1")
    async def handle(event: dict, ctx: Context) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("upstream hiccup")

    async with TestApp(app) as t:
        await t.publish("demo.job.v1", {"n": 1})
        await t.drain()
        assert attempts == [1, 2, 3]
        assert t.dead_letters() == []


@pytest.mark.asyncio
async def test_budget_exhaustion_and_permanent_errors_dead_letter() -> None:
    app = AgentApp("failing")
    agent = app.agent("picky", retry=FAST)
    calls: dict[int, int] = defaultdict(int)

    @agent.on("demo.job.v1")
    async def handle(event: dict, ctx: Context) -> None:
        calls[event["n"]] += 1
        if event["n"] == 1:
            raise RuntimeError("always broken")
        if event["n"] == 2:
            raise Reject("not for us")
        if event["n"] == 3 and ctx.attempt == 1:
            raise Retry("later", delay=0.001)

    async with TestApp(app) as t:
        for n in (1, 2, 3):
            await t.publish("demo.job.v1", {"n": n}, key=str(n))
        await t.publish("demo.job.v1", b"not json", key="4")
        await t.drain()
        letters = {d.info["error_type"]: d for d in t.dead_letters()}
    assert calls == {1: 3, 2: 1, 3: 2}
    assert set(letters) == {"RuntimeError", "Reject", "PayloadDecodeError"}
    assert letters["RuntimeError"].info["attempts"] == "3"
    assert letters["Reject"].info["error_message"] == "not for us"
    assert letters["PayloadDecodeError"].info["attempts"] == "0"
    assert letters["PayloadDecodeError"].record.value == b"not json"
    assert letters["RuntimeError"].info["group"] == "failing.picky"


@pytest.mark.asyncio
async def test_same_key_in_order_other_keys_concurrently() -> None:
    app = AgentApp("ordered")
    agent = app.agent("sequencer", concurrency=8)
    seen: dict[str, list[int]] = defaultdict(list)
    running = 0
    peak = 0

    @agent.on("demo.reading.v1")
    async def handle(event: Reading, ctx: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.002 * (event.seq % 3))  # later records may be quicker
        seen[event.machine_id].append(event.seq)
        running -= 1

    async with TestApp(app) as t:
        for seq in range(20):
            for machine in ("m1", "m2", "m3", "m4"):
                await t.publish("demo.reading.v1", Reading(machine_id=machine, seq=seq), key=machine)
        await t.drain()
    assert {m: s for m, s in seen.items()} == {m: list(range(20)) for m in ("m1", "m2", "m3", "m4")}
    assert peak > 1


@pytest.mark.asyncio
async def test_publish_propagates_correlation_causation_and_trace() -> None:
    app = AgentApp("chain")
    first, second = app.agent("first"), app.agent("second")
    got: list[Context] = []

    @first.on("demo.start.v1")
    async def start(event: dict, ctx: Context) -> None:
        await ctx.publish("demo.next.v1", {"from": ctx.message_id}, key=ctx.key)

    @second.on("demo.next.v1")
    async def follow(event: dict, ctx: Context) -> None:
        got.append(ctx)

    async with TestApp(app) as t:
        await t.publish("demo.start.v1", {}, key="k", correlation_id="corr-1")
        await t.drain()
        [start_env] = t.envelopes("demo.start.v1")
    [ctx] = got
    assert ctx.correlation_id == "corr-1"
    assert ctx.causation_id == start_env.id
    assert ctx.envelope.source == "first" and ctx.envelope.type == "demo.next"
    assert (ctx.traceparent or "").split("-")[1] == (start_env.traceparent or "").split("-")[1]
    assert ctx.key == "k"
