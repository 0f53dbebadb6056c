"""Following one run of the pricing system on its topics, change by change, by correlation id.

``FlowObserver`` reads the five pricing topics from their end at the moment it
starts (a group-less tail: it commits nothing and disturbs no agent), keeps a
``ChangeTrace`` per price change of this run's competitor site, with the broker
timestamp of each hop (change published, decided, price updated, first
customer told), and prints one readable line per step. A driver that changes
the site's prices itself says when (``site_changed``), so a change's trace
starts there: that first hop is the collector's polling. Every step of a change
carries the change's correlation id, which is how the lines are joined; a step
read before its change (the topics are read in parallel) waits until the
change arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from agentflux.contract.envelope import Envelope
from agentflux.contract.payloads import Payloads
from agentflux.transport.base import Record, Transport
from examples.demo_support import TopicObserver
from examples.ecommerce_pricing.config import PricingConfig
from examples.ecommerce_pricing.models import CustomerAlert, OrderUpdated, PriceAdjustment, PriceChanged, PriceDecided


@dataclass
class ChangeTrace:
    """One price change and what the agents did about it (record timestamps in ms, the first of each step).

    ``site_changed_ms`` is when the driver changed the competitor's page (wall clock; None for a change
    the collector found without being told, like a first sighting). ``updated_ms`` is when order-update
    announced the new price on ``ecommerce.order-updated.v1`` (the end of its ``update-price`` task, and
    what customer-notify reacts to).
    """

    event: PriceChanged
    correlation_id: str
    published_ms: int
    site_changed_ms: int | None = None
    decision: PriceDecided | None = None
    decided_ms: int | None = None
    adjustment: PriceAdjustment | None = None
    updated_ms: int | None = None
    alerts: dict[str, CustomerAlert] = field(default_factory=dict)
    first_alert_ms: int | None = None


class FlowObserver(TopicObserver):
    def __init__(
        self, transport: Transport, config: PricingConfig, console: Console | None = None,
        payloads: Payloads | None = None,
    ) -> None:  # fmt: skip
        super().__init__(transport, payloads)
        self.config = config
        self.console = console
        self.changes: dict[str, ChangeTrace] = {}  # by change id, in arrival order
        self.repeats = 0  # decisions, adjustments and alerts seen again (redeliveries absorbed downstream)
        self._by_correlation: dict[str, ChangeTrace] = {}
        self._latest: dict[str, float] = {}
        self._site_changes: dict[tuple[str, float], int] = {}
        self._waiting: dict[str, list[tuple[Record, BaseModel]]] = {}
        self._models: dict[str, type[BaseModel]] = {
            config.price_changed: PriceChanged,
            config.price_decided: PriceDecided,
            config.order_updated: OrderUpdated,
            config.price_adjustment: PriceAdjustment,
            config.customer_alert: CustomerAlert,
        }  # as app.event_types: this module does not import the app

    async def start(self) -> None:
        """Start reading at the current end of the pricing topics (which must exist)."""
        await self.follow(list(self._models))

    def latest_price(self, product_id: str) -> float | None:
        """The newest competitor price of ``product_id`` the collector reported in this run."""
        return self._latest.get(product_id)

    def site_changed(self, product_id: str, price: float, at_ms: int) -> None:
        """The competitor shows ``price`` for ``product_id`` from ``at_ms`` on (its change starts then)."""
        self._site_changes[(product_id, price)] = at_ms

    def events(self) -> list[PriceChanged]:
        return [t.event for t in self.changes.values()]

    async def take(self, record: Record) -> None:
        self._take(record, await self.decode(record, self._models[record.topic]))

    def _take(self, record: Record, payload: BaseModel) -> None:
        cid = Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic).correlation_id
        if isinstance(payload, PriceChanged):
            if payload.url is None or not payload.url.startswith(self.config.site_url):
                return  # not one of this run's pages: another copy's, or another producer's report
            if payload.change_id in self.changes:
                return
            site_changed = self._site_changes.pop((payload.product_id, payload.new_price), None)
            new = ChangeTrace(payload, cid, record.timestamp_ms, site_changed)
            self.changes[payload.change_id] = self._by_correlation[cid] = new
            self._latest[payload.product_id] = payload.new_price
            self._show_change(new)
            for waiting in self._waiting.pop(cid, []):
                self._take(*waiting)
            return
        trace = self._by_correlation.get(cid)
        if trace is None:
            self._waiting.setdefault(cid, []).append((record, payload))
        elif isinstance(payload, PriceDecided):
            self.repeats += trace.decision is not None
            trace.decision, trace.decided_ms = trace.decision or payload, trace.decided_ms or record.timestamp_ms
            self._say(trace, self._decision_text(payload, trace.decided_ms - trace.published_ms))
        elif isinstance(payload, OrderUpdated):  # shown by its twin, the PriceAdjustment
            trace.updated_ms = trace.updated_ms or record.timestamp_ms
        elif isinstance(payload, PriceAdjustment):
            self.repeats += trace.adjustment is not None
            trace.adjustment = trace.adjustment or payload
            move = f"{payload.previous_price:.2f} -> {payload.price:.2f}"
            if payload.previous_price == payload.price:
                move = f"stays {payload.price:.2f}"
            what = "" if payload.applied else " (a repeat: it had been applied before, so nothing changed)"
            self._say(trace, f"order-update: price {move}{what}")
        elif isinstance(payload, CustomerAlert):
            self.repeats += payload.customer_id in trace.alerts
            trace.alerts.setdefault(payload.customer_id, payload)
            trace.first_alert_ms = trace.first_alert_ms or record.timestamp_ms
            ms = record.timestamp_ms - trace.published_ms
            self._say(trace, f"customer-notify: told {payload.customer_id} ({ms} ms after the change)")

    @staticmethod
    def _decision_text(decision: PriceDecided, ms: int) -> str:
        verdict = f"adjust to {decision.price:.2f}" if decision.price is not None else "hold"
        return f"price-analysis: [bold]{verdict}[/] - {escape(decision.reason)} ({decision.decided_by}, {ms} ms)"

    def _show_change(self, trace: ChangeTrace) -> None:
        e = trace.event
        seen = f"first seen at {e.new_price:.2f}" if e.old_price is None else f"{e.old_price:.2f} -> "
        self._say(trace, f"competitor price {seen}{'' if e.old_price is None else f'{e.new_price:.2f}'}")

    def _say(self, trace: ChangeTrace, text: str) -> None:
        if self.console is not None:
            self.console.print(f"[dim]{trace.correlation_id[:8]}[/] [cyan]{trace.event.product_id}[/] {text}")
