"""Payload models, one per topic (and the ``update-price`` skill's input and output).

Every event carries ``change_id``: the id the collector gave the competitor
price change that started it (or, for a change another producer reported, the
id derived from what it reported). It is the idempotency key of the whole flow
(``set_price`` is idempotent on it, notifications are keyed by it), and it
joins the records of one change just as the correlation id in the envelope does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal, Self

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator

_REPORTED_NAMESPACE = uuid.UUID("0d5e7c1a-3f2b-4e8d-a6c9-71b4e2f05d38")


def utcnow() -> datetime:
    return datetime.now(UTC)


class PriceChanged(BaseModel):
    """``ecommerce.price-changed.v1``, keyed by ``product_id``: a competitor shows a new price.

    The topic is Avro through the schema registry (``app.py``). Its record
    carries the fields of the system's contract for a price change,
    ``product_id``, ``old_price``, ``new_price``, ``source_agent`` and
    ``correlation_id``, and what the collector knows besides.

    The collector fills in every field: ``url`` is the page it scraped, ``seq``
    counts its observations of that page, ``old_price`` is None the first time
    it sees a page (the listing appeared), ``source_agent`` is its name, and
    ``correlation_id`` is the id of the request the change starts (the
    envelope's ``ce_correlationid`` says the same).

    A producer outside agentflux may send less, as the system's first producer
    did: a JSON body of ``{"product_id", "competitor", "new_price", "timestamp",
    "correlation_id"}`` and no headers (the runtime reads a JSON record on an
    Avro topic by its first byte). Then

    - ``timestamp`` is ``observed_at``: an ISO 8601 string (UTC when it names
      no offset) or seconds since the epoch (milliseconds when larger than
      about 2e10, as pydantic reads them);
    - ``change_id``, when absent, is derived from the product, the competitor,
      the new price and the observation time, so every delivery of the record
      (and a producer's retry of it) is the same change; without ``change_id``
      the time is required, or two reports of one price could not be told apart;
    - ``url`` and ``seq`` stay None: no page of the collector's, no count;
    - ``old_price`` stays None: the producer does not say what the price
      was before, so the change is decided on the new price alone, as a first
      sighting is (``rules.py``: with scarce stock we hold, otherwise we undercut);
    - ``source_agent`` stays None: the producer does not name itself;
    - ``correlation_id`` is the request's id: the runtime makes it the
      envelope's correlation id when no header carries one, and everything the
      change causes carries it there.

    ``previous_price``, the name ``old_price`` had before the topic moved to
    Avro, is still read from JSON records.
    """

    change_id: str = ""  # derived when empty (see above)
    product_id: str
    competitor: str
    url: str | None = None
    old_price: float | None = Field(default=None, validation_alias=AliasChoices("old_price", "previous_price"))
    new_price: float
    currency: str = "EUR"
    seq: int | None = None
    observed_at: datetime = Field(default_factory=utcnow, validation_alias=AliasChoices("observed_at", "timestamp"))
    source_agent: str | None = None
    correlation_id: str | None = None

    @field_validator("observed_at")
    @classmethod
    def _utc_when_naive(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _derive_change_id(self) -> Self:
        if self.change_id:
            return self
        if "observed_at" not in self.model_fields_set:
            raise ValueError("a price change without change_id needs its observation time (timestamp or observed_at)")
        at = self.observed_at.astimezone(UTC).isoformat()
        reported = f"{self.product_id}|{self.competitor}|{at}|{self.new_price:.2f}"
        self.change_id = str(uuid.uuid5(_REPORTED_NAMESPACE, reported))
        return self


class PriceDecided(BaseModel):
    """``ecommerce.price-decided.v1``, keyed by ``product_id``: what analysis decided, and why (audit)."""

    change_id: str
    product_id: str
    action: Literal["adjust", "hold"]
    price: float | None
    reason: str
    decided_by: str
    competitor_price: float
    available: int


class PriceUpdate(BaseModel):
    """Input of the skill ``update-price``."""

    change_id: str
    product_id: str
    price: float
    reason: str = ""
    competitor_price: float | None = None


class PriceUpdated(BaseModel):
    """Output of the skill ``update-price``. ``applied`` is False when the change had been applied before."""

    change_id: str
    product_id: str
    price: float
    previous_price: float
    applied: bool


class OrderUpdated(BaseModel):
    """``ecommerce.order-updated.v1``, keyed by ``product_id``: our price for a product changed."""

    change_id: str
    product_id: str
    previous_price: float
    price: float
    applied: bool
    updated_at: datetime = Field(default_factory=utcnow)


class PriceAdjustment(BaseModel):
    """``action.price-adjustment.v1``, keyed by ``product_id``: the action taken, for audit and dashboards."""

    change_id: str
    product_id: str
    previous_price: float
    price: float
    competitor_price: float | None
    reason: str
    applied: bool


class CustomerAlert(BaseModel):
    """``notification.customer-alert.v1``, keyed by ``customer_id``: a watcher was told about a price drop."""

    notification_id: str
    customer_id: str
    product_id: str
    change_id: str
    previous_price: float
    price: float
    message: str
    duplicate: bool = False
