"""The worker processes of bench_delegate.py: one skill that answers at once."""

import os

from pydantic import BaseModel

from agentflux import AgentApp, Context


class Ask(BaseModel):
    n: int
    body: str = ""


class Answer(BaseModel):
    n: int


app = AgentApp(os.environ["B_APP"])
worker = app.agent("worker", concurrency=int(os.environ.get("B_CONCURRENCY", "256")))


@worker.skill(os.environ["B_SKILL"], description="Answers at once (the handler costs nothing)")
async def answer(task: Ask, ctx: Context) -> Answer:
    return Answer(n=task.n)
