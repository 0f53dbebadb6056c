"""Delivery: at least once, in order per key and concurrently across keys, with caused envelopes, committed after."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import pytest
from behaviour.helpers import Backend, envelope_of
from pydantic import BaseModel

from agentflux import Context, Retry, RetryPolicy
from agentflux.contract.topics import event_type
from agentflux.transport.base import Ack, TopicPartition

pytestmark = pytest.mark.asyncio
QUICK = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.02)


class Reading(BaseModel):
    machine: str
    seq: int


async def test_every_record_published_is_handled_at_least_once(backend: Backend) -> None:
    topic = backend.topic("reading-taken")
    await backend.create_topic(topic, partitions=3)
    app = backend.app()
    handled: Counter[str] = Counter()

    @app.agent("counter").on(topic)
    async def count(event: Reading, ctx: Context) -> None:
        assert ctx.record is not None
        handled[ctx.record.ref] += 1

    async def send(seqs: range) -> set[str]:
        sent = [await backend.publish(topic, Reading(machine=f"m{n % 8}", seq=n), key=f"m{n % 8}") for n in seqs]
        return {s.ref for s in sent}

    before = await send(range(24))  # a backlog waiting when the agent starts
    async with backend.run(app):
        during = await send(range(24, 48))  # and records arriving while it runs
        await backend.eventually(lambda: set(handled) >= before | during, what="all 48 records handled")
    assert set(handled) == before | during  # what was handled is what was published, each at least once
    assert min(handled.values()) >= 1


async def test_one_keys_records_are_handled_in_order_while_other_keys_run_concurrently(backend: Backend) -> None:
    topic = backend.topic("reading-taken")
    await backend.create_topic(topic, partitions=1)  # every key in one partition: concurrency is the consumer's own
    machines, per_machine = ["m1", "m2", "m3", "m4"], 12
    app = backend.app()
    seen: dict[str, list[int]] = defaultdict(list)
    first_started: set[str] = set()
    all_started = asyncio.Event()

    @app.agent("sequencer", concurrency=8).on(topic)
    async def handle(event: Reading, ctx: Context) -> None:
        if event.seq == 0:  # each key's first record waits until every key's first record runs: all at once
            first_started.add(event.machine)
            if first_started == set(machines):
                all_started.set()
            await asyncio.wait_for(all_started.wait(), timeout=10)
        await asyncio.sleep(0.001 * ((per_machine - event.seq) % 3))  # later records tend to be quicker
        seen[event.machine].append(event.seq)

    for seq in range(per_machine):
        for machine in machines:
            await backend.publish(topic, Reading(machine=machine, seq=seq), key=machine)
    async with backend.run(app):
        await backend.eventually(
            lambda: sum(map(len, seen.values())) == len(machines) * per_machine, what="every reading handled"
        )
    assert all_started.is_set()
    assert dict(seen) == {m: list(range(per_machine)) for m in machines}


async def test_at_most_concurrency_records_run_at_once_and_a_busy_key_does_not_hold_up_the_others(
    backend: Backend,
) -> None:
    topic = backend.topic("reading-taken")
    await backend.create_topic(topic, partitions=1)
    app = backend.app()
    running, peak, done = 0, 0, []

    @app.agent("bounded", concurrency=3).on(topic)
    async def handle(event: Reading, ctx: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1
        done.append(event.machine)

    hot = 40
    for seq in range(hot):  # one busy key first, then eight keys with one record each
        await backend.publish(topic, Reading(machine="hot", seq=seq), key="hot")
    for n in range(8):
        await backend.publish(topic, Reading(machine=f"m{n}", seq=0), key=f"m{n}")
    async with backend.run(app):
        await backend.eventually(lambda: len(done) == hot + 8, what="every reading handled")
    assert peak == 3  # never more than the agent's concurrency, and all of it used
    last_other = max(i for i, machine in enumerate(done) if machine != "hot")
    assert done[last_other + 1 :].count("hot") >= hot // 2  # the others did not wait for the busy key's backlog


async def test_a_handlers_publications_carry_the_envelope_its_record_caused(backend: Backend) -> None:
    placed, due = backend.topic("order-placed"), backend.topic("invoice-due")
    await backend.create_topic(placed)
    await backend.create_topic(due)
    app = backend.app()
    handled: list[tuple[Context, Ack]] = []

    @app.agent("billing").on(placed)
    async def bill(event: dict, ctx: Context) -> None:
        ack = await ctx.publish(due, {"order": event["order"]}, key=ctx.key)
        handled.append((ctx, ack))

    edge = await backend.publish(placed, {"order": "o-1"}, key="o-1", correlation_id=f"corr-{backend.unique}")
    async with backend.run(app):
        await backend.eventually(lambda: len(handled) == 1, what="the order billed")
    [(ctx, ack)] = handled
    [record] = await backend.transport.read_all(due)
    assert (record.topic, record.partition, record.offset) == (ack.topic, ack.partition, ack.offset)
    assert record.key == b"o-1" and record.value == b'{"order":"o-1"}'
    caused = envelope_of(record)
    assert caused.assigned == ()  # every envelope field travelled with the record
    assert ctx.message_id == edge.envelope.id and caused.id != edge.envelope.id
    assert caused.causation_id == edge.envelope.id
    assert caused.correlation_id == f"corr-{backend.unique}"
    assert (caused.source, caused.type) == ("billing", event_type(due))
    edge_trace, caused_trace = (str(e.traceparent).split("-") for e in (edge.envelope, caused))
    assert caused_trace[1] == edge_trace[1] and caused_trace[2] != edge_trace[2]  # same trace, a new span


async def test_an_offset_is_committed_only_after_its_handler_returned(backend: Backend) -> None:
    topic = backend.topic("job-queued")
    await backend.create_topic(topic, partitions=1)
    app = backend.app()
    agent = app.agent("clerk", retry=QUICK)
    tp, release = TopicPartition(topic, 0), asyncio.Event()
    attempts: dict[str, list[int]] = defaultdict(list)
    done: list[str] = []

    @agent.on(topic)
    async def handle(job: dict, ctx: Context) -> None:
        attempts[job["id"]].append(ctx.attempt)
        if job["id"] == "held":
            await release.wait()
        if job["id"] == "flaky" and ctx.attempt < 3:
            raise Retry("the ledger is busy", delay=0.01)
        done.append(job["id"])

    names = ["held", "flaky", "quick-1", "quick-2", "quick-3"]  # offsets 0 to 4, each its own key
    for name in names:
        await backend.publish(topic, {"id": name}, key=name)
    async with backend.run(app) as runner:
        [consumer] = runner.consumers
        await backend.eventually(lambda: sorted(done) == sorted(names[1:]), what="every record but the held one")

        async def committed_below_the_held_record() -> bool:
            position = await backend.committed(agent.group_id, tp)
            return position is not None and position.offset == 0 and position.metadata != ""

        # A commit made after offsets 1 to 4 finished (its metadata lists them) still stops at the held record.
        await backend.eventually(committed_below_the_held_record, what="a commit naming the finished records")
        await backend.eventually(lambda: consumer.committed == {tp: 0}, what="the consumer to say so")
        release.set()
        await backend.eventually(lambda: "held" in done, what="the held record handled")
        await backend.drain(runner)
        position = await backend.committed(agent.group_id, tp)
        assert position is not None and position.offset == len(names)
    assert attempts == {"held": [1], "flaky": [1, 2, 3], "quick-1": [1], "quick-2": [1], "quick-3": [1]}
    assert await backend.dead_letters(topic) == []
