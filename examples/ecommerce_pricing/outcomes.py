"""What the system must produce for a sequence of price changes, computed without running it.

``predict`` replays price changes through the same rules the agents use
(``decide``, then ``hold_if_unchanged`` against our price before the change)
and returns the decisions, the price changes the inventory database must hold
and the notifications the outbox must hold. A decision that would leave our
price as it is becomes a hold, so it is in neither. The demo prints whether the real run
matched; the e2e tests assert it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from examples.ecommerce_pricing.config import Product
from examples.ecommerce_pricing.models import PriceChanged
from examples.ecommerce_pricing.rules import Decision, Facts, decide, hold_if_unchanged
from examples.mcp_servers import FIXTURES

INVENTORY_SEED = FIXTURES / "inventory.json"


@dataclass(frozen=True)
class Stock:
    available: int
    price: float


def seed_inventory(path: Path = INVENTORY_SEED) -> dict[str, Stock]:
    """The inventory the ``inventory-db`` server starts from (nothing reserved)."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    return {r["product_id"]: Stock(int(r["stock"]), float(r["price"])) for r in rows}


def facts_for(event: PriceChanged, available: int, product: Product) -> Facts:
    return Facts(event.product_id, event.new_price, event.old_price, available, product.floor_price)


def watchers_to_alert(product: Product | None, previous_price: float, price: float) -> list[str]:
    """Customers told about a price change: a product's watchers, and only when the price dropped."""
    if product is None or price >= previous_price:
        return []
    return list(product.watchers)


def alert_key(change_id: str, customer_id: str) -> str:
    """The notifier's idempotency key: one notification per change and customer, however often it is sent."""
    return f"{change_id}/{customer_id}"


def alert_message(product_id: str, previous_price: float, price: float) -> str:
    return f"Price drop on {product_id}: now {price:.2f} EUR (was {previous_price:.2f})"


@dataclass
class Expected:
    decisions: dict[str, Decision] = field(default_factory=dict)  # by change id
    price_changes: list[tuple[str, str, float, float]] = field(default_factory=list)  # change, product, old, new
    alerts: set[str] = field(default_factory=set)  # idempotency keys
    prices: dict[str, float] = field(default_factory=dict)

    @property
    def adjustments(self) -> int:
        return len(self.price_changes)


def predict(
    events: Iterable[PriceChanged], catalog: Mapping[str, Product], inventory: Mapping[str, Stock] | None = None
) -> Expected:
    """The outcome of ``events`` (each product's in order; duplicates by change id count once)."""
    stock = dict(inventory if inventory is not None else seed_inventory())
    out = Expected(prices={pid: s.price for pid, s in stock.items()})
    for event in events:
        if event.change_id in out.decisions:
            continue
        product = catalog[event.product_id]
        previous = out.prices[event.product_id]
        decision = decide(facts_for(event, stock[event.product_id].available, product))
        decision = hold_if_unchanged(decision, previous)
        out.decisions[event.change_id] = decision
        if decision.price is None:
            continue
        out.price_changes.append((event.change_id, event.product_id, previous, decision.price))
        out.prices[event.product_id] = decision.price
        for customer in watchers_to_alert(product, previous, decision.price):
            out.alerts.add(alert_key(event.change_id, customer))
    return out
