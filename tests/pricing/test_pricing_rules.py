"""The pricing system's pure parts: the rules, the collector's memory, the predicted outcome, the scripted feed."""

import itertools

import pytest

from examples.ecommerce_pricing.collector import PriceTracker
from examples.ecommerce_pricing.config import PricingConfig, Product
from examples.ecommerce_pricing.feed import competitor_prices, scripted_changes
from examples.ecommerce_pricing.models import PriceChanged
from examples.ecommerce_pricing.outcomes import Stock, alert_key, predict, seed_inventory
from examples.ecommerce_pricing.rules import UNCHANGED, Decision, Facts, cents, decide, hold_if_unchanged


def facts(price: float, previous: float | None, available: int, floor: float = 10.0) -> Facts:
    return Facts("p", price, previous, available, floor)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (facts(50.0, 60.0, 0), ("hold", None)),  # out of stock
        (facts(50.0, 60.0, 9), ("hold", None)),  # scarce: never follow a cut
        (facts(50.0, None, 5), ("hold", None)),  # scarce, first observation: treated like a cut
        (facts(70.0, 60.0, 9), ("adjust", 70.0)),  # scarce: match a raise
        (facts(50.0, 60.0, 10), ("adjust", 49.5)),  # normal stock: undercut by 1%
        (facts(50.0, 40.0, 99), ("adjust", 49.5)),  # ... whichever way the competitor moved
        (facts(50.0, 60.0, 100), ("adjust", 48.5)),  # overstock: undercut by 3%
        (facts(50.0, 60.0, 40, floor=49.9), ("adjust", 49.9)),  # never below the floor
        (facts(12.5, None, 40), ("adjust", 12.38)),  # 12.375 rounds half up
    ],
)
def test_rules(case: Facts, expected: tuple[str, float | None]) -> None:
    decision = decide(case)
    assert (decision.action, decision.price) == expected
    assert decision.reason and decision.decided_by == "rules"
    assert decide(case) == decision  # deterministic


def test_reasons_name_the_rule() -> None:
    assert "out of stock" in decide(facts(50.0, 60.0, 0)).reason
    assert "floor" in decide(facts(50.0, 60.0, 40, floor=49.9)).reason
    assert "overstock" in decide(facts(50.0, 60.0, 150)).reason
    assert cents(0.125) == 0.13 and cents(2.675) == 2.68


def test_a_decision_that_keeps_our_price_is_a_hold() -> None:
    floor = decide(facts(50.0, 60.0, 40, floor=49.9))
    assert (floor.action, floor.price) == ("adjust", 49.9)
    kept = hold_if_unchanged(floor, 49.9)  # the competitor cut again, we are at the floor already
    assert (kept.action, kept.price, kept.decided_by) == ("hold", None, "rules")
    assert kept.reason.startswith(floor.reason) and kept.reason.endswith(UNCHANGED) and "49.90" in kept.reason
    assert hold_if_unchanged(floor, 49.899999) == kept  # compared in cents
    assert hold_if_unchanged(floor, 55.0) is floor  # a real change stays an adjustment
    held = decide(facts(50.0, 60.0, 0))
    assert hold_if_unchanged(held, 50.0) is held


def test_tracker_publishes_first_sightings_and_changes_only() -> None:
    tracker = PriceTracker()
    first = tracker.observe("p1", "http://site/products/p1", 10.0)
    assert first is not None and first.old_price is None and first.seq == 1
    assert tracker.observe("p1", "http://site/products/p1", 10.0) is not None  # not remembered until published
    tracker.remember(first)
    assert tracker.observe("p1", "http://site/products/p1", 10.0) is None
    cut = tracker.observe("p1", "http://site/products/p1", 9.0)
    assert cut is not None and (cut.old_price, cut.new_price, cut.seq) == (10.0, 9.0, 2)
    assert cut.competitor == "site"
    # Deterministic ids: another collector that saw the same prices names the change the same way.
    other = PriceTracker()
    other.remember(first)
    again = other.observe("p1", "http://site/products/p1", 9.0)
    assert again is not None and again.change_id == cut.change_id


def test_tracker_resumes_from_the_log() -> None:
    tracker = PriceTracker()
    events = []
    for price in (10.0, 9.0, 8.5):
        event = tracker.observe("p1", "http://site/products/p1", price)
        assert event is not None
        tracker.remember(event)
        events.append(event)
    restarted = PriceTracker()  # it reads the topic's price changes (app.published_changes skips the unreadable)
    assert restarted.load(list(reversed(events))) == 1
    assert restarted.loaded
    assert restarted.observe("p1", "http://site/products/p1", 8.5) is None  # nothing published twice
    later = restarted.observe("p1", "http://site/products/p1", 8.0)
    assert later is not None and later.seq == 4 and later.old_price == 8.5


