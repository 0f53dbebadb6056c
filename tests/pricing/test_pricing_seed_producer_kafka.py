"""The system's first producer drives the pricing agents on a real broker.

That producer is a raw confluent-kafka ``Producer`` that writes a JSON body of
``product_id``, ``competitor``, ``new_price``, ``timestamp`` and
``correlation_id`` to ``ecommerce.price-changed.v1``, without headers. The
agents that react to it (analysis, order-update, customer-notify) run as one
``agentflux run`` process with its real MCP servers, on a copy of the system of
this test's own (``PRICING_NAMESPACE``: the topic is
``ecommerce-s{unique}.price-changed.v1``, the groups and the skill are this
test's too). The collector is not started: the raw producer stands in for it.

The event topics are Avro through the registry, as the system runs them: the
agents read the producer's JSON records by their first byte, and everything they
write is Avro (the test reads it back through the registry).
"""

import asyncio
import json
import signal
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from kafka_helpers import cli_processes, dead_letters_of, log_of, read_topic

from agentflux.contract.envelope import Envelope
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.topics import task_requests_topic, task_results_topic
from agentflux.transport.base import Record
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings
from examples.ecommerce_pricing.app import ANALYSIS, NOTIFY, ORDER_UPDATE, build_app
from examples.ecommerce_pricing.config import PricingConfig
from examples.ecommerce_pricing.models import CustomerAlert, OrderUpdated, PriceChanged, PriceDecided

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(240)]
APP_REF = "examples.ecommerce_pricing:app"


def correlation_of(record: Record) -> str:
    return Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic).correlation_id


async def by_correlation(payloads: Payloads, records: list[Record], model: type[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for record in records:
        assert (record.value or b"")[:1] == b"\0", record  # Avro, in the Confluent wire format
        decoded = await payloads.decode(record.topic, record.value, model)
        found.setdefault(correlation_of(record), []).append(decoded)
    return found


async def test_a_raw_producer_without_headers_drives_the_system_under_its_correlation_ids(
    kafka_bootstrap: str, schema_registry: str, unique: str, tmp_path: Path
) -> None:
    config = PricingConfig(
        inventory_db=tmp_path / "inventory.sqlite", notifier_db=tmp_path / "outbox.sqlite", namespace=f"s{unique}"
    )
    assert config.format == "avro"
    app = build_app(config)
    transport = KafkaTransport(KafkaSettings(kafka_bootstrap))
    await transport.start()
    try:  # provisioned as a deployment does: the broker creates no topic on first use
        await transport.ensure_topics([app.topic_spec(t) for t in config.topics])
    finally:
        await transport.close()
    # Exactly the seed's bodies: one keyed by product, one without a key; an ISO time and epoch seconds.
    shoes = {"product_id": "SKU-1001", "competitor": "rival-shop", "new_price": 79.0,
             "timestamp": datetime.now(UTC).isoformat(), "correlation_id": f"seed-{unique}-shoes"}  # fmt: skip
    bottle = {"product_id": "SKU-1003", "competitor": "rival-shop", "new_price": 21.0,
              "timestamp": time.time(), "correlation_id": f"seed-{unique}-bottle"}  # fmt: skip
    expected = {  # our price, and who is told about the drop (catalog.json, fixtures/inventory.json)
        shoes["correlation_id"]: ("SKU-1001", 89.90, 78.21, {"cust-ana", "cust-ben", "cust-chen"}),  # 40 in stock: -1%
        bottle["correlation_id"]: ("SKU-1003", 24.00, 20.79, {"cust-ana", "cust-eli"}),  # 15 in stock: -1%
    }
    alerts_expected = sum(len(watchers) for *_, watchers in expected.values())
    env = {
        **config.env(),
        "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AGENTFLUX_SCHEMA_REGISTRY_URL": schema_registry,
    }
    with cli_processes(tmp_path) as start:
        agents = start("agents", env, "run", APP_REF, "--agent", ANALYSIS, "--agent", ORDER_UPDATE, "--agent", NOTIFY)
        try:
            producer = Producer({"bootstrap.servers": kafka_bootstrap})
            producer.produce(config.price_changed, key=shoes["product_id"], value=json.dumps(shoes))
            producer.produce(config.price_changed, value=json.dumps(bottle))
            assert producer.flush(30) == 0
            alerts: list[Record] = []
            deadline = time.monotonic() + 150
            while len(alerts) < alerts_expected and time.monotonic() < deadline and agents.poll() is None:
                await asyncio.sleep(0.5)
                alerts = await read_topic(kafka_bootstrap, config.customer_alert)
            assert len(alerts) == alerts_expected, f"{len(alerts)} alerts; log:\n{log_of(tmp_path, 'agents')[-4000:]}"
        finally:
            if agents.poll() is None:  # SIGTERM: the agents commit and close their MCP servers
                agents.send_signal(signal.SIGTERM)
                agents.wait(30)

    payloads = Payloads(app.format_of, Registry(schema_registry))
    try:
        decided = await by_correlation(payloads, await read_topic(kafka_bootstrap, config.price_decided), PriceDecided)
        orders = await by_correlation(payloads, await read_topic(kafka_bootstrap, config.order_updated), OrderUpdated)
        told_by = await by_correlation(payloads, alerts, CustomerAlert)
    finally:
        await payloads.close()
    assert set(decided) == set(orders) == set(told_by) == set(expected)
    for body in (shoes, bottle):
        correlation = body["correlation_id"]
        product, before, price, watchers = expected[correlation]
        change_id = PriceChanged.model_validate(body).change_id  # derived: the seed sends none
        [decision] = decided[correlation]
        assert (decision.change_id, decision.product_id, decision.action, decision.price) == (
            change_id, product, "adjust", price,
        )  # fmt: skip
        assert "units in stock: undercut by 1%" in decision.reason
        [order] = orders[correlation]
        assert (order.change_id, order.previous_price, order.price, order.applied) == (change_id, before, price, True)
        assert {a.customer_id for a in told_by[correlation]} == watchers
        assert {a.change_id for a in told_by[correlation]} == {change_id}
    # The delegation between the agents carries them too.
    requests = await read_topic(kafka_bootstrap, task_requests_topic(config.skill))
    results = await read_topic(kafka_bootstrap, task_results_topic(config.skill))
    assert sorted(map(correlation_of, requests)) == sorted(map(correlation_of, results)) == sorted(expected)
    with closing(sqlite3.connect(config.inventory_db)) as db:
        rows = db.execute("SELECT product_id, old_price, new_price FROM price_changes ORDER BY product_id").fetchall()
    assert rows == [(p, before, price) for p, before, price, _ in sorted(expected.values())]
    for topic in [*config.topics, task_requests_topic(config.skill), task_results_topic(config.skill)]:
        assert not await dead_letters_of(kafka_bootstrap, topic), topic
    log = log_of(tmp_path, "agents")
    said = [line for line in log.splitlines() if "from its body" in line]
    assert len(said) == 1 and "(said once per topic)" in said[0], said  # at INFO once, the rest at DEBUG
