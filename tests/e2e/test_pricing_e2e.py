"""The pricing system end to end: real Kafka, real MCP servers, each agent in its own process.

Each test plays scripted competitor price changes against the fixture site and
checks the ground truth, the inventory database and the notifier outbox,
against ``outcomes.predict`` (the rules replayed over the changes the collector
reported). The three runs differ in what happens meanwhile: nothing, a SIGKILL
of the analysis agent, and two order-update processes sharing the work.
"""

import asyncio
import math
import sqlite3
import time
from collections import Counter, defaultdict
from contextlib import closing

import pytest
from e2e.pricing_harness import PricingSystem

from agentflux.contract.envelope import Envelope
from agentflux.contract.tasks import TaskPhase, TaskReport
from agentflux.contract.topics import TASKS_TOPIC
from examples.demo_support import Latency
from examples.ecommerce_pricing.app import ANALYSIS, COLLECTOR, NOTIFY, ORDER_UPDATE
from examples.ecommerce_pricing.feed import ScriptedChange, scripted_changes
from examples.ecommerce_pricing.models import CustomerAlert, PriceAdjustment, PriceChanged
from examples.ecommerce_pricing.outcomes import predict
from examples.ecommerce_pricing.report import HOPS, applied_changes, complete, outbox_keys, summarize

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio, pytest.mark.timeout(150)]
CHANGES = 12


async def start_and_warm_up(system: PricingSystem, order_updates: int = 1) -> None:
    """Every agent running, and the first sighting of every competitor page handled end to end."""
    observer = await system.start()
    system.analysis()
    for _ in range(order_updates):
        system.agent(ORDER_UPDATE)
    system.agent(NOTIFY)
    system.agent(COLLECTOR)
    if order_updates > 1:
        await system.wait_for_members(system.app.agents[ORDER_UPDATE].task_group_id, order_updates)
    system.mark("agents started")
    pages = len(system.config.catalog)
    warm = await observer.wait_for(lambda: len(observer.changes) == pages and complete(observer, system.config), 90)
    assert warm, f"the first sightings were not handled within 90s; logs in {system.tmp_path}"
    system.mark("warm: first sightings handled")


async def check_final_state(system: PricingSystem, script: list[ScriptedChange]) -> None:
    """The databases hold exactly what the rules predict; every alert traces back to its change."""
    assert system.observer is not None
    events = system.observer.events()
    seen: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if event.old_price is not None:
            seen[event.product_id].append(event.new_price)
    played: dict[str, list[float]] = defaultdict(list)
    for change in script:
        played[change.product_id].append(change.price)
    assert seen == played  # the collector reported every scripted change, once, none merged

    expected = predict(events, system.config.catalog)
    rows = applied_changes(system.config.inventory_db)
    assert sorted(rows) == sorted(expected.price_changes) and len(rows) == expected.adjustments > 0
    with closing(sqlite3.connect(system.config.inventory_db)) as db:
        assert dict(db.execute("SELECT product_id, price FROM products").fetchall()) == expected.prices
    keys = outbox_keys(system.config.notifier_db)
    assert sorted(keys) == sorted(expected.alerts) and keys

    config = system.config
    changes = await system.read(config.price_changed, PriceChanged)
    changed = {e.change_id: envelope(r).correlation_id for r, e in changes}
    assert all(e.correlation_id == envelope(r).correlation_id for r, e in changes)  # the body says what the header says
    with closing(sqlite3.connect(system.config.notifier_db)) as db:
        outbox = dict(db.execute("SELECT notification_id, idempotency_key FROM notifications").fetchall())
    traced = {}
    for record, alert in await system.read(config.customer_alert, CustomerAlert):
        assert (record.value or b"")[:1] == b"\0"  # Avro, in the Confluent wire format
        assert envelope(record).correlation_id == changed[alert.change_id]  # alert -> its price change
        traced[alert.notification_id] = f"{alert.change_id}/{alert.customer_id}"
    assert {n: traced[n] for n in outbox} == outbox  # every notification sent has its alert on Kafka

    adjustments = [a for _, a in await system.read(config.price_adjustment, PriceAdjustment)]
    applied = Counter(a.change_id for a in adjustments if a.applied)
    assert set(applied.values()) == {1} and len(applied) == expected.adjustments  # each change applied once


