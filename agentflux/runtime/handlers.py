"""The three kinds of handler an agent declares, how their signatures are checked, and how one is run.

* ``Handler``: ``@agent.on(topic)``, ``async def fn(event: Model, ctx) -> None``.
* ``Skill``: ``@agent.skill(id)``, ``async def fn(task: InModel, ctx) -> OutModel``,
  offered to any requester (an A2A skill); requests arrive on
  ``agent.task-requests.{skill}`` and results leave on ``agent.task-results.{skill}``.
* ``Schedule``: ``@agent.every(seconds)``, ``async def fn(ctx) -> None``.

``signature`` is the one check of a decorated function. ``run_with_retries``
is the one loop that runs a handler or a skill on one record: each attempt
gets a fresh context, is cancelled after the handler's timeout
(``HandlerTimeout``, transient), and is retried per the handler's
``RetryPolicy`` while its error is transient. An attempt that failed while the
Kafka cluster was lost, or that saw the cluster go away while it ran, does not
count: the loop waits for the cluster to come back and tries again, so a
broker outage of any length delays work but never exhausts its retries.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from agentflux.contract.codec import PayloadType, check_payload_type
from agentflux.contract.errors import ConfigError
from agentflux.contract.schemas import record_name
from agentflux.contract.topics import task_requests_topic, task_results_topic, validate_skill_id
from agentflux.runtime.retry import DEFAULT_HANDLER_TIMEOUT, RetryPolicy, Watchdog
from agentflux.transport.health import ClusterWatch

if TYPE_CHECKING:
    from agentflux.runtime.context import Context
    from agentflux.runtime.declarations import Agent
    from agentflux.runtime.tracing import Attempt

log = logging.getLogger("agentflux.runtime")
T = TypeVar("T")
HandlerFn = Callable[[Any, "Context"], Awaitable[Any]]
SkillFn = Callable[[Any, "Context"], Awaitable[Any]]
TickFn = Callable[["Context"], Awaitable[Any]]
TICK_TYPE = "agentflux.tick"  # the ce_type of a tick's envelope
# A skill's handler still running after this long gets a ``working`` record (A2A clients see it as
# TASK_STATE_WORKING). Shorter than a person notices, longer than most automated skills take.
WORKING_AFTER = 0.1


@dataclass(eq=False)
class Handler:
    """An event handler: ``async def fn(event: Model, ctx: Context) -> None``.

    Contract: handlers of one agent run concurrently for different keys and in
    order for one key. A handler may be run more than once for one record
    (at-least-once): make its effects idempotent, keyed by ``ctx.message_id``.
    Each attempt is cancelled after ``timeout`` seconds (``HandlerTimeout``,
    retried per ``retry``, then dead-lettered); None lets it run forever. If it
    is cancelled otherwise (shutdown past the grace period, its partition
    revoked), its record is not committed and will be delivered again.
    """

    agent: Agent
    topic: str
    fn: HandlerFn
    payload_type: PayloadType
    retry: RetryPolicy
    timeout: float | None = DEFAULT_HANDLER_TIMEOUT
    types: dict[str, type[BaseModel]] = field(default_factory=dict)
    """The record types it handles by record name; empty for a handler of a topic's one type."""

    def __post_init__(self) -> None:
        members = typing.get_args(self.payload_type) if _is_union(self.payload_type) else ()
        if members:
            self.types = {record_name(m): m for m in members}

    async def __call__(self, payload: Any, ctx: Context) -> Any:
        return await self.fn(payload, ctx)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


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

    ``working_after`` (seconds, default ``WORKING_AFTER``, 0.1) is when a
    ``working`` record is written on ``agent.tasks.v1``: only if the handler is
    still running that long after it started, so a task that ends sooner
    leaves just its terminal state. 0 writes ``working`` for every task that
    reaches its handler, sent as the handler starts (a task rejected or
    cancelled before it starts never gets one). Whatever the setting, the
    terminal state is written after ``working`` (once its publish is done), never before.
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
    working_after: float = WORKING_AFTER
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


@dataclass(eq=False)
class Schedule:
    """A periodic source: ``async def fn(ctx: Context) -> None`` every ``interval`` seconds.

    It runs in every process that runs the agent. Each tick has an envelope of
    its own, so what a tick publishes shares one correlation id unless it asks
    for a fresh one per record (``ctx.publish(..., new_correlation=True)``).
    Contract: ticks of one schedule never overlap (a slow tick delays the
    next); a tick that raises is logged and not retried, because the next tick
    is the retry; on shutdown a running tick is awaited up to the runner's
    grace period.
    """

    agent: Agent
    fn: TickFn
    interval: float

    async def __call__(self, ctx: Context) -> Any:
        return await self.fn(ctx)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


