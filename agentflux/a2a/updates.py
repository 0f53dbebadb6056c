"""The A2A task model for skill handlers: progress, artifacts, questions, refusals.

A skill handler reaches the A2A task it serves through ``a2a_task(ctx)``::

    @agent.skill("summarize", description="Summarizes a document")
    async def summarize(doc: Doc, ctx: Context) -> Summary:
        task = a2a_task(ctx)
        await task.status("reading the document")               # TASK_STATE_WORKING + message
        for i, chunk in enumerate(chunks):
            await task.artifact(chunk, artifact_id="draft", append=i > 0, last_chunk=i == last)
        if doc.language is None and task.turn == 0:
            raise InputRequired("Which language should the summary be in?")   # TASK_STATE_INPUT_REQUIRED
        return Summary(...)                                      # artifact "result" + TASK_STATE_COMPLETED

``raise Reject("reason")`` rejects the task (``TASK_STATE_REJECTED``, the reason
as its status message). A follow-up message on a task waiting for input runs
the handler again with the same input: ``task.turn`` counts the follow-ups and
``task.message`` / ``task.text`` hold the latest one. A skill whose output
model is ``Reply`` answers with a direct message instead of a task.

Every update is a record on ``agent.tasks.v1`` keyed by the skill task id,
published and acknowledged before the call returns. The worker records the
task's outcome only after the handler returned, so a requester reads the
updates and then the outcome, in that order. Calls are safe from a handler
that was not reached through A2A (``ctx.delegate``): the updates are recorded
all the same, and requesters that are not A2A gateways ignore them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from a2a.helpers import new_data_part, new_raw_part, new_text_part, new_url_part
from a2a.types import Artifact, Message, Part, Role, TaskArtifactUpdateEvent, TaskStatus, TaskStatusUpdateEvent
from a2a.types import TaskState as A2AState
from a2a.utils.proto_utils import parse_lenient

from agentflux.a2a.records import UPDATE_TYPE, A2AInfo, TaskRecord, event_json
from agentflux.a2a.translate import INPUT_REQUIRED_ERROR
from agentflux.contract.errors import ConfigError, HandlerOutcome
from agentflux.contract.tasks import TaskPhase
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.runtime.context import Context

HEADER_TASK = "a2a_taskid"
HEADER_CONTEXT = "a2a_contextid"
HEADER_MESSAGE = "a2a_message"
HEADER_TURN = "a2a_turn"
HEADER_SKILL = "a2a_skill"

PartLike = Part | str | Mapping[str, Any] | Sequence[Any]


class InputRequired(HandlerOutcome):
    """Raised by a skill handler to ask for input: the task pauses in ``TASK_STATE_INPUT_REQUIRED``.

    Never retried. Seen from ``ctx.delegate`` it is a ``TaskFailed`` whose
    ``error_type`` is ``InputRequired``.
    """

    transient = False


assert InputRequired.__name__ == INPUT_REQUIRED_ERROR


def file_bytes(data: bytes, *, name: str, media_type: str) -> Part:
    """A file part holding ``data`` (sent base64-encoded in JSON)."""
    return new_raw_part(data, media_type=media_type, filename=name)


def file_url(url: str, *, name: str | None = None, media_type: str | None = None) -> Part:
    """A file part pointing at ``url``."""
    return new_url_part(url, media_type=media_type, filename=name)


def as_part(value: PartLike) -> Part:
    """A ``Part`` as is, a ``str`` as a text part, any other JSON value as a data part."""
    if isinstance(value, Part):
        return value
    if isinstance(value, str):
        return new_text_part(value)
    return new_data_part(value)


class A2ATask:
    """The A2A side of one skill task, for the handler running it. Not shared between tasks."""

    def __init__(self, ctx: Context) -> None:
        if ctx.task_id is None:
            raise ConfigError("a2a_task(ctx) is only available in skill handlers")
        self._ctx = ctx
        extra = {name: (raw or b"").decode("utf-8", "replace") for name, raw in ctx.envelope.extra}
        self.skill_task_id = ctx.task_id
        self.task_id = extra.get(HEADER_TASK) or ctx.task_id
        self.context_id = extra.get(HEADER_CONTEXT) or ctx.correlation_id
        self.turn = int(extra.get(HEADER_TURN) or 0)
        raw = extra.get(HEADER_MESSAGE)
        self.message: Message | None = parse_lenient(raw, Message()) if raw else None
        self._skill = extra.get(HEADER_SKILL) or (ctx.topic or "").removeprefix("agent.task-requests.")

    @property
    def text(self) -> str:
        """The text parts of the latest message, joined by newlines ("" without one)."""
        if self.message is None:
            return ""
        return "\n".join(p.text for p in self.message.parts if p.HasField("text"))

    def _agent_message(self, parts: Sequence[Part]) -> Message:
        return Message(
            role=Role.ROLE_AGENT,
            message_id=str(uuid.uuid4()),
            task_id=self.task_id,
            context_id=self.context_id,
            parts=list(parts),
        )

    async def status(self, text: str | None = None, *, parts: Sequence[PartLike] = (), metadata: Any = None) -> None:
        """Report progress: a ``TASK_STATE_WORKING`` status update carrying ``text`` and ``parts``."""
        content = [new_text_part(text)] if text is not None else []
        content += [as_part(p) for p in parts]
        status = TaskStatus(state=A2AState.TASK_STATE_WORKING)
        if content:
            status.message.CopyFrom(self._agent_message(content))
        status.timestamp.GetCurrentTime()
        event = TaskStatusUpdateEvent(task_id=self.task_id, context_id=self.context_id, status=status)
        if metadata is not None:
            event.metadata.update(metadata)
        await self._publish(event_json(event))

    async def artifact(
        self,
        *parts: PartLike,
        artifact_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        append: bool = False,
        last_chunk: bool | None = None,
        metadata: Any = None,
    ) -> str:
        """Emit an artifact, or a chunk of one (``append=True`` adds parts to ``artifact_id``). Returns its id."""
        artifact = Artifact(
            artifact_id=artifact_id or str(uuid.uuid4()),
            name=name or "",
            description=description or "",
            parts=[as_part(p) for p in parts],
        )
        if metadata is not None:
            artifact.metadata.update(metadata)
        event = TaskArtifactUpdateEvent(
            task_id=self.task_id, context_id=self.context_id, artifact=artifact, append=append
        )
        if last_chunk is not None:
            event.last_chunk = last_chunk
        await self._publish(event_json(event))
        return artifact.artifact_id

    async def _publish(self, update: dict[str, Any]) -> None:
        ctx = self._ctx
        record = TaskRecord(
            task_id=self.skill_task_id,
            skill=self._skill,
            state=TaskPhase.WORKING,
            correlation_id=ctx.correlation_id,
            worker=ctx.agent,
            a2a=A2AInfo(agent=ctx.agent, update=update),
        )
        envelope = ctx.envelope.caused(source=ctx.agent, type=UPDATE_TYPE, task_id=self.skill_task_id)
        await ctx.services.publisher.publish(TASKS_TOPIC, record, envelope=envelope, key=self.skill_task_id)


def a2a_task(ctx: Context) -> A2ATask:
    """The A2A task a skill handler serves (see the module docstring)."""
    return A2ATask(ctx)
