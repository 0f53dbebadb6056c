"""An app for the broker-outage test: an event handler that delegates, and the skill it delegates to.

Configured by environment variables; every handled record and every skill run
appends one JSON line to ``T_LOG`` (``O_APPEND`` writes of one line are atomic).
"""

import asyncio
import json
import os
import time

from pydantic import BaseModel

from agentflux import AgentApp, Context


class Order(BaseModel):
    n: int


class Fulfilled(BaseModel):
    n: int


app = AgentApp(os.environ["T_APP"])
intake = app.agent("intake", description="Accepts orders and has them fulfilled")
fulfil = app.agent("fulfil", description="Fulfils orders")
_log = os.open(os.environ["T_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _write(line: dict[str, object]) -> None:
    os.write(_log, (json.dumps({**line, "pid": os.getpid(), "at": time.time()}) + "\n").encode())


@fulfil.skill(os.environ["T_SKILL"], description="Fulfils one order")
async def fulfil_order(order: Order, ctx: Context) -> Fulfilled:
    await asyncio.sleep(float(os.environ.get("T_SLEEP", "0")))
    _write({"event": "fulfilled", "n": order.n, "task": ctx.task_id})
    return Fulfilled(n=order.n)


@intake.on(os.environ["T_TOPIC"])
async def on_order(order: Order, ctx: Context) -> None:
    await ctx.delegate(os.environ["T_SKILL"], order, timeout=90)
    _write({"event": "handled", "n": order.n})
