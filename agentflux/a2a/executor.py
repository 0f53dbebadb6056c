"""``SkillExecutor``: the SDK's ``AgentExecutor`` that runs A2A messages as skill tasks on Kafka.

For each message: pick the skill (the message's ``skill`` metadata, else the
request's, else the agent's only skill), turn the message into the skill's
input (see ``agentflux.a2a.messages``), enqueue the A2A ``Task`` (submitted,
the message in its history), publish a skill task request to
``agent.task-requests.{skill}`` and follow the skill task's records on
``agent.tasks.v1``, in log order, turning them into SDK events:

==========================================  =========================================
record                                      event
==========================================  =========================================
worker ``working`` / first handler update   status ``TASK_STATE_WORKING``
handler update (status or artifact)         that event, with the A2A task's ids
worker ``completed``                        artifact ``result`` (data part) + ``TASK_STATE_COMPLETED``
worker ``failed`` with ``InputRequired``    ``TASK_STATE_INPUT_REQUIRED``, the question as message
worker ``rejected`` / ``failed``            ``TASK_STATE_REJECTED`` / ``TASK_STATE_FAILED``, reason as message
==========================================  =========================================

A skill whose schema says ``"reply": "message"`` answers with a direct
``Message`` (no task) when it completes. A follow-up message on a task in
``TASK_STATE_INPUT_REQUIRED`` runs the same skill again as a new skill task
(id derived from the A2A task id and the turn) with the original input; the
handler reads the follow-up through ``a2a_task(ctx)``. Skill task ids of the
first turn equal the A2A task id, so ``ctx.task_id`` is the A2A task id.

Contract: ``execute`` may run concurrently for different tasks; the SDK runs
one at a time per task. Cancellation (``CancelTask``) sends a cancel request for
the task's skill tasks to the worker (``agentflux.runtime.tasks.requester.send_cancel``):
the handler is cancelled where it awaits, the tasks it delegated are cancelled
too, and the skill task ends ``canceled``. The A2A task is marked canceled at
once, and any late outcome of the skill task is ignored.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import AgentCard, Message, Role, Task, TaskStatus
from a2a.types import TaskState as A2AState
from a2a.utils.errors import InvalidParamsError

from agentflux.a2a.cards import skill_schemas
from agentflux.a2a.messages import InputError, message_input, reply_message, result_artifact
from agentflux.a2a.records import (
    INTERRUPTED,
    UPDATE_TYPE,
    WORKER_TYPE,
    TaskRecord,
    causation,
    event_from_json,
    to_json,
)
from agentflux.a2a.task_log import Entry, TaskLog
from agentflux.a2a.task_store import SKILL_METADATA
from agentflux.a2a.translate import status_of
from agentflux.a2a.updates import HEADER_CONTEXT, HEADER_MESSAGE, HEADER_SKILL, HEADER_TASK, HEADER_TURN
from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.tasks import TaskPhase
from agentflux.contract.topics import task_requests_topic
from agentflux.runtime.tasks.requester import send_cancel
from agentflux.transport.base import Transport

SERVICE_HEADERS = {"a2a-version": "A2A-Version", "a2a-extensions": "A2A-Extensions"}  # as HTTP receives them
_TURN_NAMESPACE = uuid.UUID("5b0f8f63-6d0b-4b5e-93a8-0c2a2d7d51e4")


def skill_task_id(task_id: str, turn: int) -> str:
    return task_id if turn == 0 else str(uuid.uuid5(_TURN_NAMESPACE, f"{task_id}/{turn}"))


class SkillExecutor(AgentExecutor):
    def __init__(self, card: AgentCard, log: TaskLog, transport: Transport, *, source: str = "a2a-gateway") -> None:
        self.card = card
        self.schemas = skill_schemas(card)
        self.skills = [s.id for s in card.skills]
        self._log = log
        self._transport = transport
        self._source = source
        self._running = 0
        self.following: set[str] = set()  # A2A task ids whose skill task this executor follows now
        self._idle = asyncio.Event()
        self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no skill task is being followed; True when none is."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def resolve(self, message: Message, request_metadata: dict[str, Any]) -> tuple[str, Any]:
        """(skill id, skill input) for a new task's first message; InvalidParamsError when there is none."""
        named = _metadata(message).get(SKILL_METADATA) or request_metadata.get(SKILL_METADATA)
        if named is None and len(self.skills) == 1:
            named = self.skills[0]
        if named is None:
            raise InvalidParamsError(
                message=f"agent {self.card.name!r} offers several skills {self.skills}: name one in the "
                'message\'s metadata as {"skill": ...}'
            )
        if named not in self.skills:
            raise InvalidParamsError(
                message=f"agent {self.card.name!r} offers no skill {named!r}; it offers {self.skills}"
            )
        try:
            return str(named), message_input(message, self.schemas.get(str(named), {}).get("input"))
        except InputError as exc:
            raise InvalidParamsError(message=f"skill {named!r}: {exc}") from exc

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message, current = context.message, context.current_task
        assert message is not None and context.task_id and context.context_id
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        if current is not None:
            if current.status.state not in INTERRUPTED:
                return  # not waiting for input: the task is answered as it is
            skill = str(_metadata(current).get(SKILL_METADATA, ""))
            first = next((m for m in current.history if m.role == Role.ROLE_USER), message)
            _, value = self.resolve(first, {SKILL_METADATA: skill})
            turn = sum(1 for m in current.history if m.role == Role.ROLE_USER)
            await self._run(context, updater, skill, value, turn, reply=False)
            return
        skill, value = self.resolve(message, context.metadata)
        reply = self.schemas.get(skill, {}).get("reply") == "message"
        if not reply:
            task = Task(id=context.task_id, context_id=context.context_id, history=[message])
            task.status.CopyFrom(TaskStatus(state=A2AState.TASK_STATE_SUBMITTED))
            task.status.timestamp.GetCurrentTime()
            task.metadata.update({SKILL_METADATA: skill})
            await event_queue.enqueue_event(task)
        await self._run(context, updater, skill, value, 0, reply=reply)

    async def _run(
        self, context: RequestContext, updater: TaskUpdater, skill: str, value: Any, turn: int, *, reply: bool
    ) -> None:
        message = context.message
        assert message is not None
        task_id, context_id = updater.task_id, updater.context_id
        run_id = skill_task_id(task_id, turn)
        envelope = Envelope.new(
            source=self._source, type=task_requests_topic(skill), correlation_id=task_id, task_id=run_id
        )
        extra = [
            (HEADER_TASK, task_id.encode()),
            (HEADER_CONTEXT, context_id.encode()),
            (HEADER_TURN, str(turn).encode()),
            (HEADER_SKILL, skill.encode()),
            (HEADER_MESSAGE, json.dumps(to_json(message), separators=(",", ":")).encode()),
        ]
        headers = context.call_context.state.get("headers", {})
        extra += [(name, str(headers[key]).encode()) for key, name in SERVICE_HEADERS.items() if headers.get(key)]
        request_headers = [*envelope.to_headers(), *extra]
        self._running += 1
        self._idle.clear()
        self.following.add(task_id)
        try:
            await self._follow(updater, skill, value, run_id, request_headers, envelope.id, reply=reply)
        finally:
            self.following.discard(task_id)
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    async def _follow(
        self,
        updater: TaskUpdater,
        skill: str,
        value: Any,
        run_id: str,
        request_headers: list[tuple[str, bytes]],
        request_id: str,
        *,
        reply: bool,
    ) -> None:
        task_id, context_id = updater.task_id, updater.context_id
        working = False
        with self._log.follow(run_id) as queue:
            await self._transport.publish(
                task_requests_topic(skill), encode(value), key=run_id.encode(), headers=request_headers
            )
            while True:
                entry: Entry = await queue.get()
                if entry.state is None or causation(entry.record) != request_id:
                    continue
                state = entry.state
                if entry.kind == UPDATE_TYPE and state.a2a is not None and state.a2a.update is not None:
                    event = event_from_json(state.a2a.update)
                    if reply or event is None or isinstance(event, Message | Task):
                        continue
                    if not working:
                        working = True
                        await updater.start_work()
                    event.task_id, event.context_id = task_id, context_id
                    await event_queue_of(updater).enqueue_event(event)
                elif entry.kind == WORKER_TYPE and state.a2a is None:
                    if state.state is TaskPhase.WORKING and not working and not reply:
                        working = True
                        await updater.start_work()
                    elif state.state.terminal:
                        await self._finish(updater, state, reply=reply)
                        return

    async def _finish(self, updater: TaskUpdater, state: TaskRecord, *, reply: bool) -> None:
        task_id, context_id = updater.task_id, updater.context_id
        if state.state is TaskPhase.COMPLETED:
            if reply:
                message_id = str(uuid.uuid5(_TURN_NAMESPACE, f"{state.task_id}/reply"))
                await event_queue_of(updater).enqueue_event(
                    reply_message(state.result, task_id=None, context_id=context_id, message_id=message_id)
                )
                return
            await updater.add_artifact(list(result_artifact(state.result).parts), artifact_id="result", name="result")
            await updater.complete()
            return
        status = status_of(state, task_id=task_id, context_id=context_id)
        if reply:  # a direct-message skill that did not complete still answers with a task
            task = Task(id=task_id, context_id=context_id, status=status)
            await event_queue_of(updater).enqueue_event(task)
            return
        await updater.update_status(status.state, message=status.message if status.HasField("message") else None)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Stop the task's skill task on its worker and mark the task canceled (see the module docstring)."""
        assert context.task_id and context.context_id
        task = context.current_task
        skill = str(_metadata(task).get(SKILL_METADATA, "")) if task is not None else ""
        if task is not None and skill in self.skills:
            turns = sum(1 for m in task.history if m.role == Role.ROLE_USER)
            cause = Envelope.new(source=self._source, type=task_requests_topic(skill), correlation_id=task.id)
            for turn in range(turns + 1):  # the running turn's; one for a finished turn changes nothing
                await send_cancel(
                    self._transport, skill, skill_task_id(task.id, turn), cause=cause, reason="CancelTask"
                )
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def event_queue_of(updater: TaskUpdater) -> EventQueue:
    return updater.event_queue


def _metadata(value: Message | Task) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(value.metadata) if value.HasField("metadata") else {}
