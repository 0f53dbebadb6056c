"""The pricing rules: a pure, deterministic function from facts to a decision.

Inputs are the competitor's new price (and the one before it, if known), the
units we have available, and our floor price. The price before is unknown for
the collector's first sighting of a page and for a change another producer
reported without one (see ``PriceChanged``): the rules then cannot tell a cut
from a raise, and decide on the new price alone. Our own current price is
deliberately *not* an input of the rules: a decision can then be recomputed at
any time from the event and the stock, so a redelivered event yields the same
decision, the same ``update-price`` task and the same ``set_price`` call, which
the task store and the inventory server both recognise as a repeat.

The rules, in order:

1. **Out of stock** (0 available): hold. There is nothing to sell.
2. **Scarce stock** (fewer than 10 available): never follow a cut, and hold
   when the competitor's price fell or its price before is unknown;
   when the competitor raised the price, match it.
3. **Overstock** (100 or more available): undercut the competitor by 3 %.
4. **Otherwise**: undercut the competitor by 1 %.
5. **Floor**: a target below our floor price is raised to the floor.

Prices are rounded half-up to cents.

Then ``hold_if_unchanged`` turns an adjustment to the price we already charge
into a hold: it would change nothing, so it is not delegated and not counted
as an adjustment (a competitor that keeps cutting below our floor is the usual
case). "The price we already charge" is our price *before this change*: the
current price until the change is applied, and the price it replaced after
that, so a redelivered event is still decided the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

UNCHANGED = "nothing to change"  # how the reason of a hold by ``hold_if_unchanged`` ends
SCARCE_BELOW = 10
OVERSTOCK_FROM = 100
UNDERCUT = Decimal("0.99")
DEEP_UNDERCUT = Decimal("0.97")


@dataclass(frozen=True)
class Facts:
    """What a decision is made from."""

    product_id: str
    competitor_price: float
    previous_competitor_price: float | None
    available: int
    floor_price: float


@dataclass(frozen=True)
class Decision:
    action: Literal["adjust", "hold"]
    price: float | None
    reason: str
    decided_by: str = "rules"

    @property
    def adjusts(self) -> bool:
        return self.action == "adjust"


def cents(value: Decimal | float) -> float:
    """``value`` rounded half-up to cents (Decimal arithmetic, so 0.125 becomes 0.13)."""
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def hold(reason: str) -> Decision:
    return Decision("hold", None, reason)


def decide(facts: Facts) -> Decision:
    """The decision the rules above make for ``facts``."""
    competitor = Decimal(str(facts.competitor_price))
    previous = facts.previous_competitor_price
    rising = previous is not None and facts.competitor_price > previous
    if facts.available <= 0:
        return hold("out of stock: nothing to sell, price unchanged")
    if facts.available < SCARCE_BELOW:
        if not rising:
            return hold(f"scarce stock ({facts.available} left): not following a competitor cut")
        target, why = competitor, f"scarce stock ({facts.available} left): match the competitor's raise"
    elif facts.available >= OVERSTOCK_FROM:
        target, why = competitor * DEEP_UNDERCUT, f"overstock ({facts.available} units): undercut by 3%"
    else:
        target, why = competitor * UNDERCUT, f"{facts.available} units in stock: undercut by 1%"
    price = cents(target)
    if price < facts.floor_price:
        price, why = cents(facts.floor_price), f"{why}, raised to the floor price {facts.floor_price:.2f}"
    return Decision("adjust", price, why)


def hold_if_unchanged(decision: Decision, price_before: float) -> Decision:
    """``decision``, or a hold when it would set the price we charged before the change: that is no adjustment."""
    if decision.price is None or cents(decision.price) != cents(price_before):
        return decision
    why = f"{decision.reason}; our price is already {decision.price:.2f}, {UNCHANGED}"
    return Decision("hold", None, why, decision.decided_by)
