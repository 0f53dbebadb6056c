"""Declarations: the app, its agents and their handlers.

Decorators return real objects. ``@agent.on(topic)`` returns a ``Handler``
that still calls the function when called, so tests and tools can read the
registry (``app.agents``, ``agent.handlers``) and call handlers directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from agentflux.contract.errors import ConfigError
from agentflux.contract.topics import TopicSpec, validate_skill_id, validate_topic
from agentflux.runtime.handlers import (
    WORKING_AFTER,
    Handler,
    HandlerFn,
    Schedule,
    Skill,
    SkillFn,
    TickFn,
    check_tick,
    payload_type,
    skill_models,
)  # fmt: skip
from agentflux.runtime.retry import DEFAULT_HANDLER_TIMEOUT, RetryPolicy


class _Inherit(Enum):
    INHERIT = "inherit"


INHERIT = _Inherit.INHERIT  # "take the agent's setting", where None means "no timeout"
Timeout = float | None | _Inherit


@dataclass(eq=False)
class Agent:
    """A named agent: one consumer group, its handlers, and the topics it may write."""

    app: AgentApp
    name: str
    description: str = ""
    concurrency: int = 16
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    publishes: tuple[str, ...] = ()
    timeout: float | None = DEFAULT_HANDLER_TIMEOUT
    handlers: list[Handler] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    skills: list[Skill] = field(default_factory=list)

    def __post_init__(self) -> None:
        validate_skill_id(self.name)
        for topic in self.publishes:
            validate_topic(topic)
        if self.concurrency < 1:
            raise ConfigError(f"agent {self.name!r}: concurrency must be at least 1")
        self.timeout = _check_timeout(self.timeout, f"agent {self.name!r}")

    def _timeout(self, timeout: Timeout, where: str) -> float | None:
        return self.timeout if timeout is INHERIT else _check_timeout(timeout, where)

    @property
    def group_id(self) -> str:
        return f"{self.app.name}.{self.name}"

    def on(
        self, topic: str, *, retry: RetryPolicy | None = None, timeout: Timeout = INHERIT
    ) -> Callable[[HandlerFn], Handler]:
        """Subscribe the decorated function to ``topic``; its first parameter's type is the payload.

        ``retry`` and ``timeout`` (seconds per attempt, None for none) default to the agent's.
        """
        validate_topic(topic)
        if any(h.topic == topic for h in self.handlers):
            raise ConfigError(f"agent {self.name!r} already has a handler for {topic!r}")
        limit = self._timeout(timeout, f"handler for {topic!r}")

        def register(fn: HandlerFn) -> Handler:
            payload = payload_type(fn, f"handler {fn.__qualname__} for {topic!r}")
            handler = Handler(self, topic, fn, payload, retry or self.retry, limit)
            self.handlers.append(handler)
            return handler

        return register

    @property
    def topics(self) -> list[str]:
        return [h.topic for h in self.handlers]

    def skill(
        self,
        skill_id: str,
        *,
        description: str = "",
        name: str = "",
        tags: Iterable[str] = (),
        retry: RetryPolicy | None = None,
        timeout: Timeout = INHERIT,
        working_after: float = WORKING_AFTER,
    ) -> Callable[[SkillFn], Skill]:
        """Offer the decorated task handler as ``skill_id`` (see ``Skill`` for its contract).

        ``retry`` and ``timeout`` (seconds per attempt, None for none) default to the agent's.
        ``working_after`` (seconds, a finite number >= 0) is when a still-running task gets a
        ``working`` record; 0 writes one for every task, sent as its handler starts.
        """
        validate_skill_id(skill_id)
        owner = self.app.find_skill(skill_id)
        if owner is not None:
            raise ConfigError(f"skill {skill_id!r} is already offered by agent {owner.agent.name!r} in this app")
        limit = self._timeout(timeout, f"skill {skill_id!r}")
        delay = _check_working_after(working_after, f"skill {skill_id!r}")

        def register(fn: SkillFn) -> Skill:
            input_model, output_model = skill_models(fn, skill_id)
            declared = Skill(
                self, skill_id, fn, input_model, output_model, description, name, tuple(tags), retry or self.retry,
                limit, delay,
            )  # fmt: skip
            self.skills.append(declared)
            return declared

        return register

    @property
    def task_group_id(self) -> str:
        """The consumer group every process of this agent joins for its skills' requests."""
        return f"{self.app.name}.{self.name}.tasks"

    def every(self, seconds: float) -> Callable[[TickFn], Schedule]:
        """Run the decorated ``async def fn(ctx) -> None`` every ``seconds`` (see ``schedules``)."""
        if seconds <= 0:
            raise ConfigError(f"agent {self.name!r}: a schedule needs a positive interval, got {seconds}")

        def register(fn: TickFn) -> Schedule:
            check_tick(fn)
            schedule = Schedule(self, fn, seconds)
            self.schedules.append(schedule)
            return schedule

        return register

    def skill_for(self, topic: str) -> Skill | None:
        """The skill whose request topic is ``topic``."""
        return next((s for s in self.skills if s.request_topic == topic), None)

    def handler_for(self, topic: str) -> Handler | None:
        for handler in self.handlers:  # runs for every record: a loop, not a generator
            if handler.topic == topic:
                return handler
        return None


