"""Several record types on one JSON topic: each record reaches the handler of its type, read from ``ce_type``.

An agent that publishes a model on a topic declared with several types gets
``ce_type`` ``{domain}.{event}.{RecordName}``; an agent with a union handler
is given each record as its own model, and a type it does not take is
skipped (committed, counted), not dead-lettered.
"""

from __future__ import annotations

import pytest
from behaviour.helpers import Backend
from pydantic import BaseModel

from agentflux import Context

pytestmark = pytest.mark.asyncio


class PriceChanged(BaseModel):
    product_id: str
    new_price: float


class StockChanged(BaseModel):
    product_id: str
    units: int


class ShelfMoved(BaseModel):
    product_id: str
    shelf: str


async def test_a_union_handler_gets_each_record_as_its_own_type(backend: Backend) -> None:
    source, topic = backend.topic("changes-seen"), backend.topic("inventory")
    await backend.create_topic(source)
    app = backend.app()
    app.topic(topic, partitions=1, types=[PriceChanged, StockChanged, ShelfMoved])
    got: list[BaseModel] = []

    @app.agent("splitter", publishes=[topic]).on(source)
    async def split(change: dict, ctx: Context) -> None:  # type: ignore[type-arg]
        kinds = {"price": PriceChanged, "stock": StockChanged, "shelf": ShelfMoved}
        await ctx.publish(topic, kinds[change.pop("kind")](**change), key=change["product_id"])

    @app.agent("watcher").on(topic)
    async def watch(event: PriceChanged | StockChanged, ctx: Context) -> None:
        got.append(event)

    stock_only: list[StockChanged] = []

    @app.agent("stock-keeper").on(topic)  # one handler of one type, on a topic declared with three
    async def keep(event: StockChanged, ctx: Context) -> None:
        stock_only.append(event)

    async with backend.run(app) as runner:
        await backend.publish(source, {"kind": "price", "product_id": "p1", "new_price": 2.5}, key="p1")
        await backend.publish(source, {"kind": "shelf", "product_id": "p1", "shelf": "B4"}, key="p1")
        await backend.publish(source, {"kind": "stock", "product_id": "p1", "units": 7}, key="p1")
        await backend.eventually(lambda: len(got) == 2 and len(stock_only) == 1, what="the price and stock records")
        await backend.drain(runner)
        assert dict(runner.processors["watcher"].skipped) == {(topic, "ShelfMoved"): 1}
        assert dict(runner.processors["stock-keeper"].skipped) == {(topic, "PriceChanged"): 1, (topic, "ShelfMoved"): 1}
    assert stock_only == [StockChanged(product_id="p1", units=7)]
    assert got == [PriceChanged(product_id="p1", new_price=2.5), StockChanged(product_id="p1", units=7)]
    records = await backend.transport.read_all(topic)
    types = [dict(r.headers)["ce_type"] for r in records]
    event = topic.rsplit(".", 1)[0]
    assert types == [f"{event}.PriceChanged".encode(), f"{event}.ShelfMoved".encode(), f"{event}.StockChanged".encode()]
    assert await backend.dead_letters(topic) == []
