"""An app for the metrics test: a retry, a dead letter and a delegated task, named by T_* variables."""

import asyncio
import os

from pydantic import BaseModel

from agentflux import AgentApp, Context, RetryPolicy

app = AgentApp(os.environ["T_APP"])
quick = RetryPolicy(max_attempts=2, initial_backoff=0.05, max_backoff=0.05)


class Order(BaseModel):
    n: int


@app.agent("front").on(os.environ["T_TOPIC"], retry=quick)
async def take(order: Order, ctx: Context) -> None:
    if order.n == 2 and ctx.attempt == 1:
        raise RuntimeError("the first look at order 2 fails")
    if order.n == 3:
        raise RuntimeError("order 3 always fails")
    await ctx.delegate(os.environ["T_SKILL"], order)


@app.agent("worker").skill(os.environ["T_SKILL"])
async def double(order: Order, ctx: Context) -> Order:
    return Order(n=order.n * 2)


@app.agent("slow", concurrency=1).on(os.environ["T_SLOW_TOPIC"])
async def crawl(order: Order, ctx: Context) -> None:
    await asyncio.sleep(0.4)  # a backlog that takes seconds: lag to see
