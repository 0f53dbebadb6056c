"""Skill-task records into A2A values: worker states into tasks and status updates."""

from __future__ import annotations

import uuid
from datetime import datetime

from a2a.types import Task, TaskStatus
from a2a.types import TaskState as A2AState

from agentflux.a2a.messages import agent_text, result_artifact
from agentflux.a2a.records import a2a_state
from agentflux.contract.tasks import TaskPhase, TaskReport

INPUT_REQUIRED_ERROR = "InputRequired"


def timestamp(status: TaskStatus, when: str | None) -> None:
    """Stamp ``status`` with the RFC 3339 time ``when`` (now when it is missing or unreadable)."""
    try:
        status.timestamp.FromDatetime(datetime.fromisoformat((when or "").replace("Z", "+00:00")))
    except ValueError:
        status.timestamp.GetCurrentTime()


def status_of(state: TaskReport, *, task_id: str, context_id: str) -> TaskStatus:
    """The A2A status a worker state means; an ``InputRequired`` failure is ``TASK_STATE_INPUT_REQUIRED``."""
    error = state.error
    if state.state is TaskPhase.FAILED and error is not None and error.type == INPUT_REQUIRED_ERROR:
        code: A2AState = A2AState.TASK_STATE_INPUT_REQUIRED
    else:
        code = a2a_state(state.state)
    status = TaskStatus(state=code)
    if error is not None and state.state.terminal:
        plain = code in (A2AState.TASK_STATE_INPUT_REQUIRED, A2AState.TASK_STATE_REJECTED)
        text = error.message if plain else f"{error.type}: {error.message}"
        status.message.CopyFrom(agent_text(text, task_id=task_id, context_id=context_id, message_id=_message_id(state)))
    timestamp(status, state.updated_at)
    return status


def worker_task(state: TaskReport) -> Task:
    """A read-only A2A view of a task known only from its worker states (delegated inside the mesh)."""
    task = Task(id=state.task_id, context_id=state.correlation_id)
    task.status.CopyFrom(status_of(state, task_id=state.task_id, context_id=state.correlation_id))
    if state.state is TaskPhase.COMPLETED and state.result is not None:
        task.artifacts.append(result_artifact(state.result))
    return task


def _message_id(state: TaskReport) -> str:
    """Stable per task and state, so every replica derives the same message."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"agentflux:{state.task_id}:{state.state}:{state.updated_at}"))
