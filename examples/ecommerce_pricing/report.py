"""The end of a pricing run: is every change handled, and does the final state match the rules?

The databases are the ground truth: ``price_changes`` in the inventory
database (one row per applied change id, UNIQUE) and ``notifications`` in the
notifier outbox (one row per idempotency key, UNIQUE). ``summarize`` compares
both with ``outcomes.predict`` over the price changes the run observed.

The summary names topics by their contract names (``ecommerce.price-changed.v1``),
without the run's namespace, and gives the latency of each hop of a change, one
agent each: the competitor's page changed -> the collector published the change
(its polling) -> price-analysis decided (``ecommerce.price-decided.v1``) ->
order-update changed the price (``ecommerce.order-updated.v1``) ->
customer-notify told the first customer (``notification.customer-alert.v1``),
p50, p95 and p99 of the broker timestamps over the scripted changes. The first
sightings are start-up and have figures of their own: they wait for the agents'
MCP servers to start, each agent starting its own on its first call.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from examples.demo_support import DEAD_LETTERS, Latency
from examples.ecommerce_pricing.config import PricingConfig
from examples.ecommerce_pricing.observer import ChangeTrace, FlowObserver
from examples.ecommerce_pricing.outcomes import alert_key, predict
from examples.ecommerce_pricing.rules import UNCHANGED


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


HOPS = (  # the summary's latency rows: (label, from, to) of a ChangeTrace's timestamps
    ("collector: page changed -> change published", "site_changed_ms", "published_ms"),
    ("price-analysis: change -> decided", "published_ms", "decided_ms"),
    ("order-update: decided -> price updated", "decided_ms", "updated_ms"),
    ("customer-notify: price updated -> told", "updated_ms", "first_alert_ms"),
    ("change -> first customer told", "published_ms", "first_alert_ms"),
)
START_HOPS = (  # the first sightings' rows: each agent starts its MCP servers then
    ("start-up: first sightings, change -> decided", "published_ms", "decided_ms"),
    ("start-up: first sightings, change -> told", "published_ms", "first_alert_ms"),
)


@dataclass
class Startup:
    """When the agents were started and when their consumer groups had their partitions (wall clock, s)."""

    agents_started: float
    groups_ready: float | None = None


def hop_latencies(traces: list[ChangeTrace], *, first_sightings: bool = False) -> dict[str, Latency]:
    """p50 / p95 / p99 (ms) of each hop over the scripted changes (or the first sightings, ``START_HOPS``).

    A hop counts the changes that made it: a hold is never updated, a change the collector
    found without being told of it has no page-changed time.
    """
    hops = START_HOPS if first_sightings else HOPS
    spans: dict[str, list[float]] = {hop: [] for hop, _, _ in hops}
    for t in traces:
        if (t.event.old_price is None) != first_sightings:
            continue
        for hop, start, end in hops:
            began, ended = getattr(t, start), getattr(t, end)
            if began is not None and ended is not None:
                spans[hop].append(float(ended - began))
    return {f"latency ms: {hop}": Latency.of(values) for hop, values in spans.items()}


def summarize(
    observer: FlowObserver,
    config: PricingConfig,
    data: Path,
    kill: Kill | None,
    handled: bool,
    started: float,
    *,
    interrupted: bool = False,
    dead_letters: int = 0,
    startup: Startup | None = None,
) -> dict[str, object]:
    """The figures of a run, with ``as the rules predict`` saying whether the final state is right.

    Its value is ``yes``, ``NO: <why>``, or, for a run stopped with Ctrl-C before
    every change was handled, ``not checked: <why>``. A decision counts as an
    adjustment only when it changes our price (``rules.hold_if_unchanged``).
    """
    expected = predict(observer.events(), config.catalog)
    rows, keys = applied_changes(config.inventory_db), outbox_keys(config.notifier_db)
    traces = list(observer.changes.values())
    decisions = [t.decision for t in traces if t.decision is not None]
    adjusting = sum(d.action == "adjust" for d in decisions)
    problems = []
    if not handled:
        problems.append("not every change was fully handled in time")
    if set(rows) != set(expected.price_changes) or len(rows) != adjusting:
        problems.append(f"inventory DB holds {len(rows)} changes, the rules predict {expected.adjustments}")
    if set(keys) != expected.alerts:
        problems.append(f"the outbox holds {len(keys)} notifications, the rules predict {len(expected.alerts)}")
    first_decision = min((t.decided_ms for t in traces if t.decided_ms is not None), default=None)
    name = config.contract_name
    figures: dict[str, object] = {
        f"price changes ({name(config.price_changed)})": len(traces),
        "  of which first sightings of a page": sum(t.event.old_price is None for t in traces),
        f"decisions ({name(config.price_decided)})": len(decisions),
        "  adjust": adjusting,
        "  hold": len(decisions) - adjusting,
        "    of which our price was already right": sum(d.reason.endswith(UNCHANGED) for d in decisions),
        "adjustments applied (inventory DB)": len(rows),
        "notifications sent (outbox)": len(keys),
        "repeats absorbed by idempotency": observer.repeats,
        **hop_latencies(traces),
    }
    if startup is not None and startup.groups_ready is not None:
        figures["start-up: agents started -> groups have partitions, s"] = startup.groups_ready - startup.agents_started
    figures.update(hop_latencies(traces, first_sightings=True))
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
    figures[DEAD_LETTERS] = dead_letters
    figures["databases"] = str(data)
    return figures
