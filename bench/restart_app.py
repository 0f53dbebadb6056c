"""The worker bench_restart.py kills and restarts: it notes each record it handles."""

import asyncio
import os
import time

from agentflux import AgentApp, Context

app = AgentApp(os.environ["B_APP"])
worker = app.agent("worker", concurrency=8)
_log = os.open(os.environ["B_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


@worker.on(os.environ["B_TOPIC"])
async def handle(event: dict, ctx: Context) -> None:
    await asyncio.sleep(0.01)
    os.write(_log, f"{os.getpid()} {time.time():.6f}\n".encode())
