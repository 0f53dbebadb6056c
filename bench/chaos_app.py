"""The app bench_chaos.py runs, kills and restarts: an event handler and a skill, both with idempotent effects.

Every execution is noted in ``runs`` (with the pid and when it started and
ended), and its effect goes to ``applied``, whose primary key makes it
idempotent: ``INSERT OR IGNORE`` applies each record or task once, however
often it runs.
"""

import asyncio
import os
import sqlite3
import time

from pydantic import BaseModel

from agentflux import AgentApp, Context

app = AgentApp(os.environ["B_APP"])
intake = app.agent("intake", concurrency=16)
worker = app.agent("worker", concurrency=16)
_db = sqlite3.connect(os.environ["B_DB"], isolation_level=None, timeout=60)
_db.execute("PRAGMA journal_mode=WAL")
_db.execute("PRAGMA synchronous=NORMAL")


class Job(BaseModel):
    n: int


class Done(BaseModel):
    n: int


def _run(kind: str, key: str, work: float) -> None:
    started = time.time()
    row = _db.execute(
        "INSERT INTO runs (kind, key, pid, started) VALUES (?, ?, ?, ?)", (kind, key, os.getpid(), started)
    ).lastrowid
    _db.execute("INSERT OR IGNORE INTO applied (kind, key, at) VALUES (?, ?, ?)", (kind, key, time.time()))
    _db.execute("UPDATE runs SET ended = ? WHERE rowid = ?", (time.time() + work, row))


@intake.on(os.environ["B_TOPIC"])
async def on_order(job: Job, ctx: Context) -> None:
    await asyncio.sleep(0.005)
    _run("record", ctx.message_id, 0)


@worker.skill(os.environ["B_SKILL"])
async def apply(job: Job, ctx: Context) -> Done:
    await asyncio.sleep(0.005)
    _run("task", ctx.task_id or "", 0)
    return Done(n=job.n)