def test_scripted_feed_is_deterministic_and_never_repeats_a_product_in_a_row() -> None:
    changes = scripted_changes(30, seed=3)
    assert changes == scripted_changes(30, seed=3) != scripted_changes(30, seed=4)
    assert all(a.product_id != b.product_id for a, b in itertools.pairwise(changes))
    prices = competitor_prices()
    for change in changes:
        assert change.price != prices[change.product_id]
        prices[change.product_id] = change.price


def event(product_id: str, previous: float | None, price: float, change_id: str) -> PriceChanged:
    url = f"http://site/products/{product_id}"
    return PriceChanged(
        change_id=change_id, product_id=product_id, competitor="site", url=url, old_price=previous,
        new_price=price, seq=1,
    )  # fmt: skip


def test_predict_follows_the_rules_and_alerts_watchers_of_drops_only() -> None:
    catalog = {"a": Product("a", 5.0, ("c1", "c2")), "b": Product("b", 5.0, ("c3",))}
    inventory = {"a": Stock(40, 20.0), "b": Stock(0, 9.0)}
    events = [
        event("a", None, 19.0, "x1"),  # 18.81: a drop for both watchers
        event("b", None, 8.0, "x2"),  # out of stock: hold
        event("a", 19.0, 25.0, "x3"),  # 24.75: a raise, nobody is told
        event("a", 19.0, 25.0, "x3"),  # a duplicate counts once
    ]
    out = predict(events, catalog, inventory)
    assert out.decisions["x2"] == Decision("hold", None, out.decisions["x2"].reason)
    assert out.price_changes == [("x1", "a", 20.0, 18.81), ("x3", "a", 18.81, 24.75)]
    assert out.alerts == {alert_key("x1", "c1"), alert_key("x1", "c2")}
    assert out.prices == {"a": 24.75, "b": 9.0} and out.adjustments == 2


def test_predict_counts_a_change_that_keeps_our_price_as_a_hold() -> None:
    catalog = {"a": Product("a", 18.0, ("c1",))}
    events = [
        event("a", None, 19.0, "x1"),  # 18.81: an adjustment
        event("a", 19.0, 17.0, "x2"),  # 16.83, raised to the floor 18.00: an adjustment
        event("a", 17.0, 15.0, "x3"),  # the floor again: our price is 18.00 already
        event("a", 15.0, 30.0, "x4"),  # 29.70: an adjustment
    ]
    out = predict(events, catalog, {"a": Stock(40, 20.0)})
    assert [d.action for d in out.decisions.values()] == ["adjust", "adjust", "hold", "adjust"]
    assert out.decisions["x3"].reason.endswith(UNCHANGED)
    assert out.price_changes == [("x1", "a", 20.0, 18.81), ("x2", "a", 18.81, 18.0), ("x4", "a", 18.0, 29.7)]
    assert out.adjustments == 3 and out.alerts == {alert_key("x1", "c1"), alert_key("x2", "c1")}


def test_the_default_catalog_matches_the_seed_inventory() -> None:
    config = PricingConfig()
    assert set(config.catalog) == set(seed_inventory()) == set(competitor_prices())


def test_namespaces_keep_copies_apart() -> None:
    plain, spaced = PricingConfig(), PricingConfig(namespace="t1")
    assert (plain.app_name, plain.skill) == ("pricing", "update-price")
    assert plain.price_changed == "ecommerce.price-changed.v1"
    assert (spaced.app_name, spaced.skill) == ("pricing-t1", "update-price-t1")
    assert spaced.customer_alert == "notification-t1.customer-alert.v1"
    assert PricingConfig.from_env(spaced.env()) == spaced


def test_topics_have_contract_names_without_the_namespace() -> None:
    plain, spaced = PricingConfig(), PricingConfig(namespace="run-3f2a1b")
    assert spaced.price_changed == "ecommerce-run-3f2a1b.price-changed.v1"
    contracts = ["ecommerce.price-changed.v1", "ecommerce.price-decided.v1", "ecommerce.order-updated.v1"]
    contracts += ["action.price-adjustment.v1", "notification.customer-alert.v1"]
    assert [spaced.contract_name(t) for t in spaced.topics] == plain.topics == contracts
    assert [plain.contract_name(t) for t in plain.topics] == plain.topics
