"""Delegation: send a task to whichever agent offers a skill, and wait for its outcome.

``Requester.delegate`` validates the input (against the skill's input model
when the skill is declared in this app), registers for the result, publishes
the request to ``agent.task-requests.{skill}`` keyed by task id, and waits.
The outcome is the output model (or a dict for a skill declared elsewhere),
``TaskFailed`` / ``TaskRejected`` with the worker's error, or ``TaskTimeout``.
See ``agentflux.runtime.tasks.replies`` for how results come back.

Task ids of delegations made by a handler are derived from the handled
record's message id and the delegation's rank within the attempt (the first,
second, ... delegation the handler makes), never from the attempt number. A
retried attempt, or a record redelivered after a crash, therefore re-sends the
same task ids: a worker that already finished one answers with the stored
outcome instead of running it again, and one still running it answers when it
is done, so a retry after ``TaskTimeout`` re-attaches to the same task (when
the input is the same; a different input under the same id runs as a new task).

Cancellation: a delegation whose caller is cancelled stops waiting. When the
caller is a skill handler whose own task was cancelled (``ctx.cancelled``),
the delegated task is cancelled too (``send_cancel``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import PayloadDecodeError, TaskCanceled, TaskFailed, TaskRejected, TaskTimeout
from agentflux.contract.payloads import Payloads
from agentflux.contract.tasks import CANCEL_TYPE, TaskErrorInfo, TaskPhase, TaskReport
from agentflux.contract.topics import task_requests_topic
from agentflux.runtime.handlers import Skill
from agentflux.runtime.tasks.replies import ReplyListener
from agentflux.runtime.tracing import Tracing, message_attributes, traceparent_of
from agentflux.transport.base import Ack, Transport

SkillLookup = Callable[[str], Skill | None]
Route = Callable[[object, Envelope, float], Awaitable[Any]]


class SkillRouter(Protocol):
    """Sends some delegations elsewhere than the skill's Kafka topics (A2A discovery plugs one in).

    ``route(skill)`` returns how to run ``skill`` another way, or None to
    publish the request on ``agent.task-requests.{skill}`` as usual. A route is
    called with the input, the envelope and the timeout, and returns the
    result as JSON (or raises as a delegation does).
    """

    def route(self, skill: str) -> Route | None: ...

    async def close(self) -> None: ...


_TASK_NAMESPACE = uuid.UUID("0b7f3c1e-2a47-4d0e-9c55-6a3e1f7d2b90")
DEFAULT_TIMEOUT = 30.0


def derived_task_id(message_id: str, rank: int) -> str:
    """The id of the ``rank``-th delegation made while handling ``message_id``, the same in every attempt."""
    return str(uuid.uuid5(_TASK_NAMESPACE, f"{message_id}/{rank}"))


async def send_cancel(transport: Transport, skill: str, task_id: str, *, cause: Envelope, reason: str) -> Ack:
    """Ask the worker that owns ``task_id`` to cancel it (see ``contract.tasks``, cancel requests)."""
    envelope = cause.caused(source=cause.source, type=CANCEL_TYPE, task_id=task_id)
    value = encode({"reason": reason})
    return await transport.publish(
        task_requests_topic(skill), value, key=task_id.encode(), headers=envelope.to_headers()
    )


class Requester:
    """Sends task requests for one process and routes their results back. Safe for concurrent use."""

    def __init__(
        self,
        transport: Transport,
        *,
        lookup: SkillLookup | None = None,
        requester_id: str | None = None,
        payloads: Payloads | None = None,
        tracing: Tracing | None = None,
    ):
        self.requester_id = requester_id or uuid.uuid4().hex
        self.tracing = tracing or Tracing()
        self._transport = transport
        self._lookup: SkillLookup = lookup or (lambda _skill: None)
        self._payloads = payloads
        self._replies = ReplyListener(transport, self.requester_id, payloads)
        self._router: SkillRouter | None = None

    def plug(self, router: SkillRouter) -> None:
        """Ask ``router`` first for every later delegation; it is closed with this requester."""
        self._router = router

    @property
    def waiting(self) -> int:
        """How many delegations made through this requester wait for their results now."""
        return self._replies.waiting

    async def prepare(self, skills: Iterable[str]) -> None:
        """Assign the reply partitions of ``skills`` now, so the first delegations need not."""
        for skill in skills:
            await self._replies.address(skill)

    async def delegate(self, skill: str, payload: object, *, envelope: Envelope, timeout: float) -> Any:
        """Run ``skill`` on ``payload`` and return its result. ``envelope`` carries the task id.

        With tracing active, the delegation is a ``delegate`` span, and the request carries its context.
        """
        if not self.tracing.active:
            return await self._delegate(skill, payload, envelope=envelope, timeout=timeout)
        attributes = {**message_attributes(task_requests_topic(skill), envelope, "send"), "agentflux.skill": skill}
        with self.tracing.span(f"delegate {skill}", SpanKind.CLIENT, attributes=attributes) as span:
            envelope = envelope.with_(traceparent=traceparent_of(span) or envelope.traceparent)
            return await self._delegate(skill, payload, envelope=envelope, timeout=timeout)

    async def _delegate(self, skill: str, payload: object, *, envelope: Envelope, timeout: float) -> Any:
        declared = self._lookup(skill)
        route = self._router.route(skill) if self._router is not None else None
        if route is not None:
            result = await route(payload, envelope, timeout)
            return result if declared is None else outcome(skill, declared, _completed(skill, envelope, result))
        value = await self._request_value(skill, declared, payload)
        task_id = envelope.task_id or envelope.id
        waiting = False
        try:
            async with asyncio.timeout(timeout):
                reply_to = await self._replies.address(skill)
                result = self._replies.expect(task_id)
                waiting = True
                headers = envelope.with_(task_id=task_id, reply_to=reply_to).to_headers()
                await self._transport.publish(task_requests_topic(skill), value, key=task_id.encode(), headers=headers)
                state = await result
        except TimeoutError:
            if waiting:
                self._replies.abandon(task_id, skill, f"timed out after {timeout:g}s")
            raise TaskTimeout(skill, task_id, timeout) from None
        except BaseException:
            if waiting:
                self._replies.abandon(task_id, skill, "was cancelled or failed")
            raise
        return outcome(skill, declared, state)

    async def _request_value(self, skill: str, declared: Skill | None, payload: object) -> bytes:
        """The request in the request topic's format: JSON, or the registry's wire format."""
        topic = task_requests_topic(skill)
        if self._payloads is None or not self._payloads.registered(topic):
            return encode_input(skill, declared, payload)
        if declared is not None and not isinstance(payload, declared.input_model):
            payload = declared.input_model.model_validate_json(encode_input(skill, declared, payload))
        return await self._payloads.encode(topic, payload)

    async def cancel(self, skill: str, task_id: str, *, cause: Envelope, reason: str) -> None:
        """Cancel a task this requester delegated (best effort: a task that finished stays finished)."""
        await send_cancel(self._transport, skill, task_id, cause=cause, reason=reason)

    async def close(self) -> None:
        if self._router is not None:
            await self._router.close()
        await self._replies.close()


def encode_input(skill: str, declared: Skill | None, payload: object) -> bytes:
    """The request value; validated against the input model when the skill is known here."""
    if declared is None or isinstance(payload, declared.input_model):
        return encode(payload)
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    try:
        return encode(declared.input_model.model_validate(data))
    except ValidationError as exc:
        raise PayloadDecodeError(
            f"input for skill {skill!r} does not match {declared.input_model.__name__}: {_brief(exc)}"
        ) from exc


def outcome(skill: str, declared: Skill | None, state: TaskReport) -> Any:
    """The result of a finished task, or the error that says why there is none."""
    if state.state is TaskPhase.COMPLETED:
        if declared is None:
            return state.result
        try:
            return declared.output_model.model_validate(state.result)
        except ValidationError as exc:
            raise PayloadDecodeError(
                f"result of task {state.task_id} does not match {declared.output_model.__name__}: {_brief(exc)}"
            ) from exc
    error = state.error or TaskErrorInfo(type=f"Task{state.state.capitalize()}", message=f"task {state.state}")
    if state.state is TaskPhase.REJECTED:
        raise TaskRejected(skill, state.task_id, error.type, error.message)
    if state.state is TaskPhase.CANCELED:
        raise TaskCanceled(skill, state.task_id, error.type, error.message)
    raise TaskFailed(skill, state.task_id, error.type, error.message)


async def gather(*delegations: Awaitable[Any], return_exceptions: bool = False) -> list[Any]:
    """Wait for several delegations; results in argument order.

    By default the first error is raised and the other delegations stop
    waiting (their tasks still run; their late results are logged and
    dropped). With ``return_exceptions=True`` every outcome is returned, errors
    as exception objects.
    """
    tasks = [asyncio.ensure_future(d) for d in delegations]
    if return_exceptions:
        return list(await asyncio.gather(*tasks, return_exceptions=True))
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _brief(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in errors[:5])


def _completed(skill: str, envelope: Envelope, result: Any) -> TaskReport:
    task_id = envelope.task_id or envelope.id
    return TaskReport(
        task_id=task_id, skill=skill, state=TaskPhase.COMPLETED, correlation_id=envelope.correlation_id, result=result
    )
