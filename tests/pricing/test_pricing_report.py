"""The pricing summary from records an observer saw and the two databases, without Kafka or agents."""

import asyncio
import math
import sqlite3
from contextlib import closing
from pathlib import Path

from pydantic import BaseModel

from agentflux.contract.envelope import Envelope
from agentflux.transport.base import Record
from examples.demo_support import DEAD_LETTERS, Latency
from examples.ecommerce_pricing.config import PricingConfig
from examples.ecommerce_pricing.models import CustomerAlert, OrderUpdated, PriceAdjustment, PriceChanged, PriceDecided
from examples.ecommerce_pricing.observer import FlowObserver
from examples.ecommerce_pricing.outcomes import alert_key, facts_for
from examples.ecommerce_pricing.report import HOPS, START_HOPS, summarize
from examples.ecommerce_pricing.rules import UNCHANGED, decide, hold_if_unchanged
from examples.mcp_servers.inventory_db import init_db
from examples.mcp_servers.notifier import SCHEMA as OUTBOX_SCHEMA

SITE = "http://rival.test"
WATCHERS = ("cust-ana", "cust-ben", "cust-chen")  # SKU-1001's, in catalog.json


class Flow:
    """Feeds an observer the records of a run, each with its correlation id and broker timestamp."""

    def __init__(self, observer: FlowObserver) -> None:
        self.observer = observer
        self.offset = 0

    def record(self, topic: str, payload: BaseModel, correlation_id: str, at_ms: int) -> None:
        headers = Envelope.new(source="test", type="t", correlation_id=correlation_id).to_headers()
        self.offset += 1
        value = payload.model_dump_json().encode()
        asyncio.run(self.observer.take(Record(topic, 0, self.offset, b"k", value, list(headers), at_ms)))


def change(change_id: str, previous: float, price: float) -> PriceChanged:
    return PriceChanged(
        change_id=change_id, product_id="SKU-1001", competitor="rival", url=f"{SITE}/products/SKU-1001",
        old_price=previous, new_price=price, seq=2,
    )  # fmt: skip


def decided(event: PriceChanged, our_price: float, config: PricingConfig) -> PriceDecided:
    facts = facts_for(event, 40, config.catalog[event.product_id])
    decision = hold_if_unchanged(decide(facts), our_price)
    return PriceDecided(
        change_id=event.change_id, product_id=event.product_id, action=decision.action, price=decision.price,
        reason=decision.reason, decided_by=decision.decided_by, competitor_price=event.new_price, available=40,
    )  # fmt: skip


def test_the_summary_counts_real_adjustments_names_contract_topics_and_times_each_hop(tmp_path: Path) -> None:
    config = PricingConfig(
        site_url=SITE, inventory_db=tmp_path / "inv.sqlite", notifier_db=tmp_path / "out.sqlite", namespace="run-3f2a1b"
    )
    observer = FlowObserver(transport=None, config=config)  # type: ignore[arg-type]  # fed by hand, never started
    flow = Flow(observer)
    # Change 1: 70.00 is below SKU-1001's floor, so our 89.90 goes to 72.00 and the three watchers are told.
    first = change("c-1", 84.95, 70.0)
    observer.site_changed("SKU-1001", 70.0, 800)  # the competitor's page changed; the collector saw it 200 ms later
    flow.record(config.price_changed, first, "k1", 1_000)
    flow.record(config.price_decided, decided(first, 89.9, config), "k1", 1_010)
    flow.record(config.order_updated, OrderUpdated(change_id="c-1", product_id="SKU-1001", previous_price=89.9,
                price=72.0, applied=True), "k1", 1_040)  # fmt: skip
    flow.record(config.price_adjustment, PriceAdjustment(change_id="c-1", product_id="SKU-1001", previous_price=89.9,
                price=72.0, competitor_price=70.0, reason="", applied=True), "k1", 1_041)  # fmt: skip
    for n, customer in enumerate(WATCHERS):
        alert = CustomerAlert(notification_id=f"n{n}", customer_id=customer, product_id="SKU-1001", change_id="c-1",
                              previous_price=89.9, price=72.0, message="drop")  # fmt: skip
        flow.record(config.customer_alert, alert, "k1", 1_100 + n)
    # Change 2: another cut below the floor; our price is 72.00 already, so nothing changes.
    second = change("c-2", 70.0, 65.0)
    observer.site_changed("SKU-1001", 65.0, 1_900)
    flow.record(config.price_changed, second, "k2", 2_000)
    flow.record(config.price_decided, decided(second, 72.0, config), "k2", 2_020)

    init_db(config.inventory_db)
    with closing(sqlite3.connect(config.inventory_db)) as db, db:
        db.execute("INSERT INTO price_changes VALUES ('c-1', 'SKU-1001', 89.9, 72.0, 'now')")
    with closing(sqlite3.connect(config.notifier_db)) as db, db:
        db.execute(OUTBOX_SCHEMA)
        for n, customer in enumerate(WATCHERS):
            db.execute(
                "INSERT INTO notifications VALUES (?, ?, ?, 'drop', 'now')",
                (f"n{n}", alert_key("c-1", customer), customer),
            )

    figures = summarize(observer, config, tmp_path, None, True, 0.0, dead_letters=0)

    assert figures["as the rules predict"] == "yes", figures
    assert figures["price changes (ecommerce.price-changed.v1)"] == 2
    assert figures["decisions (ecommerce.price-decided.v1)"] == 2
    assert (figures["  adjust"], figures["  hold"], figures["    of which our price was already right"]) == (1, 1, 1)
    assert figures["adjustments applied (inventory DB)"] == 1 and figures["notifications sent (outbox)"] == 3
    assert not [name for name in figures if config.namespace in name]  # contract names, no run namespace
    assert figures[DEAD_LETTERS] == 0
    latencies = {name: value for name, value in figures.items() if isinstance(value, Latency)}
    hops = [f"latency ms: {hop}" for hop, _, _ in HOPS]
    assert list(latencies) == [*hops, *(f"latency ms: {hop}" for hop, _, _ in START_HOPS)]
    per_hop = [latencies[hop] for hop in hops]  # collector, analysis, order-update, notify, end to end
    assert all(math.isfinite(v.p50) and math.isfinite(v.p99) and v.count for v in per_hop)
    assert [(v.p50, v.count) for v in per_hop] == [(200.0, 2), (20.0, 2), (30.0, 1), (60.0, 1), (100.0, 1)]
    assert [v.p99 for v in per_hop] == [200.0, 20.0, 30.0, 60.0, 100.0]
    assert str(latencies["latency ms: price-analysis: change -> decided"]) == "p50 20 / p95 20 / p99 20 (n=2)"
    assert all(latencies[f"latency ms: {hop}"].count == 0 for hop, _, _ in START_HOPS)  # no first sighting here
    assert decided(second, 72.0, config).reason.endswith(UNCHANGED)


def test_a_hop_no_change_made_prints_a_dash() -> None:
    assert str(Latency.of([])) == "-" and Latency.of([]).count == 0