class AgentApp:
    """A set of agents that share a Kafka cluster and a name.

    ``bootstrap_servers`` may be omitted: ``agentflux run`` then takes it from
    ``AGENTFLUX_BOOTSTRAP_SERVERS`` or the embedded broker (see KafkaSettings).
    """

    def __init__(
        self,
        name: str,
        *,
        bootstrap_servers: str | None = None,
        default_partitions: int = 6,
        max_message_bytes: int = 1_000_000,
    ) -> None:
        self.name = validate_skill_id(name)
        self.bootstrap_servers = bootstrap_servers
        self.default_partitions = default_partitions
        self.max_message_bytes = max_message_bytes
        self.agents: dict[str, Agent] = {}
        self.topics: dict[str, TopicSpec] = {}
        self.tool_servers: dict[str, Any] = {}

    def agent(
        self,
        name: str,
        *,
        description: str = "",
        concurrency: int = 16,
        retry: RetryPolicy | None = None,
        publishes: Iterable[str] = (),
        timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
    ) -> Agent:
        """Declare an agent (or return the one already declared under ``name``).

        ``timeout`` bounds each attempt of its handlers and skills, in seconds
        (60 by default; None for no limit); each handler or skill may set its own.
        """
        if name in self.agents:
            return self.agents[name]
        agent = Agent(self, name, description, concurrency, retry or RetryPolicy(), tuple(publishes), timeout=timeout)
        self.agents[name] = agent
        return agent

    def tool_server(self, spec: Any) -> Any:
        """Declare an MCP server the agents reach with ``ctx.tools(spec.name)``.

        ``spec`` is an ``agentflux.mcp.McpServerSpec`` (a stdio command or a
        streamable-HTTP URL). Servers can also come from configuration
        (``AGENTFLUX_MCP_CONFIG``); a declaration in code wins over one there.
        """
        self.tool_servers[spec.name] = spec
        return spec

    def topic(self, name: str, **spec: Any) -> TopicSpec:
        """Declare how ``name`` is provisioned (partitions, retention_ms, cleanup_policy, config)."""
        declared = TopicSpec(name, **spec)
        self.topics[name] = declared
        return declared

    def topic_spec(self, name: str) -> TopicSpec:
        """The declared spec for ``name``, or the app's default one."""
        return self.topics.get(name) or TopicSpec(name, partitions=self.default_partitions)

    def find_skill(self, skill_id: str) -> Skill | None:
        """The skill ``skill_id`` if an agent of this app offers it."""
        return next((s for a in self.agents.values() for s in a.skills if s.id == skill_id), None)

    def select(self, names: Iterable[str] | None) -> list[Agent]:
        """The agents to run: all of them, or the named ones (unknown names are an error)."""
        if not names:
            return list(self.agents.values())
        unknown = [n for n in names if n not in self.agents]
        if unknown:
            raise ConfigError(f"unknown agent(s) {unknown}; this app declares {sorted(self.agents)}")
        return [self.agents[n] for n in names]


def _check_timeout(timeout: float | None, where: str) -> float | None:
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"{where}: timeout must be a positive number of seconds or None, got {timeout!r}")
    return timeout


def _check_working_after(seconds: object, where: str) -> float:
    # A bool is an int (True would pass as 1 s); NaN and infinity fail the range check.
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (0 <= seconds < math.inf):
        raise ConfigError(f"{where}: working_after must be a finite number of seconds >= 0, got {seconds!r}")
    return float(seconds)
