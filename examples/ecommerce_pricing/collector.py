"""The collector's memory of competitor prices, and how a change gets its id.

State is the last price seen on each competitor page (by URL) and how many
observations of that page were published (``seq``). It lives in memory and is
rebuilt from ``ecommerce.price-changed.v1`` itself when the collector starts,
so the log is the only state: a restarted collector publishes neither a change
it published before nor a "first observation" of a page it already reported.
It reads the whole topic once at start (the app decodes its Avro records
through the registry, see ``app.py``); with a long retention, a compacted
topic holding the last observation per page would bound that read.

Ids are deterministic: ``change_id`` is derived from the page URL, ``seq`` and
both prices. Two collectors that see the same sequence of prices therefore
publish the same change ids, and everything downstream (the ``update-price``
task id, ``set_price``'s ``change_id``, the notifier's idempotency keys)
collapses the duplicates. Two collectors that poll at different moments may see
different sequences (one sees 10 -> 9 -> 8, the other 10 -> 8); their changes
then differ and both are acted upon, which ends at the same final price but
with extra adjustments. So run one collector process; a second one is safe for
correctness of prices, not for counts. The first observation of a page is
published too (``old_price=None``): the competitor listing is new to us.
Changes other producers report on the topic name no page (``url`` is None) and
are left out of that memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from examples.ecommerce_pricing.models import PriceChanged, utcnow

_CHANGE_NAMESPACE = uuid.UUID("6c1e2f0a-8d4b-4a57-9e3c-2b7d5f1a9c40")


def change_id(url: str, seq: int, previous: float | None, price: float) -> str:
    return str(uuid.uuid5(_CHANGE_NAMESPACE, f"{url}|{seq}|{previous}|{price:.2f}"))


@dataclass(frozen=True)
class Seen:
    price: float
    seq: int


class PriceTracker:
    """Last seen price per competitor page; turns observations into ``PriceChanged`` events."""

    def __init__(self, source_agent: str = "price-collector") -> None:
        self.source_agent = source_agent
        self.seen: dict[str, Seen] = {}
        self.loaded = False

    def load(self, events: Iterable[PriceChanged]) -> int:
        """Take the newest observation of each page from the topic's events; returns how many pages."""
        for event in events:
            self.remember(event)
        self.loaded = True
        return len(self.seen)

    def observe(self, product_id: str, url: str, price: float, currency: str = "EUR") -> PriceChanged | None:
        """The event for this observation, or None when the page's price did not change.

        Its ``correlation_id`` is fresh: each change is a request of its own.
        """
        last = self.seen.get(url)
        if last is not None and last.price == price:
            return None
        previous = last.price if last is not None else None
        seq = last.seq + 1 if last is not None else 1
        return PriceChanged(
            change_id=change_id(url, seq, previous, price),
            product_id=product_id,
            competitor=urlsplit(url).netloc,
            url=url,
            old_price=previous,
            new_price=price,
            currency=currency,
            seq=seq,
            observed_at=utcnow(),
            source_agent=self.source_agent,
            correlation_id=str(uuid.uuid4()),
        )

    def remember(self, event: PriceChanged) -> None:
        """Record a published event (call it once the broker acknowledged the event).

        An event without a page and a count (one another producer reported, see
        ``PriceChanged``) is no observation of ours: it changes nothing here.
        """
        if event.url is None or event.seq is None:
            return
        last = self.seen.get(event.url)
        if last is None or event.seq > last.seq:
            self.seen[event.url] = Seen(event.new_price, event.seq)
