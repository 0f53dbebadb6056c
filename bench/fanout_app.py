"""The subscribers of bench_delegate.py's fan-out: B_SUBSCRIBERS agents on one topic.

Each agent is its own consumer group, so each gets every event. A handler
writes ``n agent monotonic-time`` to B_LOG (CLOCK_MONOTONIC is shared by all
processes on a host, so the bench can compute publish -> handled latency).
"""

import os
import time

from pydantic import BaseModel

from agentflux import AgentApp, Context


class Tick(BaseModel):
    n: int


app = AgentApp(os.environ["B_APP"])
app.topic(os.environ["B_TOPIC"], partitions=6)
_log = os.open(os.environ["B_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _subscriber(index: int) -> None:
    async def handle(event: Tick, ctx: Context) -> None:
        os.write(_log, f"{event.n} {index} {time.monotonic():.6f}\n".encode())

    app.agent(f"sub-{index}", concurrency=64).on(os.environ["B_TOPIC"])(handle)


for _index in range(int(os.environ["B_SUBSCRIBERS"])):
    _subscriber(_index)
