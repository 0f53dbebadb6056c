"""An app for the SIGKILL-while-working test: one skill whose handler is held until a file exists.

Configured by environment variables: ``T_APP`` (app name), ``T_SKILL`` (skill
id), ``T_RELEASE`` (the file that releases the handler) and ``T_LOG``, to
which each run of the handler appends one JSON line when it starts
(``O_APPEND`` writes of one line are atomic). Once released, the handler still
runs 0.3 s, longer than ``WORKING_AFTER``, so every run writes ``working``.
"""

import asyncio
import json
import os
from pathlib import Path

from pydantic import BaseModel

from agentflux import AgentApp, Context


class Job(BaseModel):
    n: int


class Done(BaseModel):
    n: int
    pid: int


app = AgentApp(os.environ["T_APP"])
holder = app.agent("holder")
_release = Path(os.environ["T_RELEASE"])
_log = os.open(os.environ["T_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


@holder.skill(os.environ["T_SKILL"])
async def hold(job: Job, ctx: Context) -> Done:
    os.write(_log, (json.dumps({"event": "started", "pid": os.getpid(), "task": ctx.task_id}) + "\n").encode())
    while not await asyncio.to_thread(_release.exists):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    return Done(n=job.n, pid=os.getpid())
