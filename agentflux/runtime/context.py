"""What a handler sees of the runtime: the message's identity, publishing and tools."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import ConfigError
from agentflux.contract.schemas import record_name
from agentflux.contract.topics import event_type, task_requests_topic
from agentflux.runtime.metrics import Metrics
from agentflux.runtime.publisher import Publisher
from agentflux.runtime.tasks.requester import DEFAULT_TIMEOUT, Requester, derived_task_id, gather
from agentflux.transport.base import Ack, Record

log = logging.getLogger("agentflux.runtime")


class ToolProvider(Protocol):
    """Hands out tool handles by server name (``agentflux.mcp.ToolPool`` is one)."""

    def handle(self, name: str, meta: dict[str, str] | None = None, *, tracing: Any = None) -> Any:
        """A handle whose tool calls carry ``meta``; with tracing active, also given ``tracing=`` (a ``Tracing``)."""
        ...


@dataclass
class Services:
    """Per-process services a context reaches; built once by the runner."""

    publisher: Publisher
    tools: ToolProvider | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    requester: Requester | None = None
    metrics: Metrics = field(default_factory=Metrics)


class Cancellation:
    """Whether the task a skill handler runs was cancelled (a cancel request), and why."""

    __slots__ = ("reason", "requested")

    def __init__(self) -> None:
        self.requested = False
        self.reason = ""


class Context:
    """Per-record context. ``message_id`` is stable across redeliveries of one record.

    Everything published through ``ctx.publish`` carries this record's
    correlation id, names this record as its cause, and continues its trace.
    """

    __slots__ = ("_cancellation", "_delegations", "_log", "agent", "attempt", "envelope", "record", "services")

    def __init__(
        self,
        *,
        agent: str,
        envelope: Envelope,
        record: Record | None,
        services: Services,
        attempt: int = 1,
        cancellation: Cancellation | None = None,
    ) -> None:
        self.agent = agent
        self.envelope = envelope
        self.record = record
        self.services = services
        self.attempt = attempt
        self._cancellation = cancellation
        self._log: logging.LoggerAdapter[logging.Logger] | None = None
        self._delegations = 0

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger for this agent that carries the correlation id (``extra``)."""
        if self._log is None:
            logger = logging.getLogger(f"agentflux.agent.{self.agent}")
            self._log = logging.LoggerAdapter(logger, {"correlation_id": self.correlation_id})
        return self._log

    @property
    def message_id(self) -> str:
        return self.envelope.id

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id

    @property
    def causation_id(self) -> str | None:
        return self.envelope.causation_id

    @property
    def traceparent(self) -> str | None:
        return self.envelope.traceparent

    @property
    def key(self) -> str | None:
        """The handled record's key (None for keyless records and for schedule ticks)."""
        key = self.record.key if self.record is not None else None
        return key.decode("utf-8", "replace") if key is not None else None

    @property
    def topic(self) -> str | None:
        """The handled record's topic (None for schedule ticks)."""
        return self.record.topic if self.record is not None else None

    @property
    def cancelled(self) -> bool:
        """True once the task this skill handler runs was cancelled: the handler is being stopped."""
        return self._cancellation is not None and self._cancellation.requested

    @property
    def task_id(self) -> str | None:
        """The task a skill handler is running (stable across redeliveries); None in event handlers."""
        return self.envelope.task_id

    def caused_envelope(self, topic: str, **extra: str | None) -> Envelope:
        """The envelope for a message this record causes on ``topic``."""
        return self.envelope.caused(source=self.agent, type=event_type(topic), **extra)

    async def publish(
        self, topic: str, payload: object, *, key: str | bytes | None = None, new_correlation: bool = False,
        correlation_id: str | None = None,
    ) -> Ack:  # fmt: skip
        """Publish ``payload`` to ``topic`` and wait until the broker acknowledged it.

        ``new_correlation=True`` makes the record the edge of a new request: its
        own id becomes its correlation id and it starts a new trace, while
        ``ce_causationid`` still names this message. A source agent that turns
        each observation into a separate request uses it. ``correlation_id``
        (with ``new_correlation``) names the new request instead of the record's
        id: a source whose payload carries the id too chooses it first.
        """
        envelope = self.caused_envelope(topic)
        payloads = self.services.publisher.payloads
        if isinstance(payload, BaseModel) and payloads is not None and payloads.format_of(topic).several_types:
            # On a topic of several record types, ce_type names the type: "{domain}.{event}.{RecordName}".
            envelope = envelope.with_(type=f"{envelope.type}.{record_name(type(payload))}")
        if new_correlation:
            fresh = Envelope.new(source=self.agent, type=envelope.type)
            cid = correlation_id or fresh.id
            envelope = envelope.with_(id=fresh.id, correlation_id=cid, traceparent=fresh.traceparent)
        return await self.services.publisher.publish(topic, payload, envelope=envelope, key=key)

    async def delegate(
        self, skill: str, input: object, *, timeout: float = DEFAULT_TIMEOUT, task_id: str | None = None
    ) -> Any:
        """Run ``skill`` wherever it is offered and return its result (see ``agentflux.runtime.tasks.requester``).

        Returns the skill's output model when the skill is declared in this app,
        else the result as JSON (a dict). Raises ``TaskFailed`` (the worker's
        error), ``TaskRejected`` (bad input), ``TaskCanceled``, ``TaskTimeout``
        or ``UnknownSkill``. The task carries this record's correlation id and
        trace context, and its id is the same in every attempt of this record.
        """
        requester = self.services.requester
        if requester is None:
            raise ConfigError("delegation needs a runner: run the app with AppRunner, `agentflux run` or TestApp")
        self._delegations += 1
        task_id = task_id or derived_task_id(self.message_id, self._delegations)
        envelope = self.caused_envelope(task_requests_topic(skill), task_id=task_id)
        try:
            return await requester.delegate(skill, input, envelope=envelope, timeout=timeout)
        except asyncio.CancelledError:
            if self.cancelled:  # this task was cancelled: so is what it delegated
                await _quietly(
                    requester.cancel(skill, task_id, cause=envelope, reason="the delegating task was cancelled")
                )
            raise

    async def gather(self, *delegations: Awaitable[Any], return_exceptions: bool = False) -> list[Any]:
        """Fan out and in: ``await ctx.gather(ctx.delegate(a, x), ctx.delegate(b, y))`` (see ``gather``)."""
        return await gather(*delegations, return_exceptions=return_exceptions)

    def tools(self, server: str) -> Any:
        """A handle on the MCP server ``server``: ``await ctx.tools(name).call(tool, **args)``."""
        if self.services.tools is None:
            raise ConfigError(f"no MCP servers are configured for this process; cannot reach {server!r}")
        meta = {"correlation_id": self.correlation_id}
        if self.traceparent:
            meta["traceparent"] = self.traceparent
        if self.envelope.tracestate:
            meta["tracestate"] = self.envelope.tracestate
        tracing = self.services.publisher.tracing
        if tracing.active:  # each call is a span, and its _meta carries that span's traceparent
            return self.services.tools.handle(server, meta, tracing=tracing)
        return self.services.tools.handle(server, meta)


async def _quietly(work: Awaitable[object], timeout: float = 5.0) -> None:
    """Best effort from a task being cancelled: wait briefly, log a failure, never raise it."""
    try:
        async with asyncio.timeout(timeout):
            await work
    except Exception as exc:
        log.warning("cancelling a delegated task failed: %s: %s", type(exc).__name__, exc)
