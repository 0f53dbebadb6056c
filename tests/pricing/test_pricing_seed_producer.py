"""The system's first producer still drives it: a raw JSON body with no headers (see ``PriceChanged``).

That producer sent ``product_id``, ``competitor``, ``new_price``, ``timestamp``
and ``correlation_id``, nothing else, and no headers. The real-broker version of
the flow test is ``test_pricing_seed_producer_kafka.py``.
"""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pricing.test_pricing_agents_memory import SITE, FakeShop
from pydantic import ValidationError

from agentflux.contract.codec import decode
from agentflux.contract.schemas import avro_schema
from agentflux.contract.topics import TASKS_TOPIC, task_requests_topic, task_results_topic
from agentflux.testing import TestApp
from examples.ecommerce_pricing.app import ANALYSIS, NOTIFY, ORDER_UPDATE, build_app
from examples.ecommerce_pricing.collector import PriceTracker
from examples.ecommerce_pricing.config import PricingConfig
from examples.ecommerce_pricing.models import CustomerAlert, OrderUpdated, PriceChanged, PriceDecided
from examples.ecommerce_pricing.rules import cents

AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def seed_body(**changes: Any) -> dict[str, Any]:
    body = {"product_id": "SKU-1001", "competitor": "rival-shop", "new_price": 79.0, "timestamp": AT.isoformat()}
    return {**body, "correlation_id": "seed-req-1", **changes}


@pytest.mark.parametrize(
    "timestamp",
    [AT.timestamp(), int(AT.timestamp()), int(AT.timestamp() * 1000), "2026-03-01T12:30:00Z",
     "2026-03-01T12:30:00", "2026-03-01T14:30:00+02:00", str(int(AT.timestamp()))],
)  # fmt: skip
def test_the_seed_body_decodes_into_a_price_change(timestamp: object) -> None:
    event = decode(json.dumps(seed_body(timestamp=timestamp)).encode(), PriceChanged)
    assert (event.product_id, event.competitor, event.new_price) == ("SKU-1001", "rival-shop", 79.0)
    assert event.observed_at == AT  # ISO (UTC when it names no offset), epoch seconds or milliseconds
    assert (event.url, event.old_price, event.seq, event.source_agent) == (None, None, None, None)
    assert event.currency == "EUR"
    assert event.correlation_id == "seed-req-1"
    # The change id is the same for every delivery and every way of writing the same instant.
    assert event.change_id == PriceChanged.model_validate(seed_body()).change_id


def test_the_change_id_tells_different_reports_apart() -> None:
    ids = {
        PriceChanged.model_validate(body).change_id
        for body in (
            seed_body(),
            seed_body(new_price=78.0),
            seed_body(timestamp="2026-03-01T12:31:00Z"),
            seed_body(product_id="SKU-1002"),
            seed_body(competitor="other-shop"),
        )
    }
    assert len(ids) == 5
    assert PriceChanged.model_validate(seed_body(correlation_id="another")).change_id in ids  # not part of it
    assert PriceChanged.model_validate(seed_body(change_id="given")).change_id == "given"


def test_without_a_change_id_the_time_is_required() -> None:
    body = seed_body()
    del body["timestamp"]
    with pytest.raises(ValidationError, match="needs its observation time"):
        PriceChanged.model_validate(body)


def test_the_body_correlation_id_is_kept_and_written() -> None:
    event = PriceChanged.model_validate(seed_body())
    assert json.loads(event.model_dump_json())["correlation_id"] == "seed-req-1"


def test_the_collectors_records_carry_the_contract_fields() -> None:
    """The Avro record of a price change has ``product_id, old_price, new_price, source_agent, correlation_id``."""
    event = PriceTracker("price-collector").observe("SKU-1001", f"{SITE}/products/SKU-1001", 84.95)
    assert event is not None
    written = json.loads(event.model_dump_json())
    fields = [f["name"] for f in json.loads(avro_schema(PriceChanged))["fields"]]
    assert list(written) == fields == [
        "change_id", "product_id", "competitor", "url", "old_price", "new_price", "currency", "seq", "observed_at",
        "source_agent", "correlation_id",
    ]  # fmt: skip
    assert (written["url"], written["seq"], written["old_price"]) == (f"{SITE}/products/SKU-1001", 1, None)
    assert written["source_agent"] == "price-collector" and written["correlation_id"]
    assert PriceChanged.model_validate_json(event.model_dump_json()) == event


