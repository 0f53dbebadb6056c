"""Declarations: the app, its agents and their handlers.

Decorators return real objects. ``@agent.on(topic)`` returns a ``Handler``
that still calls the function when called, so tests and tools can read the
registry (``app.agents``, ``agent.handlers``) and call handlers directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from pydantic import BaseModel

from agentflux.contract.errors import ConfigError
from agentflux.contract.schemas import (
    DEFAULT_COMPATIBILITY,
    Format,
    SubjectStrategy,
    TopicFormat,
    check_format,
    record_name,
)
from agentflux.contract.tasks import result_model
from agentflux.contract.topics import (
    TASK_REQUESTS_PREFIX,
    TASK_RESULTS_PREFIX,
    TopicSpec,
    is_reserved,
    validate_skill_id,
    validate_topic,
)
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
    _types: dict[str, dict[str, tuple[Handler, Any]] | None] = field(default_factory=dict, repr=False)

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
        A topic that carries several record types may have one handler per
        type (each annotated with its model), or one handler whose payload is
        a union of models; records are dispatched by their type (see
        ``record_types``), never by trying each model in turn.
        """
        validate_topic(topic)
        limit = self._timeout(timeout, f"handler for {topic!r}")

        def register(fn: HandlerFn) -> Handler:
            where = f"handler {fn.__qualname__} for {topic!r}"
            payload = payload_type(fn, where)
            handler = Handler(self, topic, fn, payload, retry or self.retry, limit)
            others = [h for h in self.handlers if h.topic == topic]
            if others:
                taken = {name for h in others for name in _typed(h)}
                mine = set(_typed(handler))
                if not mine or any(not _typed(h) for h in others) or mine & taken:
                    raise ConfigError(
                        f"agent {self.name!r} already has a handler for {topic!r}; several handlers of one topic "
                        "must each take other pydantic models (record types)"
                    )
            self.handlers.append(handler)
            self._types.pop(topic, None)
            return handler

        return register

    @property
    def topics(self) -> list[str]:
        return list(dict.fromkeys(h.topic for h in self.handlers))

    def record_types(self, topic: str) -> dict[str, tuple[Handler, Any]] | None:
        """Record name → (handler, model) on a topic of several types; None where every record goes to one handler.

        A topic has several types when this agent has several handlers of it or
        a union handler, or when the app declares several ``types`` for it;
        then a record of a type no handler takes is skipped. A record's type is
        the record name of the schema it was written with (registry formats) or
        the last part of its ``ce_type`` (JSON). A lone handler of ``dict``,
        ``list``, ``str`` or ``bytes`` takes every record.
        """
        if topic not in self._types:
            mine = [h for h in self.handlers if h.topic == topic]
            typed = all(_typed(h) for h in mine)
            several = len(mine) > 1 or any(h.types for h in mine) or self.app.format_of(topic).several_types
            self._types[topic] = {n: (h, m) for h in mine for n, m in _typed(h).items()} if several and typed else None
        return self._types[topic]

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

    ``format`` is the payload format of the app's event topics (``json``,
    ``avro`` or ``json-schema``; see ``agentflux.contract.schemas``), which
    ``app.topic(name, format=...)`` overrides per topic. The runtime's own
    topics (``agent.*``) are JSON whatever it says. ``schema_registry_url``
    defaults to ``AGENTFLUX_SCHEMA_REGISTRY_URL``, then the embedded registry.
    """

    def __init__(
        self,
        name: str,
        *,
        bootstrap_servers: str | None = None,
        default_partitions: int = 6,
        max_message_bytes: int = 1_000_000,
        format: Format = "json",
        schema_registry_url: str | None = None,
    ) -> None:
        self.name = validate_skill_id(name)
        self.bootstrap_servers = bootstrap_servers
        self.default_partitions = default_partitions
        self.max_message_bytes = max_message_bytes
        self.format: Format = check_format(format, f"app {name!r}")
        self.schema_registry_url = schema_registry_url
        self.agents: dict[str, Agent] = {}
        self.topics: dict[str, TopicSpec] = {}
        self.formats: dict[str, TopicFormat] = {}
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

    def topic(
        self,
        name: str,
        *,
        format: Format | None = None,
        types: Iterable[type[BaseModel]] = (),
        subjects: SubjectStrategy = "topic",
        compatibility: str = DEFAULT_COMPATIBILITY,
        **spec: Any,
    ) -> TopicSpec:
        """Declare how ``name`` is provisioned (partitions, retention_ms, cleanup_policy, config) and written.

        ``format`` overrides the app's format for this topic. ``types`` are the
        payload models it carries: the ones ``agentflux schema check`` compares
        with the registry, and whose compatibility an agent that ``publishes``
        the topic checks before it starts. ``subjects`` is the subject name
        strategy (``topic``, ``topic-record`` or ``record``) and
        ``compatibility`` the rule (BACKWARD by default).
        """
        declared = TopicSpec(name, **spec)
        self.topics[name] = declared
        self.formats[name] = TopicFormat(
            name,
            format or self.format,
            tuple(types),
            subjects,
            compatibility,
        )
        return declared

    def format_of(self, topic: str) -> TopicFormat:
        """How ``topic``'s values are written: as declared, else in the app's format (JSON for ``agent.*``)."""
        declared = self.formats.get(topic)
        if declared is not None and (declared.types or not declared.registered):
            return declared
        if declared is None and self.format != "json" and topic.startswith((TASK_REQUESTS_PREFIX, TASK_RESULTS_PREFIX)):
            return self._skill_format(topic)
        if declared is None and (is_reserved(topic) or self.format == "json"):
            return TopicFormat(topic)
        handlers = (h for a in self.agents.values() for h in a.handlers if h.topic == topic)
        models = tuple({name: m for h in handlers for name, m in _typed(h).items()}.values())
        if declared is not None:  # declared without types: the app's handlers of the topic name them
            return replace(declared, types=models) if len(models) < 2 or declared.subjects != "topic" else declared
        return TopicFormat(topic, self.format, models, "topic-record" if len(models) > 1 else "topic")

    def _skill_format(self, topic: str) -> TopicFormat:
        """A skill's request topic carries its input model, its results topic ``result_model(output)``."""
        requests = topic.startswith(TASK_REQUESTS_PREFIX)
        skill_id = topic[len(TASK_REQUESTS_PREFIX if requests else TASK_RESULTS_PREFIX) :]
        skill = self.find_skill(skill_id)
        if skill is None:  # another app's skill: dicts are written with the subject's latest schema
            return TopicFormat(topic, self.format)
        return TopicFormat(topic, self.format, (skill.input_model if requests else result_model(skill.output_model),))

    def schema_topics(self) -> list[str]:
        """Every topic of the app whose values go through the schema registry."""
        skills = [s for a in self.agents.values() for s in a.skills]
        names = {
            *self.formats,
            *(t for a in self.agents.values() for t in (*a.topics, *a.publishes)),
            *(t for s in skills for t in (s.request_topic, s.results_topic)),
        }
        return sorted(t for t in names if self.format_of(t).registered)

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


def _typed(handler: Handler) -> dict[str, Any]:
    """The record types ``handler`` takes by record name; empty when it takes dict, list, str or bytes."""
    if handler.types:
        return dict(handler.types)
    tp = handler.payload_type
    return {record_name(tp): tp} if isinstance(tp, type) and issubclass(tp, BaseModel) else {}


def _check_timeout(timeout: float | None, where: str) -> float | None:
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"{where}: timeout must be a positive number of seconds or None, got {timeout!r}")
    return timeout


def _check_working_after(seconds: object, where: str) -> float:
    # A bool is an int (True would pass as 1 s); NaN and infinity fail the range check.
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (0 <= seconds < math.inf):
        raise ConfigError(f"{where}: working_after must be a finite number of seconds >= 0, got {seconds!r}")
    return float(seconds)
