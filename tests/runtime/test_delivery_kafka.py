"""At-least-once delivery on the real broker: crashes, dead letters, bad input, foreign producers."""

import asyncio
import logging
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from kafka_helpers import (
    ROOT,
    agent_processes,
    await_until,
    create_topic,
    dead_letters_of,
    produce_raw,
    read_lines,
    wait_until,
)
from pydantic import BaseModel

from agentflux import AgentApp, AppRunner, Context, RetryPolicy
from agentflux.contract.envelope import Envelope
from agentflux.ops.deadletters import DeadLetter
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]
RECORDER = "tests/runtime/apps/recorder.py:app"


class Order(BaseModel):
    order_id: str
    amount: float


def worker_env(bootstrap: str, unique: str, log: Path, **extra: str) -> dict[str, str]:
    return {
        "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap,
        "T_APP": f"app-{unique}",
        "T_TOPIC": f"test.records-{unique}.v1",
        "T_LOG": str(log),
        **extra,
    }


def handled_ids(lines: list[dict]) -> set[str]:
    return {line["id"] for line in lines if line["event"] == "handled"}


def test_crash_mid_handler_redelivers_everything(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    topic, log = f"test.records-{unique}.v1", tmp_path / "handled.jsonl"
    create_topic(kafka_bootstrap, topic, partitions=3)
    records = [(f"k{i % 7}".encode(), f'{{"seq": {i}}}'.encode(), None) for i in range(60)]
    records.append((b"k-hold", b'{"seq": 60, "hold": true}', None))
    produce_raw(kafka_bootstrap, topic, records)
    env = worker_env(kafka_bootstrap, unique, log)
    with agent_processes() as start:
        first = start(RECORDER, env, "--instance-id", "w1")
        wait_until(lambda: any(x["event"] == "started" for x in read_lines(log)), 60, "the held handler to start")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        held = next(x["id"] for x in read_lines(log) if x["event"] == "started")
        assert held not in handled_ids(read_lines(log))
        start(RECORDER, {**env, "T_HOLD": "0"}, "--instance-id", "w1")
        wait_until(lambda: len(handled_ids(read_lines(log))) == 61, 60, "all 61 records handled")
    lines = read_lines(log)
    assert len({x["pid"] for x in lines}) == 2
    assert held in handled_ids([x for x in lines if x["pid"] != first.pid])


def test_sigterm_finishes_in_flight_work_commits_and_exits(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    topic, log = f"test.records-{unique}.v1", tmp_path / "handled.jsonl"
    create_topic(kafka_bootstrap, topic, partitions=2)
    records = [(f"k{i}".encode(), f'{{"seq": {i}}}'.encode(), None) for i in range(20)]
    produce_raw(kafka_bootstrap, topic, [*records, (b"k-hold", b'{"seq": 20, "hold": true}', None)])
    env = worker_env(kafka_bootstrap, unique, log, T_HOLD="2")
    with agent_processes() as start:
        first = start(RECORDER, env)
        wait_until(lambda: any(x["event"] == "started" for x in read_lines(log)), 60, "the held handler to start")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        assert len(handled_ids(read_lines(log))) == 21  # the held record finished before the exit
        second = start(RECORDER, env)
        produce_raw(kafka_bootstrap, topic, [(b"k-last", b'{"seq": 21}', None)])
        wait_until(lambda: len(handled_ids(read_lines(log))) == 22, 60, "the record produced after the restart")
    again = [x for x in read_lines(log) if x["pid"] == second.pid]
    assert [x["seq"] for x in again] == [21]  # everything before was committed: nothing ran twice


def test_per_key_order_under_concurrency_with_a_kill(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    topic, log = f"test.records-{unique}.v1", tmp_path / "handled.jsonl"
    create_topic(kafka_bootstrap, topic, partitions=1)
    per_key = 25
    produce_raw(
        kafka_bootstrap,
        topic,
        [(f"key-{k}".encode(), f'{{"seq": {s}}}'.encode(), None) for s in range(per_key) for k in range(20)],
    )
    env = worker_env(kafka_bootstrap, unique, log, T_CONCURRENCY="16", T_SLEEP="0.01")
    with agent_processes() as start:
        first = start(RECORDER, env, "--instance-id", "w1")
        wait_until(lambda: len(read_lines(log)) >= 150, 60, "150 records handled before the kill")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        start(RECORDER, env, "--instance-id", "w1")
        wait_until(lambda: len(handled_ids(read_lines(log))) == 20 * per_key, 60, "all records handled")
    by_run: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for line in read_lines(log):
        by_run[line["pid"]][line["key"]].append(line["seq"])
    for run in by_run.values():  # within a run, each key's records come strictly in order
        for key, seqs in run.items():
            assert seqs == sorted(set(seqs)), f"{key} out of order: {seqs}"
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{key} skipped records: {seqs}"
    second = next(pid for pid in by_run if pid != first.pid)
    for key, seqs in by_run[first.pid].items():
        if seqs[-1] + 1 < per_key:  # unfinished at the kill: the restart resumes no later than where it stopped
            assert by_run[second][key][0] <= seqs[-1] + 1, f"{key} resumed after a gap"


async def _run_until(app: AgentApp, bootstrap: str, done, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    transport = KafkaTransport(KafkaSettings(bootstrap))
    async with AppRunner(app, transport):
        await await_until(done, timeout, "the agents to finish")


@pytest.mark.asyncio
async def test_poison_message_is_dead_lettered_without_blocking_and_redriven(kafka_bootstrap: str, unique: str) -> None:
    topic = f"test.orders-{unique}.v1"
    app = AgentApp(f"poison-{unique}")
    app.topic(topic, partitions=1)
    agent = app.agent("payer", retry=RetryPolicy(max_attempts=3, initial_backoff=0.01))
    handled: list[str] = []
    fixed = False

    @agent.on(topic)
    async def pay(order: Order, ctx: Context) -> None:
        if order.order_id == "poison" and not fixed:
            raise ValueError("card processor says no")
        handled.append(order.order_id)

    create_topic(kafka_bootstrap, topic, partitions=1)
    records = [
        (f"o{i}".encode(), Order(order_id=f"o{i}", amount=i).model_dump_json().encode(), None) for i in range(50)
    ]
    records.append((b"poison", b'{"order_id": "poison", "amount": 1}', [("ce_id", b"poison-1")]))
    records += [
        (f"o{i}".encode(), Order(order_id=f"o{i}", amount=i).model_dump_json().encode(), None) for i in range(50, 100)
    ]
    produce_raw(kafka_bootstrap, topic, records)
    await _run_until(app, kafka_bootstrap, lambda: len(handled) == 100)
    [letter] = await dead_letters_of(kafka_bootstrap, topic)
    assert letter.info["source_partition"] == "0" and letter.info["source_offset"] == "50"
    assert letter.info["group"] == f"poison-{unique}.payer" and letter.info["attempts"] == "3"
    assert letter.info["error_type"] == "ValueError"
    assert letter.info["error_message"] == "card processor says no"
    assert letter.info["failed_at"].endswith("Z")
    assert letter.record.value == b'{"order_id": "poison", "amount": 1}' and letter.record.key == b"poison"
    assert ("ce_id", b"poison-1") in letter.original_headers()

    env = {"AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "400"}
    cli = [sys.executable, "-m", "agentflux.cli.main", "dlq"]
    # Only this test's letters: the session broker's dead-letter topic holds other tests' too.
    listed = await asyncio.to_thread(
        subprocess.run, [*cli, "list", "--source", topic], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert letter.id in listed.stdout and "card processor says no" in listed.stdout
    shown = await asyncio.to_thread(
        subprocess.run, [*cli, "show", letter.id], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert '"error_message": "card processor says no"' in shown.stdout and '"ce_id": "poison-1"' in shown.stdout
    redriven = await asyncio.to_thread(
        subprocess.run, [*cli, "redrive", letter.id], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert redriven.returncode == 0, redriven.stderr
    assert f"{topic}/0/101" in redriven.stdout
    relisted = await asyncio.to_thread(
        subprocess.run, [*cli, "list", "--source", topic], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    row = next(line for line in relisted.stdout.splitlines() if letter.id in line)
    assert f"-> {topic}/0/101" in row  # marked as redriven, and where to
    fixed = True
    await _run_until(app, kafka_bootstrap, lambda: "poison" in handled)
    assert handled.count("poison") == 1


@pytest.mark.asyncio
async def test_bad_input_is_dead_lettered_with_precise_reasons(kafka_bootstrap: str, unique: str) -> None:
    topic = f"test.orders-{unique}.v1"
    app = AgentApp(f"badinput-{unique}", max_message_bytes=2_000)
    agent = app.agent("payer", retry=RetryPolicy(max_attempts=2, initial_backoff=0.01))
    handled: list[str] = []

    @agent.on(topic)
    async def pay(order: Order, ctx: Context) -> None:
        handled.append(order.order_id)

    good = Order(order_id="good", amount=1).model_dump_json().encode()
    oversized = Order(order_id="x" * 5000, amount=1).model_dump_json().encode()
    create_topic(kafka_bootstrap, topic, partitions=1)
    produce_raw(
        kafka_bootstrap,
        topic,
        [
            (b"a", b"this is not json", None),
            (b"b", b'{"order_id": "x", "amount": "lots"}', None),
            (b"c", good, [("traceparent", b"00-zz-01")]),
            (b"d", good, [("ce_correlationid", b"\xc3\x28")]),
            (b"e", oversized, None),
            (b"f", good, None),
        ],
    )
    await _run_until(app, kafka_bootstrap, lambda: handled == ["good"])
    # Records of different keys finish in any order: the dead letters may land after "good".
    letters: list[DeadLetter] = []
    for _ in range(50):
        letters = await dead_letters_of(kafka_bootstrap, topic)
        if len(letters) >= 5:
            break
        await asyncio.sleep(0.2)
    reasons = {d.record.key: (d.info["error_type"], d.info["error_message"]) for d in letters}
    assert reasons[b"a"][0] == "PayloadDecodeError" and "not valid JSON" in reasons[b"a"][1]
    assert reasons[b"b"] == (
        "PayloadDecodeError",
        "value does not match Order: amount: Input should be a valid number, unable to parse string as a number",
    )
    assert reasons[b"c"][0] == "EnvelopeError" and "invalid traceparent '00-zz-01'" in reasons[b"c"][1]
    assert reasons[b"d"][0] == "EnvelopeError" and "'ce_correlationid' is not valid UTF-8" in reasons[b"d"][1]
    assert reasons[b"e"] == (
        "InvalidMessage",
        f"value is {len(oversized)} bytes; the limit is 2000 bytes (max_message_bytes)",
    )
    assert set(reasons) == {b"a", b"b", b"c", b"d", b"e"}


@pytest.mark.asyncio
async def test_foreign_records_are_accepted_and_given_ids(
    kafka_bootstrap: str, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"device.temperature-measured-{unique}.v1"
    app = AgentApp(f"foreign-{unique}")
    agent = app.agent("thermostat")
    seen: list[Context] = []

    @agent.on(topic)
    async def on_measure(reading: dict, ctx: Context) -> None:
        seen.append(ctx)

    create_topic(kafka_bootstrap, topic)
    produce_raw(kafka_bootstrap, topic, [(b"dev-1", f'{{"celsius": {21 + i}}}'.encode(), None) for i in range(50)])
    with caplog.at_level(logging.INFO, logger="agentflux.runtime"):
        await _run_until(app, kafka_bootstrap, lambda: len(seen) == 50)
    ctx = seen[0]
    assert ctx.message_id and ctx.correlation_id == ctx.message_id
    assert len({c.message_id for c in seen}) == 50
    assert f"{topic}/0/0 arrived without id or correlation_id" in caplog.text
    assert ctx.message_id in caplog.text
    assert caplog.text.count("arrived without") == 1  # said once per topic, not once per record


@pytest.mark.asyncio
async def test_correlation_and_causation_across_a_chain(kafka_bootstrap: str, unique: str) -> None:
    t1, t2, t3 = (f"chain.step{n}-{unique}.v1" for n in (1, 2, 3))
    app = AgentApp(f"chain-{unique}")
    a, b, c = app.agent("a"), app.agent("b"), app.agent("c")
    finals: list[Context] = []

    @a.on(t1)
    async def step_a(event: dict, ctx: Context) -> None:
        await ctx.publish(t2, event, key=ctx.key)

    @b.on(t2)
    async def step_b(event: dict, ctx: Context) -> None:
        await ctx.publish(t3, event, key=ctx.key)

    @c.on(t3)
    async def step_c(event: dict, ctx: Context) -> None:
        finals.append(ctx)

    edge = Envelope.new(source="test", type="chain.step1", correlation_id=f"corr-{unique}")
    create_topic(kafka_bootstrap, t1)
    produce_raw(kafka_bootstrap, t1, [(b"k", b"{}", edge.to_headers())])
    await _run_until(app, kafka_bootstrap, lambda: len(finals) == 1)
    transport = KafkaTransport(KafkaSettings(kafka_bootstrap))
    await transport.start()
    try:
        [r2], [r3] = await transport.read_all(t2), await transport.read_all(t3)
    finally:
        await transport.close()
    e2, e3 = (Envelope.from_headers(r.headers, fallback_id=r.ref, topic=r.topic) for r in (r2, r3))
    assert {e2.correlation_id, e3.correlation_id, finals[0].correlation_id} == {f"corr-{unique}"}
    assert (e2.causation_id, e3.causation_id) == (edge.id, e2.id)
    assert (e2.source, e3.source) == ("a", "b")
    trace_ids = {env.traceparent.split("-")[1] for env in (edge, e2, e3) if env.traceparent}
    assert len(trace_ids) == 1
