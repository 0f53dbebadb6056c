"""The end of a pricing run: is every change handled, and does the final state match the rules?

The databases are the ground truth: ``price_changes`` in the inventory
database (one row per applied change id, UNIQUE) and ``notifications`` in the
notifier outbox (one row per idempotency key, UNIQUE). ``summarize`` compares
both with ``outcomes.predict`` over the price changes the run observed.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from examples.demo_support import percentile
from examples.ecommerce_pricing.config import PricingConfig
from examples.ecommerce_pricing.observer import FlowObserver
from examples.ecommerce_pricing.outcomes import alert_key, predict


@dataclass
class Kill:
    """When the analysis agent was SIGKILLed and restarted (wall clock, ms)."""

    at_change: int
    killed_ms: int
    restarted_ms: int | None = None


def applied_changes(db: Path) -> list[tuple[str, str, float, float]]:
    """(change id, product, old price, new price) of every applied change, oldest first."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        query = "SELECT change_id, product_id, old_price, new_price FROM price_changes ORDER BY rowid"
        return [(str(c), str(p), float(o), float(n)) for c, p, o, n in conn.execute(query)]


def outbox_keys(db: Path) -> list[str]:
    """The idempotency keys of every notification in the outbox."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [str(k) for (k,) in conn.execute("SELECT idempotency_key FROM notifications ORDER BY rowid")]


def complete(observer: FlowObserver, config: PricingConfig) -> bool:
    """Every observed change has its decision, its adjustment and its alerts, as the rules predict."""
    expected = predict(observer.events(), config.catalog)
    traces = observer.changes.values()
    if any(t.decision is None for t in traces):
        return False
    adjusted = {t.event.change_id for t in traces if t.adjustment is not None}
    if adjusted != {change for change, *_ in expected.price_changes}:
        return False
    return {alert_key(t.event.change_id, c) for t in traces for c in t.alerts} >= expected.alerts


def summarize(
    observer: FlowObserver,
    config: PricingConfig,
    data: Path,
    kill: Kill | None,
    handled: bool,
    started: float,
    *,
    interrupted: bool = False,
) -> dict[str, object]:
    """The figures of a run, with ``as the rules predict`` saying whether the final state is right.

    Its value is ``yes``, ``NO: <why>``, or, for a run stopped with Ctrl-C before
    every change was handled, ``not checked: <why>``.
    """
    expected = predict(observer.events(), config.catalog)
    rows, keys = applied_changes(config.inventory_db), outbox_keys(config.notifier_db)
    traces = list(observer.changes.values())
    decisions = [t.decision for t in traces if t.decision is not None]
    adjusting = sum(d.action == "adjust" for d in decisions)
    to_alert = [(t.first_alert_ms - t.published_ms) / 1000 for t in traces if t.first_alert_ms is not None]
    to_decide = [(t.decided_ms - t.published_ms) / 1000 for t in traces if t.decided_ms is not None]
    problems = []
    if not handled:
        problems.append("not every change was fully handled in time")
    if set(rows) != set(expected.price_changes) or len(rows) != adjusting:
        problems.append(f"inventory DB holds {len(rows)} changes, the rules predict {expected.adjustments}")
    if set(keys) != expected.alerts:
        problems.append(f"the outbox holds {len(keys)} notifications, the rules predict {len(expected.alerts)}")
    first_decision = min((t.decided_ms for t in traces if t.decided_ms is not None), default=None)
    figures: dict[str, object] = {
        "competitor price changes seen": len(traces),
        "  of which first sightings of a page": sum(t.event.previous_price is None for t in traces),
        "decisions: adjust": adjusting,
        "decisions: hold": len(decisions) - adjusting,
        "adjustments applied (inventory DB)": len(rows),
        "notifications sent (outbox)": len(keys),
        "repeats absorbed by idempotency": observer.repeats,
        "latency change -> alert p50 ms": percentile(to_alert, 50) * 1000,
        "latency change -> alert p99 ms": percentile(to_alert, 99) * 1000,
        "decision latency p50 ms": percentile(to_decide, 50) * 1000,
        "decision latency p99 ms": percentile(to_decide, 99) * 1000,
    }
    if first_decision is not None:
        figures["first decision after s"] = first_decision / 1000 - started
    if kill is not None:
        restarted = kill.restarted_ms or int(time.time() * 1000)
        waited = sum(kill.killed_ms <= t.published_ms <= restarted for t in traces)
        figures["analysis SIGKILLed before change #"] = kill.at_change + 1
        figures["analysis down for s"] = (restarted - kill.killed_ms) / 1000
        figures["changes that waited in Kafka meanwhile"] = waited
    verdict = "NO: " if not interrupted or handled else "not checked (stopped with Ctrl-C): "
    figures["as the rules predict"] = "yes" if not problems else verdict + "; ".join(problems)
    figures["databases"] = str(data)
    return figures
