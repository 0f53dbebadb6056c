"""Skills: task handlers an agent offers to any requester (A2A skills).

``@agent.skill("update-price", description=...)`` declares one. Its requests
arrive on ``agent.task-requests.{skill}`` and its results leave on
``agent.task-results.{skill}``; the input and output models' JSON schemas are
kept for the Agent Card.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from agentflux.contract.errors import ConfigError
from agentflux.contract.topics import task_requests_topic, task_results_topic, validate_skill_id
from agentflux.runtime.retry import DEFAULT_HANDLER_TIMEOUT, RetryPolicy

if TYPE_CHECKING:
    from agentflux.runtime.context import Context
    from agentflux.runtime.declarations import Agent

SkillFn = Callable[[Any, "Context"], Awaitable[Any]]


@dataclass(eq=False)
class Skill:
    """A task handler: ``async def fn(task: InModel, ctx: Context) -> OutModel``.

    Contract: tasks are keyed by task id, so different tasks run concurrently
    (up to the agent's ``concurrency``) and one task id never runs twice at
    once. ``ctx.task_id`` is stable across redeliveries and retries. The
    returned model is the task's result (state ``completed``); an exception is
    retried per ``retry`` while it is transient, then the task is ``failed``
    with the exception's type and message; ``Reject`` makes it ``rejected``.
    All three are terminal: a redelivered request for a finished task gets the
    stored outcome and the handler does not run again. A crash after the
    handler's side effect but before the outcome is recorded runs it again, so
    make side effects idempotent on ``ctx.task_id``. Each attempt is cancelled
    after ``timeout`` seconds (``HandlerTimeout``, retried per ``retry``, then
    the task is ``failed``). A cancel request (``CancelTask``) cancels the
    handler: it sees ``CancelledError`` where it awaits, ``ctx.cancelled`` is
    true, tasks it delegated are cancelled too, and the task ends ``canceled``.
    On other cancellation (shutdown past the grace period) the task is not
    finished and will be redelivered.
    """

    agent: Agent
    id: str
    fn: SkillFn
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    description: str = ""
    name: str = ""
    tags: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = DEFAULT_HANDLER_TIMEOUT
    input_schema: dict[str, Any] = field(init=False)
    output_schema: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.name or self.id
        self.input_schema = self.input_model.model_json_schema()
        self.output_schema = self.output_model.model_json_schema()

    async def __call__(self, task: Any, ctx: Context) -> Any:
        return await self.fn(task, ctx)

    @property
    def request_topic(self) -> str:
        return task_requests_topic(self.id)

    @property
    def results_topic(self) -> str:
        return task_results_topic(self.id)


def skill_models(fn: SkillFn, skill_id: str) -> tuple[type[BaseModel], type[BaseModel]]:
    """The (input, output) models of a skill handler, or ConfigError saying what is wrong."""
    where = f"skill {skill_id!r} ({getattr(fn, '__qualname__', fn)!r})"
    validate_skill_id(skill_id)
    if not inspect.iscoroutinefunction(fn):
        raise ConfigError(f"{where}: must be an async function (async def)")
    params = list(inspect.signature(fn).parameters)
    if len(params) != 2:
        raise ConfigError(f"{where}: must take exactly (task, ctx), got {params}")
    try:
        hints = typing.get_type_hints(fn)
    except NameError as exc:
        raise ConfigError(f"{where}: cannot resolve its annotations: {exc}") from exc
    input_model = hints.get(params[0])
    output_model = hints.get("return")
    for role, model in (("input (first parameter)", input_model), ("output (return annotation)", output_model)):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigError(
                f"{where}: the {role} must be annotated with a pydantic BaseModel subclass, got {model!r}"
            )
    return input_model, output_model  # type: ignore[return-value]
