"""The worker's side of cancel requests: which tasks run here, and which were asked to stop.

A cancel request (``contract.tasks``) is read on the skill's request topic and
handled at once (``KeyOrderedConsumer``'s ``urgent`` records). If the task runs
here, the asyncio task running its handler is cancelled; the handler sees
``CancelledError`` where it awaits and ``ctx.cancelled`` is true. If its
request has not started yet (it waits for a free slot), it will end
``canceled`` without running. A cancel for a task that finished changes
nothing. Used from the event loop only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic_core import from_json

from agentflux.contract.tasks import CANCEL_TYPE
from agentflux.runtime.context import Cancellation
from agentflux.transport.base import Record

log = logging.getLogger("agentflux.runtime")
_CANCEL_TYPE = CANCEL_TYPE.encode()
_KEPT = 10_000  # cancel requests remembered for tasks that have not finished here


def is_cancel(record: Record) -> bool:
    """True for a cancel request on a skill's request topic."""
    return ("ce_type", _CANCEL_TYPE) in record.headers  # a C-level scan: this runs for every request


class TaskCancels:
    def __init__(self) -> None:
        self._running: dict[str, tuple[asyncio.Task[object], Cancellation]] = {}
        self._requested: OrderedDict[str, str] = OrderedDict()

    def request(self, record: Record) -> None:
        """Handle a cancel request record: stop the task if it runs here, else remember the request."""
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers}
        task_id = headers.get("ce_taskid") or (record.key or b"").decode("utf-8", "replace")
        reason = _reason(record.value) or f"cancelled by {headers.get('ce_source', 'a requester')}"
        self._requested[task_id] = reason
        self._requested.move_to_end(task_id)
        while len(self._requested) > _KEPT:
            self._requested.popitem(last=False)
        running = self._running.get(task_id)
        if running is not None:
            task, cancellation = running
            cancellation.requested, cancellation.reason = True, reason
            task.cancel()
            log.info("cancelling task %s: %s", task_id, reason)

    def requested(self, task_id: str) -> str | None:
        """The reason a cancel gave for ``task_id``, if one came."""
        return self._requested.get(task_id)

    @contextmanager
    def running(self, task_id: str) -> Iterator[Cancellation]:
        """Mark ``task_id`` as running in the current asyncio task while the block runs."""
        task = asyncio.current_task()
        assert task is not None
        cancellation = Cancellation()
        self._running[task_id] = (task, cancellation)
        try:
            yield cancellation
        finally:
            self._running.pop(task_id, None)

    def stopped(self, task_id: str) -> bool:
        """After ``CancelledError``: True when a cancel request caused it (and nothing else), which is then undone."""
        task = asyncio.current_task()
        return task_id in self._requested and task is not None and task.uncancel() == 0

    def done(self, task_id: str) -> None:
        self._requested.pop(task_id, None)


def _reason(value: bytes | None) -> str:
    try:
        data = from_json(value or b"{}")
    except ValueError:
        return ""
    reason = data.get("reason") if isinstance(data, dict) else None
    return reason if isinstance(reason, str) else ""
