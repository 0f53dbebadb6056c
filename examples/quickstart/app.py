"""Two agents that know topics, not each other.

``intake`` checks placed orders and accepts or rejects them; ``shipping`` ships
accepted orders. Run them with ``agentflux run examples.quickstart:app`` (or one
with ``--agent shipping``; start it N times to scale it N ways).

The topics are the quickstart's own (``quickstart.*``), so running the demo on
the broker of the README's tour (``shop.*``) or of your own agents mixes no
records; only its dead letters share ``agent.dead-letter.v1`` with everyone's.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from agentflux import AgentApp, Context, Reject

ORDER_PLACED = "quickstart.order-placed.v1"
ORDER_ACCEPTED = "quickstart.order-accepted.v1"
ORDER_SHIPPED = "quickstart.order-shipped.v1"


class OrderPlaced(BaseModel):
    order_id: str
    customer_id: str
    amount: float
    items: list[str] = Field(default_factory=list)


class OrderAccepted(BaseModel):
    order_id: str
    customer_id: str
    amount: float


class OrderShipped(BaseModel):
    order_id: str
    customer_id: str
    carrier: str
    shipped_at: datetime


app = AgentApp("quickstart")
app.topic(ORDER_PLACED, partitions=3)
app.topic(ORDER_ACCEPTED, partitions=3)
app.topic(ORDER_SHIPPED, partitions=3)

intake = app.agent("intake", description="Accepts well-formed orders", publishes=[ORDER_ACCEPTED])
shipping = app.agent("shipping", description="Ships accepted orders", publishes=[ORDER_SHIPPED])


@intake.on(ORDER_PLACED)
async def accept_order(order: OrderPlaced, ctx: Context) -> None:
    if order.amount <= 0 or not order.items:
        raise Reject(f"order {order.order_id} has amount {order.amount} and {len(order.items)} items")
    accepted = OrderAccepted(order_id=order.order_id, customer_id=order.customer_id, amount=order.amount)
    await ctx.publish(ORDER_ACCEPTED, accepted, key=order.customer_id)
    ctx.log.info("accepted %s (correlation %s)", order.order_id, ctx.correlation_id)


@shipping.on(ORDER_ACCEPTED)
async def ship_order(order: OrderAccepted, ctx: Context) -> None:
    await asyncio.sleep(0.02)  # a stand-in for a carrier API call
    carrier = "express" if order.amount >= 100 else "standard"
    shipped = OrderShipped(
        order_id=order.order_id, customer_id=order.customer_id, carrier=carrier, shipped_at=datetime.now(UTC)
    )
    await ctx.publish(ORDER_SHIPPED, shipped, key=order.customer_id)
