"""``AgentClient``: delegation from outside any agent (scripts, tests, HTTP endpoints).

::

    async with AgentClient(bootstrap_servers="localhost:9092") as client:
        priced = await client.delegate("update-price", {"product_id": "p1", "price": 9.99}, timeout=10)

It needs no consumer group and no agent: it publishes task requests and reads
its reply partitions, exactly as ``ctx.delegate`` does inside a handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from enum import Enum
from typing import Any

from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import LifecycleError
from agentflux.contract.payloads import Payloads
from agentflux.contract.schemas import TopicFormat
from agentflux.contract.topics import task_requests_topic, validate_skill_id
from agentflux.contract.tracecontext import random_uuid
from agentflux.runtime.declarations import AgentApp
from agentflux.runtime.runner import schema_registry
from agentflux.runtime.tasks.requester import DEFAULT_TIMEOUT, Requester, gather
from agentflux.transport.base import Transport


class _State(Enum):
    NEW = "new"
    STARTED = "started"
    CLOSED = "closed"


class AgentClient:
    """Delegates tasks to whichever agents offer the skills.

    ``app`` is optional: when given, inputs of the skills it declares are
    validated before sending and results come back as their output models;
    other skills take any JSON-able input and return dicts. ``transport``
    replaces the Kafka connection (``MemoryTransport`` in unit tests).
    ``delegate`` may be called concurrently from many tasks.
    """

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        *,
        app: AgentApp | None = None,
        name: str = "client",
        transport: Transport | None = None,
        client_config: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._app = app
        self._transport = transport or _kafka(
            bootstrap_servers or (app.bootstrap_servers if app else None), client_config
        )
        # Requests go in the app's format; results in the Confluent wire format are read through the registry.
        self._payloads = Payloads(app.format_of if app else TopicFormat, schema_registry(app, self._transport))
        self._requester = Requester(self._transport, lookup=app.find_skill if app else None, payloads=self._payloads)
        self._state = _State.NEW

    async def start(self) -> None:
        """Connect. Idempotent; raises BrokerUnavailable when no broker answers."""
        if self._state is _State.CLOSED:
            raise LifecycleError("AgentClient is closed")
        if self._state is _State.NEW:
            await self._transport.start()
            self._state = _State.STARTED

    async def delegate(
        self,
        skill: str,
        input: object,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        correlation_id: str | None = None,
        task_id: str | None = None,
    ) -> Any:
        """Run ``skill`` on ``input`` and return its result.

        Raises ``TaskFailed`` / ``TaskRejected`` with the worker's error,
        ``TaskTimeout`` naming the skill and task id, ``UnknownSkill`` when no
        agent has ever offered the skill, and ``PayloadDecodeError`` when the
        input does not match a known skill's model. ``correlation_id`` starts
        (or joins) a correlation; by default the task starts its own.
        """
        if self._state is not _State.STARTED:
            raise LifecycleError(f"AgentClient.delegate() while {self._state.value}: use `async with AgentClient(...)`")
        validate_skill_id(skill)
        task_id = task_id or random_uuid()
        envelope = Envelope.new(
            source=self.name, type=task_requests_topic(skill), correlation_id=correlation_id, task_id=task_id
        )
        return await self._requester.delegate(skill, input, envelope=envelope, timeout=timeout)

    async def gather(self, *delegations: Awaitable[Any], return_exceptions: bool = False) -> list[Any]:
        """Several delegations at once; see ``agentflux.runtime.tasks.requester.gather``."""
        return await gather(*delegations, return_exceptions=return_exceptions)

    async def prepare(self, *skills: str) -> None:
        """Set up the reply partitions of ``skills`` ahead of the first delegation (optional)."""
        await self._requester.prepare(skills)

    async def close(self) -> None:
        """Stop waiting for results and disconnect. Idempotent."""
        if self._state is _State.STARTED:
            await self._requester.close()
            await self._payloads.close()
            await self._transport.close()
        self._state = _State.CLOSED

    async def __aenter__(self) -> AgentClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _kafka(bootstrap_servers: str | None, client_config: Mapping[str, str] | None) -> Transport:
    from agentflux.transport.kafka import KafkaTransport

    return KafkaTransport.resolve(bootstrap_servers, client_config=dict(client_config or {}))
