"""Payload models in two versions, as two commits of one code base would have them.

``PriceChangedV2`` is titled ``PriceChanged``: the record name on the wire is
the same, as it is when a model is edited in place.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PriceChanged(BaseModel):
    """The seed's ``price-changed`` record."""

    product_id: str
    old_price: float
    new_price: float
    source_agent: str
    correlation_id: str


class PriceChangedV2(BaseModel):
    """v2 adds a field with a default: BACKWARD compatible."""

    model_config = ConfigDict(title="PriceChanged")
    product_id: str
    old_price: float
    new_price: float
    source_agent: str
    correlation_id: str
    currency: str = "EUR"


class PriceChangedBroken(BaseModel):
    """Adds a field without a default and changes a type: not BACKWARD compatible."""

    model_config = ConfigDict(title="PriceChanged")
    product_id: str
    old_price: float
    new_price: str
    source_agent: str
    correlation_id: str
    currency: str


class StockChanged(BaseModel):
    product_id: str
    units: int


class Unrelated(BaseModel):
    """A third type on a topic, which the test's agent has no handler for."""

    note: str


def seed_price(n: int = 1, **extra: object) -> PriceChanged:
    return PriceChanged(
        product_id=f"p{n}", old_price=10.0, new_price=9.5, source_agent="collector", correlation_id=f"c{n}", **extra
    )