def check_summary(system: PricingSystem) -> None:
    """The demo's summary of the run: real adjustments only, contract topic names, a latency for every hop."""
    assert system.observer is not None
    figures = summarize(system.observer, system.config, system.tmp_path, None, True, 0.0)
    system.mark(f"summary: {figures}")
    assert figures["as the rules predict"] == "yes"
    rows = applied_changes(system.config.inventory_db)
    assert figures["  adjust"] == figures["adjustments applied (inventory DB)"] == len(rows)
    assert all(old != new for _, _, old, new in rows)  # no adjustment leaves a price as it was
    assert "price changes (ecommerce.price-changed.v1)" in figures
    assert not [name for name in figures if system.config.namespace in name]
    for hop, _, _ in HOPS:
        latency = figures[f"latency ms: {hop}"]
        assert isinstance(latency, Latency) and latency.count > 0, hop
        assert math.isfinite(latency.p50) and 0 <= latency.p50 <= latency.p95 < 60_000, hop


def envelope(record) -> Envelope:  # type: ignore[no-untyped-def]
    return Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic)


async def test_scripted_price_changes_end_as_the_rules_predict(pricing_system: PricingSystem) -> None:
    system = pricing_system
    try:
        await start_and_warm_up(system)
        script = scripted_changes(CHANGES, seed=21)
        await system.play(script, 0.1, lambda n: None)
        await system.settle(60)
        await check_final_state(system, script)
        check_summary(system)
    finally:
        await system.close()


async def test_analysis_killed_mid_run_restarts_and_applies_nothing_twice(pricing_system: PricingSystem) -> None:
    system = pricing_system
    restarts: list[asyncio.Task[None]] = []

    down: list[int] = []  # when analysis was killed and restarted (ms)

    async def restart_later() -> None:
        await asyncio.sleep(2.0)
        system.analysis()  # same --instance-id: it takes its partitions back at once
        down.append(int(time.time() * 1000))

    def kill_a_third_in(n: int) -> None:
        if n == CHANGES // 3:
            system.kill(ANALYSIS)  # SIGKILL: no commit, no goodbye to the group
            down.append(int(time.time() * 1000))
            restarts.append(asyncio.create_task(restart_later()))

    try:
        await start_and_warm_up(system)
        script = scripted_changes(CHANGES, seed=22)
        await system.play(script, 0.25, kill_a_third_in)
        await restarts[0]
        await system.settle(90)
        await check_final_state(system, script)
        assert len(system.procs[ANALYSIS]) == 2 and system.procs[ANALYSIS][0].returncode == -9
        assert system.observer is not None
        waited = [t for t in system.observer.changes.values() if down[0] <= t.published_ms <= down[1]]
        assert waited and all(t.decided_ms is not None and t.decided_ms >= down[1] for t in waited)
        system.mark(f"{len(waited)} changes waited for the restart; {system.observer.repeats} repeats absorbed")
    finally:
        await system.close()


async def test_two_order_update_processes_share_the_work(pricing_system: PricingSystem) -> None:
    system = pricing_system
    try:
        await start_and_warm_up(system, order_updates=2)
        script = scripted_changes(CHANGES, seed=23)
        await system.play(script, 0.1, lambda n: None)
        await system.settle(60)
        await check_final_state(system, script)
        states = [TaskReport.model_validate_json(r.value or b"") for r in await system.transport.read_all(TASKS_TOPIC)]
        workers = {s.worker for s in states if s.skill == system.config.skill and s.state is TaskPhase.COMPLETED}
        pids = {p.pid for p in system.procs[ORDER_UPDATE]}
        assert {int((w or "").rsplit(":", 1)[1]) for w in workers} == pids  # both processes served tasks
    finally:
        await system.close()
