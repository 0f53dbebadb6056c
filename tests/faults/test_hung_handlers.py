"""A hung handler costs its own key a timeout, never the agent: timeouts, per-partition backpressure, revocation."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict

import pytest
from kafka_helpers import await_until, create_topic, dead_letters_of, produce_raw

from agentflux import AgentApp, AppRunner, Context, RetryPolicy
from agentflux.transport.base import TopicPartition
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180), pytest.mark.asyncio]


def job(n: int, *, hang: bool = False, slow: bool = False) -> bytes:
    return json.dumps({"n": n, "hang": hang, "slow": slow}).encode()


def runner(app: AgentApp, bootstrap: str) -> AppRunner:
    return AppRunner(app, KafkaTransport(KafkaSettings(bootstrap)), grace=5)


async def test_a_hung_handler_times_out_into_a_dead_letter_and_never_stalls_other_partitions(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, timeout = f"faults.job-{unique}.v1", 8.0
    create_topic(kafka_bootstrap, topic, partitions=2)
    app = AgentApp(f"hung-{unique}")
    agent = app.agent("worker", retry=RetryPolicy(max_attempts=2, initial_backoff=0.01), timeout=timeout)
    seen: dict[int, set[int]] = defaultdict(set)
    cancelled: list[int] = []

    @agent.on(topic)
    async def work(payload: dict, ctx: Context) -> None:
        if payload["hang"]:
            try:
                await asyncio.Event().wait()  # never returns
            except asyncio.CancelledError:
                cancelled.append(ctx.attempt)
                raise
        assert ctx.record is not None
        seen[ctx.record.partition].add(payload["n"])

    first = [(b"stuck", job(-1, hang=True), None, 0)]
    first += [(f"k{n % 50}".encode(), job(n), None, 0) for n in range(6_000)]  # more than a partition may hold
    produce_raw(kafka_bootstrap, topic, [*first, *((f"k{n}".encode(), job(n), None, 1) for n in range(500))])
    async with runner(app, kafka_bootstrap) as running:
        paused = running.consumers[0]

        def isolated() -> bool:  # partition 0 holds too much and is paused; partition 1 goes on
            return paused.paused == {TopicPartition(topic, 0)} and len(seen[1]) == 500

        await await_until(isolated, 20, "partition 1 served while partition 0 is paused behind its hung record")
        assert not cancelled, "partition 1 was served only after the hung handler timed out"
        started = time.monotonic()
        await await_until(lambda: len(seen[0]) == 6_000, 60, "partition 0 after the hung record was dead-lettered")
        assert time.monotonic() - started < 2 * timeout + 5
    assert cancelled == [1, 2]  # each attempt was cancelled at its timeout
    [letter] = await dead_letters_of(kafka_bootstrap, topic)
    assert letter.record.key == b"stuck" and letter.info["source_offset"] == "0"
    assert (letter.info["error_type"], letter.info["attempts"]) == ("HandlerTimeout", "2")
    assert f"did not finish within {timeout:g}s" in letter.info["error_message"]


async def test_a_handler_still_running_at_revocation_is_cancelled_before_the_new_owner_starts(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"faults.slow-job-{unique}.v1"
    create_topic(kafka_bootstrap, topic, partitions=2)
    app = AgentApp(f"revoke-{unique}")
    agent = app.agent("worker", timeout=None)
    events: list[tuple[str, int, str, float]] = []  # (runner, job, what, when)
    names: dict[int, str] = {}

    @agent.on(topic)
    async def work(payload: dict, ctx: Context) -> None:
        me = names[id(ctx.services)]
        events.append((me, payload["n"], "start", time.monotonic()))
        try:
            await asyncio.sleep(60 if payload["slow"] else 0)
        except asyncio.CancelledError:
            events.append((me, payload["n"], "cancelled", time.monotonic()))
            raise
        events.append((me, payload["n"], "end", time.monotonic()))

    produce_raw(kafka_bootstrap, topic, [(b"a", job(0, slow=True), None, 0), (b"b", job(1, slow=True), None, 1)])
    first, second = runner(app, kafka_bootstrap), runner(app, kafka_bootstrap)
    names[id(first.services)], names[id(second.services)] = "first", "second"
    async with first:
        await await_until(lambda: len(events) == 2, 30, "both slow records to start on the first member")
        async with second:  # joins the group: one partition moves over while its record still runs
            await await_until(lambda: any(e[0] == "second" for e in events), 40, "the moved record on the new owner")
    moved = next(n for who, n, what, _ in events if who == "second")
    stopped = next(t for who, n, what, t in events if (who, n, what) == ("first", moved, "cancelled"))
    restarted = next(t for who, n, what, t in events if (who, n, what) == ("second", moved, "start"))
    assert stopped < restarted, events  # the old owner's handler had stopped before the new owner's began
    assert ("first", moved, "end") not in {(who, n, what) for who, n, what, _ in events}
