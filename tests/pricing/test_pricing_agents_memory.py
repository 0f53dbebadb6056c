"""The four pricing agents on the in-memory transport, with in-memory stand-ins for the MCP servers."""

import asyncio
import importlib
from typing import Any

import pytest

from agentflux import ToolError, UnknownSkill
from agentflux.testing import TestApp
from examples.ecommerce_pricing.app import ANALYSIS, NOTIFY, ORDER_UPDATE, build_app
from examples.ecommerce_pricing.config import PricingConfig
from examples.ecommerce_pricing.feed import competitor_prices, scripted_changes
from examples.ecommerce_pricing.models import CustomerAlert, PriceAdjustment, PriceChanged, PriceDecided, PriceUpdate
from examples.ecommerce_pricing.outcomes import predict, seed_inventory
from examples.ecommerce_pricing.rules import UNCHANGED

pytestmark = pytest.mark.asyncio
SITE = "http://rival.test"


class FakeShop:
    """The scraper, inventory-db and notifier servers in memory, with the same idempotency rules."""

    def __init__(self) -> None:
        self.competitor = competitor_prices()
        self.stock = {pid: s.available for pid, s in seed_inventory().items()}
        self.prices = {pid: s.price for pid, s in seed_inventory().items()}
        self.changes: dict[str, dict[str, Any]] = {}
        self.outbox: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    def handle(self, name: str, meta: dict[str, str] | None = None) -> "FakeHandle":
        return FakeHandle(self, name)

    def scrape_product(self, url: str) -> dict[str, Any]:
        product_id = url.rsplit("/", 1)[1]
        return {"product_id": product_id, "price": self.competitor[product_id], "currency": "EUR", "url": url}

    def get_inventory(self, product_id: str) -> dict[str, Any]:
        if product_id not in self.stock:
            raise ToolError("inventory-db", "get_inventory", f"unknown product {product_id!r}", transient=False)
        return {"product_id": product_id, "available": self.stock[product_id], "price": self.prices[product_id]}

    def set_price(self, product_id: str, price: float, change_id: str) -> dict[str, Any]:
        prior = self.changes.get(change_id)
        if prior is not None:
            if prior["new_price"] != price:
                raise ToolError("inventory-db", "set_price", f"change {change_id!r} was already applied with a "
                                "different price or product", transient=False)  # fmt: skip
            return {"applied": False, "previous_price": prior["old_price"], "price": self.prices[product_id]}
        self.changes[change_id] = {"change_id": change_id, "old_price": self.prices[product_id], "new_price": price}
        previous, self.prices[product_id] = self.prices[product_id], price
        return {"applied": True, "previous_price": previous, "price": price}

    def list_price_changes(self, product_id: str) -> list[dict[str, Any]]:
        return list(self.changes.values())

    # The batch tools: one answer per item, {"error": ...} for an item refused, as the real servers answer.
    def scrape_products(self, urls: list[str]) -> list[dict[str, Any]]:
        return self._each(self.scrape_product, [{"url": u} for u in urls])

    def get_inventories(self, product_ids: list[str]) -> list[dict[str, Any]]:
        return self._each(self.get_inventory, [{"product_id": p} for p in product_ids])

    def set_prices(self, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._each(self.set_price, changes)

    def notify_many(self, notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._each(self.notify, notifications)

    @staticmethod
    def _each(tool: Any, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answers = []
        for arguments in items:
            try:
                answers.append(tool(**arguments))
            except ToolError as exc:
                answers.append({"error": exc.cause})
        return answers

    def notify(self, customer_id: str, message: str, idempotency_key: str) -> dict[str, Any]:
        if idempotency_key in self.outbox:
            return {"notification_id": self.outbox[idempotency_key]["id"], "duplicate": True}
        self.outbox[idempotency_key] = {"id": f"n{len(self.outbox)}", "customer_id": customer_id, "message": message}
        return {"notification_id": self.outbox[idempotency_key]["id"], "duplicate": False}


class FakeHandle:
    def __init__(self, shop: FakeShop, server: str) -> None:
        self.shop, self.server = shop, server

    async def call(self, tool: str, /, **arguments: Any) -> Any:
        self.shop.calls.append(f"{self.server}.{tool}")
        await asyncio.sleep(0)
        return getattr(self.shop, tool)(**arguments)


async def wait_for(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_competitor_changes_flow_to_prices_and_alerts_as_the_rules_predict() -> None:
    config = PricingConfig(site_url=SITE, poll_seconds=0.01, format="json")
    shop = FakeShop()
    async with TestApp(build_app(config), tools=shop) as t:
        changed = lambda: t.published(config.price_changed, PriceChanged)  # noqa: E731
        await wait_for(lambda: len(changed()) == 5)  # the first sighting of every page
        for n, change in enumerate(scripted_changes(12, seed=11)):
            shop.competitor[change.product_id] = change.price
            await wait_for(lambda n=n: len(changed()) == 6 + n)  # one event per change, none merged
        await t.drain()
        events = changed()
        expected = predict(events, config.catalog)
        assert shop.prices == expected.prices
        applied = {(c, shop.changes[c]["old_price"], shop.changes[c]["new_price"]) for c in shop.changes}
        assert applied == {(c, old, new) for c, _, old, new in expected.price_changes}  # products run concurrently
        assert set(shop.outbox) == expected.alerts
        decided = t.published(config.price_decided, PriceDecided)
        assert {d.change_id: (d.action, d.price) for d in decided} == {
            c: (d.action, d.price) for c, d in expected.decisions.items()
        }
        assert len(t.published(config.price_adjustment, PriceAdjustment)) == expected.adjustments
        # Every alert carries the correlation id of the price change that caused it.
        sources = zip(events, t.envelopes(config.price_changed), strict=True)
        by_change = {e.change_id: env.correlation_id for e, env in sources}
        alerts = zip(t.published(config.customer_alert, CustomerAlert), t.envelopes(config.customer_alert), strict=True)
        assert all(env.correlation_id == by_change[a.change_id] for a, env in alerts)
        assert not t.dead_letters()


async def test_a_redelivered_change_is_applied_and_announced_once() -> None:
    config = PricingConfig(site_url=SITE, format="json")
    shop = FakeShop()
    event = PriceChanged(
        change_id="c-1", product_id="SKU-1001", competitor="rival", url=f"{SITE}/products/SKU-1001",
        old_price=84.95, new_price=79.0, seq=2,
    )  # fmt: skip
    async with TestApp(build_app(config), agents=[ANALYSIS, ORDER_UPDATE, NOTIFY], tools=shop) as t:
        for _ in range(3):  # a redelivery, or a second collector that saw the same change
            await t.publish(config.price_changed, event, key=event.product_id)
        await t.drain()
    assert shop.calls.count("inventory-db.set_prices") == 1  # repeats were answered from the task store
    assert shop.prices["SKU-1001"] == 78.21 and len(shop.changes) == 1
    assert len(shop.outbox) == 3  # SKU-1001 has three watchers
    assert len(t.published(config.customer_alert)) == 3
    decided = t.published(config.price_decided, PriceDecided)
    assert len(decided) == 3  # the audit trail shows each delivery
    # Each is decided the same way, although after the first our price is already the decided one.
    assert {(d.action, d.price) for d in decided} == {("adjust", 78.21)}


async def test_a_change_that_would_keep_our_price_is_a_hold_and_not_delegated() -> None:
    config = PricingConfig(site_url=SITE, format="json")
    shop = FakeShop()
    shop.prices["SKU-1001"] = 72.0  # at its floor already
    event = PriceChanged(
        change_id="c-4", product_id="SKU-1001", competitor="rival", url=f"{SITE}/products/SKU-1001",
        old_price=65.0, new_price=60.0, seq=3,
    )  # fmt: skip
    async with TestApp(build_app(config), agents=[ANALYSIS, ORDER_UPDATE, NOTIFY], tools=shop) as t:
        await t.publish(config.price_changed, event, key=event.product_id)
        await t.drain()
        (decided,) = t.published(config.price_decided, PriceDecided)
        assert (decided.action, decided.price) == ("hold", None) and decided.reason.endswith(UNCHANGED)
        assert "floor price 72.00" in decided.reason
        assert "inventory-db.set_prices" not in shop.calls  # no update-price task for a no-op
        assert not t.published(config.price_adjustment) and not t.published(config.order_updated)
        assert shop.prices["SKU-1001"] == 72.0 and not shop.outbox and not t.dead_letters()


async def test_the_first_applied_price_of_a_change_wins() -> None:
    config = PricingConfig(site_url=SITE, format="json")
    shop = FakeShop()
    async with TestApp(build_app(config), agents=[ORDER_UPDATE], tools=shop) as t:
        first = await t.delegate(config.skill, PriceUpdate(change_id="c-9", product_id="SKU-1002", price=12.0))
        # The same change decided differently later (an LLM, or a changed stock level) under a new task id.
        again = await t.delegate(config.skill, PriceUpdate(change_id="c-9", product_id="SKU-1002", price=12.5))
    assert (first.applied, first.price, first.previous_price) == (True, 12.0, 14.5)
    assert (again.applied, again.price, again.previous_price) == (False, 12.0, 14.5)
    assert shop.prices["SKU-1002"] == 12.0


async def test_a_product_outside_the_catalog_is_dead_lettered() -> None:
    config = PricingConfig(site_url=SITE, format="json")
    event = PriceChanged(
        change_id="c-2", product_id="SKU-9999", competitor="rival", url=f"{SITE}/products/SKU-9999",
        old_price=None, new_price=5.0, seq=1,
    )  # fmt: skip
    async with TestApp(build_app(config), agents=[ANALYSIS], tools=FakeShop()) as t:
        await t.publish(config.price_changed, event, key=event.product_id)
        await t.drain()
        assert "not in our catalog" in t.dead_letters()[0].info["error_message"]


async def test_a_skill_no_live_agent_offers_yet_is_retried_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("examples.ecommerce_pricing.app"), "UNKNOWN_SKILL_RETRY", 0.01)
    config = PricingConfig(site_url=SITE, format="json")
    shop = FakeShop()
    event = PriceChanged(
        change_id="c-3", product_id="SKU-1003", competitor="rival", url=f"{SITE}/products/SKU-1003",
        old_price=25.5, new_price=24.0, seq=2,
    )  # fmt: skip
    async with TestApp(build_app(config), agents=[ANALYSIS, ORDER_UPDATE], tools=shop) as t:
        real = t.runner.services.requester
        assert real is not None
        refusals = []

        class NotYetDiscovered:  # the card registry has not seen order-update's card yet
            async def delegate(self, skill: str, payload: object, **kw: Any) -> Any:
                if not refusals:
                    refusals.append(skill)
                    raise UnknownSkill(f"no live agent offers skill {skill!r}")
                return await real.delegate(skill, payload, **kw)

        t.runner.services.requester = NotYetDiscovered()  # type: ignore[assignment]
        await t.publish(config.price_changed, event, key=event.product_id)
        await t.drain()
        t.runner.services.requester = real
    assert refusals == [config.skill] and shop.prices["SKU-1003"] == 23.76 and not t.dead_letters()
