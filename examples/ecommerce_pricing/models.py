"""Payload models, one per topic (and the ``update-price`` skill's input and output).

Every event carries ``change_id``: the id the collector gave the competitor
price change that started it. It is the idempotency key of the whole flow
(``set_price`` is idempotent on it, notifications are keyed by it), and it
joins the records of one change just as the correlation id in the envelope does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class PriceChanged(BaseModel):
    """``ecommerce.price-changed.v1``, keyed by ``product_id``: a competitor page shows a new price.

    ``previous_price`` is None the first time the collector sees a page (the
    listing appeared); ``seq`` counts the observations of one page.
    """

    change_id: str
    product_id: str
    competitor: str
    url: str
    previous_price: float | None
    new_price: float
    currency: str = "EUR"
    seq: int
    observed_at: datetime = Field(default_factory=utcnow)


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
