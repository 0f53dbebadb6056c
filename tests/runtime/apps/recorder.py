"""A worker app for subprocess tests, configured by environment variables.

It appends one JSON line per handled record to ``T_LOG`` (``O_APPEND`` writes
of one line are atomic), with the pid, so a test can tell runs apart. A record
whose payload has ``"hold": true`` first writes a ``started`` line and then
sleeps ``T_HOLD`` seconds, so a test can kill the worker while it is running.
"""

import asyncio
import json
import os

from agentflux import AgentApp, Context

app = AgentApp(os.environ["T_APP"])
recorder = app.agent("recorder", concurrency=int(os.environ.get("T_CONCURRENCY", "16")))
_log = os.open(os.environ["T_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
_sleep = float(os.environ.get("T_SLEEP", "0"))


def _write(line: dict[str, object]) -> None:
    os.write(_log, (json.dumps(line) + "\n").encode())


@recorder.on(os.environ["T_TOPIC"])
async def record(event: dict, ctx: Context) -> None:
    base = {"pid": os.getpid(), "id": ctx.message_id, "key": ctx.key, "seq": event.get("seq")}
    if event.get("hold"):
        _write({**base, "event": "started"})
        await asyncio.sleep(float(os.environ.get("T_HOLD", "30")))
    elif _sleep:
        await asyncio.sleep(_sleep)
    _write({**base, "event": "handled"})
