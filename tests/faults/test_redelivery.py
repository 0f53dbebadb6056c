"""What runs again after a fault: finished records are skipped after a SIGKILL; a retried delegation re-attaches."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from kafka_helpers import agent_processes, await_until, create_topic, produce_raw, read_lines, wait_until
from pydantic import BaseModel

from agentflux import AgentApp, AgentClient, AppRunner, Context, RetryPolicy
from agentflux.runtime.runner import kafka_transport
from agentflux.runtime.tasks.requester import derived_task_id

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]
RECORDER = "tests/runtime/apps/recorder.py:app"


def test_after_a_sigkill_only_the_record_in_flight_runs_again(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    """A slow record holds the commit position; the 300 records after it finish; then SIGKILL.

    The 300 are above the committed offset, so they are delivered again, but
    the commit's metadata names them as finished: the new process skips them
    and runs only the slow record.
    """
    topic, log = f"test.records-{unique}.v1", tmp_path / "handled.jsonl"
    create_topic(kafka_bootstrap, topic, partitions=1)
    records = [(b"slow", b'{"seq": 0, "hold": true}', None)]
    records += [(f"k{i % 10}".encode(), f'{{"seq": {i}}}'.encode(), None) for i in range(1, 301)]
    produce_raw(kafka_bootstrap, topic, records)
    env = {
        "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "T_APP": f"app-{unique}",
        "T_TOPIC": topic,
        "T_LOG": str(log),
    }

    def handled(pid: int | None = None) -> list[int]:
        return [x["seq"] for x in read_lines(log) if x["event"] == "handled" and pid in (None, x["pid"])]

    with agent_processes() as start:
        first = start(RECORDER, env, "--instance-id", "r1")
        wait_until(lambda: len(handled()) == 300, 60, "the 300 records after the slow one")
        time.sleep(1.0)  # several commit intervals (0.2 s): what finished is in the committed metadata
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = start(RECORDER, {**env, "T_HOLD": "0"}, "--instance-id", "r1")
        wait_until(lambda: 0 in handled(second.pid), 60, "the slow record on the restarted process")
        time.sleep(1.0)  # anything else it would run again runs now
    assert handled(second.pid) == [0]
    assert sorted(handled(first.pid)) == list(range(1, 301))


class Order(BaseModel):
    n: int


class Shipped(BaseModel):
    n: int


@pytest.mark.asyncio
async def test_a_retry_after_a_delegation_timeout_reattaches_to_the_same_task(
    kafka_bootstrap: str, unique: str
) -> None:
    """The worker is down for 12 s, the delegation times out after 3 s: each order's skill still runs once."""
    skill, topic = f"ship-{unique}", f"faults.order-{unique}.v1"
    shipper = AgentApp(f"shipper-{unique}", bootstrap_servers=kafka_bootstrap)
    runs: list[tuple[int, str | None, int]] = []

    @shipper.agent("shipper").skill(skill)
    async def ship(order: Order, ctx: Context) -> Shipped:
        runs.append((order.n, ctx.task_id, ctx.attempt))
        return Shipped(n=order.n)

    caller = AgentApp(f"caller-{unique}", bootstrap_servers=kafka_bootstrap)
    done: dict[int, tuple[str, int]] = {}

    @caller.agent("caller", retry=RetryPolicy(max_attempts=10, initial_backoff=0.1, max_backoff=0.5)).on(topic)
    async def on_order(order: Order, ctx: Context) -> None:
        shipped = await ctx.delegate(skill, order, timeout=3)
        done[shipped["n"]] = (derived_task_id(ctx.message_id, 1), ctx.attempt)

    async with AppRunner(shipper, kafka_transport(shipper)):
        pass  # provisions the skill's topics, then the worker is down
    async with AppRunner(caller, kafka_transport(caller)):
        produce_raw(kafka_bootstrap, topic, [(f"o{n}".encode(), f'{{"n": {n}}}'.encode(), None) for n in range(5)])
        await asyncio.sleep(12)
        assert not done and not runs
        async with AppRunner(shipper, kafka_transport(shipper)):
            await await_until(lambda: len(done) == 5, 60, "every order shipped")
            await asyncio.sleep(1)  # the re-sent requests of earlier attempts are answered meanwhile
    assert all(attempt >= 3 for _, attempt in done.values())  # the first attempts did time out
    assert sorted(n for n, _, _ in runs) == list(range(5))  # one run per order, not one per attempt
    assert {task_id for task_id, _ in done.values()} == {task_id for _, task_id, _ in runs}


@pytest.mark.asyncio
async def test_a_new_worker_group_answers_finished_tasks_from_the_task_log(kafka_bootstrap: str, unique: str) -> None:
    """Requests whose tasks finished are answered from ``agent.tasks.v1``, never run again, by any new owner."""
    skill = f"count-{unique}"
    runs: list[str | None] = []

    def worker_app(name: str) -> AgentApp:
        app = AgentApp(name, bootstrap_servers=kafka_bootstrap)

        @app.agent("counter").skill(skill)
        async def count(order: Order, ctx: Context) -> Shipped:
            runs.append(ctx.task_id)
            return Shipped(n=order.n)

        return app

    first = worker_app(f"first-{unique}")
    async with AppRunner(first, kafka_transport(first)), AgentClient(kafka_bootstrap) as client:
        for n in range(3):
            await client.delegate(skill, {"n": n}, timeout=30, task_id=f"{unique}-{n}")
    second = worker_app(f"second-{unique}")  # a new group: it reads every request from the start
    async with AppRunner(second, kafka_transport(second)), AgentClient(kafka_bootstrap) as client:
        again = [await client.delegate(skill, {"n": n}, timeout=30, task_id=f"{unique}-{n}") for n in range(3)]
        fresh = await client.delegate(skill, {"n": 9}, timeout=30, task_id=f"{unique}-9")
    assert [r["n"] for r in again] == [0, 1, 2] and fresh["n"] == 9
    assert runs == [f"{unique}-0", f"{unique}-1", f"{unique}-2", f"{unique}-9"]