def signature(fn: Callable[..., Any], where: str, params: tuple[str, ...], *, hints: bool = True) -> dict[str, Any]:
    """Check that ``fn`` is ``async def`` taking exactly ``params``; return its annotations by role.

    Raises ``ConfigError`` saying what is wrong, with ``where`` naming the
    declaration. ``hints=False`` skips resolving the annotations (a schedule has
    none to check) and returns an empty dict.
    """
    if not inspect.iscoroutinefunction(fn):
        raise ConfigError(f"{where}: must be an async function (async def)")
    names = list(inspect.signature(fn).parameters)
    if len(names) != len(params):
        raise ConfigError(f"{where}: must take exactly ({', '.join(params)}), got {names}")
    if not hints:
        return {}
    try:
        resolved = typing.get_type_hints(fn)
    except NameError as exc:
        raise ConfigError(f"{where}: cannot resolve its annotations: {exc}") from exc
    return {role: resolved.get(name) for role, name in zip(params, names, strict=True)} | {
        "return": resolved.get("return")
    }


def payload_type(fn: HandlerFn, where: str) -> PayloadType:
    """The payload type of an event handler (its first parameter's annotation).

    A union of pydantic models (``PriceChanged | StockChanged``) is a handler
    for several record types of one topic, given each record as its own type.
    """
    hints = signature(fn, where, ("payload", "ctx"))
    tp = hints["payload"]
    if tp is None:
        raise ConfigError(f"{where}: annotate the first parameter with the payload model")
    if _is_union(tp):
        members = typing.get_args(tp)
        if not all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            raise ConfigError(f"{where}: a union payload must be a union of pydantic BaseModel subclasses; got {tp!r}")
        names = [record_name(m) for m in members]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: two models of the union share a record name: {', '.join(names)}")
        return tp  # type: ignore[no-any-return]
    return check_payload_type(tp, where)


def _is_union(tp: object) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def skill_models(fn: SkillFn, skill_id: str) -> tuple[type[BaseModel], type[BaseModel]]:
    """The (input, output) models of a skill handler, or ConfigError saying what is wrong."""
    where = f"skill {skill_id!r} ({getattr(fn, '__qualname__', fn)!r})"
    validate_skill_id(skill_id)
    hints = signature(fn, where, ("task", "ctx"))
    input_model, output_model = hints["task"], hints["return"]
    for role, model in (("input (first parameter)", input_model), ("output (return annotation)", output_model)):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigError(
                f"{where}: the {role} must be annotated with a pydantic BaseModel subclass, got {model!r}"
            )
    return input_model, output_model


def check_tick(fn: TickFn) -> None:
    signature(fn, f"schedule {getattr(fn, '__qualname__', fn)}", ("ctx",), hints=False)


class Runnable(Protocol):
    """What ``run_with_retries`` runs: a ``Handler`` or a ``Skill``."""

    retry: RetryPolicy
    timeout: float | None

    def __call__(self, payload: Any, ctx: Context, /) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """How ``run_with_retries`` ended: the value of the attempt that succeeded, or the last error."""

    value: T | None
    error: Exception | None
    attempts: int


async def run_with_retries(
    handler: Runnable,
    payload: Any,
    context: Callable[[int], Context],
    *,
    watchdog: Watchdog,
    watch: ClusterWatch,
    what: Callable[[], str],
    attempt_name: Callable[[], str],
    traced: Callable[[int], Attempt] | None = None,
    give_up: str = "failed",
) -> Outcome[Any]:
    """Run ``handler(payload, context(n))`` for attempt n = 1, 2, ... (see the module docstring).

    ``what()`` names the work in log lines, ``attempt_name()`` in ``HandlerTimeout``
    (called only when needed, so nothing is formatted for a record that passes).
    ``traced(n)``, when given, starts the span of attempt n; it ends with the
    attempt, with an event naming what followed a failure: ``retry``,
    ``cluster_away``, ``cancelled``, or the ``give_up`` event when no attempt
    follows. Cancellation is not caught: it ends the loop at once.
    """
    number = 1
    policy = handler.retry
    while True:
        outages = watch.outages
        span = traced(number) if traced is not None else None
        try:
            value = await watchdog.run(handler.timeout, attempt_name, handler(payload, context(number)))
        except asyncio.CancelledError as exc:
            if span is not None:
                span.end(exc, "cancelled")
            raise
        except Exception as exc:
            if watch.lost or watch.outages != outages:
                if span is not None:
                    span.end(exc, "cluster_away")
                log.info("%s: attempt %d failed while the Kafka cluster was away (%s); it does not count", what(),
                         number, _brief(exc))  # fmt: skip
                await watch.wait_back()
                continue
            if not policy.should_retry(exc, number):
                if span is not None:
                    span.end(exc, give_up, **{"agentflux.attempts": number})
                return Outcome(None, exc, number)
            delay = policy.delay(exc, number)
            if span is not None:
                span.end(exc, "retry", **{"agentflux.retry.delay_s": delay})
            log.warning("%s: attempt %d failed (%s); retrying in %.2fs", what(), number, _brief(exc), delay)
            await asyncio.sleep(delay)
            number += 1
        else:
            if span is not None:
                span.end()
            return Outcome(value, None, number)


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
