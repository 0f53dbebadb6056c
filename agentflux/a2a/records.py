"""The A2A records on ``agent.tasks.v1``: task snapshots and handler updates.

Three kinds of record share the topic, all keyed by a task id, and all of them
are valid ``TaskReport`` records, so every reader of the topic keeps working
(pydantic ignores the extra ``a2a`` field):

* **worker states** (``ce_type`` ``agent.tasks.v1``): a skill task's
  ``submitted``/``working``/terminal states, written by the runtime's worker;
* **handler updates** (``ce_type`` ``agentflux.a2a.task-update``): a status or
  artifact update a skill handler emitted while working. Keyed by the skill
  task id, so they sit between its ``working`` and terminal states, in order.
  ``a2a.update`` holds the event as a ``StreamResponse`` in its JSON form;
* **A2A snapshots** (``ce_type`` ``agentflux.a2a.task``): the whole A2A ``Task``
  after one event, written by the gateway (``a2a.task``, plus ``a2a.event``,
  the ``StreamResponse`` that produced it). Keyed by the A2A task id; the latest
  one is what ``GetTask`` answers, on any gateway replica.

The ``TaskReport`` fields of an A2A record describe the skill task behind it
(state mapped from the A2A state, as ``TASK_STATE_INPUT_REQUIRED`` maps to
``working``), so the worker's restore of finished tasks reads them correctly.
Protobuf values use the ProtoJSON mapping the A2A spec fixes: camelCase
names, enum names, base64 bytes, RFC 3339 UTC timestamps.
"""

from __future__ import annotations

from typing import Any, cast

from a2a.types import Message, StreamResponse, Task, TaskArtifactUpdateEvent, TaskStatusUpdateEvent
from a2a.types import TaskState as A2AState
from a2a.utils.proto_utils import parse_lenient, to_stream_response
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, ValidationError

from agentflux.contract.tasks import TaskPhase, TaskReport
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.transport.base import Record

UPDATE_TYPE = "agentflux.a2a.task-update"
SNAPSHOT_TYPE = "agentflux.a2a.task"
WORKER_TYPE = TASKS_TOPIC

Event = Message | Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent

_TO_WORKER = {
    A2AState.TASK_STATE_SUBMITTED: TaskPhase.SUBMITTED,
    A2AState.TASK_STATE_WORKING: TaskPhase.WORKING,
    A2AState.TASK_STATE_INPUT_REQUIRED: TaskPhase.WORKING,
    A2AState.TASK_STATE_AUTH_REQUIRED: TaskPhase.WORKING,
    A2AState.TASK_STATE_COMPLETED: TaskPhase.COMPLETED,
    A2AState.TASK_STATE_FAILED: TaskPhase.FAILED,
    A2AState.TASK_STATE_CANCELED: TaskPhase.CANCELED,
    A2AState.TASK_STATE_REJECTED: TaskPhase.REJECTED,
}
_FROM_WORKER = {
    TaskPhase.SUBMITTED: A2AState.TASK_STATE_SUBMITTED,
    TaskPhase.WORKING: A2AState.TASK_STATE_WORKING,
    TaskPhase.COMPLETED: A2AState.TASK_STATE_COMPLETED,
    TaskPhase.FAILED: A2AState.TASK_STATE_FAILED,
    TaskPhase.CANCELED: A2AState.TASK_STATE_CANCELED,
    TaskPhase.REJECTED: A2AState.TASK_STATE_REJECTED,
}
TERMINAL = frozenset(
    {
        A2AState.TASK_STATE_COMPLETED,
        A2AState.TASK_STATE_FAILED,
        A2AState.TASK_STATE_CANCELED,
        A2AState.TASK_STATE_REJECTED,
    }
)
INTERRUPTED = frozenset({A2AState.TASK_STATE_INPUT_REQUIRED, A2AState.TASK_STATE_AUTH_REQUIRED})


class A2AInfo(BaseModel):
    """The A2A part of a record: which agent, whose task, and the protobuf values as JSON."""

    agent: str = ""
    owner: str = ""
    task: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    prev_version: int = 0


class TaskRecord(TaskReport):
    """A ``TaskReport`` that may carry an A2A snapshot or a handler update."""

    a2a: A2AInfo | None = None


def worker_status(state: int) -> TaskPhase:
    return _TO_WORKER.get(cast("A2AState", state), TaskPhase.WORKING)


def a2a_state(status: TaskPhase) -> A2AState:
    return _FROM_WORKER[status]


def to_json(value: Any) -> dict[str, Any]:
    """A protobuf value in the ProtoJSON form (camelCase)."""
    out: dict[str, Any] = MessageToDict(value)
    return out


def event_json(event: Event) -> dict[str, Any]:
    return to_json(to_stream_response(event))


def event_from_json(data: dict[str, Any]) -> Event | None:
    """The event inside a ``StreamResponse`` JSON object, or None when it holds none."""
    response = parse_lenient(data, StreamResponse())
    kind = response.WhichOneof("payload")
    event: Event | None = None if kind is None else getattr(response, kind)
    return event


def task_from_json(data: dict[str, Any]) -> Task:
    return parse_lenient(data, Task())


def read(record: Record) -> TaskRecord | None:
    """The record's ``TaskRecord``, or None when it is not a task state at all."""
    if not record.value:
        return None
    try:
        return TaskRecord.model_validate_json(record.value)
    except ValidationError:
        return None


def record_type(record: Record) -> str:
    for name, value in record.headers:
        if name == "ce_type":
            return (value or b"").decode("utf-8", "replace")
    return ""


def causation(record: Record) -> str | None:
    for name, value in record.headers:
        if name == "ce_causationid" and value:
            return value.decode("utf-8", "replace")
    return None
