"""A skill worker for subprocess tests, configured by environment variables.

Each run of the handler inserts one row into ``attempts`` (every execution,
with the pid) and applies the task's side effect to ``ledger``, whose UNIQUE
task id makes the effect idempotent on ``ctx.task_id``; ``attempts.applied``
says whether that execution's insert was the one that applied it (NULL: the
process died before it got that far).
"""

import asyncio
import os
import sqlite3
import time

from pydantic import BaseModel

from agentflux import AgentApp, Context


class Job(BaseModel):
    n: int
    hold: bool = False  # wait until the file T_RELEASE exists (at most 30 s): keeps a task in flight


class Applied(BaseModel):
    n: int
    pid: int


app = AgentApp(os.environ["T_APP"])
worker = app.agent("worker", concurrency=int(os.environ.get("T_CONCURRENCY", "8")))
_sleep = float(os.environ.get("T_SLEEP", "0.01"))
_db = sqlite3.connect(os.environ["T_LEDGER"], isolation_level=None, timeout=30)
_db.execute("PRAGMA journal_mode=WAL")
_db.execute("PRAGMA synchronous=NORMAL")


@worker.skill(os.environ["T_SKILL"], description="Applies a job exactly once per task id")
async def apply_job(task: Job, ctx: Context) -> Applied:
    pid = os.getpid()
    started = _db.execute("INSERT INTO attempts (task_id, pid, at) VALUES (?, ?, ?)", (ctx.task_id, pid, time.time()))
    await asyncio.sleep(_sleep)
    deadline = time.monotonic() + 30
    while task.hold and not _released() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    applied = _db.execute("INSERT OR IGNORE INTO ledger (task_id, n, pid) VALUES (?, ?, ?)", (ctx.task_id, task.n, pid))
    _db.execute("UPDATE attempts SET applied = ? WHERE rowid = ?", (applied.rowcount, started.lastrowid))
    return Applied(n=task.n, pid=pid)


def _released() -> bool:
    return os.path.exists(os.environ["T_RELEASE"])
