"""An app for the hostile-input test: handlers for a model, for any JSON and for a skill's tasks.

Configured by environment variables; every handled record appends one JSON line to ``T_LOG``.
"""

import json
import os

from pydantic import BaseModel

from agentflux import AgentApp, Context


class Order(BaseModel):
    order_id: str
    amount: float


app = AgentApp(os.environ["T_APP"])
reader = app.agent("reader")
worker = app.agent("worker")
_log = os.open(os.environ["T_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _write(what: str, ctx: Context) -> None:
    os.write(_log, (json.dumps({"what": what, "ref": ctx.record.ref if ctx.record else None}) + "\n").encode())


@reader.on(os.environ["T_MODEL_TOPIC"])
async def on_order(order: Order, ctx: Context) -> None:
    _write("order", ctx)


@reader.on(os.environ["T_JSON_TOPIC"])
async def on_anything(payload: dict, ctx: Context) -> None:
    _write("json", ctx)


@worker.skill(os.environ["T_SKILL"])
async def price(order: Order, ctx: Context) -> Order:
    _write("task", ctx)
    return order
