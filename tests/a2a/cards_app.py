"""A small app for the card and CLI tests."""

from pydantic import BaseModel, ConfigDict

from agentflux import AgentApp, Context
from agentflux.a2a import Reply


class Lookup(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"sku": "A-1"}]})
    sku: str


class Stock(BaseModel):
    sku: str
    count: int


class Order(BaseModel):
    sku: str
    quantity: int


app = AgentApp("shop", bootstrap_servers="broker:9092")
inventory = app.agent("inventory", description="Knows what is in stock")
app.agent("watcher", description="Handles events only")


@inventory.skill("check-stock", description="How many of a SKU are in stock", tags=["stock", "read"])
async def check_stock(task: Lookup, ctx: Context) -> Stock:
    return Stock(sku=task.sku, count=3)


@inventory.skill("reserve", name="Reserve stock")
async def reserve(task: Order, ctx: Context) -> Stock:
    return Stock(sku=task.sku, count=task.quantity)


@inventory.skill("hello")
async def hello(task: Lookup, ctx: Context) -> Reply:
    return Reply(text="hi")
