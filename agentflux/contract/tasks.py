"""Task state records and reply addresses: the wire contract of delegation.

Every state change of a task is one ``TaskReport`` record on ``agent.tasks.v1``
(compacted, keyed by task id). Each record is complete, not a delta: after
compaction the latest record alone tells the whole story, including when the
task entered every earlier state (``timestamps``). State names are A2A's
(``submitted``, ``working``, ``completed``, ``failed``, ``canceled``,
``rejected``); the A2A layer maps them to ``TASK_STATE_*``.

The same model, without ``input``, is the value of a result record on
``agent.task-results.{skill}``.

A reply address (header ``ce_replyto``) is ``{results topic}/{partition}``,
for example ``agent.task-results.update-price/3``: the worker publishes the
result to exactly that partition, which the requester assigned (at its end
offset) before it sent the request. An address without ``/{partition}`` is
accepted too; the result is then keyed by task id like any other record.
Only ``agent.task-results.*`` topics are valid addresses, so a request can
never make a worker write anywhere its ACLs were not planned for.

A **cancel request** is a record on the skill's request topic, keyed by the
task id like the request itself (so it reaches the worker that owns the task),
with ``ce_type`` ``CANCEL_TYPE``, ``ce_taskid`` the task to cancel and a JSON
value ``{"reason": ...}``. The worker cancels the running handler at once (a
cancel request never waits behind other records), and the task ends
``canceled``; a cancel for a task that already finished changes nothing.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, create_model

from agentflux.contract.envelope import now_rfc3339
from agentflux.contract.errors import EnvelopeError
from agentflux.contract.schemas import record_name
from agentflux.contract.topics import TASK_RESULTS_PREFIX, TASKS_TOPIC, is_reserved

__all__ = [
    "CANCEL_TYPE",
    "TASKS_TOPIC",
    "TaskErrorInfo",
    "TaskPhase",
    "TaskReport",
    "format_reply_to",
    "parse_reply_to",
]

CANCEL_TYPE = "agentflux.task.cancel"


class TaskPhase(StrEnum):
    SUBMITTED = "submitted"
    WORKING = "working"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = {TaskPhase.COMPLETED, TaskPhase.FAILED, TaskPhase.CANCELED, TaskPhase.REJECTED}


class TaskErrorInfo(BaseModel):
    """Why a task failed or was rejected: the worker's exception type and message."""

    type: str
    message: str


class TaskReport(BaseModel):
    """One task's state at one moment. ``input`` and ``result`` are JSON values."""

    task_id: str
    skill: str
    state: TaskPhase
    correlation_id: str
    input: Any = None
    result: Any = None
    error: TaskErrorInfo | None = None
    requester: str | None = None
    worker: str | None = None
    attempts: int = 0
    timestamps: dict[TaskPhase, str] = Field(default_factory=dict)
    updated_at: str = Field(default_factory=now_rfc3339)

    def advance(self, state: TaskPhase, **changes: Any) -> TaskReport:
        """A copy in ``state`` now, with ``changes`` applied and the transition time recorded."""
        now = now_rfc3339()
        return self.model_copy(
            update={
                **changes,
                "state": state,
                "updated_at": now,
                "timestamps": {
                    **self.timestamps,
                    state: now,
                },
            }
        )

    def as_result(self) -> TaskReport:
        """The record sent to the requester: the state without the (possibly large) input."""
        return self.model_copy(update={"input": None})


@functools.cache
def result_model(output: type[BaseModel]) -> type[BaseModel]:
    """The record a skill's results topic carries in a registry format: a ``TaskReport`` whose ``result`` is ``output``.

    Named ``{Output}TaskResult``; ``state`` and the ``timestamps`` keys are the
    phase names as strings. A JSON results topic carries ``TaskReport`` itself.
    """
    fields: dict[str, Any] = {
        "task_id": (str, ...),
        "skill": (str, ...),
        "state": (str, ...),
        "correlation_id": (str, ...),
        "result": (output | None, None),
        "error": (TaskErrorInfo | None, None),
        "requester": (str | None, None),
        "worker": (str | None, None),
        "attempts": (int, 0),
        "timestamps": (dict[str, str], {}),
        "updated_at": (str, ""),
    }
    model: type[BaseModel] = create_model(f"{record_name(output)}TaskResult", **fields)
    return model


def format_reply_to(topic: str, partition: int | None = None) -> str:
    return topic if partition is None else f"{topic}/{partition}"


def parse_reply_to(value: str) -> tuple[str, int | None]:
    """``(topic, partition)`` from a ``ce_replyto`` value; EnvelopeError if it is not a results address."""
    topic, sep, part = value.partition("/")
    if not (topic.startswith(TASK_RESULTS_PREFIX) and is_reserved(topic)):
        raise EnvelopeError(f"ce_replyto {value!r} is not an agent.task-results.{{skill}} address")
    if not sep:
        return topic, None
    if not part.isdigit():
        raise EnvelopeError(f"ce_replyto {value!r}: the partition after '/' must be a number")
    return topic, int(part)
