"""Recording the outcome of A2A tasks whose gateway died: the task view recovers from ``agent.tasks.v1``.

The gateway that accepted a message follows its skill task and records each
step as an A2A snapshot. If it dies first, the worker still finishes the skill
task and writes its terminal state to ``agent.tasks.v1``, but no snapshot says
so. Every gateway replica therefore looks, every ``interval`` seconds, for A2A
tasks still submitted or working whose skill task finished more than
``grace`` seconds ago (``TaskLog.unrecorded``), and records the outcome as the
gateway would have: the ``result`` artifact and ``TASK_STATE_COMPLETED``, or the
failure, rejection, cancellation or question as the status. The write is a
compare-and-set on the task's version, so when several replicas try, one wins;
a replica never takes over a task it follows itself.

Limit: only a task's first turn is recovered (a follow-up turn after
``TASK_STATE_INPUT_REQUIRED`` runs under another skill task id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from a2a.types import Task, TaskStatusUpdateEvent

from agentflux.a2a.messages import result_artifact
from agentflux.a2a.task_log import TaskLog
from agentflux.a2a.task_store import KafkaTaskStore
from agentflux.a2a.translate import status_of
from agentflux.contract.tasks import TaskPhase, TaskReport
from agentflux.transport.base import Transport

log = logging.getLogger("agentflux.a2a")


class TaskRecovery:
    def __init__(
        self,
        task_log: TaskLog,
        transport: Transport,
        *,
        following: Callable[[str], bool],
        source: str = "a2a-gateway",
        grace: float = 10.0,
        interval: float = 2.0,
    ) -> None:
        self._log = task_log
        self._transport = transport
        self._following = following
        self._source = source
        self.grace = grace
        self.interval = interval

    async def run(self) -> None:
        """Recover until cancelled; a failed round is logged and the next one tries again."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.recover_once()
            except Exception as exc:
                log.warning("recovering unrecorded task outcomes failed: %s: %s", type(exc).__name__, exc)

    async def recover_once(self) -> int:
        """Record every outcome that is overdue now; how many were written."""
        written = 0
        for snapshot, outcome in self._log.unrecorded(self.grace):
            task = snapshot.task
            if self._following(task.id):
                continue
            finished = recovered_task(task, outcome)
            event = TaskStatusUpdateEvent(task_id=task.id, context_id=task.context_id, status=finished.status)
            store = KafkaTaskStore(self._log, self._transport, agent=snapshot.agent, source=self._source)
            await store.write(finished, event, owner=snapshot.owner, base=snapshot.version)
            log.info("task %s: recorded its %s outcome, which its gateway did not", task.id, outcome.state)
            written += 1
        return written


def recovered_task(task: Task, outcome: TaskReport) -> Task:
    """``task`` with its skill task's outcome applied, as the executor applies it."""
    finished = Task()
    finished.CopyFrom(task)
    if outcome.state is TaskPhase.COMPLETED:
        finished.artifacts.append(result_artifact(outcome.result))
    finished.status.CopyFrom(status_of(outcome, task_id=task.id, context_id=task.context_id))
    return finished