def test_a_json_record_written_before_the_rename_is_still_read() -> None:
    """``old_price`` was ``previous_price`` on the JSON topic: such records still read."""
    before = {**seed_body(), "change_id": "c-1", "previous_price": 84.95}
    assert PriceChanged.model_validate(before).old_price == 84.95


def test_the_collector_leaves_reported_changes_out_of_its_memory() -> None:
    ours = PriceTracker().observe("SKU-1001", f"{SITE}/products/SKU-1001", 84.95)
    assert ours is not None
    tracker = PriceTracker()
    assert tracker.load([ours, PriceChanged.model_validate(seed_body())]) == 1
    assert list(tracker.seen) == [ours.url]


async def publish_raw(t: TestApp, topic: str, body: dict[str, Any], key: bytes | None) -> None:
    await t.transport.publish(topic, json.dumps(body).encode(), key=key)  # no headers, as the seed did


@pytest.mark.asyncio
@pytest.mark.parametrize("key", [b"SKU-1001", None], ids=["keyed", "unkeyed"])
async def test_a_seed_record_drives_the_system_under_its_correlation_id(key: bytes | None) -> None:
    config = PricingConfig(site_url=SITE, format="json")
    shop = FakeShop()
    before = shop.prices["SKU-1001"]
    async with TestApp(build_app(config), agents=[ANALYSIS, ORDER_UPDATE, NOTIFY], tools=shop) as t:
        await publish_raw(t, config.price_changed, seed_body(), key)
        await t.drain()
    change_id = PriceChanged.model_validate(seed_body()).change_id
    # 40 in stock, no price before: decided on the new price alone, undercut by 1%.
    [decided] = t.published(config.price_decided, PriceDecided)
    assert (decided.change_id, decided.action, decided.price) == (change_id, "adjust", cents(79.0 * 0.99))
    [order] = t.published(config.order_updated, OrderUpdated)
    assert (order.change_id, order.previous_price, order.price, order.applied) == (change_id, before, 78.21, True)
    alerts = t.published(config.customer_alert, CustomerAlert)
    assert sorted(a.customer_id for a in alerts) == ["cust-ana", "cust-ben", "cust-chen"]
    assert shop.changes[change_id]["new_price"] == 78.21
    tasks = [task_requests_topic(config.skill), task_results_topic(config.skill), TASKS_TOPIC]
    caused = [env for topic in [*config.topics[1:], *tasks] for env in t.envelopes(topic)]
    assert len(caused) >= 9 and {env.correlation_id for env in caused} == {"seed-req-1"}
    assert not t.dead_letters()


@pytest.mark.asyncio
async def test_a_seed_record_for_scarce_stock_is_a_hold() -> None:
    """No price before: the rules cannot tell a cut from a raise, and with 8 left they do not follow a cut."""
    config = PricingConfig(site_url=SITE, format="json")
    async with TestApp(build_app(config), agents=[ANALYSIS, ORDER_UPDATE, NOTIFY], tools=FakeShop()) as t:
        await publish_raw(t, config.price_changed, seed_body(product_id="SKU-1005", new_price=140.0), b"SKU-1005")
        await t.drain()
    [decided] = t.published(config.price_decided, PriceDecided)
    assert (decided.action, decided.price) == ("hold", None) and "scarce stock" in decided.reason
    assert not t.published(config.order_updated) and not t.dead_letters()


@pytest.mark.asyncio
async def test_an_unusable_correlation_id_in_a_seed_record_is_ignored() -> None:
    config = PricingConfig(site_url=SITE, format="json")
    async with TestApp(build_app(config), agents=[ANALYSIS, ORDER_UPDATE, NOTIFY], tools=FakeShop()) as t:
        ack = await t.transport.publish(
            config.price_changed, json.dumps(seed_body(correlation_id="x" * 500)).encode(), key=b"SKU-1001"
        )
        await t.drain()
    assigned = f"kafka:{config.price_changed}/{ack.partition}/{ack.offset}"
    assert {env.correlation_id for env in t.envelopes(config.price_decided)} == {assigned}
    assert len(t.published(config.customer_alert)) == 3 and not t.dead_letters()
